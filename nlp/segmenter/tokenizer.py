"""The pipeline's tokenizer: spaCy's Chinese tokenizer, with pkuseg on the fast feature path.

Registered as ``policy_nlp.ChineseTokenizer.v1`` (segmenter ``pkuseg`` or ``char``); a config
that names ``spacy.zh.ChineseTokenizer`` instead gets stock pkuseg, with the same words.
The tokenizer segments the folded text (``nlp.normalize.fold``: full-width and half-width forms
made the same), so the words do not depend on how a page wrote its punctuation, while the
tokens keep the input's own characters. It keeps both texts on the Doc: components read the
folded text with ``doc_norm_text`` and the words with ``doc_words`` (both folded), instead of
rebuilding them token by token; offsets are the same in both.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

import srsly
from spacy.attrs import IDX, LENGTH
from spacy.lang.zh import ChineseTokenizer
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from spacy import util

from ..normalize import fold
from .fast import FastCut, Segmenter, accelerate

FAST_DIR = "pkuseg_fast"
TEXT_KEY = "policy_nlp.text"
NORM_KEY = "policy_nlp.norm_text"


class FastChineseTokenizer(ChineseTokenizer):
    def __call__(self, text: str) -> Doc:
        norm = fold(text)
        if self.segmenter == "pkuseg" and self.pkuseg_seg is not None:
            words, spaces = align(self.pkuseg_seg.cut(norm), norm, text)
            doc = Doc(self.vocab, words=words, spaces=spaces)
        else:
            doc = super().__call__(text)
        doc.user_data[TEXT_KEY] = text
        doc.user_data[NORM_KEY] = norm
        return doc

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *,
                   nlp: Optional[Language] = None, pkuseg_model: Optional[str] = None,
                   pkuseg_user_dict: Optional[str] = "default") -> None:
        super().initialize(get_examples, nlp=nlp, pkuseg_model=pkuseg_model, pkuseg_user_dict=pkuseg_user_dict)
        accelerate(self.pkuseg_seg)

    def to_disk(self, path, **kwargs) -> None:
        super().to_disk(path, **kwargs)
        if isinstance(getattr(self.pkuseg_seg, "_cut", None), FastCut):
            self.pkuseg_seg._cut.save(util.ensure_path(path) / FAST_DIR)

    def from_disk(self, path, **kwargs) -> "FastChineseTokenizer":
        path = util.ensure_path(path)
        cfg = srsly.read_json(path / "cfg")
        if cfg.get("segmenter") == "pkuseg" and (path / FAST_DIR / "meta.json").is_file():
            # the saved fast path: no stock model to unpack (1.2 s and 400 MB a process)
            self._set_config(cfg)
            self.pkuseg_seg = Segmenter(path / FAST_DIR, path / "pkuseg_model",
                                        *srsly.read_msgpack(path / "pkuseg_processors"))
            return self
        super().from_disk(path, **kwargs)
        accelerate(self.pkuseg_seg)
        return self

    def from_bytes(self, data, **kwargs) -> "FastChineseTokenizer":
        super().from_bytes(data, **kwargs)
        accelerate(self.pkuseg_seg)
        return self


def align(cut: Iterable[str], norm: str, text: str) -> tuple[list[str], list[bool]]:
    """spaCy's ``get_words_and_spaces`` for words cut from ``norm`` (``text`` folded, same
    offsets): the words in ``text``'s own characters, white space between them as tokens of its
    own, one space after a word as its trailing space. spaCy's searches a fresh copy of the rest
    of the text for every word; here each word's place is found once."""
    words: list[str] = []
    spaces: list[bool] = []
    pos, n = 0, len(text)
    for word in cut:
        at = norm.find(word, pos)
        if at > pos:
            words.append(text[pos:at])
            spaces.append(False)
        pos = at + len(word)
        words.append(text[at:pos])
        spaces.append(False)
        if pos < n and text[pos] == " ":
            spaces[-1] = True
            pos += 1
    if pos < n:
        words.append(text[pos:])
        spaces.append(False)
    return words, spaces


@registry.tokenizers("policy_nlp.ChineseTokenizer.v1")
def create_tokenizer(segmenter: str = "pkuseg") -> Callable[[Language], FastChineseTokenizer]:
    def make(nlp: Language) -> FastChineseTokenizer:
        return FastChineseTokenizer(nlp.vocab, segmenter=segmenter)

    return make


def doc_text(doc: Doc) -> str:
    """The Doc's text; ``doc.text`` rebuilds it from every token, which costs as much as NER."""
    text = doc.user_data.get(TEXT_KEY)
    if text is not None and len(doc) and doc[-1].idx + len(doc[-1].text_with_ws) == len(text):
        return text
    return doc.text


def doc_norm_text(doc: Doc) -> str:
    """The Doc's text in the folded form every model sees (same length and offsets)."""
    norm = doc.user_data.get(NORM_KEY)
    if norm is not None and doc.user_data.get(TEXT_KEY) is not None and len(norm) == len(doc_text(doc)):
        return norm
    return fold(doc_text(doc))


def doc_words(doc: Doc) -> list[str]:
    """Token texts in the folded form, leaving out whitespace tokens."""
    text = doc_norm_text(doc)
    words = (text[start:start + length] for start, length in doc.to_array([IDX, LENGTH]).tolist())
    return [w for w in words if not w.isspace()]
