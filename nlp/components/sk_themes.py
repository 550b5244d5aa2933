"""``sk_themes``: a scikit-learn linear multi-label theme classifier as a spaCy component.

Word n-grams (from the pipeline's tokenizer: pkuseg words or characters) and character
n-grams, tf-idf weighted; one logistic regression per theme (one-vs-rest), with Platt
(sigmoid) calibration fitted on cross-validated scores so the probabilities mean something.
It is fitted once, in ``initialize``, on the training examples; ``update`` does nothing.

Saved as arrays (``.npz``, loaded with ``allow_pickle=False``) and JSON: loading a model
never runs code from a file.
"""

import json
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path

from ..segmenter.tokenizer import doc_text, doc_words
from .themes import score_themes

DEFAULT_CONFIG = {
    "labels": None,
    "word_ngrams": [1, 2],
    "char_ngrams": [1, 3],
    "min_df": 2,
    "max_features": 60000,
    "C": 8.0,
    "calibration_folds": 3,
    "seed": 0,
}


@Language.factory("sk_themes", default_config=DEFAULT_CONFIG, default_score_weights={"sk_themes_macro_f": 0.0})
def make_sk_themes(nlp: Language, name: str, labels: Optional[list[str]], word_ngrams: list[int],
                   char_ngrams: list[int], min_df: int, max_features: int, C: float,
                   calibration_folds: int, seed: int) -> "SkThemes":
    return SkThemes(nlp.vocab, name, labels=labels, word_ngrams=tuple(word_ngrams),
                    char_ngrams=tuple(char_ngrams), min_df=min_df, max_features=max_features, C=C,
                    calibration_folds=calibration_folds, seed=seed)


