"""The pipeline's tokenizer: spaCy's Chinese tokenizer, with pkuseg on the fast feature path.

Registered as ``policy_nlp.ChineseTokenizer.v1`` (segmenter ``pkuseg`` or ``char``); a config
that names ``spacy.zh.ChineseTokenizer`` instead gets stock pkuseg, with the same words.
The tokenizer also keeps each paragraph's text on its Doc: components that need the text or
the words read them with ``doc_text`` / ``doc_words`` instead of rebuilding them token by token.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional

from spacy.attrs import IDX, LENGTH
from spacy.lang.zh import ChineseTokenizer
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .fast import accelerate

TEXT_KEY = "policy_nlp.text"


class FastChineseTokenizer(ChineseTokenizer):
    def __call__(self, text: str) -> Doc:
        doc = super().__call__(text)
        doc.user_data[TEXT_KEY] = text
        return doc

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *,
                   nlp: Optional[Language] = None, pkuseg_model: Optional[str] = None,
                   pkuseg_user_dict: Optional[str] = "default") -> None:
        super().initialize(get_examples, nlp=nlp, pkuseg_model=pkuseg_model, pkuseg_user_dict=pkuseg_user_dict)
        accelerate(self.pkuseg_seg)

    def from_disk(self, path, **kwargs) -> "FastChineseTokenizer":
        super().from_disk(path, **kwargs)
        accelerate(self.pkuseg_seg)
        return self

    def from_bytes(self, data, **kwargs) -> "FastChineseTokenizer":
        super().from_bytes(data, **kwargs)
        accelerate(self.pkuseg_seg)
        return self


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


def doc_words(doc: Doc) -> list[str]:
    """Token texts, leaving out whitespace tokens."""
    text = doc_text(doc)
    words = (text[start:start + length] for start, length in doc.to_array([IDX, LENGTH]).tolist())
    return [w for w in words if not w.isspace()]
