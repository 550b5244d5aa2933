"""Active learning: which unlabelled paragraphs annotators should label next.

A paragraph has several themes, each with its own decision threshold (``theme_decider``).
The model is unsure of a paragraph when some theme's probability sits near that theme's
threshold, so uncertainty is the closeness of the *closest* theme to its threshold, scaled
to [0, 1] (1 = exactly on a threshold); mean closeness over all themes breaks ties.

Picking the N most uncertain alone would often pick near-duplicates (report templates
repeat whole sentences), so selection is greedy maximal marginal relevance: each pick
maximises ``λ·uncertainty − (1−λ)·similarity to what is already picked``, with similarity
the Jaccard overlap of character bigrams.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

DIVERSITY = 0.3          # 1 − λ


def closeness(p: float, threshold: float) -> float:
    """1 when ``p`` is on the threshold, 0 at the far end (0 or 1) of its side."""
    side = threshold if p < threshold else 1.0 - threshold
    return 1.0 - abs(p - threshold) / side if side > 0 else 0.0


def uncertainty(scores: dict, thresholds: dict, default: float = 0.5, exclusive: Sequence[str] = ("other",)) -> float:
    """Multi-label uncertainty of one paragraph from its per-theme scores."""
    values = [closeness(float(p), thresholds.get(theme, default))
              for theme, p in scores.items() if theme not in exclusive]
    if not values:
        return 0.0
    return round(max(values) + 0.01 * sum(values) / len(values), 6)


def bigrams(text: str) -> set[str]:
    compact = "".join(text.split())
    return {compact[i:i + 2] for i in range(len(compact) - 1)} or {compact}


def similarity(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


@dataclass
class Pick:
    example_id: int
    rank: int
    uncertainty: float


def select(candidates: Sequence[tuple[int, str, float]], count: int, diversity: float = DIVERSITY,
           pool: Optional[int] = None) -> list[Pick]:
    """Greedy MMR over ``(example id, text, uncertainty)``; the pool is the most uncertain 10×count."""
    ranked = sorted(candidates, key=lambda c: (-c[2], c[0]))[: pool or max(count * 10, 50)]
    grams = {c[0]: bigrams(c[1]) for c in ranked}
    picked: list[tuple[int, str, float]] = []
    best_sim = {c[0]: 0.0 for c in ranked}
    remaining = list(ranked)
    while remaining and len(picked) < count:
        choice = max(remaining, key=lambda c: ((1 - diversity) * c[2] - diversity * best_sim[c[0]], -c[0]))
        remaining.remove(choice)
        picked.append(choice)
        for c in remaining:
            best_sim[c[0]] = max(best_sim[c[0]], similarity(grams[c[0]], grams[choice[0]]))
    return [Pick(c[0], rank, c[2]) for rank, c in enumerate(picked, 1)]


def decider_thresholds(nlp) -> tuple[dict, float, list[str]]:
    """(per-theme thresholds, default threshold, exclusive themes) of a pipeline's theme_decider."""
    if "theme_decider" in nlp.pipe_names:
        decider = nlp.get_pipe("theme_decider")
        return dict(decider.thresholds), float(decider.threshold), list(decider.exclusive)
    return {}, 0.5, ["other"]
