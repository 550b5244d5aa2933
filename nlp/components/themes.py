"""``theme_decider``: per-theme thresholds over ``doc.cats``, and the rule for the fallback theme.

Whatever scores the themes (``sk_themes`` or spaCy's ``textcat_multilabel``), this component
turns probabilities into the themes of a paragraph: each theme at or above its own threshold;
when none passes, the most likely theme if its probability reaches ``other_bound``, else the
exclusive fallback (``other``) alone. The chosen themes are ``doc._.themes``.

Thresholds and the bound are tuned in ``initialize`` on the out-of-fold probabilities that the
scoring component computed over all training paragraphs (``oof_scores``), so ``policy-nlp
train`` and ``python -m spacy train`` give the same decider and no paragraph is held back.
"""
import json
from typing import Callable, Iterable, Optional

import numpy as np
from spacy import registry
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path

from ..metrics import theme_metrics

if not Doc.has_extension("themes"):
    Doc.set_extension("themes", default=None)

DEFAULT_CONFIG = {"threshold": 0.5, "other_bound": 0.5, "exclusive": ["other"], "scores_from": "sk_themes",
                  "scorer": {"@scorers": "policy_nlp.themes_scorer.v1", "prefix": "themes", "decided": True}}
GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)


@Language.factory("theme_decider", assigns=["doc._.themes"], requires=["doc.cats"], default_config=DEFAULT_CONFIG,
                  default_score_weights={"themes_macro_f": 1.0, "themes_micro_f": 0.0})
def make_theme_decider(nlp: Language, name: str, threshold: float, other_bound: float, exclusive: list[str],
                       scores_from: str, scorer: Optional[Callable]) -> "ThemeDecider":
    return ThemeDecider(name, threshold=threshold, other_bound=other_bound, exclusive=exclusive,
                        scores_from=scores_from, scorer=scorer)


def decide(cats: dict, thresholds: dict, default: float, exclusive: Iterable[str],
           other_bound: Optional[float] = None) -> list[str]:
    exclusive = list(exclusive)
    themes = {label: p for label, p in cats.items() if label not in exclusive}
    chosen = [label for label, p in themes.items() if p >= thresholds.get(label, default)]
    if chosen or not exclusive:
        return sorted(chosen)
    if other_bound is not None and themes:
        best = max(themes, key=themes.get)
        if themes[best] >= other_bound:
            return [best]
    return [exclusive[0]]


class ThemeDecider:
    def __init__(self, name: str = "theme_decider", *, threshold: float = 0.5, other_bound: float = 0.5,
                 exclusive=("other",), scores_from: str = "sk_themes", scorer: Optional[Callable] = None):
        self.name = name
        self.threshold = threshold
        self.other_bound = other_bound
        self.exclusive = list(exclusive)
        self.scores_from = scores_from
        self.scorer = scorer
        self.thresholds: dict[str, float] = {}

    def __call__(self, doc: Doc) -> Doc:
        doc._.themes = decide(doc.cats, self.thresholds, self.threshold, self.exclusive, self.other_bound)
        return doc

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None) -> None:
        source = nlp.get_pipe(self.scores_from) if nlp is not None and self.scores_from in nlp.pipe_names else None
        if getattr(source, "oof_scores", None) is not None:
            self.tune(source.oof_scores, source.oof_gold, list(source.labels))

    def tune(self, scores: np.ndarray, gold: np.ndarray, labels: list[str]) -> dict:
        """Per theme, the threshold that maximises F1 (ties go to the middle of the tied range);
        then the bound that maximises macro F1 once the thresholds are set."""
        for j, label in enumerate(labels):
            if label in self.exclusive or gold[:, j].sum() == 0:
                continue
            f1s = []
            for t in GRID:
                pred = scores[:, j] >= t
                tp = float(np.sum(pred & (gold[:, j] == 1)))
                denom = pred.sum() + gold[:, j].sum()
                f1s.append(2 * tp / denom if denom else 0.0)
            best = np.flatnonzero(np.isclose(f1s, max(f1s)))
            self.thresholds[label] = float(GRID[best[len(best) // 2]])
        gold_sets = [[label for label, g in zip(labels, row) if g] for row in gold]
        rows = [dict(zip(labels, map(float, row))) for row in scores]

        def macro(bound: float) -> float:
            predicted = [decide(cats, self.thresholds, self.threshold, self.exclusive, bound) for cats in rows]
            return theme_metrics(gold_sets, predicted, labels)["macro_f"]

        candidates = list(GRID) + [1.01]   # 1.01: never pick a theme below its threshold
        f1s = [macro(b) for b in candidates]
        best = np.flatnonzero(np.isclose(f1s, max(f1s)))
        self.other_bound = float(candidates[best[len(best) // 2]])
        return {"thresholds": dict(self.thresholds), "other_bound": self.other_bound}

    def score(self, examples: Iterable[Example], **kwargs) -> dict:
        return self.scorer(examples, **kwargs) if self.scorer else {}

    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        data = {"threshold": self.threshold, "other_bound": self.other_bound, "exclusive": self.exclusive,
                "thresholds": self.thresholds}
        (path / "thresholds.json").write_text(json.dumps(data, indent=2), encoding="utf-8")

    def from_disk(self, path, *, exclude=tuple()) -> "ThemeDecider":
        data = json.loads((ensure_path(path) / "thresholds.json").read_text(encoding="utf-8"))
        self.threshold, self.exclusive = data["threshold"], data["exclusive"]
        self.other_bound = data.get("other_bound")
        self.thresholds = {k: float(v) for k, v in data["thresholds"].items()}
        return self


@registry.scorers("policy_nlp.themes_scorer.v1")
def make_themes_scorer(prefix: str = "themes", decided: bool = False) -> Callable:
    def score(examples: Iterable[Example], **kwargs) -> dict:
        return score_themes(examples, prefix=prefix, decided=decided)

    return score


def score_themes(examples: Iterable[Example], prefix: str = "themes", decided: bool = False) -> dict:
    """spaCy-style scores for the training loop: ``{prefix}_macro_f`` and ``{prefix}_micro_f``."""
    examples = list(examples)
    labels = sorted({label for eg in examples for label in eg.reference.cats})
    gold = [[l for l, v in eg.reference.cats.items() if v >= 0.5] for eg in examples]
    if decided:
        predicted = [eg.predicted._.themes or [] for eg in examples]
    else:
        predicted = [decide(eg.predicted.cats, {}, 0.5, DEFAULT_CONFIG["exclusive"]) for eg in examples]
    metrics = theme_metrics(gold, predicted, labels)
    return {f"{prefix}_macro_f": metrics["macro_f"], f"{prefix}_micro_f": metrics["micro_f"]}
