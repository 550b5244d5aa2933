"""The pkuseg model converted from the pkuseg 0.0.12 wheel, the domain dictionary, and the config choice."""
import zipfile

import numpy as np
import pytest
import spacy
import spacy_pkuseg
import srsly

from nlp.pkuseg_convert import ConversionError, convert_wheel
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
    info = convert_wheel(fake_wheel(tmp_path / "pkuseg.whl"), tmp_path / "out")
    features = srsly.read_msgpack(tmp_path / "out" / "features.msgpack")
    assert features["feature_to_idx"] == {"$$": 0, "c.科": 1, "w-1.科技": 2}
    assert features["tag_to_idx"]["I_first"] == 4
    weights = np.load(tmp_path / "out" / "weights.npz", allow_pickle=False)
    assert list(weights["sizes"]) == [5, 3] and weights["w"].shape == (40,)
    assert info["n_feature"] == 3


def test_conversion_rejects_a_model_that_does_not_match_its_index(tmp_path):
    with pytest.raises(ConversionError, match="features in the index"):
        convert_wheel(fake_wheel(tmp_path / "pkuseg.whl", weights=[0.1] * 60), tmp_path / "out")
    bare = tmp_path / "empty.whl"
    zipfile.ZipFile(bare, "w").close()
    with pytest.raises(ConversionError, match="no pkuseg/models/ctb8/unigram_word.txt"):
        convert_wheel(bare, tmp_path / "out2")


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
