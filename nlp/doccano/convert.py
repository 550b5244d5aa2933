"""doccano records <-> the project's annotation format. Pure functions: no server, no files.

Offsets. doccano's browser UI counts span offsets in UTF-16 code units (JavaScript string
indices), Python counts characters (code points); the two differ after every character
outside the Basic Multilingual Plane (an emoji, a rare CJK character like 𠮷). The bridge
keeps one convention for what is stored in doccano: **UTF-16**, as the UI draws it. ``push``
and the auto-labeling server convert to UTF-16; ``pull`` converts back, span by span, and
detects spans that were stored in code points anyway (imported by another tool): see
``repair_span``.

Metadata. The bridge uploads a paragraph's provenance as one nested ``meta`` object (doccano
keeps it as is and exports it as a ``meta`` column), plus a few flat keys for the annotators'
metadata panel and the bridge's own bookkeeping (``BRIDGE_KEYS``), which ``pull`` drops.
Exports whose metadata is spread over the record's top level (other tools, other projects)
are read too.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

from ..annotation.examples import span_shape_problem, trim_span
from ..labels import LabelConfig

# Flat metadata keys written by the bridge; never part of an annotation's provenance.
BRIDGE_KEYS = ("content_hash", "report", "heading", "source_file",
               "model_themes", "model_scores", "model_entities", "model_name",
               "uncertainty", "next_rank")
# Record keys that are not metadata in any doccano export shape.
_NOT_META = {"id", "text", "data", "cats", "entities", "label", "labels", "relations", "Comments", "comments",
             "meta", "annotation_approver", "filename", "upload_name"}


# --- offsets ----------------------------------------------------------------------------------

def has_astral(text: str) -> bool:
    """True when UTF-16 and code-point offsets differ somewhere in ``text``."""
    return any(ord(c) > 0xFFFF for c in text)


def py_to_utf16(text: str, offset: int) -> int:
    """The UTF-16 offset of Python character offset ``offset``."""
    return offset + sum(1 for c in text[:offset] if ord(c) > 0xFFFF)


def utf16_to_py(text: str, offset: int) -> Optional[int]:
    """The character offset of UTF-16 offset ``offset``; None inside a surrogate pair or past the end."""
    units = 0
    for i, c in enumerate(text):
        if units == offset:
            return i
        if units > offset:
            return None
        units += 2 if ord(c) > 0xFFFF else 1
    return len(text) if units == offset else None


def spans_to_utf16(text: str, spans: Iterable) -> list[list]:
    return [[py_to_utf16(text, s), py_to_utf16(text, e), label] for s, e, label in spans]


def content_hash(text: str) -> str:
    """What re-pushing matches on: the paragraph text, not its labels or metadata."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@dataclass
class SpanRepair:
    span: Optional[tuple[int, int, str]]   # in Python character offsets; None when rejected
    note: str = ""                          # what was fixed or why it was rejected ("" when untouched)
    rejected: bool = False


_PAIRS = {"《": "》", "“": "”", "‘": "’", "「": "」", "(": ")", "（": "）", "[": "]", "【": "】"}


def _balanced(surface: str) -> bool:
    """Brackets and quotes inside a name close: ``“双倍增”计划`` is, ``《科技创新券管理办`` is not."""
    return all(surface.count(o) == surface.count(c) for o, c in _PAIRS.items())


def _plausible(text: str, start: int, end: int) -> bool:
    if not 0 <= start < end <= len(text):
        return False
    surface = text[start:end]
    return span_shape_problem(surface) is None and _balanced(surface)


def repair_span(text: str, start: int, end: int, label: str) -> SpanRepair:
    """Read one stored span as UTF-16 (the convention), or as code points when only that fits.

    Both readings agree unless an astral character precedes the span. When they differ, the
    UTF-16 one wins if it is a valid range whose surface looks like a name; the code-point
    one is kept when only it is (a span imported by a tool that counted characters).
    """
    if not isinstance(start, int) or not isinstance(end, int) or isinstance(start, bool):
        return SpanRepair(None, f"span {[start, end, label]} has non-integer offsets", True)
    s16, e16 = utf16_to_py(text, start), utf16_to_py(text, end)
    utf16_ok = s16 is not None and e16 is not None and s16 < e16
    if utf16_ok and (s16, e16) == (start, end):
        return SpanRepair((start, end, label))
    py_ok = 0 <= start < end <= len(text)
    if utf16_ok and (_plausible(text, s16, e16) or not _plausible(text, start, end)):
        return SpanRepair((s16, e16, label),
                          f"span [{start}, {end}, {label}] was counted in UTF-16 units (doccano's UI); "
                          f"moved to [{s16}, {e16}] {text[s16:e16]!r}")
    if py_ok:
        return SpanRepair((start, end, label),
                          f"span [{start}, {end}, {label}] {text[start:end]!r} was counted in characters, "
                          f"not UTF-16 units; kept as is")
    return SpanRepair(None, f"span [{start}, {end}, {label}] lies outside the text "
                            f"({len(text)} characters, {py_to_utf16(text, len(text))} UTF-16 units)", True)


