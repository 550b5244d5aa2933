"""``crf_entities``: a conditional random field over characters that finds ORG, PROGRAM and POLICY.

Names in these reports are mostly new to any training set (a fifth of the real names occur in
the corpus), so the model must learn what a name looks like rather than a list of names: each
character is described by the characters around it, the pkuseg word it sits in (position and
word), the head words that close a name of each label (局/中心/大学…, 计划/工程/试点…, 法/条例/
意见…) ending at it or starting after it, whether it sits inside 《》 or quotes, place-name
suffixes, and gazetteer names handed over by training. CRFsuite learns the BIO tags by L-BFGS.

Spans are exact character offsets: where one ends inside a pkuseg word, the word is split so
``doc.ents`` keeps the span as predicted. The model is CRFsuite's own binary file (no pickle).
"""

import hashlib
import os
import tempfile
from typing import Callable, Iterable, Iterator, Optional

import pycrfsuite
from spacy.attrs import IDX
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import ensure_path

from ..normalize import fold
from ..segmenter.tokenizer import doc_norm_text
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

    # -- features --------------------------------------------------------------------------
    def features(self, text: str, word_starts: Iterable[int], gazetteer: Optional[dict[str, str]] = None) -> list[list[str]]:
        """One list of feature strings per character of ``text`` (already folded)."""
        gazetteer = self.gazetteer if gazetteer is None else gazetteer
        n = len(text)
        heads = self.cfg["heads"]
        ends: dict[int, list[str]] = {}      # labels whose head word ends at i (sparse)
        starts: dict[int, list[str]] = {}    # labels whose head word starts at i
        for label, words in heads.items():
            for word in words:
                at = text.find(word)
                while at >= 0:
                    ends.setdefault(at + len(word) - 1, []).append(label)
                    starts.setdefault(at, []).append(label)
                    at = text.find(word, at + 1)
        gaz = [""] * n
        if gazetteer:
            by_prefix = self._prefix_index(gazetteer)
            i = 0
            while i < n - 1:
                best = ""
                for name in by_prefix.get(text[i:i + 2], ()):
                    if len(name) > len(best) and text.startswith(name, i):
                        best = name
                if best:
                    label = gazetteer[best]
                    gaz[i] = "B-" + label
                    for k in range(i + 1, i + len(best)):
                        gaz[k] = "I-" + label
                    i += len(best)
                else:
                    i += 1
        position = ["S"] * n
        bounds = sorted(set(word_starts) | {n})
        for a, b in zip(bounds, bounds[1:]):
            if b - a > 1:
                position[a] = "B"
                for k in range(a + 1, b - 1):
                    position[k] = "M"
                position[b - 1] = "E"
        word_of, before, after = [""] * n, [""] * n, [""] * n
        pieces = list(zip(bounds, bounds[1:]))
        for j, (a, b) in enumerate(pieces):
            word = text[a:b] if b - a <= 6 else "LONG"
            prev = text[slice(*pieces[j - 1])] if j else "^"
            nxt = text[slice(*pieces[j + 1])] if j + 1 < len(pieces) else "$"
            for k in range(a, b):
                word_of[k], before[k], after[k] = word, prev[-4:], nxt[:4]
        # How far ahead the nearest head of each label ends, within the clause: a name's first
        # characters are decided by a head word many characters later (国家知识产权示范城市).
        window = self.cfg.get("head_window", 0)
        ahead: dict[int, list[str]] = {}
        present = {label for labels in ends.values() for label in labels}
        for label in (heads if window else ()):
            if label not in present:
                continue
            nearest = None
            for i in range(n - 1, -1, -1):
                if text[i] in _CLAUSE_BREAKS:
                    nearest = None
                elif label in ends.get(i, ()):
                    nearest = i
                if nearest is not None and nearest - i <= window:
                    ahead.setdefault(i, []).append(f"ahead={label}{_bucket(nearest - i)}")
        after_cue = [""] * n
        for cue in self.cfg.get("cues", ()):
            at = text.find(cue)
            while at >= 0:
                end = at + len(cue)
                for k in range(end, min(n, end + 3)):
                    after_cue[k] = after_cue[k] or f"cue{k - end}"
                at = text.find(cue, at + 1)
        # The features every character has, built column by column (this is the hot loop of
        # tagging), then the sparse ones added where they occur.
        padded = "\x02\x02" + text + "\x03\x03"
        kinds = [_kind(c) for c in padded]
        out = [list(row) for row in zip(
            ["c=" + c for c in text], ["p1=" + c for c in padded[1:n + 1]], ["n1=" + c for c in padded[3:n + 3]],
            ["p2=" + c for c in padded[:n]], ["n2=" + c for c in padded[4:n + 4]],
            ["b0=" + padded[i + 1:i + 3] for i in range(n)], ["b1=" + padded[i + 2:i + 4] for i in range(n)],
            ["t0=" + padded[i:i + 3] for i in range(n)], ["t1=" + padded[i + 1:i + 4] for i in range(n)],
            ["t2=" + padded[i + 2:i + 5] for i in range(n)],
            ["ty=" + kinds[i + 2] + kinds[i + 1] + kinds[i + 3] for i in range(n)],
            ["wp=" + x for x in position], ["w=" + x for x in word_of],
            ["wpw=" + x + y for x, y in zip(position, word_of)], ["wb=" + x for x in before],
            ["wa=" + x for x in after])]
        for i, extra in ahead.items():
            out[i].extend(extra)
        if " " in text:   # letter-spaced text (全 国 科 普): the nearest characters that are not spaces
            for i in range(n):
                if padded[i + 1] == " " or padded[i + 3] == " ":
                    out[i] += ["sp1=" + text[:i].rstrip(" ")[-1:], "sn1=" + text[i + 1:].lstrip(" ")[:1]]
        for i in sorted(ends):
            out[i].extend("end=" + label for label in ends[i])
            if i + 1 < n:
                out[i + 1].extend("prevend=" + label for label in ends[i])
        for i in sorted(starts):
            if i:
                out[i - 1].extend("next=" + label for label in starts[i])
        for i in _inside(text, "《", "》"):
            out[i].append("book")
        for i in _inside_quotes(text):
            out[i].append("quote")
        places = self.cfg["place_suffixes"]
        for i, c in enumerate(text):
            if c in places:
                out[i].append("place")
            if after_cue[i]:
                out[i].append(after_cue[i])
            if gaz[i]:
                out[i].append("gaz=" + gaz[i])
        return out

    def _prefix_index(self, gazetteer: dict[str, str]) -> dict[str, list[str]]:
        # built once per gazetteer, not once per paragraph (thousands of names)
        cached = getattr(self, "_index_cache", None)
        if cached is None or cached[0] is not gazetteer:
            self._index_cache = (gazetteer, _prefix_index(gazetteer))
        return self._index_cache[1]

    def _doc_features(self, doc: Doc, gazetteer: Optional[dict[str, str]] = None) -> list[list[str]]:
        return self.features(doc_norm_text(doc), doc.to_array(IDX).tolist() if len(doc) else [], gazetteer)

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

    def _load(self, model: bytes) -> None:
        self._model = model
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open_inmemory(model)

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses=None) -> dict:
        # Fitted in initialize; spaCy's training loop has nothing to update here.
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        return losses

    # -- prediction ------------------------------------------------------------------------
    def find(self, doc: Doc) -> list[tuple[int, int, str]]:
        if self._tagger is None:
            raise ValueError(f"[{self.name}] is not initialized: train the pipeline first")
        if not len(doc):
            return []
        return bio_spans(self._tagger.tag(self._doc_features(doc)))

    def __call__(self, doc: Doc) -> Doc:
        return set_char_ents(doc, self.find(doc))

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        for doc in stream:
            yield self(doc)

    # -- serialization: CRFsuite's own model file and JSON ---------------------------------
    def to_disk(self, path, *, exclude=tuple()) -> None:
        import json

        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / "cfg.json").write_text(json.dumps({"cfg": self.cfg, "gazetteer": self.gazetteer},
                                                  ensure_ascii=False), encoding="utf-8")
        if self._model is not None:
            (path / "model.crfsuite").write_bytes(self._model)

    def from_disk(self, path, *, exclude=tuple()) -> "CrfEntities":
        import json

        path = ensure_path(path)
        data = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
        self.cfg, self.gazetteer = data["cfg"], data["gazetteer"]
        if (path / "model.crfsuite").is_file():
            self._load((path / "model.crfsuite").read_bytes())
        return self


