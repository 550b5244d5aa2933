"""A spaCy corpus reader for doccano JSONL exports, with a split grouped by source report.

Registered as ``policy_nlp.DoccanoCorpus.v1`` so that a config names the export directly:
no conversion step to ``.spacy`` files. Every paragraph belongs to a fold (``meta.fold`` when
the export records one, else a stable hash of its source report), so paragraphs written from
one report never fall on both sides of a split.
"""

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import spacy
from spacy.language import Language
from spacy.training import Example

from ..annotation.examples import Example as Annotated
from ..components.crf_entities import set_char_ents
from ..components.sk_themes import GROUP_KEY
from ..annotation.examples import read_examples
from ..labels import load_labels

logger = logging.getLogger("policy_nlp")


def fold_of(example: Annotated, folds: int, seed: int = 0) -> int:
    # The folds stored in the corpus were made (balanced by size) for the default five folds
    # and seed; any other choice falls back to hashing the report.
    if "fold" in example.meta and folds == 5 and seed == 0:
        return int(example.meta["fold"]) % folds
    digest = hashlib.sha1(f"{seed}:{example.group}".encode("utf-8")).hexdigest()
    return int(digest, 16) % folds


def select(examples: list[Annotated], split: str, folds: int, dev_fold: int, seed: int = 0,
           test_fold: int = -1) -> list[Annotated]:
    """``dev``: the paragraphs of ``dev_fold``; ``test``: those of ``test_fold`` (held out of
    everything, for cross-validation); ``train``: the rest; ``all``: everything."""
    wanted = {"dev": lambda f: f == dev_fold, "test": lambda f: f == test_fold,
              "train": lambda f: f not in (dev_fold, test_fold), "all": lambda f: True}
    if split not in wanted:
        raise ValueError(f"split must be one of {', '.join(wanted)}, not {split!r}")
    return [e for e in examples if wanted[split](fold_of(e, folds, seed))]


def make_doc_example(nlp: Language, annotated: Annotated, themes: Iterable[str],
                     stats: Optional[Counter] = None) -> Example:
    """A spaCy ``Example``; spans off token boundaries are widened to whole tokens, and counted."""
    predicted = nlp.make_doc(annotated.text)
    reference = predicted.copy()
    reference.cats = {theme: float(theme in annotated.cats) for theme in themes}
    reference.user_data[GROUP_KEY] = annotated.group
    if stats is not None:
        for start, end, label in annotated.entities:
            aligned = predicted.char_span(start, end) is not None
            stats["aligned" if aligned else "misaligned"] += 1
            if not aligned:
                stats[f"misaligned_{label}"] += 1
    # The reference keeps the exact spans (its tokens are split where a name ends inside a
    # word); spaCy's Example aligns the two tokenizations for components that need tokens.
    set_char_ents(reference, [tuple(e) for e in annotated.entities])
    return Example(predicted, reference)


@spacy.registry.readers("policy_nlp.DoccanoCorpus.v1")
def create_doccano_corpus(path: Path, split: str = "all", folds: int = 5, dev_fold: int = 0,
                          test_fold: int = -1, seed: int = 0, labels: Optional[Path] = None) -> Callable[[Language], Iterator[Example]]:
    themes = load_labels(labels).themes

    # The training loop reads the corpus every epoch; segmenting is the slow part, so the
    # examples are made once and handed out as copies.
    made: list[Example] = []

    def read(nlp: Language) -> Iterator[Example]:
        if not made:
            stats: Counter = Counter()
            chosen = select(read_examples(path, load_labels(labels)), split, folds, dev_fold, seed, test_fold)
            made.extend(make_doc_example(nlp, annotated, themes, stats) for annotated in chosen)
            read.stats = stats
            if stats["misaligned"]:
                logger.info("%s (%s): %d of %d entity spans end inside a pkuseg word (kept exact; the word is split)",
                            path, split, stats["misaligned"], stats["misaligned"] + stats["aligned"])
        for example in made:
            yield Example(example.predicted.copy(), example.reference)

    return read
