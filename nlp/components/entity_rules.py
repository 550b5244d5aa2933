"""``entity_rules``: the rules of the annotation guide that a statistical model gets wrong.

Placed after the entity recogniser; each rule says what a stretch of text is, and its span
replaces the model's spans it overlaps (``overwrite_ents``), except the bare-name rule, which
only fills gaps.

- 《》: a title whose last word names a document kind (办法, 意见, 规划, 法 …) is POLICY; a
  newspaper, journal or website (…报, …杂志, …网) is ORG; any other title (an article, report,
  speech or book) is no entity, so a model's span over it is removed.
- Laws and named plans without 《》: the laws of ``laws`` (with or without 中华人民共和国) and
  five-year plans (“十四五”规划, 科技创新“十四五”规划) are POLICY.
- A quoted name followed by, or ending in, a programme word is PROGRAM: ``“双倍增”计划`` keeps
  its inner quotes; ``“蓝火计划”`` becomes ``蓝火计划`` (outer quotes are dropped).
- Named documents without 《》: a 关于… title ending in a document kind (关于加快…的实施意见) and a
  plan or scheme dated by a year range (…三年行动计划(2024-2027年)) are POLICY.
- Bare body names (科技局, 局党组, 科协 …) are ORG where the model left them out, unless the
  text makes them plural or generic (各级科协, 本局, 科技部门).
- A programme's leading edition or year (第七届, 首届, 2020年) is not part of its name.
"""
import re
from typing import Callable, Iterable, Optional

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..segmenter.tokenizer import doc_norm_text
from .crf_entities import set_char_ents

DEFAULT_CONFIG = {
    "policy_heads": ["办法", "条例", "规定", "意见", "方案", "规划", "纲要", "通知", "决定", "细则", "措施",
                     "政策", "法", "计划", "要点", "制度", "标准", "指引", "指南", "实施意见", "若干规定", "公告",
                     "规则", "批复", "通告", "目录", "章程"],
    "media_heads": ["报", "日报", "晚报", "杂志", "学报", "周刊", "网", "电视台", "频道", "新闻联播"],
    "program_heads": ["计划", "工程", "行动", "专项", "基金", "大赛", "竞赛", "活动周", "活动月", "科技周", "示范城市",
                      "示范区", "示范市", "示范县", "先进市", "先进县", "试点", "改革", "称号", "奖"],
    "laws": ["科学技术进步法", "促进科技成果转化法", "科学技术普及法", "科普法", "专利法", "种子法", "商标法", "著作权法",
             "农业技术推广法", "中小企业促进法", "标准化法", "行政许可法", "反不正当竞争法", "知识产权法", "网络安全法",
             "安全生产法", "保守国家秘密法", "公务员法", "预算法", "宪法", "党章", "民法典", "政府信息公开条例",
             "专利法实施细则", "促进科技成果转化条例", "科学技术奖励条例"],
    "bare_names": ["科技局", "局党组", "党组", "科协", "省厅", "市局", "县局", "科技部", "省科技厅", "市科技局", "县科技局",
                   "区科技局", "县委", "市委", "区委", "省委", "县政府", "市政府", "区政府", "省政府", "人大", "政协", "党中央",
                   "国务院", "管委会", "纪委", "科特办"],
    "overwrite_ents": True,
}
# A bare name stands alone: what comes before it is not a character of a longer name (it may
# be a connective, punctuation, or a place level that the name takes with it), nor a word that
# makes it plural or generic (各, 我, 本, 上级 …); what follows does not make it another word.
# A document named without 《》 is introduced by a verb that is not part of its title.
_LEADING_VERB = re.compile(r"(?:(?:制定|印发|出台|实施|落实|贯彻|编制|修订|起草|推进|执行|开展|研究|发布|颁布|学习|宣传|"
                           r"对照|按照|根据|依据|围绕|结合)(?:了|好|实施)?)*")
_BEFORE_A_BODY = set("和与及同由在对向经从跟为把被将是的、,;:。(“《 ")
_NOT_A_BODY_AFTER = set("门长")


@Language.factory("entity_rules", assigns=["doc.ents"], requires=[], default_config=DEFAULT_CONFIG,
                  default_score_weights={"ents_f": None, "ents_p": None, "ents_r": None})
def make_entity_rules(nlp: Language, name: str, policy_heads: list[str], media_heads: list[str],
                      program_heads: list[str], laws: list[str], bare_names: list[str],
                      overwrite_ents: bool) -> "EntityRules":
    return EntityRules(name, policy_heads=policy_heads, media_heads=media_heads, program_heads=program_heads,
                       laws=laws, bare_names=bare_names, overwrite_ents=overwrite_ents)


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


