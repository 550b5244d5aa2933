"""One self-contained HTML file from tagged outputs: ``policy-nlp report TAGGED… --output report.html``.

No network when opened: styles, the script, the charts (SVG, text as outlines) and a subset of
a CJK font are all inside the file. Entities are highlighted with the exact text of their spans
and coloured as ``configs/labels.json`` says; each paragraph's themes are chips with the score
on hover. Past ``max_paragraphs`` the paragraph texts stop (the figures count everything) and
the page says so at the top.
"""
import html
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Optional

from .data import ReportData, ReportInputError, collect, group_value

MAX_PARAGRAPHS = 20000


def mark_entities(text: str, entities: list) -> str:
    """The paragraph as HTML, each entity a ``<mark>`` holding exactly its span's text."""
    out, at = [], 0
    for entity in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if entity["start"] < at:
            continue    # overlapping spans cannot both be marks; tagging never makes them
        out.append(html.escape(text[at:entity["start"]]))
        label = html.escape(entity["label"])
        out.append(f'<mark class="ent ent-{label}" data-label="{label}">{html.escape(text[entity["start"]:entity["end"]])}</mark>')
        at = entity["end"]
    out.append(html.escape(text[at:]))
    return "".join(out)


def context(data: ReportData, title: str, labels, template: str = "") -> dict:
    from markupsafe import Markup

    from .. import __version__
    from . import charts
    from .fonts import embedded_font

    names = labels.theme_names
    colors = labels.colors
    themes = [{"id": t, "name": names.get(t, t), "color": colors.get(t, "#cccccc")} for t in data.themes]
    reports, page_text = [], [title, template]
    for index, report in enumerate(data.reports, 1):
        paragraphs = []
        for record in report.paragraphs:
            paragraphs.append({
                "pid": record["id"], "is_heading": bool(record["is_heading"]),
                "html": Markup(mark_entities(record["text"], record["entities"])),
                "names": "|".join(e["text"] for e in record["entities"]),
                "themes": [{"id": t, "name": names.get(t, t), "color": colors.get(t, "#cccccc"),
                            "score": record["scores"].get(t, "")} for t in record["themes"]]})
            page_text.append(record["text"])
        page_text += [report.title, report.place, report.year, " ".join(report.found.values())]
        reports.append({"index": index, "title": report.title, "place": report.place, "year": report.year,
                        "found": report.found, "source": report.source, "count": report.count,
                        "province": group_value(report, "place"), "year_key": group_value(report, "year"),
                        "shares": {t: report.share(t) for t in data.themes}, "themes_n": dict(report.themes),
                        "paragraphs": paragraphs, "hidden": report.count - len(report.paragraphs)})
    places, years = data.by("place", top=15), data.by("year", top=20)
    shares = OrderedDict(sorted(((names.get(t, t), data.theme_counts[t] / max(data.paragraphs, 1)) for t in data.themes),
                                key=lambda kv: -kv[1]))
    name_colors = {names.get(t, t): colors.get(t, "#888888") for t in data.themes}
    top_names = {label: counter.most_common(15) for label, counter in data.names.items()}
    page_text += [n for top in top_names.values() for n, _ in top] + list(names.values())
    note = None
    if data.shown < data.paragraphs:
        note = (f"The paragraph texts below stop after the first {data.shown:,} of {data.paragraphs:,} paragraphs "
                f"(--max-paragraphs); every count, chart and table counts all of them.")
    return {
        "title": title, "version": __version__, "generated": time.strftime("%Y-%m-%d %H:%M"),
        "inputs": data.inputs, "paragraphs": data.paragraphs, "characters": data.characters, "note": note,
        "themes": themes, "entity_colors": {label: colors.get(label, "#dddddd") for label in data.names},
        "names": top_names, "reports": reports, "places": places, "years": years,
        "charts": {"themes": charts.theme_bars(shares, name_colors),
                   "places": charts.heat(places, data.themes, names, "各省份报告的主题占比 (%)") if places else "",
                   "years": charts.heat(years, data.themes, names, "各年份报告的主题占比 (%)") if years else ""},
        "font": embedded_font("".join(page_text)),
    }


def render(data: ReportData, title: str = "科技局工作报告：主题与名称", labels=None) -> str:
    from importlib.resources import files

    from jinja2 import Environment, select_autoescape

    from ..labels import load_labels

    source = (files("nlp.report") / "template.html").read_text(encoding="utf-8")
    template = Environment(autoescape=select_autoescape(default=True)).from_string(source)
    return template.render(**context(data, title, labels or load_labels(), source))


def write_report(inputs: list, output: Path, max_paragraphs: int = MAX_PARAGRAPHS, title: Optional[str] = None) -> dict:
    """Read tagged outputs and write the HTML; returns what it holds (for the command's message)."""
    from ..io import atomic_write

    data = collect(inputs, max_paragraphs=max_paragraphs)
    if not data.paragraphs:
        raise ReportInputError(f"{', '.join(map(str, inputs))}: no tagged paragraphs to report on")
    page = render(data, title or "科技局工作报告：主题与名称")
    with atomic_write(Path(output)) as f:
        f.write(page)
    return {"reports": len(data.reports), "paragraphs": data.paragraphs, "shown": data.shown,
            "bytes": len(page.encode("utf-8"))}


def report_command(inputs: list, output: Path, max_paragraphs: int = MAX_PARAGRAPHS, title: Optional[str] = None) -> int:
    from .fonts import FontMissing

    started = time.perf_counter()
    try:
        made = write_report(inputs, output, max_paragraphs, title)
    except (ReportInputError, FontMissing) as e:
        print(f"policy-nlp report: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"policy-nlp report: writing {output} failed: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"report of {made['reports']} reports ({made['paragraphs']:,} paragraphs) written to {output} "
          f"({made['bytes'] / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)", file=sys.stderr)
    return 0