_CLAUSE_BREAKS = set("，。；：、,;:!?！？\n")


def _inside(text: str, opening: str, closing: str) -> Iterator[int]:
    """Positions from an opening mark to its closing one, both included (nesting counted)."""
    depth = 0
    for i, c in enumerate(text):
        if c == opening:
            depth += 1
        if depth:
            yield i
        if c == closing and depth:
            depth -= 1


def _inside_quotes(text: str) -> Iterator[int]:
    """Positions from “ to ”, both included; a straight quote marks only itself."""
    inside = False
    for i, c in enumerate(text):
        if c in "“\"" and not inside:
            inside = True
        if inside:
            yield i
        if c in "”\"" and inside and i > 0:
            inside = False


def _bucket(distance: int) -> str:
    return "0" if distance == 0 else "1" if distance <= 2 else "3" if distance <= 5 else "6" if distance <= 10 else "11"


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


def _kind(c: str) -> str:
    if "\u4e00" <= c <= "\u9fff":
        return "H"
    if c.isdigit():
        return "D"
    if c in "xX*×":
        return "X"
    if c.isascii() and c.isalpha():
        return "L"
    return "P"


def _prefix_index(gazetteer: dict[str, str]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for name in gazetteer:
        if len(name) >= 2:
            index.setdefault(name[:2], []).append(name)
    return index


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
    starts = [token.idx for token in doc]
    inside: dict[int, list[int]] = {}     # token index -> offsets inside it where a span begins or ends
    for cut in {offset for start, end, _ in spans for offset in (start, end)}:
        i = bisect.bisect_right(starts, cut) - 1
        if i >= 0 and starts[i] < cut < starts[i] + len(doc[i].text):
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
