"""The project's annotation format (doccano's IntentDetectionAndSlotFilling export) and its checks.

One JSON object a line: ``text``, ``cats`` (theme ids), ``entities`` (``[start, end, label]``,
Python character offsets), ``meta`` (provenance: ``doc_id``, ``line``, ``group``, …).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Union

from ..labels import LabelConfig, load_labels

# A name neither starts nor ends with separators, starts with a closing mark or ends with an
# opening one; and the guide drops quotes or 《》 that wrap the whole name.
_SEPARATORS = set(" \t\n\u3000，。、；：,.;:!?！？")
_OPENING = set("《“‘「(（[【")
_CLOSING = set("》”’」)）]】")
_WRAPPERS = {("《", "》"), ("“", "”"), ("‘", "’"), ("「", "」"), ('"', '"')}


def span_shape_problem(surface: str) -> Optional[str]:
    if surface[0] in _SEPARATORS or surface[-1] in _SEPARATORS:
        return "starts or ends with a space or separator"
    if surface[0] in _CLOSING or surface[-1] in _OPENING:
        return "starts with a closing mark or ends with an opening one"
    if (surface[0], surface[-1]) in _WRAPPERS and len(surface) > 2:
        return "is wrapped in quotes or 《》, which the guide drops"
    return None


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop separators and stray marks at the edges, and quotes or 《》 around the whole name."""
    while True:
        before = (start, end)
        while start < end and (text[start] in _SEPARATORS or text[start] in _CLOSING):
            start += 1
        while start < end and (text[end - 1] in _SEPARATORS or text[end - 1] in _OPENING):
            end -= 1
        if end - start > 2 and (text[start], text[end - 1]) in _WRAPPERS:
            start, end = start + 1, end - 1
        if (start, end) == before:
            return start, end


@dataclass
class Problem:
    path: str
    line: int
    severity: str   # "error" or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass
class Example:
    text: str
    cats: list[str]
    entities: list[tuple[int, int, str]]
    meta: dict
    line: int = 0
    id: Optional[int] = None

    @property
    def group(self) -> str:
        """The source report: paragraphs of one report stay on one side of a split."""
        return str(self.meta.get("group") or self.meta.get("doc_id") or self.text[:20])

    def to_record(self) -> dict:
        record = {"text": self.text, "cats": list(self.cats),
                  "entities": [list(e) for e in self.entities], "meta": self.meta}
        return {"id": self.id, **record} if self.id is not None else record


def check_record(record: object, labels: LabelConfig) -> list[tuple[str, str]]:
    """(severity, message) for each problem of one parsed record."""
    out: list[tuple[str, str]] = []
    if not isinstance(record, dict):
        return [("error", "not a JSON object")]
    text = record.get("text")
    if not isinstance(text, str):
        return [("error", "no string \"text\"")]
    if not text.strip():
        out.append(("error", "empty text"))
    cats = record.get("cats", [])
    if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
        out.append(("error", f"\"cats\" must be a list of theme ids, got {cats!r}"))
        cats = []
    for cat in cats:
        if cat not in labels.themes:
            out.append(("error", f"unknown theme {cat!r}"))
    if len(set(cats)) != len(cats):
        out.append(("error", f"duplicate theme in {cats}"))
    if not cats:
        out.append(("error", f"no theme: give {labels.fallback!r} when none applies"))
    for exclusive in labels.exclusive:
        if exclusive in cats and len(cats) > 1:
            out.append(("error", f"{exclusive!r} combined with another theme: {cats}"))
    spans = record.get("entities", [])
    if not isinstance(spans, list):
        return out + [("error", "\"entities\" must be a list of [start, end, label]")]
    good = []
    for span in spans:
        # type() and not isinstance(): JSON true is a bool, and bool is an int to isinstance
        if not (isinstance(span, list) and len(span) == 3 and type(span[0]) is int
                and type(span[1]) is int and isinstance(span[2], str)):
            out.append(("error", f"entity {span!r} is not [start, end, label] with whole-number offsets"))
            continue
        start, end, label = span
        if label not in labels.entities:
            out.append(("error", f"unknown entity label {label!r} in {span}"))
        if start >= end:
            out.append(("error", f"entity {span} starts at or after its end"))
            continue
        if not 0 <= start < end <= len(text):
            out.append(("error", f"entity {span} out of range for a text of {len(text)} characters"))
            continue
        shape = span_shape_problem(text[start:end])
        if shape:
            out.append(("error", f"entity {span} does not match a name: {text[start:end]!r} {shape}"))
        shifted = _utf16_reading(text, start, end)
        if shifted is not None:
            out.append(("warning", f"entity {span} reads {text[start:end]!r} counted in characters (this format) "
                                   f"but {shifted!r} counted in UTF-16 units, as doccano's UI counts: a character "
                                   f"beyond U+FFFF comes before it. Check which was meant (`doccano pull` "
                                   f"converts doccano's offsets)"))
        good.append((start, end, label))
    good.sort()
    for (s1, e1, l1), (s2, e2, l2) in zip(good, good[1:]):
        if (s1, e1) == (s2, e2):
            out.append(("error", f"duplicate entity [{s1}, {e1}] ({l1}, {l2}): {text[s1:e1]!r}"))
        elif s2 < e1:
            out.append(("error", f"overlapping entities [{s1}, {e1}, {l1}] and [{s2}, {e2}, {l2}]"))
    return out


