"""The pkuseg model converted from the pkuseg 0.0.12 wheel, the domain dictionary, and the config choice."""
import json
import random
import zipfile

import numpy as np
import pytest
import spacy
import spacy_pkuseg
import srsly

from nlp.segmenter.convert import ConversionError, convert_wheel
from nlp.segmenter import fast as pkuseg_fast
from nlp.segmenter.fast import FastCut, FastPostprocess, FeatureTable, Segmenter, accelerate
from nlp.reading.segment import iter_reports
from nlp.normalize import fold
from nlp.segmenter.tokenizer import doc_text, doc_words
from tests.conftest import ROOT

USER_DICT = ROOT / "configs" / "user_dict.txt"


def fake_wheel(path, n_features=3, weights=None):
    n_tag = 5
    weights = weights if weights is not None else [0.5] * ((n_features + n_tag) * n_tag)
    with zipfile.ZipFile(path, "w") as zf:
        base = "pkuseg/models/ctb8/"
        zf.writestr(base + "unigram_word.txt", "科技\n专利\n")
        zf.writestr(base + "bigram_word.txt", "科技*专利\n")
        zf.writestr(base + "tagIndex.txt", "B 0\nB_single 1\nI 2\nI_end 3\nI_first 4\n")
        lines = ["1.$$ 0", "2.c.科 1", "10.w-1.科技 2"][:n_features]
        zf.writestr(base + "featureIndex.txt_0", "\n".join(lines) + "\n")
        for part in range(1, 10):
            zf.writestr(base + f"featureIndex.txt_{part}", "")
        zf.writestr(base + "model.txt", f"{n_tag}\n{len(weights)}\n" + "\n".join(map(str, weights)) + "\n")
    return path


def test_conversion_strips_template_prefixes(tmp_path):
    info = convert_wheel(fake_wheel(tmp_path / "pkuseg.whl"), tmp_path / "out", sha256=None)
    features = srsly.read_msgpack(tmp_path / "out" / "features.msgpack")
    assert features["feature_to_idx"] == {"$$": 0, "c.科": 1, "w-1.科技": 2}
    assert features["tag_to_idx"]["I_first"] == 4
    weights = np.load(tmp_path / "out" / "weights.npz", allow_pickle=False)
    assert list(weights["sizes"]) == [5, 3] and weights["w"].shape == (40,)
    assert info["n_feature"] == 3


def test_conversion_rejects_a_model_that_does_not_match_its_index(tmp_path):
    with pytest.raises(ConversionError, match="features in the index"):
        convert_wheel(fake_wheel(tmp_path / "pkuseg.whl", weights=[0.1] * 60), tmp_path / "out", sha256=None)
    bare = tmp_path / "empty.whl"
    zipfile.ZipFile(bare, "w").close()
    with pytest.raises(ConversionError, match="no pkuseg/models/ctb8/unigram_word.txt"):
        convert_wheel(bare, tmp_path / "out2", sha256=None)


def test_conversion_refuses_a_wheel_that_is_not_the_recorded_one(tmp_path):
    with pytest.raises(ConversionError, match="is not that of the pkuseg 0.0.12 wheel"):
        convert_wheel(fake_wheel(tmp_path / "pkuseg.whl"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sentence, words", [
    ("福州大学与中国科学院签订合作协议。", ["福州", "大学", "与", "中国", "科学院", "签订", "合作", "协议", "。"]),
    ("我们要加强科技创新。", ["我们", "要", "加强", "科技", "创新", "。"]),
])
def test_converted_model_segments_sentences(pkuseg_model, sentence, words):
    assert spacy_pkuseg.pkuseg(str(pkuseg_model), user_dict=None).cut(sentence) == words


def test_domain_dictionary_keeps_domain_words_whole(pkuseg_model):
    sentence = "专利权质押融资帮助众创空间和高新技术企业发展"
    plain = spacy_pkuseg.pkuseg(str(pkuseg_model), user_dict=None).cut(sentence)
    with_dict = spacy_pkuseg.pkuseg(str(pkuseg_model), user_dict=str(USER_DICT)).cut(sentence)
    assert "众创空间" not in plain
    assert {"众创空间", "高新技术企业"} <= set(with_dict)
    assert "".join(with_dict) == sentence


@pytest.mark.parametrize("segmenter", ["pkuseg", "char"])
def test_segmenter_is_chosen_in_config(pkuseg_model, segmenter):
    config = {"nlp": {"tokenizer": {"segmenter": segmenter}}}
    nlp = spacy.blank("zh", config=config)
    if segmenter == "pkuseg":
        nlp.tokenizer.initialize(pkuseg_model=str(pkuseg_model), pkuseg_user_dict=str(USER_DICT))
    doc = nlp("新建众创空间三家")
    expected = ["新建", "众创空间", "三", "家"] if segmenter == "pkuseg" else list("新建众创空间三家")
    assert [t.text for t in doc] == expected


