"""``sk_themes``: a scikit-learn linear multi-label theme classifier as a spaCy component.

Word n-grams (the pipeline's tokens: pkuseg words or characters) and character n-grams of the
folded text, tf-idf weighted (sublinear tf, smoothed idf, l2 rows); one class-weighted linear model per theme
(logistic regression, or a linear SVM: ``estimator`` in the config). Training also predicts every training paragraph out of fold (grouped by
source report, so a paragraph is scored by a model that saw nothing of its report) and fits a
Platt sigmoid on those scores: ``doc.cats`` are calibrated probabilities, and the out-of-fold
probabilities (``oof_scores``) are what ``theme_decider`` tunes its thresholds on.
It is fitted once, in ``initialize``; spaCy's training loop has nothing to update.

Saved as arrays (``.npz``, loaded with ``allow_pickle=False``) and JSON: loading a model never
runs code from a file. scikit-learn fits (``CountVectorizer`` chooses the vocabularies, the
estimators the weights), through its public API only; counting n-grams of new text is done here
the way ``CountVectorizer`` does it (character n-grams vectorised over a batch), so that tagging
does not import scikit-learn (0.9 s of every worker's start-up) and counts faster.
``tests/test_components.py`` checks the counts against ``CountVectorizer``.
"""
import json
import re
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
from scipy import sparse
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path

from ..segmenter.tokenizer import doc_norm_text, doc_words
from .crf_features import code_points, pack

GROUP_KEY = "policy_nlp.group"

DEFAULT_CONFIG = {
    "labels": None,
    "word_ngrams": [1, 2],
    "char_ngrams": [1, 3],
    "min_df": 2,
    "max_features": 60000,
    "C": 8.0,
    "estimator": "logistic",
    "class_weight": "balanced",
    "keywords": None,
    "keyword_weight": 0.0,
    "oof_folds": 5,
    "seed": 0,
    "scorer": {"@scorers": "policy_nlp.themes_scorer.v1", "prefix": "sk_themes"},
}


@Language.factory("sk_themes", assigns=["doc.cats"], requires=[], default_config=DEFAULT_CONFIG,
                  default_score_weights={"sk_themes_macro_f": 0.0, "sk_themes_micro_f": 0.0})
def make_sk_themes(nlp: Language, name: str, labels: Optional[list[str]], word_ngrams: list[int],
                   char_ngrams: list[int], min_df: int, max_features: int, C: float, estimator: str,
                   class_weight: Optional[str], keywords: Optional[str], keyword_weight: float, oof_folds: int,
                   seed: int, scorer: Optional[Callable]) -> "SkThemes":
    if estimator not in ESTIMATORS:
        raise ValueError(f"[{name}] estimator must be one of {', '.join(ESTIMATORS)}, not {estimator!r}")
    return SkThemes(nlp.vocab, name, labels=labels, word_ngrams=tuple(word_ngrams), char_ngrams=tuple(char_ngrams),
                    min_df=min_df, max_features=max_features, C=C, estimator=estimator, class_weight=class_weight,
                    keywords=keywords, keyword_weight=keyword_weight, oof_folds=oof_folds, seed=seed, scorer=scorer)


