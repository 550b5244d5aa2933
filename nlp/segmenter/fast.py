"""A faster feature path for pkuseg: the same model, features and Viterbi, hence the same words.

spacy-pkuseg builds each character's feature strings one at a time (about 70 of them: the
character window, and every pair of dictionary words that could end before and start at it)
and looks each up, about 37 µs a character here; that is most of the cost of tagging. This
path finds once per text which substrings are dictionary words, visits only the word pairs
that exist, and memoises feature ids, so a character costs a few dictionary lookups.

Its model is its own compact copy of pkuseg's (``FastCut.save``, written beside spaCy's files):
the 1.6 M feature names as sorted 64-bit hashes with their ids, and the weights as one array,
all memory-mapped. Loading takes milliseconds instead of unpacking a 1.6 M-entry dict (1.2 s,
400 MB a process), and workers share the pages. A name absent from the model matches another's
hash with a probability of 1.6 M / 2^64 per lookup; names in the model never collide (checked).

``accelerate(seg)`` swaps the feature path of a loaded ``spacy_pkuseg.pkuseg`` in place;
``load_segmenter`` builds a pkuseg from the saved copy and reads the stock model only if asked
(text holding the private-use characters this path uses itself). The user dictionary and
post-processing stay pkuseg's own. A model whose feature templates this path does not reproduce
(``**noWord`` pair features, other settings) keeps the stock path. ``tests/test_segmenter.py``
checks the words match stock pkuseg on every report.
"""
import functools
import itertools
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import spacy_pkuseg
from spacy.strings import hash_string
from spacy_pkuseg import inference
from spacy_pkuseg.config import config as pkuseg_config
from spacy_pkuseg.feature_extractor import FeatureExtractor

from ..io import atomic_write

# Digits and Latin letters are normalised by pkuseg to the tokens "**Num" / "**Letter"; one
# private-use character each stands for them here, so that substrings are plain slices.
NUM, LETTER = "\ue000", "\ue001"
# Between texts cut together: characters of no feature and no dictionary word
_JOIN = "\x00\x00"
FORMAT = 1


def _pkuseg_form(s: str) -> str:
    if NUM in s or LETTER in s:
        return s.replace(NUM, "**Num").replace(LETTER, "**Letter")
    return s


def _our_form(s: str) -> str:
    return s.replace("**Num", NUM).replace("**Letter", LETTER)


# Memos hold at most this many keys (characters, character pairs, word pairs), so memory stays
# flat however much text goes through; a full memo starts again.
MEMO_SIZE = 300_000


class FeatureTable:
    """pkuseg's feature name → id dict as two sorted arrays: the names' 64-bit hashes, and ids."""

    def __init__(self, hashes: np.ndarray, ids: np.ndarray):
        self.hashes = hashes
        self.ids = ids

    @classmethod
    def from_dict(cls, feature_to_idx: dict[str, int]) -> "FeatureTable":
        hashes = np.fromiter(map(hash_string, feature_to_idx), dtype=np.uint64, count=len(feature_to_idx))
        order = np.argsort(hashes)
        hashes = hashes[order]
        if len(hashes) > 1 and bool((hashes[1:] == hashes[:-1]).any()):
            raise ValueError("two pkuseg feature names share a 64-bit hash")
        ids = np.fromiter(feature_to_idx.values(), dtype=np.int32, count=len(feature_to_idx))[order]
        return cls(hashes, ids)

    def lookup(self, names: list[str], none: int) -> list[int]:
        """The id of each name, or ``none``."""
        wanted = np.fromiter(map(hash_string, names), dtype=np.uint64, count=len(names))
        # searched in sorted order: neighbouring queries share the search's path through the
        # cache (5 times faster on pkuseg's 1.6 M hashes)
        order = np.argsort(wanted)
        at = np.empty(len(wanted), dtype=np.intp)
        at[order] = np.searchsorted(self.hashes, wanted[order])
        at = np.minimum(at, len(self.hashes) - 1)
        return np.where(self.hashes[at] == wanted, self.ids[at], none).tolist()