class SkThemes(TrainablePipe):
    def __init__(self, vocab, name: str = "sk_themes", *, labels: Optional[list[str]] = None,
                 word_ngrams=(1, 2), char_ngrams=(1, 3), min_df: int = 2, max_features: int = 60000,
                 C: float = 8.0, calibration_folds: int = 3, seed: int = 0):
        self.vocab = vocab
        self.name = name
        self.model = None   # no thinc model: the weights live in the arrays below
        self.cfg = {"labels": list(labels or []), "word_ngrams": list(word_ngrams),
                    "char_ngrams": list(char_ngrams), "min_df": min_df, "max_features": max_features,
                    "C": C, "calibration_folds": calibration_folds, "seed": seed}
        self._words: Optional[TfidfVectorizer] = None
        self._chars: Optional[TfidfVectorizer] = None
        self._coef = self._intercept = self._calib_a = self._calib_b = None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.cfg["labels"])

    def add_label(self, label: str) -> int:
        if label in self.cfg["labels"]:
            return 0
        self.cfg["labels"].append(label)
        return 1

    # -- fitting ---------------------------------------------------------------------------
    def _vectorizers(self) -> tuple[TfidfVectorizer, TfidfVectorizer]:
        common = dict(min_df=self.cfg["min_df"], sublinear_tf=True, dtype=np.float32,
                      max_features=self.cfg["max_features"])
        words = TfidfVectorizer(analyzer=_identity, ngram_range=(1, 1), **common)
        chars = TfidfVectorizer(analyzer="char", ngram_range=tuple(self.cfg["char_ngrams"]), lowercase=True, **common)
        return words, chars

    def _word_ngrams(self, doc: Doc) -> list[str]:
        words = doc_words(doc)
        low, high = self.cfg["word_ngrams"]
        return [" ".join(words[i:i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)]

    def _features(self, docs: list[Doc]) -> sparse.csr_matrix:
        return sparse.hstack([self._words.transform([self._word_ngrams(d) for d in docs]),
                              self._chars.transform([doc_text(d) for d in docs])]).tocsr()

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
                   labels: Optional[list[str]] = None) -> None:
        examples = list(get_examples())
        if labels:
            for label in labels:
                self.add_label(label)
        for example in examples:
            for label in example.reference.cats:
                self.add_label(label)
        if not examples or not self.labels:
            raise ValueError(f"[{self.name}] needs training examples with cats to initialize")
        docs = [eg.predicted for eg in examples]
        y = np.array([[eg.reference.cats.get(label, 0.0) >= 0.5 for label in self.labels] for eg in examples],
                     dtype=np.int8)
        self._words, self._chars = self._vectorizers()
        X = sparse.hstack([self._words.fit_transform([self._word_ngrams(d) for d in docs]),
                           self._chars.fit_transform([doc_text(d) for d in docs])]).tocsr()
        n_labels, n_features = len(self.labels), X.shape[1]
        self._coef = np.zeros((n_labels, n_features), dtype=np.float32)
        self._intercept = np.zeros(n_labels, dtype=np.float32)
        self._calib_a = np.full(n_labels, -1.0, dtype=np.float32)
        self._calib_b = np.zeros(n_labels, dtype=np.float32)
        for j in range(n_labels):
            positives = int(y[:, j].sum())
            if positives == 0 or positives == len(y):
                # constant label: a constant probability, placed in the intercept
                rate = (positives + 0.5) / (len(y) + 1.0)
                self._intercept[j] = np.log(rate / (1 - rate))
                continue
            base = LogisticRegression(C=self.cfg["C"], class_weight="balanced", max_iter=2000,
                                      solver="liblinear", random_state=self.cfg["seed"])
            folds = min(self.cfg["calibration_folds"], positives, len(y) - positives)
            if folds >= 2:
                calibrated = CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False)
                calibrated.fit(X, y[:, j])
                fitted = calibrated.calibrated_classifiers_[0]
                self._coef[j] = fitted.estimator.coef_[0]
                self._intercept[j] = fitted.estimator.intercept_[0]
                self._calib_a[j] = fitted.calibrators[0].a_
                self._calib_b[j] = fitted.calibrators[0].b_
            else:
                base.fit(X, y[:, j])
                self._coef[j] = base.coef_[0]
                self._intercept[j] = base.intercept_[0]

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None) -> dict:
        # Fitted in initialize; the training loop's updates are for the other components.
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        return losses

    def get_loss(self, examples, scores):
        return 0.0, None

    def finish_update(self, sgd) -> None:
        return None

    # -- prediction ------------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> np.ndarray:
        docs = list(docs)
        if self._coef is None:
            raise ValueError(f"[{self.name}] is not initialized: train the pipeline first")
        if not docs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        decision = np.asarray(self._features(docs) @ self._coef.T) + self._intercept
        return 1.0 / (1.0 + np.exp(self._calib_a * decision + self._calib_b))

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

    def score(self, examples: Iterable[Example], **kwargs) -> dict:
        return score_themes(examples, self.labels, prefix="sk_themes")

    # -- serialization: arrays and JSON, never pickle ---------------------------------------
    def to_disk(self, path, *, exclude=tuple()) -> None:
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        meta = {"cfg": self.cfg, "word_vocabulary": None, "char_vocabulary": None}
        arrays = {}
        if self._coef is not None:
            meta["word_vocabulary"] = {k: int(v) for k, v in self._words.vocabulary_.items()}
            meta["char_vocabulary"] = {k: int(v) for k, v in self._chars.vocabulary_.items()}
            arrays = {"word_idf": self._words.idf_, "char_idf": self._chars.idf_, "coef": self._coef,
                      "intercept": self._intercept, "calib_a": self._calib_a, "calib_b": self._calib_b}
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
        if meta["word_vocabulary"] is None:
            return self
        self._words, self._chars = self._vectorizers()
        for vectorizer, vocabulary, idf in ((self._words, meta["word_vocabulary"], data["word_idf"]),
                                            (self._chars, meta["char_vocabulary"], data["char_idf"])):
            vectorizer.vocabulary_ = vocabulary
            vectorizer.idf_ = idf
        self._coef, self._intercept = data["coef"], data["intercept"]
        self._calib_a, self._calib_b = data["calib_a"], data["calib_b"]
        if self._coef.shape != (len(self.labels), len(meta["word_vocabulary"]) + len(meta["char_vocabulary"])):
            raise ValueError(f"[{self.name}] {path}: weights do not match the vocabularies (shape {self._coef.shape})")
        return self


def _identity(tokens: list[str]) -> list[str]:
    return tokens