class SkThemes(Pipe):
    def __init__(self, vocab, name: str = "sk_themes", *, labels: Optional[list[str]] = None,
                 word_ngrams=(1, 2), char_ngrams=(1, 3), min_df: int = 2, max_features: int = 60000,
                 C: float = 8.0, estimator: str = "logistic", class_weight: Optional[str] = "balanced",
                 keywords: Optional[str] = None, keyword_weight: float = 0.0, oof_folds: int = 5, seed: int = 0,
                 scorer: Optional[Callable] = None):
        self.vocab = vocab
        self.name = name
        self.scorer = scorer
        self.cfg = {"labels": list(labels or []), "word_ngrams": list(word_ngrams),
                    "char_ngrams": list(char_ngrams), "min_df": min_df, "max_features": max_features,
                    "C": C, "estimator": estimator, "class_weight": class_weight, "keyword_weight": keyword_weight,
                    "oof_folds": oof_folds, "seed": seed, "keywords": {}}
        self._keywords_path = keywords
        self.vocabularies: Optional[tuple[dict, dict]] = None
        self._char_counts: Optional[CharCounts] = None
        self.idf = self.coef = self.intercept = self.calib_a = self.calib_b = None
        self.oof_scores: Optional[np.ndarray] = None   # training paragraphs' out-of-fold probabilities
        self.oof_gold: Optional[np.ndarray] = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.cfg["labels"])

    def add_label(self, label: str) -> int:
        if label in self.cfg["labels"]:
            return 0
        self.cfg["labels"].append(label)
        return 1

    # -- features --------------------------------------------------------------------------
    def _word_ngrams(self, doc: Doc) -> list[str]:
        words = doc_words(doc)
        low, high = self.cfg["word_ngrams"]
        return [" ".join(words[i:i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)]

    def _counts(self, docs: list[Doc], fit: bool = False) -> sparse.csr_matrix:
        word_input = [self._word_ngrams(d) for d in docs]
        char_input = [doc_norm_text(d) for d in docs]
        if fit:
            from sklearn.feature_extraction.text import CountVectorizer

            common = dict(dtype=np.float32, min_df=self.cfg["min_df"], max_features=self.cfg["max_features"])
            words = CountVectorizer(analyzer=_identity, **common).fit(word_input)
            chars = CountVectorizer(analyzer="char", ngram_range=tuple(self.cfg["char_ngrams"]), lowercase=True,
                                    **common).fit(char_input)
            self.vocabularies = ({k: int(v) for k, v in words.vocabulary_.items()},
                                 {k: int(v) for k, v in chars.vocabulary_.items()})
        if self._char_counts is None or self._char_counts.vocabulary is not self.vocabularies[1]:
            self._char_counts = CharCounts(self.vocabularies[1], *self.cfg["char_ngrams"])
        return sparse.hstack([count(word_input, self.vocabularies[0]), self._char_counts(char_input)]).tocsr()

    def _tfidf(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        X = counts.copy()
        X.data = 1.0 + np.log(X.data)
        return l2_rows((X @ sparse.diags(self.idf)).tocsr())

    def _keyword_block(self, docs: list[Doc]) -> Optional[sparse.csr_matrix]:
        """Per theme, how many of the guide's keywords for it occur (capped at 3, scaled)."""
        keywords = self.cfg.get("keywords") or {}
        if not keywords or not self.cfg.get("keyword_weight"):
            return None
        themes = sorted(keywords)
        rows = []
        for doc in docs:
            text = doc_norm_text(doc)
            rows.append([min(sum(word in text for word in keywords[t]), 3) / 3.0 for t in themes])
        return sparse.csr_matrix(np.array(rows, dtype=np.float32) * self.cfg["keyword_weight"])

    def _matrix(self, docs: list[Doc], counts: sparse.csr_matrix) -> sparse.csr_matrix:
        X = self._tfidf(counts)
        block = self._keyword_block(docs)
        return X if block is None else sparse.hstack([X, block]).tocsr()

    # -- fitting ---------------------------------------------------------------------------
    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
                   labels: Optional[list[str]] = None) -> None:
        examples = list(get_examples())
        for label in labels or []:
            self.add_label(label)
        for example in examples:
            for label in example.reference.cats:
                self.add_label(label)
        if not examples or not self.labels:
            raise ValueError(f"[{self.name}] needs training examples with cats to initialize")
        if self.cfg["keyword_weight"]:
            # the label config's theme keywords, read at training and kept with the model
            self.cfg["keywords"] = _read_keywords(self._keywords_path)
        docs = [eg.predicted for eg in examples]
        y = np.array([[eg.reference.cats.get(label, 0.0) >= 0.5 for label in self.labels] for eg in examples],
                     dtype=np.int8)
        counts = self._counts(docs, fit=True)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf = (np.log((1 + len(docs)) / (1 + df)) + 1.0).astype(np.float32)
        X = self._matrix(docs, counts)
        groups = [eg.reference.user_data.get(GROUP_KEY) or f"#{i}" for i, eg in enumerate(examples)]
        decision_oof = self._out_of_fold(X, y, groups)
        n_labels = len(self.labels)
        self.coef = np.zeros((n_labels, X.shape[1]), dtype=np.float32)
        self.intercept = np.zeros(n_labels, dtype=np.float32)
        self.calib_a = np.ones(n_labels, dtype=np.float32)
        self.calib_b = np.zeros(n_labels, dtype=np.float32)
        for j in range(n_labels):
            self.coef[j], self.intercept[j] = self._fit_one(X, y[:, j])
            if 0 < y[:, j].sum() < len(y):
                from sklearn.linear_model import LogisticRegression

                platt = LogisticRegression(C=1e4, solver="lbfgs").fit(decision_oof[:, [j]], y[:, j])
                self.calib_a[j], self.calib_b[j] = platt.coef_[0, 0], platt.intercept_[0]
        self.oof_scores = _sigmoid(decision_oof * self.calib_a + self.calib_b)
        self.oof_gold = y

    def _fit_one(self, X: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, float]:
        positives = int(y.sum())
        if positives == 0 or positives == len(y):
            # a constant label: a constant score, placed in the intercept
            rate = (positives + 0.5) / (len(y) + 1.0)
            return np.zeros(X.shape[1], dtype=np.float32), float(np.log(rate / (1 - rate)))
        make = ESTIMATORS[self.cfg.get("estimator", "logistic")]
        model = make(self.cfg["C"], self.cfg.get("class_weight", "balanced"), self.cfg["seed"]).fit(X, y)
        return model.coef_[0], float(model.intercept_[0])

    def _out_of_fold(self, X: sparse.csr_matrix, y: np.ndarray, groups: list[str]) -> np.ndarray:
        """Decision scores of each training paragraph from a model that did not see its report."""
        from sklearn.model_selection import GroupKFold, KFold

        folds = min(self.cfg["oof_folds"], len(set(groups)))
        split = (GroupKFold(n_splits=folds).split(X, y, groups) if folds >= 2
                 else KFold(n_splits=2, shuffle=True, random_state=self.cfg["seed"]).split(X))
        out = np.zeros(y.shape, dtype=np.float32)
        for train_idx, test_idx in split:
            for j in range(y.shape[1]):
                coef, intercept = self._fit_one(X[train_idx], y[train_idx, j])
                out[test_idx, j] = X[test_idx] @ coef + intercept
        return out

    # -- prediction ------------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> np.ndarray:
        docs = list(docs)
        if self.coef is None:
            raise ValueError(f"[{self.name}] is not initialized: train the pipeline first")
        if not docs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        decision = np.asarray(self._matrix(docs, self._counts(docs)) @ self.coef.T) + self.intercept
        return _sigmoid(decision * self.calib_a + self.calib_b)

    def set_annotations(self, docs: Iterable[Doc], scores: np.ndarray) -> None:
        for doc, row in zip(docs, scores):
            doc.cats.update({label: float(p) for label, p in zip(self.labels, row)})

    def __call__(self, doc: Doc) -> Doc:
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 256) -> Iterator[Doc]:
        batch: list[Doc] = []
        for doc in stream:
            batch.append(doc)
            if len(batch) >= batch_size:
                self.set_annotations(batch, self.predict(batch))
                yield from batch
                batch = []
        if batch:
            self.set_annotations(batch, self.predict(batch))
            yield from batch

    # -- serialization: arrays and JSON, never pickle ---------------------------------------
    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"cfg": self.cfg, "vocabularies": self.vocabularies}
        arrays = {}
        if self.coef is not None:
            arrays = {"idf": self.idf, "coef": self.coef, "intercept": self.intercept,
                      "calib_a": self.calib_a, "calib_b": self.calib_b}
        (path / "cfg.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(path / "weights.npz", **arrays)

    def from_disk(self, path, *, exclude=tuple()) -> "SkThemes":
        path = ensure_path(path)
        try:
            meta = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
            self.cfg = meta["cfg"]
            with np.load(path / "weights.npz", allow_pickle=False) as arrays:
                data = {k: arrays[k] for k in arrays.files}
        except (OSError, ValueError, KeyError) as e:
            raise ValueError(f"[{self.name}] cannot load {path}: {e}") from None
        if not meta.get("vocabularies"):
            return self
        self.vocabularies = tuple(meta["vocabularies"])
        self.idf, self.coef, self.intercept = data["idf"], data["coef"], data["intercept"]
        self.calib_a, self.calib_b = data["calib_a"], data["calib_b"]
        extra = len(self.cfg.get("keywords") or {}) if self.cfg.get("keyword_weight") else 0
        if self.coef.shape != (len(self.labels), sum(len(v) for v in self.vocabularies) + extra):
            raise ValueError(f"[{self.name}] {path}: weights do not match the vocabularies (shape {self.coef.shape})")
        return self


# Linear models whose decision scores the Platt sigmoid turns into probabilities.
def _logistic(C: float, class_weight: Optional[str], seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, class_weight=class_weight, max_iter=2000, solver="liblinear", random_state=seed)


def _linear_svm(C: float, class_weight: Optional[str], seed: int):
    from sklearn.svm import LinearSVC

    return LinearSVC(C=C, class_weight=class_weight, max_iter=5000, random_state=seed)


ESTIMATORS = {"logistic": _logistic, "linear_svm": _linear_svm}

_WHITE_SPACES = re.compile(r"\s\s+")


class CharCounts:
    """``CountVectorizer(analyzer="char", ngram_range=(low, high), vocabulary=…).transform``,
    vectorised: each n-gram is its code points packed 21 bits apiece, found in a sorted array;
    a batch of texts is counted at once."""

    def __init__(self, vocabulary: dict[str, int], low: int, high: int):
        self.vocabulary, self.low, self.high = vocabulary, low, high
        by_length: dict[int, list[tuple[int, int]]] = {}
        for gram, column in vocabulary.items():
            by_length.setdefault(len(gram), []).append((pack(gram), column))
        self.tables = {}
        for length, pairs in by_length.items():
            pairs.sort()
            self.tables[length] = (np.array([p for p, _ in pairs], dtype=np.int64),
                                   np.array([c for _, c in pairs], dtype=np.int64))

    def __call__(self, texts: list[str]) -> sparse.csr_matrix:
        texts = [_WHITE_SPACES.sub(" ", t.lower()) for t in texts]
        codes = code_points("".join(texts))
        doc = np.repeat(np.arange(len(texts)), [len(t) for t in texts])
        rows, columns = [], []
        for length in range(self.low, min(self.high, len(codes)) + 1):
            if length not in self.tables:
                continue
            m = len(codes) - length + 1
            packed = codes[:m].copy()
            for j in range(1, length):
                packed = (packed << 21) | codes[j:j + m]
            keys, values = self.tables[length]
            at = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
            hit = (keys[at] == packed) & (doc[:m] == doc[length - 1:length - 1 + m])   # not across texts
            rows.append(doc[:m][hit])
            columns.append(values[at[hit]])
        rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        columns = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
        counts = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, columns)),
                                   shape=(len(texts), len(self.vocabulary)))
        counts.sum_duplicates()
        return counts


def count(grams: list[list[str]], vocabulary: dict[str, int]) -> sparse.csr_matrix:
    """``CountVectorizer(vocabulary=…).transform``: a row of n-gram counts per document."""
    rows, columns = [], []
    for i, doc in enumerate(grams):
        found = [j for j in map(vocabulary.get, doc) if j is not None]
        columns += found
        rows += [i] * len(found)
    counts = sparse.csr_matrix((np.ones(len(columns), dtype=np.float32), (rows, columns)),
                               shape=(len(grams), len(vocabulary)))
    counts.sum_duplicates()
    return counts


def l2_rows(X: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to unit length (an all-zero row stays zero)."""
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    X.data /= np.repeat(norms, np.diff(X.indptr)).astype(X.dtype)
    return X


def _read_keywords(path: Optional[str]) -> dict[str, list[str]]:
    from ..labels import load_labels

    return {t["id"]: list(t.get("keywords", [])) for t in load_labels(path).raw["themes"] if t.get("keywords")}


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