class EntityRules:
    def __init__(self, name: str, *, policy_heads: Iterable[str], program_heads: Iterable[str],
                 media_heads: Iterable[str] = (), laws: Iterable[str] = (), bare_names: Iterable[str] = (),
                 overwrite_ents: bool = True, scorer: Optional[Callable] = None):
        self.name = name
        self.overwrite_ents = overwrite_ents
        # a trailing parenthesised qualifier belongs to the title: 办法(试行); text is folded, so ( not （
        qualifier = r"(?:\([^()《》]{1,8}\))?"
        policy, program = _alternatives(policy_heads), _alternatives(program_heads)
        self._title = re.compile(r"《([^《》\n]{2,80})》")
        self._policy_title = re.compile(rf"(?:{policy}){qualifier}$")
        self._media_title = re.compile(rf"(?:{_alternatives(media_heads)})$") if media_heads else None
        self._quoted_program = re.compile(rf"“([^“”\n]{{2,30}}?(?:{program}))”")
        self._inner_quoted_program = re.compile(rf"“[^“”\n]{{1,20}}”(?:{program})")
        self._law = re.compile(rf"(?:中华人民共和国)?(?:{_alternatives(laws)})") if laws else None
        self._plan = re.compile(r"(?:科技创新|科学技术|科技发展|科技事业|科技)?“?十[一二三四五六]五”?"
                                r"(?:科技创新|科技发展|科技事业|科技)?(?:发展)?规划")
        self._bare = re.compile(rf"[省市县区]?(?:{_alternatives(bare_names)})") if bare_names else None
        documents = r"(?:实施意见|若干意见|意见|通知|决定|办法|实施方案|方案|实施细则|细则|规定|条例|纲要|规划|行动计划|计划)"
        self._about = re.compile(rf"关于[^，。；：,;:!?！？《》“”\s]{{4,48}}?的?{documents}(?![\u4e00-\u9fff])")
        self._dated = re.compile(rf"[\u4e00-\u9fff“”\w]{{4,40}}?{documents}\(\d{{4}}[-—–~至]\d{{2,4}}年?\)")
        self._edition = re.compile(r"^(?:第[一二三四五六七八九十百\d]+届|首届|(?:\d{2,4}|[xX×*]{2,4})年度?)")

    def find(self, text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int]]]:
        """(spans to set, stretches where no entity may stand) in the folded ``text``."""
        found, blocked = [], []
        for m in self._title.finditer(text):
            title = m.group(1)
            if self._policy_title.search(title):
                found.append((m.start(1), m.end(1), "POLICY"))
            elif self._media_title is not None and self._media_title.search(title):
                found.append((m.start(1), m.end(1), "ORG"))
            else:
                blocked.append((m.start(1), m.end(1)))
        outside = lambda s, e: not any(a <= s and e <= b for a, b in blocked + [(x, y) for x, y, _ in found])
        for pattern in (self._law, self._plan, self._about, self._dated):
            if pattern is not None:
                found += [(start, m.end(), "POLICY") for m in pattern.finditer(text)
                          for start in [m.start() + len(_LEADING_VERB.match(m.group()).group())]
                          if outside(start, m.end())]
        found += [(m.start(1), m.end(1), "PROGRAM") for m in self._quoted_program.finditer(text)]
        found += [(m.start(), m.end(), "PROGRAM") for m in self._inner_quoted_program.finditer(text)]
        return _longest_first(found), blocked

    def bare(self, text: str) -> list[tuple[int, int, str]]:
        if self._bare is None:
            return []
        return [(m.start(), m.end(), "ORG") for m in self._bare.finditer(text)
                if (m.start() == 0 or text[m.start() - 1] in _BEFORE_A_BODY)
                and not (m.end() < len(text) and text[m.end()] in _NOT_A_BODY_AFTER)]

    def apply(self, text: str, model: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
        """The spans of the folded ``text`` once the rules have had their say over ``model``'s."""
        rules, blocked = self.find(text)
        overlaps = lambda s, e, spans: any(a < e and s < b for a, b, *_ in spans)
        model = [self._trim(text, m) for m in model if not any(a <= m[0] and m[1] <= b for a, b in blocked)]
        if self.overwrite_ents:
            kept = [m for m in model if not overlaps(m[0], m[1], rules)] + rules
        else:
            kept = model + [r for r in rules if not overlaps(r[0], r[1], model)]
        kept += [b for b in self.bare(text) if not overlaps(b[0], b[1], kept + [(a, b_, "") for a, b_ in blocked])]
        return sorted(kept)

    def __call__(self, doc: Doc) -> Doc:
        model = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        kept = self.apply(doc_norm_text(doc), model)
        if kept != sorted(model):
            set_char_ents(doc, kept)
        return doc

    def _trim(self, text: str, span: tuple[int, int, str]) -> tuple[int, int, str]:
        start, end, label = span
        if label == "PROGRAM":
            m = self._edition.match(text[start:end])
            if m and end - start - m.end() >= 2:
                return start + m.end(), end, label
        return span

    def score(self, examples: Iterable[Example], **kwargs) -> dict:
        from spacy.scorer import get_ner_prf

        return get_ner_prf(examples)

    def to_disk(self, path, *, exclude=tuple()) -> None:
        return None   # everything lives in the config

    def from_disk(self, path, *, exclude=tuple()) -> "EntityRules":
        return self


def _longest_first(spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans, longer ones winning."""
    taken: list[tuple[int, int, str]] = []
    for span in sorted(spans, key=lambda s: (s[0] - s[1], s[0])):
        if not any(a < span[1] and span[0] < b for a, b, _ in taken):
            taken.append(span)
    return sorted(taken)
