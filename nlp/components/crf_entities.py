"""``crf_entities``: a conditional random field over characters that finds ORG, PROGRAM and POLICY.

Names in these reports are mostly new to any training set (a fifth of the real names occur in
the corpus), so the model must learn what a name looks like rather than a list of names: each
character is described by the characters around it, the pkuseg word it sits in (position and
word), the head words that close a name of each label (局/中心/大学…, 计划/工程/试点…, 法/条例/
意见…) ending at it or starting after it, whether it sits inside 《》 or quotes, place-name
suffixes, and gazetteer names handed over by training (crf_features.py). CRFsuite learns the
BIO tags by L-BFGS; tagging runs on the same model compiled to numpy arrays, a batch at a time.

Spans are exact character offsets: where one ends inside a pkuseg word, the word is split so
``doc.ents`` keeps the span as predicted. The model is CRFsuite's own binary file (no pickle),
with its attribute names as JSON.
"""

import hashlib
import os
import tempfile
from typing import Callable, Iterable, Iterator, Optional

import pycrfsuite
from spacy.attrs import IDX, LENGTH
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path, minibatch

from ..normalize import fold
from ..segmenter.tokenizer import doc_norm_text
from .crf_features import Analysis, CharFeatures, CompiledCrf, gazetteer_index, model_attributes, read_names, write_names
from .sk_themes import GROUP_KEY

LABELS = ("ORG", "PROGRAM", "POLICY")

DEFAULT_CONFIG = {
    "org_heads": ["局", "厅", "委", "办", "院", "所", "部", "处", "署", "会", "站", "中心", "公司", "集团", "大学",
                  "学院", "学校", "银行", "支行", "分行", "协会", "学会", "基地", "园", "园区", "实验室", "联盟",
                  "合作社", "政府", "党组", "党委", "小组", "专班", "管委会", "人大", "科协", "报", "日报", "杂志",
                  "网", "电视台", "高新区", "开发区", "新区", "科学城", "孵化器", "众创空间", "研究院", "研究所",
                  "工作站", "平台", "医院", "农场", "企业", "厂"],
    "program_heads": ["计划", "工程", "行动", "专项", "基金", "资金", "大赛", "竞赛", "活动周", "活动月", "科技周",
                      "宣传周", "示范", "试点", "称号", "奖", "活动", "教育", "改革", "城市", "市", "县", "区", "基地",
                      "项目", "创建", "先进", "单位", "集体", "示范区", "示范县", "示范市", "科技园", "园区", "考核",
                      "试验区", "实验区", "交易会", "推介会", "对接会", "洽谈会", "博览会", "论坛", "节", "贷", "品牌",
                      "企业", "中心", "实验室", "工作站"],
    "policy_heads": ["法", "条例", "办法", "规划", "纲要", "意见", "方案", "细则", "通知", "决定", "规定", "措施",
                     "政策", "要点", "制度", "标准", "指引", "指南", "计划", "若干意见", "实施意见", "暂行办法"],
    "place_suffixes": "省市县区镇乡州盟旗村",
    # Verbs after which a conferred title (PROGRAM) or a document (POLICY) is named.
    "cues": ["获批", "批准", "认定为", "认定", "评为", "荣获", "获得", "创建", "列入", "纳入", "入选", "授予", "成为",
             "申报", "实施", "开展", "举办", "印发", "出台", "制定", "修订", "贯彻", "落实", "颁布", "发布"],
    "head_window": 16,
    "augment": 0,
    "seed": 0,
    "c1": 0.05,
    "c2": 0.02,
    "max_iterations": 200,
    "scorer": {"@scorers": "spacy.ner_scorer.v1"},
}


@Language.factory("crf_entities", assigns=["doc.ents"], requires=[], default_config=DEFAULT_CONFIG,
                  default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None})
def make_crf_entities(nlp: Language, name: str, org_heads: list[str], program_heads: list[str],
                      policy_heads: list[str], place_suffixes: str, cues: list[str], head_window: int, augment: int,
                      seed: int,
                      c1: float, c2: float, max_iterations: int, scorer: Optional[Callable]) -> "CrfEntities":
    return CrfEntities(nlp.vocab, name, heads={"ORG": org_heads, "PROGRAM": program_heads, "POLICY": policy_heads},
                       place_suffixes=place_suffixes, cues=cues, head_window=head_window, augment=augment, seed=seed,
                       c1=c1, c2=c2,
                       max_iterations=max_iterations, scorer=scorer)


