"""The pipeline's components: normalisation, the CRF entity recogniser, the rules."""
import json
import random

import numpy as np

import spacy

import nlp.components  # noqa: F401
from nlp.components.crf_entities import bio_spans, bio_tags, set_char_ents
from nlp.components.entity_rules import DEFAULT_CONFIG as RULES_CONFIG
from nlp.normalize import fold
from nlp.segmenter.tokenizer import doc_norm_text
from nlp.training.corpus import make_doc_example
from nlp.annotation.examples import Example
from tests.conftest import ROOT


def test_fold_makes_full_and_half_width_the_same_one_character_for_one():
    full, half = "今年（含科协）：专利１２件；ＡＢ　c，完成。", "今年(含科协):专利12件;AB c,完成。"
    assert fold(full) == fold(half) == half
    assert len(fold(full)) == len(full)
    assert fold("《办法》“计划”、。") == "《办法》“计划”、。"     # marks with no half-width twin stay


def test_the_tokenizer_keeps_the_input_and_gives_models_the_folded_text():
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1",
                                                           "segmenter": "char"}}})
    doc = nlp("市科技局（科协）")
    assert doc.text == "市科技局（科协）" and doc_norm_text(doc) == "市科技局(科协)"


def test_bio_round_trip_and_stray_inside_tags():
    spans = [(0, 3, "ORG"), (5, 9, "PROGRAM")]
    assert bio_spans(bio_tags(10, spans)) == spans
    assert bio_spans(["O", "I-ORG", "I-ORG", "B-POLICY", "I-ORG"]) == [(1, 3, "ORG"), (3, 4, "POLICY"), (4, 5, "ORG")]


def test_char_ents_split_the_words_a_name_ends_in():
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "spacy.zh.ChineseTokenizer",
                                                           "segmenter": "char"}}})
    doc = spacy.tokens.Doc(nlp.vocab, words=["市科技局长", "出席"], spaces=[False, False])
    set_char_ents(doc, [(0, 4, "ORG")])
    assert [(e.text, e.label_) for e in doc.ents] == [("市科技局", "ORG")]
    assert doc.text == "市科技局长出席"


def _crf_pipeline(examples):
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1",
                                                           "segmenter": "char"}}})
    nlp.add_pipe("crf_entities", config={"max_iterations": 60})
    made = [make_doc_example(nlp, e, ()) for e in examples]
    nlp.initialize(lambda: made)
    return nlp


def _made_up_examples(n=60, seed=1):
    """Institutes with made-up two-character names: the model must learn the shape X研究院."""
    rng = random.Random(seed)
    alphabet = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"
    out = []
    for i in range(n):
        name = rng.choice(alphabet) + rng.choice(alphabet) + "研究院"
        text = f"今年{rng.randint(2, 9)}月，{name}与企业签订合作协议{rng.randint(1, 9)}项。"
        start = text.index(name)
        out.append(Example(text, ["cooperation"], [(start, start + len(name), "ORG")], {"group": f"g{i}"}))
    return out


def test_the_crf_learns_a_name_pattern_and_finds_names_it_never_saw(tmp_path):
    nlp = _crf_pipeline(_made_up_examples())
    doc = nlp("今年3月，坤乾研究院与企业签订合作协议4项。")      # 坤乾: characters never seen
    assert [(e.text, e.label_) for e in doc.ents] == [("坤乾研究院", "ORG")]
    nlp.to_disk(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m" / "crf_entities").iterdir()}
    assert files == {"cfg.json", "model.crfsuite", "names.json"}
    assert not (tmp_path / "m" / "crf_entities" / "model.crfsuite").read_bytes().startswith(b"\x80")  # not a pickle
    again = spacy.load(tmp_path / "m")
    assert [(e.text, e.label_) for e in again("今年3月，坤乾研究院与企业签订合作协议4项。").ents] == [("坤乾研究院", "ORG")]


def test_the_gazetteer_is_handed_over_by_training_not_read_by_the_component(tmp_path):
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1",
                                                           "segmenter": "char"}}})
    crf = nlp.add_pipe("crf_entities", config={"max_iterations": 20})
    made = [make_doc_example(nlp, e, ()) for e in _made_up_examples(20)]
    crf.initialize(lambda: made, nlp=nlp, patterns=[{"label": "ORG", "pattern": "星海所"}])
    assert crf.gazetteer == {"星海所": "ORG"}
    assert any(f.startswith("gaz=") for f in crf.features("星海所开展研究", range(7))[0])


def _rules():
    from nlp.components.entity_rules import EntityRules

    config = dict(RULES_CONFIG)
    config.pop("overwrite_ents")
    return EntityRules("entity_rules", **config)


def test_rules_for_titles_laws_plans_and_bare_names():
    rules = _rules()
    text = fold("贯彻科学技术进步法和科技创新“十四五”规划，在《福建日报》发表《科技创新的几点思考》，"
                "印发《xx市科技计划项目管理办法（试行）》，各级科协和市科协、科技部门、局党组。")
    found, blocked = rules.find(text)
    got = {text[a:b]: label for a, b, label in found}
    assert got == {"科学技术进步法": "POLICY", "科技创新“十四五”规划": "POLICY", "福建日报": "ORG",
                   "xx市科技计划项目管理办法(试行)": "POLICY"}
    assert [text[a:b] for a, b in blocked] == ["科技创新的几点思考"]       # an article title: no entity
    assert [text[a:b] for a, b, _ in rules.bare(text)] == ["市科协", "局党组"]   # not 各级科协, not 科技部门


