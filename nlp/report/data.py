"""Tagged records → the figures of a report: per report, per theme, per place and year, names.

Reads ``tag``'s output (.jsonl, .csv or .parquet) as a stream and checks each record: a file
that is not tagged output, or a record missing a field, is an error naming the file and line.
"""
import json
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

REQUIRED = ("id", "report_id", "report_title", "source", "paragraph_index", "is_heading", "text", "themes",
            "scores", "entities")


class ReportInputError(ValueError):
    """Input that is not tagged output; the message names the file and line."""


@dataclass
class Report:
    report_id: str
    title: str
    source: str
    place: str = ""
    year: str = ""
    found: dict = field(default_factory=dict)
    paragraphs: list = field(default_factory=list)     # records, in order (possibly only the first ones)
    count: int = 0                                       # all its paragraphs
    themes: Counter = field(default_factory=Counter)

    def share(self, theme: str) -> float:
        return self.themes[theme] / self.count if self.count else 0.0


@dataclass
class ReportData:
    inputs: list
    themes: list                         # theme ids, in the label config's order
    reports: list = field(default_factory=list)
    paragraphs: int = 0
    characters: int = 0
    shown: int = 0                       # paragraphs whose text the report shows
    theme_counts: Counter = field(default_factory=Counter)
    names: dict = field(default_factory=lambda: {"ORG": Counter(), "PROGRAM": Counter(), "POLICY": Counter()})

    def by(self, key: str, top: Optional[int] = None) -> "OrderedDict[str, dict]":
        """Theme shares of the paragraphs per place (province) or year: {value: {"reports", "paragraphs",
        theme: share}}, the ``top`` values with most reports, known values only."""
        groups: dict[str, dict] = {}
        for report in self.reports:
            value = group_value(report, key)
            if not value:
                continue
            group = groups.setdefault(value, {"reports": 0, "paragraphs": 0, "themes": Counter()})
            group["reports"] += 1
            group["paragraphs"] += report.count
            group["themes"].update(report.themes)
        chosen = sorted(groups, key=lambda v: (-groups[v]["reports"], v))[:top] if top else list(groups)
        if key == "year":
            chosen.sort()
        return OrderedDict((v, {"reports": groups[v]["reports"], "paragraphs": groups[v]["paragraphs"],
                                **{t: groups[v]["themes"][t] / groups[v]["paragraphs"] for t in self.themes}})
                           for v in chosen)


def group_value(report: Report, key: str) -> str:
    """The province of a report's place, or the first year of its year or period."""
    if key == "place":
        return report.place.split("/")[0] if report.place else ""
    digits = [part for part in report.year.replace(" (", "—").replace(")", "").split("—") if part[:4].isdigit()]
    return digits[0][:4] if digits else ""


def read_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line, record) of a tagged output, each checked; ``ReportInputError`` names file and line."""
    from ..tagging.output import read_output

    path = Path(path)
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file")
    try:
        for number, record in enumerate(read_output(path), 1 if path.suffix.lower() != ".csv" else 2):
            problem = _problem(record)
            if problem:
                raise ReportInputError(f"{path}:{number}: {problem} (is this the output of `policy-nlp tag`?)")
            yield number, record
    except (ValueError, UnicodeDecodeError) as e:
        if isinstance(e, ReportInputError):
            raise
        raise ReportInputError(f"{path}: not tagged output ({type(e).__name__}: {str(e)[:200]})") from None


def _problem(record: object) -> Optional[str]:
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [k for k in REQUIRED if k not in record]
    if missing:
        return f"record without {', '.join(missing)}"
    if not isinstance(record["themes"], list) or not isinstance(record["scores"], dict):
        return "\"themes\" must be a list and \"scores\" an object"
    if not isinstance(record["entities"], list) or not all(
            isinstance(e, dict) and {"start", "end", "label", "text"} <= set(e) for e in record["entities"]):
        return "\"entities\" must be a list of {start, end, label, text}"
    text = record["text"]
    if not isinstance(text, str):
        return "\"text\" must be a string"
    for e in record["entities"]:
        if not (isinstance(e["start"], int) and isinstance(e["end"], int) and text[e["start"]:e["end"]] == e["text"]):
            return f"entity {e!r} does not match the text at its offsets"
    return None


def collect(paths: Iterable[Path], themes: Optional[list] = None, max_paragraphs: int = 20000) -> ReportData:
    """Everything the report shows, from tagged outputs; paragraph texts kept for the first
    ``max_paragraphs`` only (the figures count all), so memory and page size stay bounded."""
    paths = list(paths)
    data = ReportData([str(p) for p in paths], list(themes or []))
    reports: "OrderedDict[str, Report]" = OrderedDict()
    for path in paths:
        for _, record in read_records(path):
            if not data.themes:
                data.themes = list(record["scores"])
            report = reports.get(record["report_id"])
            if report is None:
                report = reports[record["report_id"]] = Report(
                    record["report_id"], record["report_title"] or Path(str(record["source"])).name,
                    str(record["source"]), record.get("place") or "", record.get("year") or "",
                    _found(record.get("metadata_from")))
            report.count += 1
            report.themes.update(record["themes"])
            data.paragraphs += 1
            data.characters += len(record["text"])
            data.theme_counts.update(record["themes"])
            for entity in record["entities"]:
                if entity["label"] in data.names:
                    data.names[entity["label"]][entity["text"]] += 1
            if data.shown < max_paragraphs:
                report.paragraphs.append(record)
                data.shown += 1
    data.reports = list(reports.values())
    return data


def _found(value) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return dict(value) if isinstance(value, dict) else {}