class CrfEntities(Pipe):
    def __init__(self, vocab, name: str = "crf_entities", *, heads: dict[str, list[str]], place_suffixes: str,
                 cues: Iterable[str] = (), head_window: int = 16, augment: int = 0, seed: int = 0, c1: float = 0.05, c2: float = 0.02,
                 max_iterations: int = 200, scorer: Optional[Callable] = None):
        self.vocab = vocab
        self.name = name
        self.cfg = {"heads": {k: list(v) for k, v in heads.items()}, "place_suffixes": place_suffixes, "cues": list(cues),
                    "head_window": head_window, "augment": augment, "seed": seed, "c1": c1, "c2": c2,
                    "max_iterations": max_iterations}
        self.scorer = scorer
        self.gazetteer: dict[str, str] = {}
        self._model: Optional[bytes] = None
        self._tagger: Optional[pycrfsuite.Tagger] = None
        self._names: Optional[tuple[list[str], list[str]]] = None
        self._compiled: Optional[CompiledCrf] = None
        self._featurizer: Optional[CharFeatures] = None

    # -- features: the definition and its compiled twin are in crf_features.py ------------
    def _analyse(self, text: str, word_starts: Iterable[int], gazetteer: Optional[dict[str, str]] = None) -> Analysis:
        gazetteer = self.gazetteer if gazetteer is None else gazetteer
        if self._featurizer is None:
            cfg = self.cfg
            self._featurizer = CharFeatures(cfg["heads"], cfg["place_suffixes"], cfg.get("cues", ()),
                                            cfg.get("head_window", 0))
        # built once per gazetteer (thousands of names), not once per paragraph
        indexes = self.__dict__.setdefault("_indexes", {})
        if id(gazetteer) not in indexes:
            if len(indexes) > 8:
                indexes.clear()
            indexes[id(gazetteer)] = (gazetteer, gazetteer_index(gazetteer))
        return self._featurizer.analyse(text, word_starts, gazetteer, indexes[id(gazetteer)][1])

    def features(self, text: str, word_starts: Iterable[int], gazetteer: Optional[dict[str, str]] = None) -> list[list[str]]:
        """One list of feature strings per character of ``text`` (already folded)."""
        return CharFeatures.strings(self._analyse(text, word_starts, gazetteer))

    def _doc_analysis(self, doc: Doc) -> Analysis:
        return self._analyse(doc_norm_text(doc), doc.to_array(IDX).tolist() if len(doc) else [])

    # -- fitting ---------------------------------------------------------------------------
    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None,
                   patterns: Optional[list[dict]] = None) -> None:
        examples = list(get_examples())
        if not examples:
            raise ValueError(f"[{self.name}] needs training examples to initialize")
        self.gazetteer = {fold(p["pattern"]): p["label"] for p in patterns or [] if isinstance(p.get("pattern"), str)}
        sequences, halves_of = [], []
        for k, example in enumerate(examples):
            doc = example.predicted
            spans = [(e.start_char, e.end_char, e.label_) for e in example.reference.ents]
            sequences.append((doc_norm_text(doc), [t.idx for t in doc], spans))
            group = example.reference.user_data.get(GROUP_KEY) or str(k)
            halves_of.append(int(hashlib.sha1(group.encode("utf-8")).hexdigest(), 16) % 2)
        # Training features must not see a name through the gazetteer just because the same
        # report put it there (its paragraphs, and their re-expressions, repeat its names): the
        # reports are split in two halves, and each half gets the gazetteer of the other.
        halves: list[dict] = [{}, {}]
        for half, (text, _, spans) in zip(halves_of, sequences):
            for start, end, label in spans:
                halves[half].setdefault(text[start:end], label)
        known = [{n: l for n, l in halves[1].items() if n in self.gazetteer},
                 {n: l for n, l in halves[0].items() if n in self.gazetteer}]
        trainer = pycrfsuite.Trainer(verbose=False)
        for half, (text, starts, spans) in zip(halves_of, sequences):
            trainer.append(self.features(text, starts, known[half]), bio_tags(len(text), spans))
        for text, starts, spans in augment(sequences, self.cfg.get("augment", 0), self.cfg.get("seed", 0)):
            trainer.append(self.features(text, starts, {}), bio_tags(len(text), spans))
        trainer.set_params({"c1": self.cfg["c1"], "c2": self.cfg["c2"], "max_iterations": self.cfg["max_iterations"],
                            "feature.possible_transitions": True})
        with tempfile.TemporaryDirectory(prefix="policy-nlp-crf-") as tmp:
            path = os.path.join(tmp, "model.crfsuite")
            trainer.train(path)
            with open(path, "rb") as f:
                self._load(f.read())

    def _load(self, model: bytes, names: Optional[tuple[list[str], list[str]]] = None) -> None:
        self._model = model
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open_inmemory(model)
        self._names = names or model_attributes(self._tagger)
        self._compiled = CompiledCrf(model, *self._names)

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None) -> dict:
        # Fitted in initialize; spaCy's training loop has nothing to update here.
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        return losses

    # -- prediction ------------------------------------------------------------------------
    def find(self, docs: list[Doc]) -> list[list[tuple[int, int, str]]]:
        """Entity spans of each Doc, as character offsets."""
        if self._tagger is None:
            raise ValueError(f"[{self.name}] is not initialized: train the pipeline first")
        return [bio_spans(tags) for tags in self._compiled.tag([self._doc_analysis(doc) for doc in docs])]

    def __call__(self, doc: Doc) -> Doc:
        return set_char_ents(doc, self.find([doc])[0])

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        # tagged a batch at a time: the compiled model scores all its characters at once
        for docs in minibatch(stream, batch_size):
            for doc, spans in zip(docs, self.find(docs)):
                yield set_char_ents(doc, spans)

    # -- serialization: CRFsuite's own model file and JSON ---------------------------------
    def to_disk(self, path, *, exclude=tuple()) -> None:
        import json

        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "cfg.json").write_text(json.dumps({"cfg": self.cfg, "gazetteer": self.gazetteer},
                                                  ensure_ascii=False), encoding="utf-8")
        if self._model is not None:
            (path / "model.crfsuite").write_bytes(self._model)
            write_names(path / "names.json", *self._names)

    def from_disk(self, path, *, exclude=tuple()) -> "CrfEntities":
        import json

        path = ensure_path(path)
        data = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
        self.cfg, self.gazetteer = data["cfg"], data["gazetteer"]
        self._featurizer = None
        if (path / "model.crfsuite").is_file():
            self._load((path / "model.crfsuite").read_bytes(), read_names(path / "names.json"))
        return self