# -- the fast feature path (nlp/segmenter/fast.py) -------------------------------------------------
@pytest.fixture(scope="module")
def stock_and_fast(pkuseg_model):
    stock = spacy_pkuseg.pkuseg(str(pkuseg_model), user_dict=str(USER_DICT))
    fast = spacy_pkuseg.pkuseg(str(pkuseg_model), user_dict=str(USER_DICT))
    accelerate(fast)
    assert isinstance(fast._cut, FastCut) and isinstance(fast.postprocesser, FastPostprocess)
    return stock, fast


def test_fast_path_gives_stock_words_on_every_real_report(stock_and_fast, shared):
    stock, fast = stock_and_fast
    texts = [p.text for report in iter_reports([shared / "seeds", shared / "corpus"]) for p in report]
    texts += [json.loads(line)["text"] for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    assert sum(map(len, texts)) > 200_000
    differ = [t for t in texts if fast.cut(t) != stock.cut(t)]
    assert not differ, f"{len(differ)} paragraphs segmented differently, first: {differ[0][:60]}"


@pytest.mark.parametrize("text", [
    "科", "科技", "2023年投入R&D经费3.5亿元，增长12.6%。", "ＡＢＣ公司与ａｂ大学、Ｘ-Ｙ实验室签约",
    "合作 项目  三项", "网址www.example.gov.cn/a_b|c*d:e", "专利\ue000数据\ue001平台", "。。，，",
    "“星火计划”《国家中长期科学和技术发展规划纲要（2006-2020年）》",
    "专利\x00数据平台", "\x00\x00科技", "科技\x00", "科技局 \x00 专利 合作",   # NUL: the fast path joins pieces with it
])
def test_fast_path_gives_stock_words_on_awkward_text(stock_and_fast, text):
    stock, fast = stock_and_fast
    assert fast.cut(text) == stock.cut(text)


def test_fast_path_keeps_user_dictionary_and_merges(stock_and_fast):
    stock, fast = stock_and_fast
    words = fast.cut("专利权质押融资帮助众创空间和高新技术企业发展")
    assert {"众创空间", "高新技术企业"} <= set(words)
    assert fast.postprocesser.other_words is stock.postprocesser.other_words or \
        fast.postprocesser.other_words == stock.postprocesser.other_words


def test_pipeline_tokenizer_is_fast_saves_and_keeps_text(pkuseg_model, tmp_path):
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1",
                                                          "segmenter": "pkuseg"}}})
    nlp.tokenizer.initialize(pkuseg_model=str(pkuseg_model), pkuseg_user_dict=str(USER_DICT))
    assert isinstance(nlp.tokenizer.pkuseg_seg._cut, FastCut)
    nlp.to_disk(tmp_path / "m")
    loaded = spacy.load(tmp_path / "m")
    assert isinstance(loaded.tokenizer.pkuseg_seg._cut, FastCut)
    text = " 新建众创空间 三家，\n引进ＡＢ公司。 "
    doc = loaded(text)
    assert doc_text(doc) == doc.text == text
    assert doc_words(doc) == [fold(t.text) for t in doc if not t.is_space]     # what models see: folded
    assert "众创空间" in doc_words(doc)
    # a Doc not made by this tokenizer (or changed since) falls back to the tokens
    other = spacy.blank("zh")("新建众创空间")
    assert doc_text(other) == "新建众创空间" and doc_words(other) == list("新建众创空间")


def test_fast_path_memos_stay_bounded(stock_and_fast, monkeypatch):
    stock, fast = stock_and_fast
    monkeypatch.setattr(pkuseg_fast, "MEMO_SIZE", 50)
    text = ("国家自然科学基金支持高校院所与龙头企业共建联合实验室，推动关键核心技术攻关和成果转化，"
            "全年新认定高新技术企业一百二十家，技术合同成交额同比增长百分之十八")
    assert len({text[i:i + 2] for i in range(len(text) - 1)}) > 50
    for _ in range(2):
        assert fast.cut(text) == stock.cut(text)
    assert len(fast._cut.bigrams) <= 50 and len(fast._cut.pairs) <= 50


def test_fast_path_gives_stock_words_on_scrambled_text(stock_and_fast):
    """Random runs of report text, digits, Latin letters, keyword characters and spaces."""
    stock, fast = stock_and_fast
    texts = [json.loads(line)["text"] for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    pool = "".join(texts[:100]) + "0123456789.几十万亿ＡＢＣａｂｃabcXYZ-._,|/*:／・－ \t\u3000%％&龘𠀀"
    rng = random.Random(7)
    for _ in range(3000):
        source = rng.choice(texts)
        start = rng.randrange(len(source))
        text = "".join(c if rng.random() > 0.15 else rng.choice(pool)
                       for c in source[start:start + rng.choice([1, 2, 3, 7, 20, 60])])
        assert fast.cut(text) == stock.cut(text), text


# -- the saved fast path: what a trained pipeline loads (nlp/segmenter/fast.py, Segmenter) ---------
@pytest.fixture(scope="module")
def saved_segmenter(pkuseg_model, tmp_path_factory):
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1",
                                                          "segmenter": "pkuseg"}}})
    nlp.tokenizer.initialize(pkuseg_model=str(pkuseg_model), pkuseg_user_dict=str(USER_DICT))
    path = tmp_path_factory.mktemp("saved") / "m"
    nlp.to_disk(path)
    return spacy.load(path), path