class _Memo(dict):
    """Feature ids by key (a character, two characters, a word, a word pair): the key's row in
    ``ids``. ``rows`` gives the ids of many keys as one array, the keys not seen yet looked up
    first, all in one vectorised lookup."""

    def __init__(self, names: Callable[[Any], tuple[str, ...]], width: int):
        super().__init__()
        self.names = names
        self.ids = np.empty((1024, width), dtype=np.intp)

    def rows(self, keys: list, lookup: Callable[[list[str]], list[int]]) -> np.ndarray:
        """The ids of these keys, one row each."""
        try:
            return self.ids[[self[key] for key in keys]]
        except KeyError:
            pass
        missing = list({key for key in keys if key not in self})
        if len(self) + len(missing) > MEMO_SIZE:
            self.clear()
            missing = list(set(keys))
        width = self.ids.shape[1]
        ids = np.reshape(lookup([name for key in missing for name in self.names(key)]), (len(missing), width))
        if len(missing) > MEMO_SIZE:        # more than a memo holds: looked up, not kept
            where = {key: i for i, key in enumerate(missing)}
            return ids[[where[key] for key in keys]]
        first = len(self)
        if first + len(missing) > len(self.ids):
            grown = np.empty((max(2 * len(self.ids), first + len(missing)), width), dtype=np.intp)
            grown[:first] = self.ids[:first]
            self.ids = grown
        self.ids[first:first + len(missing)] = ids
        self.update(zip(missing, range(first, first + len(missing))))
        return self.ids[[self[key] for key in keys]]