def augment(sequences: list[tuple[str, list[int], list[tuple]]], copies: int,
            seed: int = 0) -> Iterator[tuple[str, list[int], list[tuple]]]:
    """Mention replacement: copies of the paragraphs with names, each name swapped for another
    name of the same label from elsewhere in the training data (with that name's own word
    boundaries), so the model learns the contexts names stand in rather than the names."""
    import random

    rng = random.Random(seed)
    names: dict[str, list[tuple[str, list[int]]]] = {}
    for text, starts, spans in sequences:
        for start, end, label in spans:
            inner = [s - start for s in starts if start <= s < end]
            names.setdefault(label, []).append((text[start:end], inner or [0]))
    for _ in range(copies):
        for text, starts, spans in sequences:
            if not spans:
                continue
            out, out_starts, out_spans, at, shift = [], [], [], 0, 0
            for start, end, label in sorted(spans):
                name, inner = rng.choice(names[label])
                out += [text[at:start], name]
                out_starts += [s + shift for s in starts if at <= s < start]
                out_starts += [start + shift + s for s in inner]
                out_spans.append((start + shift, start + shift + len(name), label))
                shift += len(name) - (end - start)
                at = end
            out.append(text[at:])
            out_starts += [s + shift for s in starts if s >= at]
            yield "".join(out), sorted(set(out_starts)), out_spans


def bio_tags(length: int, spans: Iterable[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * length
    for start, end, label in spans:
        tags[start] = "B-" + label
        for k in range(start + 1, end):
            tags[k] = "I-" + label
    return tags


def bio_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Spans of a BIO sequence; an I- that does not continue a span of its label starts one."""
    spans, start, label = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        kind, _, name = tag.partition("-")
        if start is not None and (kind != "I" or name != label):
            spans.append((start, i, label))
            start = None
        if kind == "B" or (kind == "I" and start is None):
            start, label = i, name
    return spans


def set_char_ents(doc: Doc, spans: list[tuple[int, int, str]]) -> Doc:
    """Set ``doc.ents`` to exact character spans, splitting the tokens a span boundary falls in."""
    import bisect

    if not spans and not doc.ents:
        return doc
    starts, lengths = doc.to_array([IDX, LENGTH]).T.tolist() if len(doc) else ([], [])
    inside: dict[int, list[int]] = {}     # token index -> offsets inside it where a span begins or ends
    for cut in {offset for start, end, _ in spans for offset in (start, end)}:
        i = bisect.bisect_right(starts, cut) - 1
        if i >= 0 and starts[i] < cut < starts[i] + lengths[i]:
            inside.setdefault(i, []).append(cut - starts[i])
    splits = [(doc[i], sorted(offsets)) for i, offsets in sorted(inside.items())]
    if splits:
        with doc.retokenize() as retokenizer:
            for token, inner in splits:
                bounds = [0] + inner + [len(token.text)]
                orths = [token.text[a:b] for a, b in zip(bounds, bounds[1:])]
                retokenizer.split(token, orths, heads=[(token, 0)] * len(orths))
    ents = []
    for start, end, label in spans:
        span = doc.char_span(start, end, label=label)
        if span is not None:
            ents.append(span)
    doc.ents = ents
    return doc