# --- export records -> annotation records -----------------------------------------------------

@dataclass
class Converted:
    """One export record read into the annotation format, with what was fixed and rejected."""
    record: Optional[dict]                  # {"id", "text", "cats", "entities", "meta"}; None if rejected
    fixed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> bool:
        return bool(self.record and (self.record["cats"] or self.record["entities"]))


def _split_labels(raw: dict) -> tuple[list, list, list[str]]:
    """(categories, spans, problems) from whichever export shape ``raw`` has."""
    cats: list = []
    spans: list = []
    problems: list[str] = []

    def take(value: Any, key: str) -> None:
        if value is None:
            return
        if isinstance(value, str):   # DocumentClassification with one label, or CSV-style "a#b"
            cats.extend(v for v in value.split("#") if v)
            return
        if not isinstance(value, list):
            problems.append(f"{key!r} is neither a list nor a string: {value!r}")
            return
        for item in value:
            if isinstance(item, str):
                cats.append(item)
            elif isinstance(item, (list, tuple)) and len(item) == 3:
                spans.append(list(item))
            elif isinstance(item, dict) and {"start_offset", "end_offset", "label"} <= set(item):
                spans.append([item["start_offset"], item["end_offset"], item["label"]])
            else:
                problems.append(f"cannot read {item!r} in {key!r} as a category or a span")

    for key in ("cats", "entities", "label", "labels"):
        take(raw.get(key), key)
    return cats, spans, problems


def _clean_meta_value(value: Any) -> Any:
    # pandas writes a whole column as floats once one record lacks the key: 12 comes back as 12.0.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _meta(raw: dict) -> dict:
    nested = raw.get("meta")
    spread = {k: _clean_meta_value(v) for k, v in raw.items() if k not in _NOT_META and v is not None}
    if isinstance(nested, dict):
        # Pushed by the bridge: provenance is the nested object; flat keys are the bridge's own.
        extra = {k: v for k, v in spread.items() if k not in BRIDGE_KEYS and k not in nested}
        return {**nested, **extra}
    return {k: v for k, v in spread.items() if k not in BRIDGE_KEYS}


def convert_record(raw: object, labels: LabelConfig, where: str = "", require_theme: bool = True) -> Converted:
    """One record of any doccano text export shape -> an annotation record, checked and repaired.

    ``where`` names the record in messages (file and line). Fixes: UTF-16 offsets, separators
    or wrapping quotes at span edges, duplicate labels, ``other`` given beside a real theme.
    Rejections: unknown labels, spans outside the text or overlapping an earlier one; a
    record with no text, or (``require_theme``, as the annotation format wants) with spans
    but no theme, is rejected whole.
    """
    out = Converted(None)
    if not isinstance(raw, dict):
        out.rejected.append(f"{where}: not a JSON object")
        return out
    where = f"{where}: example {raw.get('id')}" if raw.get("id") is not None else where
    text = raw.get("text", raw.get("data"))
    if not isinstance(text, str) or not text.strip():
        out.rejected.append(f"{where}: no text")
        return out
    cats, spans, problems = _split_labels(raw)
    out.rejected += [f"{where}: {p}" for p in problems]

    themes: list[str] = []
    for cat in cats:
        if cat not in labels.themes:
            out.rejected.append(f"{where}: unknown theme {cat!r} dropped")
        elif cat in themes:
            out.fixed.append(f"{where}: duplicate theme {cat!r} removed")
        else:
            themes.append(cat)
    for exclusive in labels.exclusive:
        if exclusive in themes and len(themes) > 1:
            themes.remove(exclusive)
            out.fixed.append(f"{where}: {exclusive!r} given beside {themes}; dropped (it means no other theme)")

    kept: list[tuple[int, int, str]] = []
    for start, end, label in spans:
        if label not in labels.entities:
            out.rejected.append(f"{where}: span {[start, end, label]} has unknown label {label!r}")
            continue
        repair = repair_span(text, start, end, label)
        if repair.span is None:
            out.rejected.append(f"{where}: {repair.note}")
            continue
        if repair.note:
            out.fixed.append(f"{where}: {repair.note}")
        s, e, _ = repair.span
        ts, te = trim_span(text, s, e)
        if ts >= te:
            out.rejected.append(f"{where}: span [{s}, {e}, {label}] {text[s:e]!r} holds no name")
            continue
        if (ts, te) != (s, e):
            out.fixed.append(f"{where}: span [{s}, {e}, {label}] {text[s:e]!r} trimmed to [{ts}, {te}] "
                             f"{text[ts:te]!r}")
        kept.append((ts, te, label))

    entities: list[tuple[int, int, str]] = []
    for span in sorted(kept):
        s, e, label = span
        if span in entities:
            out.fixed.append(f"{where}: duplicate span {list(span)} removed")
            continue
        clash = next((x for x in entities if x[0] < e and s < x[1]), None)
        if clash:
            out.rejected.append(f"{where}: span {list(span)} {text[s:e]!r} overlaps {list(clash)} "
                                f"{text[clash[0]:clash[1]]!r}; dropped")
            continue
        entities.append(span)

    if require_theme and entities and not themes:
        out.rejected.append(f"{where}: has entities but no theme; give {labels.fallback!r} when none applies")
        return out
    out.record = {"id": raw.get("id"), "text": text, "cats": sorted(themes),
                  "entities": [list(e) for e in entities], "meta": _meta(raw)}
    return out


