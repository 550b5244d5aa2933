"""Entity-ruler patterns learnt from the training split: the names annotators marked.

spaCy's ``entity_ruler``, placed after ``ner`` with ``overwrite_ents = false``, then adds a
known name wherever the statistical model missed it. Only names that are marked at (nearly)
every place they occur in the training texts are kept, so generic words never become patterns.
Registered as ``policy_nlp.gazetteer_patterns.v1`` for ``[initialize.components.gazetteer]``.
"""
from collections import Counter
from pathlib import Path
from typing import Optional

import spacy

from ..annotation.examples import read_examples
from .corpus import select
from ..labels import load_labels


@spacy.registry.misc("policy_nlp.gazetteer_patterns.v1")
def gazetteer_patterns(path: Path, split: str = "train", folds: int = 5, dev_fold: int = 0, test_fold: int = -1,
                       seed: int = 0, labels: Optional[Path] = None, min_length: int = 2,
                       min_marked_share: float = 0.9) -> list[dict]:
    examples = select(read_examples(path, load_labels(labels)), split, folds, dev_fold, seed, test_fold)
    marked: Counter = Counter()
    label_of: dict[str, Counter] = {}
    for example in examples:
        for start, end, label in example.entities:
            name = example.text[start:end]
            marked[name] += 1
            label_of.setdefault(name, Counter())[label] += 1
    patterns = []
    for name, count in marked.items():
        if len(name) < min_length:
            continue
        # a place inside a longer marked name does not count against the shorter name
        occurrences = sum(_free_occurrences(example, name) for example in examples)
        if count / max(occurrences, 1) >= min_marked_share:
            patterns.append({"label": label_of[name].most_common(1)[0][0], "pattern": name})
    return sorted(patterns, key=lambda p: (p["label"], p["pattern"]))


def _free_occurrences(example, name: str) -> int:
    spans = [(s, e) for s, e, _ in example.entities]
    count, start = 0, example.text.find(name)
    while start >= 0:
        end = start + len(name)
        if not any(s <= start and end <= e and (s, e) != (start, end) for s, e in spans):
            count += 1
        start = example.text.find(name, start + 1)
    return count
