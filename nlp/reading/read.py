"""Read report files of any supported format into plain text.

Encoding is detected, never assumed (``decode``): a BOM, the charset a page declares, strict
UTF-8, UTF-16 without a BOM, then the encodings charset-normalizer ranks, each checked for
characters no report holds. A file none of them decodes is an error naming the file, not mojibake.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

TEXT_SUFFIXES = {".txt", ".text", ".md"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
DOCX_SUFFIXES = {".docx"}
JSONL_SUFFIXES = {".jsonl"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | DOCX_SUFFIXES | JSONL_SUFFIXES


class ReadError(Exception):
    """A file that cannot be read; the message names the file and the problem."""

    def __init__(self, path: Union[str, Path], problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass
class Document:
    """Raw text of one input file, before junk removal and splitting."""
    source: str
    text: str


@dataclass
class JsonlParagraph:
    """A paragraph given as is in a ``.jsonl`` input; never re-split."""
    source: str
    line: int
    record: dict


# Declared charsets, by the codec that decodes a superset of them (pages label GBK text "gb2312").
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "big5": "big5hkscs",
              "big5hkscs": "big5hkscs", "shift_jis": "cp932", "cp932": "cp932", "euc_kr": "cp949", "cp949": "cp949"}
_DECLARED = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
                       re.I)


def declared_charset(data: bytes) -> Optional[str]:
    """The codec a page declares in its first 4 KB (``<meta charset>``, ``http-equiv``, ``<?xml encoding>``)."""
    import codecs

    match = _DECLARED.search(data[:4096])
    if not match:
        return None
    try:
        name = codecs.lookup((match.group(1) or match.group(2)).decode("ascii")).name.replace("-", "_")
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def implausible_share(text: str) -> float:
    """Share of characters no report contains: private-use, unassigned, surrogates, control codes.
    A wrong multi-byte codec that accepts the bytes leaves many of them (Big5 read as GB18030)."""
    import unicodedata

    if not text:
        return 0.0
    odd = sum(1 for c in text if unicodedata.category(c) in ("Co", "Cn", "Cs")
              or (unicodedata.category(c) == "Cc" and c not in "\t\n\r\f"))
    return odd / len(text)


def decode(data: bytes, path: Union[str, Path] = "<bytes>", declared: Optional[str] = None) -> str:
    """Bytes of any encoding as text, or a ``ReadError`` naming the file; never mojibake.

    In order: a byte-order mark; the charset the file declares (``declared``, from a page's
    ``<meta>``), if it decodes cleanly; strict UTF-8; UTF-16 without a BOM; then the candidates
    charset-normalizer ranks (GB18030, Big5, Shift-JIS, EUC-KR…), GB18030 winning ties since
    the reports are mainland Chinese. A decoding full of private-use or unassigned characters is
    rejected whichever step proposed it."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ReadError(path, "empty file")
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as e:
                raise ReadError(path, f"starts with a {codec} byte-order mark but byte {e.start} is not {codec}") from None
    if declared:
        text = _strict(data, declared)
        if text is not None and implausible_share(text) < 0.001:
            return text
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    if data.count(b"\x00") > len(data) // 4:
        # UTF-16 without a BOM: NULs sit on the odd bytes for little-endian ASCII, on the even for big-endian
        codec = "utf-16-le" if data[1::2].count(b"\x00") >= data[0::2].count(b"\x00") else "utf-16-be"
        text = _strict(data, codec)
        if text is not None and implausible_share(text) < 0.001:
            return text
    for codec in _ranked_codecs(data):
        text = _strict(data, codec)
        if text is not None and implausible_share(text) < 0.001:
            return text
    raise ReadError(path, f"undecodable bytes: not UTF-8 (bad byte at offset {first_bad}), UTF-16, GB18030/GBK, "
                          "Big5, Shift-JIS, EUC-KR or another recognisable encoding"
                          + (f" (it declares {declared}, which does not decode it)" if declared else ""))


