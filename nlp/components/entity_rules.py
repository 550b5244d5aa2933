"""``entity_rules``: regex rules for the entities that rules find better than a statistical model.

- POLICY: a title inside 《》 whose last word names a document kind (办法, 意见, 规划, 通知 …).
  Titles of books, reports and projects end otherwise and are left alone.
- PROGRAM: a quoted name followed by, or ending in, a programme word: ``“双倍增”计划`` keeps its
  inner quotes; ``“蓝火计划”`` becomes ``蓝火计划`` (the guide's rule on outer quotes).

Placed after ``ner``: a rule span replaces the statistical spans it overlaps.
"""

import re
from typing import Iterable

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import filter_spans

from ..segmenter.tokenizer import doc_text

DEFAULT_CONFIG = {
    "policy_heads": ["办法", "条例", "规定", "意见", "方案", "规划", "纲要", "通知", "决定", "细则", "措施",
                     "政策", "法", "计划", "要点", "制度", "标准", "指引", "指南", "实施意见", "若干规定", "公告",
                     "规则", "批复", "通告", "战略"],
    "program_heads": ["计划", "工程", "行动", "专项", "基金", "大赛", "竞赛", "活动周", "活动月", "科技周", "示范城市",
                      "示范区", "示范市", "示范县", "先进市", "先进县", "试点", "改革", "称号", "奖"],
    "overwrite_ents": True,
}


@Language.factory("entity_rules", default_config=DEFAULT_CONFIG,
                  default_score_weights={"ents_f": None, "ents_p": None, "ents_r": None})
def make_entity_rules(nlp: Language, name: str, policy_heads: list[str], program_heads: list[str],
                      overwrite_ents: bool) -> "EntityRules":
    return EntityRules(name, policy_heads=policy_heads, program_heads=program_heads, overwrite_ents=overwrite_ents)


class EntityRules:
    def __init__(self, name: str, *, policy_heads: Iterable[str], program_heads: Iterable[str],
                 overwrite_ents: bool = True):
        self.name = name
        self.overwrite_ents = overwrite_ents
        # (?:\(试行\)) etc.: a trailing parenthesised qualifier belongs to the title
        qualifier = r"(?:[(（][^()（）《》]{1,8}[)）])?"
        policy = "|".join(sorted(map(re.escape, policy_heads), key=len, reverse=True))
        program = "|".join(sorted(map(re.escape, program_heads), key=len, reverse=True))
        self._policy = re.compile(rf"《([^《》\n]{{2,80}}?(?:{policy}){qualifier})》")
        self._quoted_program = re.compile(rf"“([^“”\n]{{2,30}}?(?:{program}))”")
        self._inner_quoted_program = re.compile(rf"“[^“”\n]{{1,20}}”(?:{program})")

    def find(self, text: str) -> list[tuple[int, int, str]]:
        found = [(m.start(1), m.end(1), "POLICY") for m in self._policy.finditer(text)]
        found += [(m.start(1), m.end(1), "PROGRAM") for m in self._quoted_program.finditer(text)]
        found += [(m.start(), m.end(), "PROGRAM") for m in self._inner_quoted_program.finditer(text)]
        return found

    def __call__(self, doc: Doc) -> Doc:
        spans = []
        for start, end, label in self.find(doc_text(doc)):
            span = doc.char_span(start, end, label=label, alignment_mode="contract")
            if span is not None and len(span):
                spans.append(span)
        if not spans:
            return doc
        rules = filter_spans(spans)
        if self.overwrite_ents:
            kept = [e for e in doc.ents if not any(e.start < r.end and r.start < e.end for r in rules)]
        else:
            kept = list(doc.ents)
            rules = [r for r in rules if not any(e.start < r.end and r.start < e.end for e in kept)]
        doc.ents = sorted(kept + rules, key=lambda s: s.start)
        return doc

    def score(self, examples: Iterable[Example], **kwargs) -> dict:
        from spacy.scorer import get_ner_prf

        return get_ner_prf(examples)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        return None   # everything lives in the config

    def from_disk(self, path, *, exclude=tuple()) -> "EntityRules":
        return self