class FastCut:
    """Callable replacing ``pkuseg._cut``: text without spaces → words."""

    def __init__(self, table: FeatureTable, node_weights: np.ndarray, edge_scores: np.ndarray,
                 begins: list[bool], unigram: set[str], word_lengths: list[int], stock: Callable[[str], list[str]]):
        self.table = table
        self.node_weights = node_weights     # one row per feature, and a last row of zeros: "no such feature"
        self.edge_scores = edge_scores
        self.begins = begins                 # which tags begin a word
        self.unigram = unigram               # dictionary words, in our form
        self.word_lengths = word_lengths     # longest first
        self.stock = stock                   # pkuseg's own path, for text holding NUM or LETTER
        self.none = len(node_weights) - 1
        translate = {ord(ch): NUM for ch in FeatureExtractor.num}
        translate.update({ord(ch): LETTER for ch in FeatureExtractor.letter})
        # pkuseg renames the keyword characters first, so they win over the number set ('.')
        translate.update({ord(ch): "&" for ch in FeatureExtractor.keywords})
        self.translate = translate
        p = _pkuseg_form
        # by character: (c, c-1, c1, c-2, c2) as that character; by character pair (x, y):
        # (c-1c, cc1, c-2c-1) as that pair
        self.chars = _Memo(lambda k: tuple(t + p(k) for t in ("c.", "c-1.", "c1.", "c-2.", "c2.")), 5)
        self.bigrams = _Memo(lambda k: tuple(f"{t}{p(k[0])}.{p(k[1])}" for t in ("c-1c.", "cc1.", "c-2c-1.")), 3)
        self.word_ends = _Memo(lambda k: ("w-1." + p(k),), 1)
        self.word_starts = _Memo(lambda k: ("w1." + p(k),), 1)
        # (ww.l id, ww.r id) of a word pair, both `none` when the model has neither feature
        self.pairs = _Memo(lambda k: (f"ww.l.{p(k[0])}*{p(k[1])}", f"ww.r.{p(k[0])}*{p(k[1])}"), 2)

    @classmethod
    def from_pkuseg(cls, seg) -> Optional["FastCut"]:
        """The fast path of a loaded stock pkuseg; None if its model has features this path lacks."""
        extractor, model = seg.feature_extractor, seg.model
        ids = extractor.feature_to_idx
        if not (pkuseg_config.numLetterNorm and pkuseg_config.wordFeature and "" not in extractor.unigram
                and not any("**noWord" in k or "\x00" in k for k in ids)):
            return None
        lengths = list(range(pkuseg_config.wordMax, pkuseg_config.wordMin - 1, -1))
        n_node = model.n_feature * model.n_tag
        node_weights = np.zeros((model.n_feature + 1, model.n_tag))
        node_weights[:-1] = model.w[:n_node].reshape(model.n_feature, model.n_tag)
        # pkuseg's getLogYY: edge[prev, tag] = 1 + w[n_node + tag * n_tag + prev]
        edge_scores = np.ascontiguousarray(1.0 + model.w[n_node:].reshape(model.n_tag, model.n_tag).T)
        return cls(FeatureTable.from_dict(ids), node_weights, edge_scores,
                   [("B" in seg.idx_to_tag[t]) for t in range(model.n_tag)],
                   {w for w in map(_our_form, extractor.unigram) if len(w) in lengths}, lengths, seg._cut)

    def save(self, path: Path) -> None:
        # each file written beside and moved in place: a process may have the old one memory-mapped
        arrays = {"hashes.npy": self.table.hashes, "ids.npy": self.table.ids,
                  "weights.npy": np.asarray(self.node_weights), "edges.npy": self.edge_scores}
        for name, array in arrays.items():
            with atomic_write(path / name, "wb") as f:
                np.save(f, array)
        with atomic_write(path / "unigram.txt") as f:
            f.write("\n".join(sorted(self.unigram)) + "\n")
        with atomic_write(path / "meta.json") as f:
            f.write(json.dumps({"format": FORMAT, "begins": self.begins, "word_lengths": self.word_lengths}))

    @classmethod
    def load(cls, path: Path, stock: Callable[[str], list[str]]) -> "FastCut":
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: a fast pkuseg copy of format {meta.get('format')}, this code reads {FORMAT}")

        def array(name: str) -> np.ndarray:
            # memory-mapped: the pages are read as needed and shared by every process using them
            return np.load(path / name, mmap_mode="r", allow_pickle=False).view(np.ndarray)

        unigram = set((path / "unigram.txt").read_text(encoding="utf-8").split("\n")) - {""}
        return cls(FeatureTable(array("hashes.npy"), array("ids.npy")), array("weights.npy"),
                   np.load(path / "edges.npy", allow_pickle=False), meta["begins"], unigram, meta["word_lengths"], stock)

    def _lookup(self, names: list[str]) -> list[int]:
        return self.table.lookup(names, self.none)

    def __call__(self, text: str) -> list[str]:
        return self.cut_many([text])[0]

    def cut_many(self, texts: list[str]) -> list[list[str]]:
        """The words of each text, as ``__call__`` gives them, computed for all texts at once."""
        out: list[list[str]] = [[] for _ in texts]
        todo = []
        for k, text in enumerate(texts):
            if NUM in text or LETTER in text:
                out[k] = self.stock(text)
            elif text:
                todo.append(k)
        if todo:
            for k, words in zip(todo, self._cut_joined([texts[k] for k in todo])):
                out[k] = words
        return out

    def _cut_joined(self, texts: list[str]) -> list[list[str]]:
        # The texts joined by two characters no feature or dictionary word has: no character
        # window, character pair or word pair reaches across, so each text's features are what
        # they would be alone (pkuseg leaves a feature out where the window passes the text's
        # end, as an unknown feature counts nothing), and the join costs one pass, not one a text.
        norm = _JOIN.join(texts).translate(self.translate)
        n = len(norm)
        unigram = self.unigram
        none = self.none
        lookup = self._lookup
        # One row of feature ids per template, in the order pkuseg adds them up: $$, c, c-1,
        # c-1c, c1, cc1, c-2, c-2c-1, c2, then words ending (w-1) and starting (w1) here.
        lengths = self.word_lengths
        rows = np.full((9 + 2 * len(lengths), n), none, dtype=np.intp)
        rows[0] = 0
        chars = self.chars.rows(norm, lookup)
        rows[1], rows[2, 1:], rows[4, :-1] = chars[:, 0], chars[:-1, 1], chars[1:, 2]
        rows[6, 2:], rows[8, :-2] = chars[:-2, 3], chars[2:, 4]
        if n > 1:
            pairs_of_chars = [norm[i:i + 2] for i in range(n - 1)]
            bigrams = self.bigrams.rows(pairs_of_chars, lookup)
            rows[3, 1:], rows[5, :-1], rows[7, 2:] = bigrams[:, 0], bigrams[:, 1], bigrams[:-1, 2]
        # dictionary words by length: where each starts, and the word
        found: list[tuple[int, list[int], list[str]]] = []
        for k, l in enumerate(lengths):
            pieces = [norm[j:j + l] for j in range(n - l + 1)]
            words = unigram.intersection(pieces)
            if words:
                starts = [j for j, w in enumerate(pieces) if w in words]
                found.append((k, starts, [pieces[j] for j in starts]))
        ends_at: dict[int, list[str]] = {}
        starts_at: dict[int, list[str]] = {}
        if found:
            every = [w for _, _, words in found for w in words]
            end_ids = self.word_ends.rows(every, lookup)[:, 0]
            start_ids = self.word_starts.rows(every, lookup)[:, 0]
            at = 0
            for k, starts, words in found:
                l = lengths[k]
                rows[9 + k, [j + l - 1 for j in starts]] = end_ids[at:at + len(words)]
                rows[9 + len(lengths) + k, starts] = start_ids[at:at + len(words)]
                at += len(words)
                for j, w in zip(starts, words):
                    starts_at.setdefault(j, []).append(w)
                    ends_at.setdefault(j + l - 1, []).append(w)
        node_scores = self.node_weights[rows].sum(axis=0)
        # Pairs of adjacent dictionary words (a ending before a boundary, b starting at it)
        # give "ww.l" to the character after the boundary and "ww.r" to the one before. Added
        # last and in pkuseg's order, so every character's sum is computed the same way.
        adjacent = [(k, a, b) for k in sorted(starts_at) for a in ends_at.get(k - 1, ()) for b in starts_at[k]]
        if adjacent:
            ids = self.pairs.rows([(a, b) for _, a, b in adjacent], lookup)
            known = (ids[:, 0] != none) | (ids[:, 1] != none)
            if known.any():
                at = np.array([k for k, _, _ in adjacent])[known]
                where = np.stack([at, at - 1], axis=1).ravel()
                np.add.at(node_scores, where, self.node_weights[ids[known].ravel()])
        out: list[list[str]] = []
        begins = self.begins
        at = 0
        for text in texts:
            _, tags = inference.run_viterbi(node_scores[at:at + len(text)], self.edge_scores)
            words, start = [], 0
            for i in range(1, len(text)):
                if begins[tags[i]]:
                    words.append(text[start:i])
                    start = i
            words.append(text[start:])
            out.append(words)
            at += len(text) + len(_JOIN)
        return out


