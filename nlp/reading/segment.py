"""Split cleaned report text into reports and paragraphs, with their heading structure.

Data flows one way: ``read`` gives raw text per file, this module turns it into
``Paragraph`` records (the same fields the tagger writes), and the pipeline tags them.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from .clean import is_junk_line, is_tail_marker, normalize_width, strip_inline_junk
from .metadata import report_metadata
from .read import JsonlParagraph, ReadError, iter_files, read_file, read_jsonl_part


@dataclass
class Paragraph:
    id: str
    report_id: str
    report_title: str
    source: str
    place: str                  # the report's place and year (metadata.py), "" when unknown
    year: str
    metadata_from: dict         # how each was found: {"place": "title: 福州市", "year": "text: 2019年"}
    paragraph_index: int
    start: Optional[int]
    end: Optional[int]
    is_heading: bool
    heading_path: list[str]
    text: str
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# (level, pattern): 一、 > (一) > 1. > (1) > ① > 一是
HEADING_LEVELS = [
    (1, re.compile(r"^[一二三四五六七八九十百]+\s*[、.．]")),
    (2, re.compile(r"^[(（]\s*[一二三四五六七八九十]+\s*[)）]")),
    (3, re.compile(r"^\d{1,2}\s*[、.．](?!\d)")),
    (4, re.compile(r"^[(（]\s*\d{1,2}\s*[)）]")),
    (5, re.compile(r"^[①-⑳]")),
    (6, re.compile(r"^(其)?[一二三四五六七八九十]+是")),
]
_SENTENCE_INSIDE = re.compile(r"[。；;！？!?].")
_REPORT_MARKER = re.compile(r"^第\s*([0-9一二三四五六七八九十]+)\s*篇[\s:：、.]*(.*?)\s*(\d+\s*字)?$")
_TITLE_WORDS = re.compile(r"总结|计划|要点|报告|打算|思路|汇报|安排|工作")
_INLINE_HEADING = re.compile(
    r"(?<=[。；;！!？?])\s*(?=(?:[一二三四五六七八九十]+、|[(（][一二三四五六七八九十]+[)）]|\d{1,2}[、.．](?!\d)))")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])")

LONG_LINE = 400       # a line this long may hold several paragraphs
MAX_PARAGRAPH = 1000  # past this, split at sentence ends into pieces of about half


def heading_level(text: str) -> Optional[int]:
    for level, pattern in HEADING_LEVELS:
        if pattern.match(text):
            return level
    return None


def is_heading(text: str) -> bool:
    """A short numbered line with no sentence inside it (``(二)创新平台建设再上新水平``)."""
    if len(text) > 60 or _SENTENCE_INSIDE.search(text):
        return False
    return heading_level(text) is not None


def split_long_line(line: str) -> list[str]:
    """Split a run-on line at inline headings, then over-long pieces at sentence ends."""
    if len(line) < LONG_LINE:
        return [line]
    pieces = [p.strip() for p in _INLINE_HEADING.split(line) if p.strip()]
    out: list[str] = []
    for piece in pieces:
        if len(piece) <= MAX_PARAGRAPH:
            out.append(piece)
            continue
        chunk = ""
        for sentence in _SENTENCE_END.split(piece):
            if chunk and len(chunk) + len(sentence) > MAX_PARAGRAPH // 2:
                out.append(chunk)
                chunk = ""
            chunk += sentence
        if chunk.strip():
            out.append(chunk.strip())
    return out


def _body_lines(text: str) -> list[str]:
    """Normalised, junk-free lines of a page, cut at the related-articles tail."""
    lines = [strip_inline_junk(normalize_width(raw).strip()) for raw in text.splitlines()]
    total = sum(len(line) for line in lines) or 1
    seen = 0
    kept = []
    for line in lines:
        # A tail marker in the last part of the page ends the body: what follows is page furniture.
        if is_tail_marker(line) and seen > total // 2:
            break
        seen += len(line)
        if line and not is_junk_line(line):
            kept.append(line)
    return kept


def _split_reports(lines: list[str], fallback_title: str) -> list[tuple[str, list[str]]]:
    """``第1篇 标题 6150字`` lines start reports; what precedes the first is the page header."""
    reports: list[tuple[str, list[str]]] = []
    for line in lines:
        marker = _REPORT_MARKER.match(line)
        if marker and marker.group(2):
            reports.append((marker.group(2).strip(), []))
        elif reports:
            reports[-1][1].append(line)
    if reports:
        return reports
    title = fallback_title
    body = lines
    for i, line in enumerate(lines[:5]):
        if len(line) <= 50 and _TITLE_WORDS.search(line) and not re.search(r"[，,。；]", line) \
                and heading_level(line) is None:
            title, body = line, lines[:i] + lines[i + 1:]
            break
    return [(title, body)]


def paragraphs_from_text(text: str, source: str) -> list[Paragraph]:
    lines = _body_lines(text)
    page_long: list[str] = []     # earlier long paragraphs of the page: teasers repeat their start
    out: list[Paragraph] = []
    preamble = set()
    reports = _split_reports(lines, Path(source).stem)
    if len(reports) > 1 or _REPORT_MARKER.match(lines[0] if lines else ""):
        for line in lines:
            if _REPORT_MARKER.match(line):
                break
            preamble.add(line)
    for number, (title, body) in enumerate(reports, 1):
        report_id = f"{source}#{number}"
        # a title that is only the file name is not evidence of the report's own: read it last, as such
        named = title != Path(source).stem
        metadata = report_metadata(title if named else "", body, Path(source).name)
        seen_short = set(preamble) | {title}
        stack: list[tuple[int, str]] = []
        offset = 0
        index = 0
        for line in body:
            for piece in split_long_line(line):
                if len(piece) < 40:
                    if piece in seen_short:
                        continue
                    seen_short.add(piece)
                elif any(earlier.startswith(piece) for earlier in page_long):
                    continue
                else:
                    page_long.append(piece)
                heading = is_heading(piece)
                path = [h for _, h in stack]
                if heading:
                    level = heading_level(piece)
                    while stack and stack[-1][0] >= level:
                        stack.pop()
                    path = [h for _, h in stack]
                    stack.append((level, piece))
                out.append(Paragraph(
                    id=f"{report_id}/{index}", report_id=report_id, report_title=title, source=source,
                    place=metadata.place, year=metadata.year, metadata_from=metadata.found,
                    paragraph_index=index, start=offset, end=offset + len(piece), is_heading=heading,
                    heading_path=path, text=piece))
                offset += len(piece) + 1   # reports join paragraphs with "\n"
                index += 1
    return out


def report_text(paragraphs: Iterable[Paragraph]) -> str:
    """The cleaned report text that ``start``/``end`` index into."""
    return "\n".join(p.text for p in paragraphs)


def _from_jsonl(item: JsonlParagraph) -> Paragraph:
    try:
        return _paragraph_of(item)
    except (TypeError, ValueError) as e:
        raise ReadError(item.source, f"line {item.line}: a field has the wrong type ({e})") from None


def _paragraph_of(item: JsonlParagraph) -> Paragraph:
    record = item.record
    known = {"id", "text", "report_id", "report_title", "source", "paragraph_index", "start", "end",
             "is_heading", "heading_path", "place", "year", "metadata_from"}
    text = record["text"]
    return Paragraph(
        id=str(record.get("id", f"{item.source}:{item.line}")),
        report_id=str(record.get("report_id", item.source)),
        report_title=str(record.get("report_title", "")),
        source=str(record.get("source", item.source)),
        place=str(record.get("place", "")), year=str(record.get("year", "")),
        metadata_from=dict(record.get("metadata_from") or {}),
        paragraph_index=int(record.get("paragraph_index", item.line - 1)),
        start=record.get("start"), end=record.get("end"),
        is_heading=bool(record.get("is_heading", is_heading(text))),
        heading_path=list(record.get("heading_path", [])),
        text=text,
        meta={k: v for k, v in record.items() if k not in known})


def read_paragraphs(path: Path, source: Optional[str] = None) -> list[Paragraph]:
    """All paragraphs of one file; raises ``ReadError`` naming the file on bad input.
    ``source`` names the file in the paragraphs (ids, report ids) when it is opened by another path."""
    out: list[Paragraph] = []
    jsonl = False
    for item in read_file(path):
        if source is not None:
            item.source = source
        if isinstance(item, JsonlParagraph):
            out.append(_from_jsonl(item))
            jsonl = True
        else:
            out.extend(paragraphs_from_text(item.text, item.source))
    if jsonl:
        _add_metadata(out)
    if not out:
        raise ReadError(path, "no paragraphs left after removing page furniture")
    return out


def read_jsonl_paragraphs(path: Path, start: int, end: int, first_line: int,
                          source: Optional[str] = None) -> list[Paragraph]:
    """The paragraphs of one chunk of a ``.jsonl`` (lines between two byte offsets)."""
    items = list(read_jsonl_part(path, start, end, first_line))
    for item in items:
        item.source = source if source is not None else item.source
    return _add_metadata([_from_jsonl(item) for item in items])


def _add_metadata(paragraphs: list[Paragraph]) -> list[Paragraph]:
    """Place and year of given paragraphs (a .jsonl) that do not carry them, per report: from its
    title and its first paragraphs among these (a report cut by a chunk boundary sees its part)."""
    reports: dict[str, list[Paragraph]] = {}
    for paragraph in paragraphs:
        reports.setdefault(paragraph.report_id, []).append(paragraph)
    for members in reports.values():
        if all(p.place or p.year for p in members):
            continue
        first = members[0]
        metadata = report_metadata(first.report_title, [p.text for p in members[:5]])
        for p in members:
            if not (p.place or p.year):
                p.place, p.year, p.metadata_from = metadata.place, metadata.year, metadata.found
    return paragraphs


def iter_reports(paths: list[Union[str, Path]]) -> Iterator[Union[list[Paragraph], ReadError]]:
    """Per input report, its paragraphs in order; a ``ReadError`` for a file that failed, then on."""
    for path in iter_files(paths):
        if isinstance(path, ReadError):
            yield path
            continue
        try:
            paragraphs = read_paragraphs(path)
        except ReadError as e:
            yield e
            continue
        report: list[Paragraph] = []
        for paragraph in paragraphs:
            if report and paragraph.report_id != report[-1].report_id:
                yield report
                report = []
            report.append(paragraph)
        if report:
            yield report