def test_a_loaded_pipeline_segments_from_its_compact_copy_like_stock(saved_segmenter, stock_and_fast, shared):
    loaded, path = saved_segmenter
    seg = loaded.tokenizer.pkuseg_seg
    assert isinstance(seg, Segmenter) and (path / "tokenizer" / "pkuseg_fast" / "hashes.npy").is_file()
    stock, _ = stock_and_fast
    texts = [p.text for report in iter_reports([shared / "seeds", shared / "corpus"]) for p in report]
    differ = [t for t in texts if seg.cut(t) != stock.cut(t)]
    assert not differ, f"{len(differ)} paragraphs segmented differently, first: {differ[0][:60]}"
    assert seg.stock.seg is None, "the stock model was read for text that does not need it"
    # text holding the private-use characters the fast path uses itself goes to stock pkuseg
    assert seg.cut("专利\ue000数据\ue001平台") == stock.cut("专利\ue000数据\ue001平台")
    assert seg.stock.seg is not None


def test_a_loaded_pipeline_saves_again_and_loads_the_same(saved_segmenter, tmp_path):
    loaded, _ = saved_segmenter
    loaded.to_disk(tmp_path / "again")
    again = spacy.load(tmp_path / "again")
    text = "市科技局组织实施星火计划，推动高新技术企业与中国科学院合作共建实验室。"
    assert [t.text for t in again(text)] == [t.text for t in loaded(text)]


def test_the_feature_table_finds_every_name_and_no_other(pkuseg_model):
    extractor = spacy_pkuseg.pkuseg(str(pkuseg_model), user_dict=None).feature_extractor
    names = random.Random(3).sample(sorted(extractor.feature_to_idx), 5000)
    table = FeatureTable.from_dict(extractor.feature_to_idx)
    assert len(np.unique(table.hashes)) == len(extractor.feature_to_idx)
    assert table.lookup(names, -1) == [extractor.feature_to_idx[n] for n in names]
    assert table.lookup([n + "\ue002" for n in names[:500]], -1) == [-1] * 500


def test_a_compact_copy_of_another_format_is_refused(saved_segmenter, tmp_path):
    import shutil

    _, path = saved_segmenter
    shutil.copytree(path / "tokenizer" / "pkuseg_fast", tmp_path / "fast")
    meta = json.loads((tmp_path / "fast" / "meta.json").read_text())
    (tmp_path / "fast" / "meta.json").write_text(json.dumps(meta | {"format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        FastCut.load(tmp_path / "fast", stock=None)


def test_words_are_aligned_as_spacy_aligns_them(stock_and_fast):
    """The tokenizer places pkuseg's words in the text itself: the same tokens and spaces as
    spaCy's get_words_and_spaces, white space of every kind included."""
    from spacy.util import get_words_and_spaces
    from nlp.segmenter.tokenizer import align

    _, fast = stock_and_fast
    texts = [json.loads(line)["text"] for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    rng = random.Random(11)
    gaps = [" ", "  ", "\n", " \n ", "\t", "\u3000", "\xa0", "\r\n"]
    for text in texts[:400]:
        chars = list(text)
        for _ in range(rng.randint(0, 6)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(gaps))
        text = "".join(chars)
        norm = fold(text)
        words = fast.cut(norm)
        at, cut = 0, []
        for word in words:
            at = norm.find(word, at)
            cut.append(text[at:at + len(word)])
            at += len(word)
        assert align(words, norm, text) == get_words_and_spaces(cut, text), text


def test_saving_over_the_loaded_copy_keeps_the_loaded_pipeline_working(saved_segmenter, tmp_path):
    """A pipeline saved into the folder it was loaded from replaces the memory-mapped files
    instead of writing into them (which would pull the pages from under the running process)."""
    import shutil

    _, path = saved_segmenter
    shutil.copytree(path, tmp_path / "m")
    loaded = spacy.load(tmp_path / "m")
    text = "市科技局组织实施星火计划，推动高新技术企业与中国科学院合作共建实验室。"
    before = [t.text for t in loaded(text)]
    inode = (tmp_path / "m" / "tokenizer" / "pkuseg_fast" / "weights.npy").stat().st_ino
    loaded.to_disk(tmp_path / "m")
    assert (tmp_path / "m" / "tokenizer" / "pkuseg_fast" / "weights.npy").stat().st_ino != inode
    assert [t.text for t in loaded(text)] == before        # still reading its (old) weights
    assert [t.text for t in spacy.load(tmp_path / "m")(text)] == before