def test_rules_remove_a_model_span_over_an_article_title_and_fill_bare_names():
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1",
                                                           "segmenter": "char"}}})
    rules = nlp.add_pipe("entity_rules")
    doc = nlp("发表《科技创新的几点思考》，科协牵头。")
    set_char_ents(doc, [(3, 12, "POLICY")])
    doc = rules(doc)
    assert [(e.text, e.label_) for e in doc.ents] == [("科协", "ORG")]


def test_the_entity_recogniser_is_chosen_in_the_config():
    from spacy.util import load_config

    from tests.conftest import ROOT

    default = load_config(ROOT / "configs" / "default.cfg")
    ner = load_config(ROOT / "configs" / "ner.cfg")
    assert default["nlp"]["pipeline"][0] == "crf_entities" and "ner" not in default["nlp"]["pipeline"]
    assert "ner" in ner["nlp"]["pipeline"] and "crf_entities" not in ner["nlp"]["pipeline"]
    nlp = spacy.blank("zh")
    for name in ("crf_entities", "entity_rules", "sk_themes", "theme_decider"):
        nlp.add_pipe(name)
    analysis = nlp.analyze_pipes()
    assert not analysis["problems"]["theme_decider"]          # requires doc.cats: sk_themes assigns it


def test_same_paragraph_in_both_forms_gets_the_same_themes_and_offsets(default_pipeline):
    from nlp.model import predict

    nlp = default_pipeline
    full = "2019年，市科技局（科协）组织申报国家级项目12项；新增高新技术企业３家，专利授权１２０件，与福州大学签订合作协议。"
    half = fold(full)
    a, b = list(predict(nlp, [full, half]))
    assert a["themes"] == b["themes"] and a["scores"] == b["scores"]
    assert [(e["start"], e["end"], e["label"]) for e in a["entities"]] == \
           [(e["start"], e["end"], e["label"]) for e in b["entities"]]
    assert a["entities"] and all(full[e["start"]:e["end"]] == e["text"] for e in a["entities"])


def test_mention_replacement_swaps_names_of_the_same_label_with_their_own_word_boundaries():
    from nlp.components.crf_entities import augment

    sequences = [("市科技局与福州大学合作", [0, 4, 5, 7, 9], [(0, 4, "ORG"), (5, 9, "ORG")]),
                 ("xx银行支持星火计划", [0, 2, 4, 6], [(0, 4, "ORG"), (6, 10, "PROGRAM")]),
                 ("召开会议", [0, 2], [])]
    out = list(augment(sequences, copies=3, seed=1))
    assert len(out) == 6                       # paragraphs without names are not copied
    names = {"ORG": {"市科技局", "福州大学", "xx银行"}, "PROGRAM": {"星火计划"}}
    for text, starts, spans in out:
        assert all(text[a:b] in names[label] for a, b, label in spans)
        assert all(a in starts for a, _, _ in spans)          # each name starts a word
        assert text.endswith(("合作", "支持星火计划"))              # the context stays
    assert any(text != original for (text, _, _), (original, _, _) in zip(out, sequences * 3))


def test_theme_counts_are_count_vectorizers(default_pipeline):
    """sk_themes counts n-grams of new text itself (no scikit-learn import when tagging): the same
    matrix as CountVectorizer(vocabulary=…) gives, on the corpus and on awkward white space."""
    from sklearn.feature_extraction.text import CountVectorizer
    from nlp.components.sk_themes import CharCounts, count

    themes = default_pipeline.get_pipe("sk_themes")
    words_vocab, chars_vocab = themes.vocabularies
    low, high = themes.cfg["char_ngrams"]
    texts = [json.loads(line)["text"] for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    texts += ["", " ", "A  B\t\tC\n\nD", "ＡＢ科技  局\u3000\u3000合作", "x", "İstanbul科技𠀀局"]
    theirs = CountVectorizer(analyzer="char", ngram_range=(low, high), lowercase=True, vocabulary=chars_vocab,
                             dtype=np.float32).transform(texts)
    ours = CharCounts(chars_vocab, low, high)(texts)
    assert (theirs != ours).nnz == 0 and ours.nnz > 100_000
    assert (CharCounts(chars_vocab, low, high)(texts[-3:]) != theirs[-3:]).nnz == 0
    grams = [themes._word_ngrams(doc) for doc in default_pipeline.tokenizer.pipe(texts[:300])]
    theirs = CountVectorizer(analyzer=lambda x: x, vocabulary=words_vocab, dtype=np.float32).transform(grams)
    assert (theirs != count(grams, words_vocab)).nnz == 0


def test_tagging_does_not_import_scikit_learn(default_model):
    import subprocess
    import sys

    code = ("import sys; from nlp.model import load_pipeline; nlp = load_pipeline(sys.argv[1]); "
            "nlp('市科技局组织实施星火计划。'); print(sorted(m for m in sys.modules if m.startswith('sklearn')))")
    done = subprocess.run([sys.executable, "-c", code, str(default_model)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
