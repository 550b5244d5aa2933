"""Agreement between annotators who labelled the same paragraphs, and what to adjudicate.

- Themes: per theme, Cohen's kappa for each pair of annotators (yes/no on that theme, over
  the paragraphs both labelled) and Krippendorff's alpha (nominal) over all annotators,
  which copes with annotators who labelled different subsets.
- Entities: exact-match F1 between each pair (same start, end and label), micro-averaged
  over the paragraphs both labelled, overall and per label.
- Adjudication: one record per paragraph where annotators disagree, in the annotation
  format (``cats``/``entities`` hold what a strict majority gave, for the adjudicator to
  finish) with each annotator's labels and the list of disagreements beside.

Input is ``{annotator: {example id: record}}`` with records already converted and checked
(``doccano_convert.convert_record``); only paragraphs an annotator labelled are in their dict.
"""
from __future__ import annotations

from itertools import combinations
from typing import Iterable, Optional

from ..metrics import cohen_kappa

Records = dict[str, dict[int, dict]]


def krippendorff_alpha(units: Iterable[list]) -> Optional[float]:
    """Krippendorff's alpha (nominal) over units each holding the values its coders gave."""
    coincidence: dict[tuple, float] = {}
    for values in units:
        m = len(values)
        if m < 2:
            continue
        for i, j in ((i, j) for i in range(m) for j in range(m) if i != j):
            key = (values[i], values[j])
            coincidence[key] = coincidence.get(key, 0.0) + 1.0 / (m - 1)
    totals: dict = {}
    for (c, _), weight in coincidence.items():
        totals[c] = totals.get(c, 0.0) + weight
    n = sum(totals.values())
    disagree = sum(w for (c, k), w in coincidence.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if n <= 1 or expected == 0:
        return None
    return 1.0 - (n - 1) * disagree / expected


def span_scores(a: set, b: set) -> dict:
    """Precision/recall/F1 of ``b`` against ``a`` (F1 is symmetric)."""
    tp = len(a & b)
    return {"f1": 2 * tp / (len(a) + len(b)) if a or b else 1.0,
            "precision": tp / len(b) if b else 1.0, "recall": tp / len(a) if a else 1.0,
            "a": len(a), "b": len(b), "both": tp}


def _spans(record: dict) -> set:
    return {tuple(e) for e in record["entities"]}


def _round(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 4)


def agreement(records: Records, themes: Iterable[str], entity_labels: Iterable[str]) -> dict:
    """The agreement report: shared paragraphs, per-theme kappa/alpha, entity F1."""
    themes, entity_labels = list(themes), list(entity_labels)
    annotators = sorted(u for u in records if records[u])
    shared = sorted({i for u in annotators for i in records[u]
                     if sum(i in records[v] for v in annotators) >= 2})
    report: dict = {"annotators": annotators, "examples_compared": len(shared), "themes": {},
                    "entities": {"pairs": {}, "by_label": {}}}
    pairs = list(combinations(annotators, 2))
    for theme in themes:
        entry: dict = {"pairs": {}}
        units = [[theme in records[u][i]["cats"] for u in annotators if i in records[u]] for i in shared]
        entry["alpha"] = _round(krippendorff_alpha(units))
        kappas = []
        for u, v in pairs:
            both = [i for i in shared if i in records[u] and i in records[v]]
            if not both:
                continue
            a = [theme in records[u][i]["cats"] for i in both]
            b = [theme in records[v][i]["cats"] for i in both]
            kappa = cohen_kappa(a, b)
            entry["pairs"][f"{u} vs {v}"] = {"kappa": _round(kappa), "n": len(both), "yes": [sum(a), sum(b)],
                                              "agreement": _round(sum(x == y for x, y in zip(a, b)) / len(both))}
            if kappa is not None:
                kappas.append(kappa)
        entry["mean_kappa"] = _round(sum(kappas) / len(kappas)) if kappas else None
        report["themes"][theme] = entry
    for u, v in pairs:
        both = [i for i in shared if i in records[u] and i in records[v]]
        if not both:
            continue
        a = {(i, *s) for i in both for s in _spans(records[u][i])}
        b = {(i, *s) for i in both for s in _spans(records[v][i])}
        report["entities"]["pairs"][f"{u} vs {v}"] = {k: _round(x) if isinstance(x, float) else x
                                                     for k, x in span_scores(a, b).items()} | {"n": len(both)}
        for label in entity_labels:
            la = {s for s in a if s[3] == label}
            lb = {s for s in b if s[3] == label}
            if la or lb:
                report["entities"]["by_label"].setdefault(label, {})[f"{u} vs {v}"] = \
                    _round(span_scores(la, lb)["f1"])
    return report


def adjudication(records: Records) -> list[dict]:
    """One annotation-format record per shared paragraph on which annotators disagree."""
    annotators = sorted(records)
    ids = sorted({i for u in annotators for i in records[u]})
    out = []
    for i in ids:
        who = [u for u in annotators if i in records[u]]
        if len(who) < 2:
            continue
        versions = {u: records[u][i] for u in who}
        disagreements = []
        all_cats = sorted({c for r in versions.values() for c in r["cats"]})
        for cat in all_cats:
            yes = [u for u in who if cat in versions[u]["cats"]]
            if len(yes) != len(who):
                disagreements.append({"type": "theme", "theme": cat, "given_by": yes,
                                      "not_by": [u for u in who if u not in yes]})
        text = versions[who[0]]["text"]
        for span in sorted({s for r in versions.values() for s in _spans(r)}):
            yes = [u for u in who if span in _spans(versions[u])]
            if len(yes) != len(who):
                disagreements.append({"type": "entity", "span": list(span), "text": text[span[0]:span[1]],
                                      "given_by": yes, "not_by": [u for u in who if u not in yes]})
        if not disagreements:
            continue
        majority = len(who) // 2 + 1
        cats = [c for c in all_cats if sum(c in versions[u]["cats"] for u in who) >= majority]
        spans = sorted(s for s in {s for r in versions.values() for s in _spans(r)}
                       if sum(s in _spans(versions[u]) for u in who) >= majority)
        first = versions[who[0]]
        out.append({"id": i, "text": text, "cats": cats, "entities": [list(s) for s in spans],
                    "meta": first.get("meta", {}),
                    "annotations": {u: {"cats": versions[u]["cats"], "entities": versions[u]["entities"]}
                                    for u in who},
                    "disagreements": disagreements})
    return out


def format_report(report: dict) -> str:
    """A terminal table: per theme alpha and mean kappa, then entity F1 per pair."""
    def fmt(x: Optional[float]) -> str:
        return "  n/a" if x is None else f"{x:5.2f}"

    lines = [f"{report['examples_compared']} paragraph(s) labelled by two or more of: "
             f"{', '.join(report['annotators']) or '-'}", "", "theme            alpha  kappa(mean)"]
    for theme, entry in report["themes"].items():
        lines.append(f"{theme:<16} {fmt(entry['alpha'])}  {fmt(entry['mean_kappa'])}")
    lines.append("")
    for pair, scores in report["entities"]["pairs"].items():
        lines.append(f"entities {pair}: F1 {fmt(scores['f1'])} over {scores['n']} paragraph(s) "
                     f"({scores['both']} shared of {scores['a']}/{scores['b']} spans)")
    return "\n".join(lines)