class FastPostprocess:
    """Callable replacing ``pkuseg.postprocesser``: the same merges of dictionary words.

    pkuseg joins every run of 7, 6, … 2 words and looks it up, merging the runs found in its
    dictionaries. Runs are rarely found, so a pass first checks whether any run of this length
    is in a dictionary at all, and only then walks the words pkuseg's way.
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
        if not self.stock.do_process or len(sent) < 2:
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


def cut(seg, txt: str) -> list[str]:
    """pkuseg's ``cut`` (white space, then the user dictionary, then the model and the merges),
    the pieces the model cuts handed to the fast path all at once."""
    parts: list[tuple[bool, str]] = []
    for chunk in txt.strip().split():
        pieces, is_word, _ = seg.preprocesser.solve(chunk)
        parts += zip(is_word, pieces)
    cuts = iter(seg._cut.cut_many([piece for is_word, piece in parts if not is_word]))
    words: list[str] = []
    for is_word, piece in parts:
        words += [piece] if is_word else seg.postprocesser(next(cuts))
    return words


def accelerate(seg) -> None:
    """Give a loaded stock ``spacy_pkuseg.pkuseg`` the fast feature path (in place)."""
    if seg is None or isinstance(seg.__dict__.get("_cut"), FastCut):
        return
    fast = FastCut.from_pkuseg(seg)
    if fast is not None and not seg.postag:
        seg._cut = fast
        seg.postprocesser = FastPostprocess(seg.postprocesser)
        seg.cut = functools.partial(cut, seg)


class _StockCut:
    """pkuseg's own ``_cut``, its model read from disk the first time it is needed."""

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self.seg = None

    def load(self):
        if self.seg is None:
            self.seg = spacy_pkuseg.pkuseg(str(self.model_dir), user_dict=None)
        return self.seg

    def __call__(self, text: str) -> list[str]:
        return self.load()._cut(text)


class Segmenter(spacy_pkuseg.pkuseg):
    """pkuseg running on a saved fast path: the stock model is read only when something asks for
    it (``model``, ``feature_extractor``: saving the pipeline again, say)."""

    def __init__(self, fast_dir: Path, model_dir: Path, user_dict: list, do_process: bool,
                 common_words: Iterable[str], other_words: Iterable[str]):
        self.postag = False
        self.model_dir = model_dir
        self.stock = _StockCut(model_dir)
        self.preprocesser = spacy_pkuseg.Preprocesser(user_dict)
        post = spacy_pkuseg.Postprocesser(None, None)
        post.do_process, post.common_words, post.other_words = do_process, set(common_words), set(other_words)
        self.postprocesser = FastPostprocess(post)
        self._cut = FastCut.load(fast_dir, self.stock)

    def cut(self, txt: str) -> list[str]:
        return cut(self, txt)

    def __getattr__(self, name: str):
        if name in ("model", "feature_extractor", "idx_to_tag", "n_feature", "n_tag"):
            return getattr(self.__dict__["stock"].load(), name)
        raise AttributeError(name)
