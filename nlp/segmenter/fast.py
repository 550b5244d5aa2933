"""A faster feature path for pkuseg: the same model, features and Viterbi, hence the same words.

spacy-pkuseg builds each character's feature strings one at a time (about 70 of them: the
character window, and every pair of dictionary words that could end before and start at it)
and looks each up, about 37 µs a character here; that is most of the cost of tagging. This
path finds once per text which substrings are dictionary words, visits only the word pairs
that exist, and memoises feature ids, so a character costs a few dictionary lookups.

``accelerate(seg)`` swaps the feature path of a loaded ``spacy_pkuseg.pkuseg`` in place; the
user dictionary, post-processing and weights stay pkuseg's own. A model whose feature
templates this path does not reproduce (``**noWord`` pair features, other settings) keeps the
stock path. ``tests/test_segmenter.py`` checks the words match stock pkuseg on every report.
"""
from __future__ import annotations

import itertools
from typing import Callable, Optional

import numpy as np
from spacy_pkuseg import inference
from spacy_pkuseg.config import config as pkuseg_config
from spacy_pkuseg.feature_extractor import FeatureExtractor

# Digits and Latin letters are normalised by pkuseg to the tokens "**Num" / "**Letter"; one
# private-use character each stands for them here, so that substrings are plain slices.
NUM, LETTER = "\ue000", "\ue001"


def _pkuseg_form(s: str) -> str:
    if NUM in s or LETTER in s:
        return s.replace(NUM, "**Num").replace(LETTER, "**Letter")
    return s


def _our_form(s: str) -> str:
    return s.replace("**Num", NUM).replace("**Letter", LETTER)


# Memos hold at most this many keys (characters, character pairs, word pairs), so memory stays
# flat however much text goes through; a full memo starts again.
MEMO_SIZE = 300_000


class _Features(dict):
    """A memo: the value for a key not seen before comes from ``lookup(key)``."""

    def __init__(self, lookup: Callable):
        super().__init__()
        self._lookup = lookup

    def __missing__(self, key):
        if len(self) >= MEMO_SIZE:
            self.clear()
        value = self[key] = self._lookup(key)
        return value


