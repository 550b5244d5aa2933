"""Read report files of any supported format into plain text.

Encoding is detected, never assumed: BOMs first, then strict UTF-8, UTF-16 without a
BOM (many NUL bytes), strict GB18030 (a superset of GBK/GB2312), and last a statistical
guess. A file that none of them decodes is an error naming the file, not mojibake.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Union

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


def decode(data: bytes, path: Union[str, Path] = "<bytes>") -> str:
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ReadError(path, "empty file")
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as e:
                raise ReadError(path, f"starts with a {codec} byte-order mark but byte {e.start} is not {codec}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    if data.count(b"\x00") > len(data) // 4:
        # UTF-16 without a BOM: NULs sit on the odd bytes for little-endian ASCII, on the even for big-endian
        codec = "utf-16-le" if data[1::2].count(b"\x00") >= data[0::2].count(b"\x00") else "utf-16-be"
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and best.chaos < 0.2 and best.encoding not in ("utf_8", "gb18030"):
        return str(best)
    raise ReadError(path, f"undecodable bytes: not UTF-8 (bad byte at offset {first_bad}), UTF-16, GB18030/GBK or another recognisable encoding")


_BLOCK_TAGS = ["p", "div", "li", "ul", "ol", "tr", "table", "section", "article", "h1", "h2", "h3",
               "h4", "h5", "h6", "br", "dd", "dt", "blockquote", "pre", "td", "th", "center"]
_DROP_TAGS = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe",
              "select", "button", "head", "svg", "template"]
_CHROME = re.compile(r"(^|[-_ ])(nav|navbar|menu|breadcrumbs?|crumbs?|footer|header|sidebar|side|comments?|share|related|recommend|ad|ads|banner|copyright|login|toolbar|pager|pagination)($|[-_ ])", re.I)


def html_to_text(markup: str) -> str:
    """Visible body text of a page, one block element a line; scripts, styles and page chrome dropped."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(markup, "lxml")
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.attrs is None:
            continue
        marks = " ".join([tag.get("id") or ""] + list(tag.get("class") or []))
        if marks.strip() and _CHROME.search(marks):
            tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    body = soup.body or soup
    return body.get_text("")


def docx_to_text(path: Path) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, ValueError) as e:
        raise ReadError(path, f"not a readable .docx file ({e})") from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def iter_files(paths: list[Union[str, Path]]) -> Iterator[Union[Path, ReadError]]:
    """Files named, and supported files under directories named, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in SUPPORTED:
                    yield child
        elif path.is_file():
            yield path
        else:
            yield ReadError(path, "no such file or directory")


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
    text = decode(data, path)
    if suffix in JSONL_SUFFIXES:
        yield from _jsonl(path, text)
    elif suffix in HTML_SUFFIXES:
        yield Document(str(path), html_to_text(text))
    else:
        yield Document(str(path), text)


def _jsonl(path: Path, text: str) -> Iterator[JsonlParagraph]:
    # Checked in full before anything is yielded, so a bad line rejects the file cleanly.
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise ReadError(path, f"line {number}: invalid JSON ({e})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ReadError(path, f"line {number}: expected an object with a string \"text\"")
        rows.append(JsonlParagraph(str(path), number, record))
    if not rows:
        raise ReadError(path, "empty file")
    yield from rows
