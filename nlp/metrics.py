"""The project's one place for scores: themes (multi-label), entity spans, and agreement.

Conventions, stated once: P/R/F1 are 0 when undefined; a macro average counts every label
that has support (gold occurrences) in the scored set and no other; every result keeps the
counts (tp, fp, fn) it was computed from, so a figure can be checked and summed across folds.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np


def prf(tp: float, fp: float, fn: float) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def _summary(counts: dict[str, tuple[int, int, int]]) -> dict:
    per = {label: {**prf(tp, fp, fn), "support": tp + fn, "tp": tp, "fp": fp, "fn": fn}
           for label, (tp, fp, fn) in counts.items()}
    totals = [sum(c[i] for c in counts.values()) for i in range(3)]
    supported = [m["f"] for m in per.values() if m["support"]]
    return {"per_label": per, "labels": list(counts), "micro": {**prf(*totals), "tp": totals[0], "fp": totals[1],
                                                                 "fn": totals[2]},
            "micro_f": prf(*totals)["f"], "macro_f": float(np.mean(supported)) if supported else 0.0,
            "macro_labels": [label for label, m in per.items() if m["support"]]}


def indicator(sets: Sequence[Iterable[str]], labels: Sequence[str]) -> np.ndarray:
    return np.array([[label in set(s) for label in labels] for s in sets], dtype=np.int8).reshape(-1, len(labels))


def theme_metrics(gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]], labels: Sequence[str]) -> dict:
    """Per-theme P/R/F1/support with counts; micro F1 and macro F1 over themes with support."""
    labels = list(labels)
    if not len(gold):
        return _summary({label: (0, 0, 0) for label in labels}) | {"per_theme": {}}
    from sklearn.metrics import multilabel_confusion_matrix   # here: tagging never imports scikit-learn

    matrices = multilabel_confusion_matrix(indicator(gold, labels), indicator(predicted, labels))
    counts = {label: (int(m[1, 1]), int(m[0, 1]), int(m[1, 0])) for label, m in zip(labels, matrices)}
    out = _summary(counts)
    out["per_theme"] = out["per_label"]
    return out


def entity_metrics(gold: Sequence[Iterable[tuple]], predicted: Sequence[Iterable[tuple]], labels: Iterable[str]) -> dict:
    """Exact-match span scores: a span counts when start, end and label all agree."""
    counts = {}
    for label in labels:
        tp = fp = fn = 0
        for g, p in zip(gold, predicted):
            g = {(s, e) for s, e, l in g if l == label}
            p = {(s, e) for s, e, l in p if l == label}
            tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
        counts[label] = (tp, fp, fn)
    out = _summary(counts)
    out.update({f"micro_{k}": v for k, v in prf(*(out["micro"][x] for x in ("tp", "fp", "fn"))).items()})
    return out


def cohen_kappa(a: Sequence, b: Sequence) -> Optional[float]:
    """Cohen's kappa of two codings of the same items; None when it is undefined (no items, or
    both coders gave one and the same value throughout, so chance agreement is total)."""
    if not len(a) or len(a) != len(b) or len(set(a) | set(b)) < 2:
        return None
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(a, b))


def sum_counts(results: Iterable[dict]) -> dict:
    """Pool the per-label counts of several results (e.g. folds) into one result."""
    pooled: dict[str, list[int]] = {}
    for result in results:
        for label, m in result["per_label"].items():
            c = pooled.setdefault(label, [0, 0, 0])
            c[0], c[1], c[2] = c[0] + m["tp"], c[1] + m["fp"], c[2] + m["fn"]
    return _summary({label: tuple(c) for label, c in pooled.items()})
