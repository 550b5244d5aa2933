"""``theme_decider``: per-theme thresholds over ``doc.cats``, with the exclusive fallback theme.

Whatever scores the themes (``sk_themes`` or spaCy's ``textcat_multilabel``), this component
turns probabilities into the themes of a paragraph: each theme above its own threshold
(tuned on dev data after training), and ``other`` alone when no other theme passes.
The chosen themes are ``doc._.themes``.
"""

import json
from typing import Iterable, Optional

import numpy as np
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path

if not Doc.has_extension("themes"):
    Doc.set_extension("themes", default=None)

DEFAULT_CONFIG = {"threshold": 0.5, "exclusive": ["other"]}


@Language.factory("theme_decider", default_config=DEFAULT_CONFIG, default_score_weights={"themes_macro_f": 1.0})
def make_theme_decider(nlp: Language, name: str, threshold: float, exclusive: list[str]) -> "ThemeDecider":
    return ThemeDecider(name, threshold=threshold, exclusive=exclusive)


def decide(cats: dict, thresholds: dict, default: float, exclusive: Iterable[str]) -> list[str]:
    exclusive = list(exclusive)
    chosen = [label for label, p in cats.items()
              if label not in exclusive and p >= thresholds.get(label, default)]
    if chosen or not exclusive:
        return sorted(chosen)
    return [exclusive[0]]


class ThemeDecider:
    def __init__(self, name: str = "theme_decider", *, threshold: float = 0.5, exclusive=("other",)):
        self.name = name
        self.threshold = threshold
        self.exclusive = list(exclusive)
        self.thresholds: dict[str, float] = {}

    def __call__(self, doc: Doc) -> Doc:
        doc._.themes = decide(doc.cats, self.thresholds, self.threshold, self.exclusive)
        return doc

    def tune(self, scores: np.ndarray, gold: np.ndarray, labels: list[str]) -> dict[str, float]:
        """Per label, the threshold that maximises F1 on (dev) scores; ties go to the middle."""
        grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
        for j, label in enumerate(labels):
            if label in self.exclusive or gold[:, j].sum() == 0:
                continue
            f1s = []
            for t in grid:
                pred = scores[:, j] >= t
                tp = float(np.sum(pred & (gold[:, j] == 1)))
                denom = pred.sum() + gold[:, j].sum()
                f1s.append(2 * tp / denom if denom else 0.0)
            best = np.flatnonzero(np.isclose(f1s, max(f1s)))
            self.thresholds[label] = float(grid[best[len(best) // 2]])
        return dict(self.thresholds)

    def score(self, examples: Iterable[Example], **kwargs) -> dict:
        examples = list(examples)
        labels = sorted({label for eg in examples for label in eg.reference.cats})
        return score_themes(examples, labels, decided=True)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        data = {"threshold": self.threshold, "exclusive": self.exclusive, "thresholds": self.thresholds}
        (path / "thresholds.json").write_text(json.dumps(data, indent=2), encoding="utf-8")

    def from_disk(self, path, *, exclude=tuple()) -> "ThemeDecider":
        data = json.loads((ensure_path(path) / "thresholds.json").read_text(encoding="utf-8"))
        self.threshold, self.exclusive = data["threshold"], data["exclusive"]
        self.thresholds = {k: float(v) for k, v in data["thresholds"].items()}
        return self


def prf(tp: float, fp: float, fn: float) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"p": p, "r": r, "f": 2 * p * r / (p + r) if p + r else 0.0}


def theme_metrics(gold: list[list[str]], predicted: list[list[str]], labels: list[str]) -> dict:
    """Per-theme P/R/F1/support, micro and macro F1 (macro over themes with support)."""
    per = {}
    totals = [0, 0, 0]
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted) if label in g and label in p)
        fp = sum(1 for g, p in zip(gold, predicted) if label not in g and label in p)
        fn = sum(1 for g, p in zip(gold, predicted) if label in g and label not in p)
        per[label] = {**prf(tp, fp, fn), "support": tp + fn}
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
    supported = [m["f"] for m in per.values() if m["support"]]
    return {"per_theme": per, "micro_f": prf(*totals)["f"],
            "macro_f": float(np.mean(supported)) if supported else 0.0}


def score_themes(examples: Iterable[Example], labels, decided: bool = False, prefix: str = "themes") -> dict:
    """spaCy-style scores for the training loop: ``{prefix}_macro_f`` and ``{prefix}_micro_f``."""
    examples = list(examples)
    labels = list(labels)
    gold = [[l for l, v in eg.reference.cats.items() if v >= 0.5] for eg in examples]
    if decided:
        predicted = [eg.predicted._.themes or [] for eg in examples]
    else:
        predicted = [decide(eg.predicted.cats, {}, 0.5, DEFAULT_CONFIG["exclusive"]) for eg in examples]
    metrics = theme_metrics(gold, predicted, labels)
    return {f"{prefix}_macro_f": metrics["macro_f"], f"{prefix}_micro_f": metrics["micro_f"]}
