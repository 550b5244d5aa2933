"""The entity CRF's compiled tagger against CRFsuite's own, on the same model and features."""
import json

import pytest
from spacy.attrs import IDX

from nlp.components.crf_features import CharFeatures, CompiledCrf, _inside, _inside_quotes
from nlp.segmenter.tokenizer import doc_norm_text
from tests.conftest import ROOT


def _reference_inside(text, opening, closing):
    # the per-character definition the span finders must agree with
    depth = 0
    for i, c in enumerate(text):
        if c == opening:
            depth += 1
        if depth:
            yield i
        if c == closing and depth:
            depth -= 1


def _reference_quotes(text):
    inside = False
    for i, c in enumerate(text):
        if c in "“\"" and not inside:
            inside = True
        if inside:
            yield i
        if c in "”\"" and inside and i > 0:
            inside = False


@pytest.mark.parametrize("text", ["", "无书名号", "《甲》乙", "《甲《乙》丙》丁", "》《甲", "《未闭合", "《甲》》《乙》",
                                  "“甲”乙", "\"甲\"乙", "甲\"乙\"", "“甲“乙”丙”", "”甲“", "“未闭合", "\"", "\"\""])
def test_span_finders_match_the_per_character_definition(text):
    assert [i for r in _inside(text) for i in r] == list(_reference_inside(text, "《", "》"))
    assert [i for r in _inside_quotes(text) for i in r] == list(_reference_quotes(text))


# Every kind of feature at once: a letter-spaced run, nested 《》, quotes (straight at 0), digits,
# Latin, a character outside the BMP, cues, place suffixes, heads of all three labels.
CRAFTED = ['"全 国 科 普 日"活动由市科技局和xx大学举办，获批国家级星火计划项目3项；',
           "印发《关于《科技创新》的实施意见》和“十四五”规划，认定为省级示范基地𝟘号。",
           "ABC公司、123研究所与县农业农村局签订合作协议，列入国家重点研发计划。", "。", "局"]


def _texts(shared):
    texts = [json.loads(line)["text"] for line in (ROOT / "annotations" / "policy_reports.jsonl").open(encoding="utf-8")]
    for name in ("excerpts.jsonl", "excerpts3.jsonl"):
        texts += [json.loads(line)["text"] for line in (shared / "corpus" / name).open(encoding="utf-8")]
    return texts + CRAFTED


def test_the_compiled_tagger_tags_like_crfsuite_on_every_paragraph(default_pipeline, shared):
    crf = default_pipeline.get_pipe("crf_entities")
    analyses, expected = [], []
    for doc in default_pipeline.tokenizer.pipe(_texts(shared)):
        analysis = crf._doc_analysis(doc)
        analyses.append(analysis)
        expected.append(crf._tagger.tag(CharFeatures.strings(analysis)) if analysis.text else [])
    assert len(analyses) > 1500
    # in batches of several sizes, so that the joined arrays are cut in different places
    for size in (1, 7, 256):
        got = [tags for k in range(0, len(analyses), size) for tags in crf._compiled.tag(analyses[k:k + size])]
        assert got == expected
    assert sum(tag != "O" for tags in expected for tag in tags) > 10000


def test_the_string_features_cover_every_kind(default_pipeline):
    crf = default_pipeline.get_pipe("crf_entities")
    doc = default_pipeline.tokenizer(CRAFTED[0] + CRAFTED[1])
    gazetteer = {"星火计划": "PROGRAM", "科技局": "ORG"}
    analysis = crf._analyse(doc_norm_text(doc), doc.to_array(IDX).tolist(), gazetteer)
    kinds = {f.split("=")[0] for row in CharFeatures.strings(analysis) for f in row}
    assert {"c", "p1", "n1", "p2", "n2", "b0", "b1", "t0", "t1", "t2", "ty", "wp", "w", "wpw", "wb", "wa", "ahead",
            "sp1", "sn1", "end", "prevend", "next", "book", "quote", "place", "cue0", "cue1", "gaz"} <= kinds


def test_a_model_that_is_not_crfsuite_is_refused():
    with pytest.raises(ValueError, match="CRFsuite"):
        CompiledCrf(b"\x80\x04" + bytes(100), ["c=a"], ["O"])


def test_characters_before_the_first_word_start(default_pipeline):
    """Training texts (names swapped in) can start before their first word: those characters are
    words of no text, in both paths."""
    crf = default_pipeline.get_pipe("crf_entities")
    text = "市科技局组织实施星火计划"
    for starts in ([3, 4, 6, 8], [], [5]):
        analysis = crf._analyse(text, starts, {})
        rows = CharFeatures.strings(analysis)
        assert len(rows) == len(text) and rows[0][11:13] == ["wp=S", "w="]
        assert crf._compiled.tag([analysis])[0] == crf._tagger.tag(rows)


def test_sparse_features_keep_the_order_the_model_was_trained_with(default_pipeline):
    # CRFsuite numbers attributes in the order it first meets them: a new order is a new model
    crf = default_pipeline.get_pipe("crf_entities")
    rows = crf.features("科技局办公室", [0, 2, 3, 4], {})
    assert [f for f in rows[3] if f.startswith(("end=", "prevend="))] == ["prevend=ORG", "end=ORG"]