def _utf16_reading(text: str, start: int, end: int) -> Optional[str]:
    """What the span reads as UTF-16 offsets, when that differs and still looks like a name."""
    if not any(ord(c) > 0xFFFF for c in text[:end]):
        return None
    units = []
    for i, c in enumerate(text):          # the code-point index of each UTF-16 offset
        units.append(i)
        if ord(c) > 0xFFFF:
            units.append(None)
    units.append(len(text))
    if end >= len(units) or units[start] is None or units[end] is None:
        return None
    surface = text[units[start]:units[end]]
    return surface if surface and not span_shape_problem(surface) else None


def read_lines(path: Union[str, Path]) -> list[str]:
    """A .jsonl's lines: UTF-8 with or without a BOM, split at "\n" only (str.splitlines also
    splits at U+2028 and the like, which a JSON string may hold, shifting every later line)."""
    return Path(path).read_text(encoding="utf-8-sig").replace("\r\n", "\n").split("\n")


def check_file(path: Union[str, Path], labels: Optional[LabelConfig] = None) -> list[Problem]:
    labels = labels or load_labels()
    path = Path(path)
    problems: list[Problem] = []
    try:
        lines = read_lines(path)
    except (OSError, UnicodeDecodeError) as e:
        return [Problem(str(path), 0, "error", f"cannot read: {e}")]
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            problems.append(Problem(str(path), number, "error", f"invalid JSON: {e}"))
            continue
        for severity, message in check_record(record, labels):
            problems.append(Problem(str(path), number, severity, message))
        text = record.get("text") if isinstance(record, dict) else None
        if isinstance(text, str) and text.strip():
            key = text.strip()
            if key in seen:
                problems.append(Problem(str(path), number, "error", f"duplicate text (first on line {seen[key]})"))
            else:
                seen[key] = number
    if not seen and not problems:
        problems.append(Problem(str(path), 0, "error", "no records"))
    return problems


def read_examples(path: Union[str, Path], labels: Optional[LabelConfig] = None) -> list[Example]:
    """Parse a checked export; raises ``ValueError`` naming the file and line of the first error."""
    labels = labels or load_labels()
    errors = [p for p in check_file(path, labels) if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more; run `policy-nlp annotations check {path}`)" if len(errors) > 1 else ""
        raise ValueError(f"{errors[0]}{more}")
    out = []
    for number, line in enumerate(read_lines(path), 1):
        if line.strip():
            r = json.loads(line)
            meta = r.get("meta")
            if not isinstance(meta, dict):   # doccano spreads metadata into the record
                meta = {k: v for k, v in r.items() if k not in ("id", "text", "cats", "entities", "label", "Comments")}
            out.append(Example(r["text"], list(r.get("cats", [])), [tuple(e) for e in r.get("entities", [])],
                               meta, number, r.get("id")))
    return out


def iter_records(examples: list[Example]) -> Iterator[str]:
    for example in examples:
        yield json.dumps(example.to_record(), ensure_ascii=False)


def mark_names(text: str, names: list) -> list[list]:
    """Offsets of names listed by reading: ``[surface, LABEL]`` marks the surface wherever it
    occurs, ``[surface, LABEL, [k, …]]`` only its k-th occurrences (0-based, counting every
    occurrence left to right), ``[surface, LABEL, start]`` the one at that offset. Longer
    surfaces are placed first; a place already taken by a longer name is skipped, so no two
    spans overlap. Outer 《》 or quotes are dropped."""
    taken = [False] * len(text)
    out = []
    for item in sorted(names, key=lambda n: -len(n[0].strip())):
        surface, label = item[0].strip(), item[1]
        if len(item) > 2 and isinstance(item[2], int):
            start = item[2]
            if text[start:start + len(item[0])] != item[0]:
                raise ValueError(f"{item[0]!r} does not occur at {start}")
            if not any(taken[start:start + len(item[0])]):
                out.append([start, start + len(item[0]), label])
                taken[start:start + len(item[0])] = [True] * len(item[0])
            continue
        if len(surface) > 2 and (surface[0], surface[-1]) in _WRAPPERS:
            surface = surface[1:-1]
        if not surface or surface not in text:
            raise ValueError(f"{item[0]!r} does not occur in the text")
        starts, at = [], text.find(surface)
        while at >= 0:
            starts.append(at)
            at = text.find(surface, at + 1)
        wanted = set(item[2]) if len(item) > 2 and item[2] is not None else None
        for k, start in enumerate(starts):
            end = start + len(surface)
            if (wanted is None or k in wanted) and not any(taken[start:end]):
                out.append([start, end, label])
                taken[start:end] = [True] * (end - start)
    return sorted(out)