def _strict(data: bytes, codec: str) -> Optional[str]:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _ranked_codecs(data: bytes) -> list[str]:
    """charset-normalizer's ranking, with GB18030 first when the best guess is not clean (some
    chaos) or no cleaner than GB18030: the reports are mainland Chinese, and on short or odd GB
    text the guesser can prefer EUC-KR, EUC-JIS or UTF-16."""
    from charset_normalizer import from_bytes

    # UTF-16/32 text always holds a NUL byte somewhere (newlines, digits); without one they are guesses
    wide = b"\x00" in data
    matches = [m for m in from_bytes(data) if wide or not m.encoding.startswith(("utf_16", "utf_32"))]
    ranked = [_SUPERSETS.get(m.encoding, m.encoding) for m in matches]
    gb = [m.chaos for m, codec in zip(matches, ranked) if codec == "gb18030"]
    if not matches or matches[0].chaos > 0.05 or (gb and gb[0] <= matches[0].chaos + 0.01):
        ranked.insert(0, "gb18030")
    return list(dict.fromkeys(ranked + ["gb18030"]))


def docx_to_text(path: Path) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except PackageNotFoundError:
        raise ReadError(path, "not a readable .docx file (not a Word package)") from None
    except Exception as e:   # malformed XML or zip inside: lxml and zipfile raise many kinds
        raise ReadError(path, f"not a readable .docx file ({type(e).__name__}: {str(e)[:200]})") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def iter_files(paths: list[Union[str, Path]], exclude: Iterable[Union[str, Path]] = ()) -> Iterator[Union[Path, ReadError]]:
    """Files named, and supported files under directories named, in a stable order: each file once
    however many spellings or links name it, and none of ``exclude`` (say, the output being written)."""
    skip = {Path(p).resolve() for p in exclude}
    seen: set = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED)
        elif path.is_file():
            found = [path]
        else:
            yield ReadError(path, "no such file or directory")
            continue
        for child in found:
            try:
                stat = child.stat()
            except OSError as e:
                yield ReadError(child, e.strerror or str(e))
                continue
            if (stat.st_dev, stat.st_ino) in seen or child.resolve() in skip:
                continue
            seen.add((stat.st_dev, stat.st_ino))
            yield child


def read_file(path: Path) -> Iterator[Union[Document, JsonlParagraph]]:
    """One ``Document`` for a report file, or one ``JsonlParagraph`` per line of a ``.jsonl``."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise ReadError(path, f"unknown format {suffix or '(no suffix)'}; expected one of {', '.join(sorted(SUPPORTED))}")
    try:
        if suffix in DOCX_SUFFIXES:
            text = docx_to_text(path)
            if not text.strip():
                raise ReadError(path, "empty file")
            yield Document(str(path), text)
            return
        data = path.read_bytes()
    except OSError as e:
        raise ReadError(path, e.strerror or str(e)) from None
    text = decode(data, path, declared_charset(data) if suffix in HTML_SUFFIXES else None)
    if suffix in JSONL_SUFFIXES:
        yield from _jsonl(path, text)
    elif suffix in HTML_SUFFIXES:
        from .html import html_to_text

        yield Document(str(path), html_to_text(text))
    else:
        yield Document(str(path), text)


def _jsonl(path: Path, text: str, first_line: int = 1, allow_empty: bool = False) -> Iterator[JsonlParagraph]:
    # Checked in full before anything is yielded, so a bad line rejects the file (or chunk) cleanly.
    rows = []
    # "\n" only: str.splitlines also breaks at U+2028 and other separators a JSON string may hold
    for number, line in enumerate(text.split("\n"), first_line):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise ReadError(path, f"line {number}: invalid JSON ({e})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ReadError(path, f"line {number}: expected an object with a string \"text\"")
        rows.append(JsonlParagraph(str(path), number, record))
    if not rows and not allow_empty:
        raise ReadError(path, "empty file")
    yield from rows


def read_jsonl_part(path: Path, start: int, end: int, first_line: int) -> Iterator[JsonlParagraph]:
    """The lines of a ``.jsonl`` between two byte offsets that fall at line ends (a chunk)."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
    except OSError as e:
        raise ReadError(path, e.strerror or str(e)) from None
    if len(data) != end - start:
        raise ReadError(path, f"the file changed while it was read (expected bytes {start}–{end})")
    text = decode(data, path) if data.strip() else ""
    yield from _jsonl(path, text, first_line, allow_empty=True)