# --- a whole export: per-user files or all.jsonl ----------------------------------------------

@dataclass
class PullResult:
    records: list[dict]
    fixed: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unlabelled: int = 0
    sources: list[str] = field(default_factory=list)


def _same(a: dict, b: dict) -> bool:
    return a["cats"] == b["cats"] and a["entities"] == b["entities"]


def merge_export(files: dict[str, list], labels: LabelConfig, annotator: Optional[str] = None) -> PullResult:
    """Convert an unpacked export (file name -> parsed JSONL rows) into annotation records.

    A collaborative project exports ``all.jsonl``; otherwise doccano writes one file per
    project member, each holding every example with that member's labels. An example enters
    the result when exactly one member labelled it, or when all who did agree; disagreements
    are listed in ``conflicts`` (adjudicate them, or pull one ``annotator``'s labels).
    """
    users = {name.rsplit(".", 1)[0]: rows for name, rows in files.items()}
    if annotator is not None:
        if annotator not in users:
            raise ValueError(f"no export file for annotator {annotator!r}; the export has "
                             f"{', '.join(sorted(users)) or 'no files'}")
        users = {annotator: users[annotator]}
    elif "all" in users:
        users = {"all": users["all"]}
    result = PullResult([], sources=sorted(f"{u}.jsonl" for u in users))
    by_example: dict[Any, list[tuple[str, dict]]] = {}
    order: dict[Any, int] = {}
    for user, rows in sorted(users.items()):
        for number, raw in enumerate(rows, 1):
            converted = convert_record(raw, labels, f"{user}.jsonl:{number}")
            result.fixed += converted.fixed
            result.rejected += converted.rejected
            if converted.record is None:
                continue
            key = converted.record["id"] if converted.record["id"] is not None else converted.record["text"]
            order.setdefault(key, len(order))
            if converted.labelled:
                by_example.setdefault(key, []).append((user, converted.record))
            else:
                by_example.setdefault(key, [])
    for key in sorted(by_example, key=lambda k: (k if isinstance(k, int) else 1 << 62, order[k])):
        versions = by_example[key]
        if not versions:
            result.unlabelled += 1
            continue
        first = versions[0][1]
        if all(_same(first, record) for _, record in versions[1:]):
            result.records.append(first)
        else:
            who = ", ".join(user for user, _ in versions)
            result.conflicts.append(f"example {key}: annotators {who} disagree; left out "
                                    f"(run `policy-nlp doccano agreement`, or pull with --annotator)")
    seen: dict[str, Any] = {}
    kept = []
    for record in result.records:
        if record["text"] in seen:
            result.rejected.append(f"example {record['id']}: same text as example {seen[record['text']]}; left out")
            continue
        seen[record["text"]] = record["id"]
        kept.append(record)
    result.records = kept
    return result


# --- annotation records / paragraphs -> upload rows --------------------------------------------

def upload_row(text: str, meta: dict, cats: Iterable[str] = (), entities: Iterable = (),
               display: Optional[dict] = None) -> dict:
    """One line of the JSONL that ``push`` uploads (IntentDetectionAndSlotFilling import).

    Spans go up in UTF-16 units (see the module doc). ``meta`` travels nested so doccano keeps
    it whole; ``display`` holds flat bridge keys shown in the annotators' metadata panel.
    """
    row = {"text": text, "cats": list(cats), "entities": spans_to_utf16(text, entities),
           "meta": meta, "content_hash": content_hash(text)}
    for key, value in (display or {}).items():
        if key not in BRIDGE_KEYS:
            raise ValueError(f"{key!r} is not a bridge metadata key")
        row[key] = value
    return row