class FastCut:
    """Callable replacing ``pkuseg._cut``: text without spaces → words."""

    def __init__(self, seg) -> None:
        extractor = seg.feature_extractor
        ids = extractor.feature_to_idx
        self.stock = seg._cut
        self.word_lengths = range(pkuseg_config.wordMax, pkuseg_config.wordMin - 1, -1)
        self.supported = (pkuseg_config.numLetterNorm and pkuseg_config.wordFeature
                          and "" not in extractor.unigram
                          and not any("**noWord" in k for k in ids))
        table = {ord(ch): NUM for ch in FeatureExtractor.num}
        table.update({ord(ch): LETTER for ch in FeatureExtractor.letter})
        # pkuseg renames the keyword characters first, so they win over the number set ('.')
        table.update({ord(ch): "&" for ch in FeatureExtractor.keywords})
        self.table = table
        lengths = set(self.word_lengths)
        self.unigram = {_our_form(w) for w in extractor.unigram if len(_our_form(w)) in lengths}
        model = seg.model
        self.none = model.n_feature   # the id of an extra row of zero weights: "no such feature"

        def feature(name: Callable[[str], str]) -> _Features:
            return _Features(lambda k: ids.get(name(k), self.none))

        p = _pkuseg_form
        # by character: (c, c-1, c1, c-2, c2) as that character; by character pair (x, y):
        # (c-1c, cc1, c-2c-1) as that pair
        self.chars = _Features(lambda k: tuple(ids.get(t + p(k), self.none) for t in ("c.", "c-1.", "c1.", "c-2.", "c2.")))
        self.bigrams = _Features(lambda k: tuple(ids.get(f"{t}{p(k[0])}.{p(k[1])}", self.none)
                                                 for t in ("c-1c.", "cc1.", "c-2c-1.")))
        self.word_ends = feature(lambda k: "w-1." + p(k))
        self.word_starts = feature(lambda k: "w1." + p(k))

        def pair(key: tuple[str, str]) -> Optional[tuple[int, int]]:
            # (ww.l id, ww.r id) of a word pair, or None when the model has neither feature
            words = f"{p(key[0])}*{p(key[1])}"
            left, right = ids.get("ww.l." + words, self.none), ids.get("ww.r." + words, self.none)
            return None if left == right == self.none else (left, right)

        self.pairs = _Features(pair)
        n_node = model.n_feature * model.n_tag
        self.node_weights = np.zeros((model.n_feature + 1, model.n_tag))
        self.node_weights[:-1] = model.w[:n_node].reshape(model.n_feature, model.n_tag)
        # pkuseg's getLogYY: edge[prev, tag] = 1 + w[n_node + tag * n_tag + prev]
        self.edge_scores = np.ascontiguousarray(1.0 + model.w[n_node:].reshape(model.n_tag, model.n_tag).T)
        self.begins = [("B" in seg.idx_to_tag[t]) for t in range(model.n_tag)]

    def __call__(self, text: str) -> list[str]:
        if not self.supported or NUM in text or LETTER in text:
            return self.stock(text)
        norm = text.translate(self.table)
        n = len(norm)
        unigram = self.unigram
        none = self.none
        # One row of feature ids per template, in the order pkuseg adds them up: $$, c, c-1,
        # c-1c, c1, cc1, c-2, c-2c-1, c2, then words ending (w-1) and starting (w1) here.
        lengths = self.word_lengths
        rows = np.full((9 + 2 * len(lengths), n), none, dtype=np.intp)
        rows[0] = 0
        chars = np.array([self.chars[ch] for ch in norm], dtype=np.intp)
        rows[1], rows[2, 1:], rows[4, :-1] = chars[:, 0], chars[:-1, 1], chars[1:, 2]
        rows[6, 2:], rows[8, :-2] = chars[:-2, 3], chars[2:, 4]
        if n > 1:
            bigrams = np.array([self.bigrams[norm[i:i + 2]] for i in range(n - 1)], dtype=np.intp)
            rows[3, 1:], rows[5, :-1], rows[7, 2:] = bigrams[:, 0], bigrams[:, 1], bigrams[:-1, 2]
        ends_at: dict[int, list[str]] = {}
        starts_at: dict[int, list[str]] = {}
        for k, l in enumerate(lengths):
            pieces = [norm[j:j + l] for j in range(n - l + 1)]
            found = unigram.intersection(pieces)
            if not found:
                continue
            rows[9 + k, l - 1:] = [self.word_ends[w] if w in found else none for w in pieces]
            rows[9 + len(lengths) + k, :n - l + 1] = [self.word_starts[w] if w in found else none for w in pieces]
            for j in [j for j, w in enumerate(pieces) if w in found]:
                starts_at.setdefault(j, []).append(pieces[j])
                ends_at.setdefault(j + l - 1, []).append(pieces[j])
        node_scores = self.node_weights[rows].sum(axis=0)
        # Pairs of adjacent dictionary words (a ending before a boundary, b starting at it)
        # give "ww.l" to the character after the boundary and "ww.r" to the one before. Added
        # last and in pkuseg's order, so every character's sum is computed the same way.
        where, which = [], []
        pairs = self.pairs
        for k in sorted(starts_at):
            before = ends_at.get(k - 1)
            if before:
                for a in before:
                    for b in starts_at[k]:
                        ids = pairs[a, b]
                        if ids is not None:
                            where += (k, k - 1)
                            which += ids
        if where:
            np.add.at(node_scores, where, self.node_weights[which])
        _, tags = inference.run_viterbi(node_scores, self.edge_scores)
        out: list[str] = []
        begins = self.begins
        start = 0
        for i in range(1, n):
            if begins[tags[i]]:
                out.append(text[start:i])
                start = i
        out.append(text[start:])
        return out


class FastPostprocess:
    """Callable replacing ``pkuseg.postprocesser``: the same merges of dictionary words.

    pkuseg joins every run of 7, 6, … 2 words and looks it up, merging the runs found in its
    dictionaries. Runs are rarely found, so a pass first checks whether any run of this
    length is in a dictionary at all, and only then walks the words pkuseg's way.
    """

    def __init__(self, stock) -> None:
        self.stock = stock
        self.common = stock.common_words if stock.do_process else set()
        self.other = stock.other_words if stock.do_process else set()
        self.known = self.common | self.other

    def __getattr__(self, name: str):
        # spaCy saves the tokenizer from the stock object's word lists
        return getattr(self.stock, name)

    def __call__(self, sent: list[str]) -> list[str]:
        if not self.stock.do_process:
            return sent
        common, other, known = self.common, self.other, self.known
        text = "".join(sent)
        offsets = list(itertools.accumulate(map(len, sent), initial=0))
        for m in range(7, 1, -1):
            runs = [text[offsets[i]:offsets[i + m]] for i in range(len(sent) - m + 1)]
            if not runs or known.isdisjoint(runs):
                continue
            i = 0
            while i <= len(sent) - m:
                merged = "".join(sent[i:i + m])
                # a run of words that are each known is left apart when only in the other words
                if merged in common or (merged in other and not all(w in known for w in sent[i:i + m])):
                    sent[i:i + m] = [merged]
                i += 1
            offsets = list(itertools.accumulate(map(len, sent), initial=0))
        return sent


def accelerate(seg) -> None:
    """Give a loaded ``spacy_pkuseg.pkuseg`` the fast feature path (in place)."""
    if seg is None or isinstance(seg.__dict__.get("_cut"), FastCut):
        return
    fast = FastCut(seg)
    if fast.supported:
        seg._cut = fast
        seg.postprocesser = FastPostprocess(seg.postprocesser)
