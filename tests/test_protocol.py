"""The evaluation protocol: grouped folds that leak nothing, the stand-off real-text dev set,
and the corpus tools (consistency, stats)."""
import json

import pytest
import spacy
from spacy.util import load_config, registry

import nlp.training.gazetteer  # noqa: F401  (registers the readers)
from nlp.annotation.consistency import find_inconsistencies, proposals
from nlp.annotation.examples import Example, mark_names, read_examples
from nlp.annotation.stats import measures
from nlp.training.real_text import RealText, RealTextMissing, load_real_dev, sha256_text
from tests.conftest import ROOT
from tests.test_train import SMALL, write_export


@pytest.mark.parametrize("folds", [5, 10])
def test_no_test_fold_paragraph_or_name_reaches_training(tmp_path, folds):
    data = write_export(tmp_path / "export.jsonl")
    examples = read_examples(data)
    nlp = spacy.blank("zh")
    for k in range(folds):
        overrides = {"paths.annotations": str(data), "paths.folds": folds, "paths.test_fold": k}
        config = load_config(ROOT / "configs" / "default.cfg", overrides=overrides, interpolate=True)
        from nlp.training.corpus import fold_of

        test = [e for e in examples if fold_of(e, folds, 0) == k]
        rest = [e for e in examples if fold_of(e, folds, 0) != k]
        reader = registry.resolve({"r": config["corpora"]["train"]})["r"]
        trained = {eg.reference.text for eg in reader(nlp)}
        assert trained == {e.text for e in rest}
        patterns = registry.resolve({"p": config["initialize"]["components"]["crf_entities"]["patterns"]})["p"]
        seen_names = {e.text[s:t] for e in rest for s, t, _ in e.entities}
        assert {p["pattern"] for p in patterns} <= seen_names
        assert trained.isdisjoint(e.text for e in test)


@pytest.mark.slow
@pytest.mark.parametrize("folds", [5, 10])
def test_crossval_scores_each_real_line_with_a_model_that_never_saw_its_report(tmp_path, monkeypatch, folds):
    from nlp.training import crossval as cv

    data = write_export(tmp_path / "export.jsonl")
    real = [Example(f"全年专利授权量达到{i}件，新增知识产权示范企业2家。", ["ip"], [], {"group": f"r{i}"})
            for i in range(12)]
    monkeypatch.setattr(cv, "load_real_dev", lambda path, shared: real)
    trained_groups, scored = [], []
    real_train, real_score = cv.train, cv.score

    def spy_train(config, output, overrides, quiet):
        provenance = real_train(config, output, overrides=overrides, quiet=quiet)
        trained_groups.append(set(provenance["train_groups"]))
        return provenance

    def spy_score(examples, predictions):
        scored.append((len(trained_groups) - 1, [e.group for e in examples if e in real]))
        return real_score(examples, predictions)

    monkeypatch.setattr(cv, "train", spy_train)
    monkeypatch.setattr(cv, "score", spy_score)
    monkeypatch.setattr(cv, "sha256", lambda path: "-")
    cv.crossval(ROOT / "configs" / "default.cfg", folds=folds, overrides={**SMALL, "paths.annotations": str(data)},
                shared=tmp_path)
    real_scored = [(k, g) for k, groups in scored for g in groups]
    assert sorted(g for _, g in real_scored) == sorted(e.group for e in real)      # each real line once
    assert all(g not in trained_groups[k] for k, g in real_scored)


def _shared(tmp_path, lines):
    (tmp_path / "corpus").mkdir(parents=True)
    (tmp_path / "corpus" / "x.jsonl").write_text(json.dumps({"doc_id": "d1", "text": "\n".join(lines)},
                                                             ensure_ascii=False) + "\n", encoding="utf-8")
    return tmp_path


def test_the_real_dev_loader_reads_text_from_shared_and_checks_its_hash(tmp_path):
    line = "2019年市科技局组织申报国家级科技项目12项，获批资金300万元，同比增长20%。"
    shared = _shared(tmp_path / "shared", ["短行", line])
    units = list(RealText(shared).units())
    assert units == [("d1", 2, line)]             # only lines of 30+ characters
    labels = tmp_path / "real_dev.jsonl"
    record = {"doc_id": "d1", "line": 2, "sha256": sha256_text(line), "cats": ["policy"], "entities": [[5, 8, "ORG"]]}
    labels.write_text(json.dumps(record) + "\n", encoding="utf-8")
    [example] = load_real_dev(labels, shared)
    assert example.text == line and example.entities == [(5, 8, "ORG")] and example.group == "d1"
    labels.write_text(json.dumps({**record, "sha256": "0" * 64}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"real_dev.jsonl:1: d1 line 2: .* does not match the recorded SHA-256"):
        load_real_dev(labels, shared)
    with pytest.raises(RealTextMissing, match="no seeds/ or corpus/ folder"):
        load_real_dev(labels, tmp_path / "nowhere")


def test_the_shipped_real_dev_set_matches_the_real_reports(shared):
    examples = load_real_dev(ROOT / "annotations" / "real_dev.jsonl", shared)
    assert len(examples) == len(list(RealText(shared).units()))
    assert all(0 <= s < t <= len(e.text) for e in examples for s, t, _ in e.entities)
    assert not any("text" in json.loads(line) for line in (ROOT / "annotations" / "real_dev.jsonl").open())


def test_mark_names_places_longest_first_and_honours_occurrence_indices():
    text = "市科技局与xx市科技局、市科技局合作"
    assert mark_names(text, [["市科技局", "ORG"], ["xx市科技局", "ORG"]]) == [[0, 4, "ORG"], [5, 11, "ORG"],
                                                                          [12, 16, "ORG"]]
    # occurrence 0 and 2 of 市科技局 (1 sits inside xx市科技局 and is counted, as annotators counted)
    assert mark_names(text, [["市科技局", "ORG", [2]]]) == [[12, 16, "ORG"]]
    with pytest.raises(ValueError, match="does not occur"):
        mark_names(text, [["科协", "ORG"]])


def test_consistency_lists_strings_labelled_in_one_place_only():
    examples = [
        Example("市科协召开会议，科协主席讲话。", ["party"], [(0, 3, "ORG"), (8, 10, "ORG")], {}, id=1),
        Example("科协组织开展科普活动。", ["popularization"], [], {}, id=2),
        Example("xx市科协联合科技局举办活动。", ["popularization"], [(0, 5, "ORG")], {}, id=3),
        Example("由科技局牵头，星火计划实施。", ["agritech"], [(1, 4, "ORG"), (7, 11, "PROGRAM")], {}, id=4),
        Example("会同省科", ["other"], [(2, 4, "ORG")], {}, id=5),        # a name cut off by the text's end
        Example("省科技馆开展科普活动。", ["popularization"], [], {}, id=6),
    ]
    found = {f.surface: f for f in find_inconsistencies(examples)}
    # 科协 inside 市科协 / xx市科协 is covered by the longer names; the one in record 2 is not
    assert found["科协"].unlabelled == [(2, 0)]
    assert found["科技局"].unlabelled == [(3, 7)]
    assert "星火计划" not in found and "市科协" not in found
    assert "省科" not in found          # marked only where the text cuts it off: no pattern for 省科技馆
    rows = proposals(list(found.values()))
    assert {"id": 2, "start": 0, "end": 2, "label": "ORG"}.items() <= rows[0].items() or \
        any(r["id"] == 2 and r["label"] == "ORG" for r in rows)


def test_consistency_command_never_rewrites_the_corpus(tmp_path):
    from nlp.cli import main

    path = tmp_path / "c.jsonl"
    rows = [{"text": "由科协召开会议。", "cats": ["party"], "entities": [[1, 3, "ORG"]], "meta": {}},
            {"text": "科协组织开展科普。", "cats": ["popularization"], "entities": [], "meta": {}}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    before = path.read_bytes()
    assert main(["annotations", "consistency", str(path), "--proposals", str(tmp_path / "p.jsonl"), "--strict",
                 "--pkuseg-model", str(tmp_path / "none")]) == 1
    assert path.read_bytes() == before
    assert json.loads((tmp_path / "p.jsonl").read_text(encoding="utf-8"))["start"] == 0
    exceptions = tmp_path / "x.jsonl"
    exceptions.write_text(json.dumps({"id": 2, "start": 0, "surface": "科协", "reason": "generic"}) + "\n", encoding="utf-8")
    assert main(["annotations", "consistency", str(path), "--strict", "--exceptions", str(exceptions),
                 "--pkuseg-model", str(tmp_path / "none")]) == 0


def test_stats_measure_what_real_text_looks_like():
    examples = [Example("一、科技创新", ["other"], [], {}),
                Example("全年新增专利12件,同比增长3%;xx市科技局", ["ip"], [(16, 22, "ORG")], {}),
                Example("新增孵化器２家，面积１万平方米。", ["incubator", "policy"], [], {})]
    m = measures(examples)
    assert m["paragraphs"] == 3 and m["share heading lines"] == pytest.approx(1 / 3)
    assert m["share ending in 。"] == pytest.approx(1 / 3)
    assert m["share with full-width ，；：（）"] == pytest.approx(1 / 3)
    assert m["share with half-width , ; : ( )"] == pytest.approx(1 / 3)
    assert m["themes per paragraph"] == pytest.approx(4 / 3)
    assert m["share with placeholders"] == pytest.approx(1 / 3)
    assert m["ORG per 1,000 chars"] == pytest.approx(1000 / sum(len(e.text) for e in examples))


def test_evaluate_refuses_a_held_out_score_for_the_model_trained_on_everything(default_model, shared, capsys):
    from nlp.cli import main

    assert main(["evaluate", str(default_model), "--real-dev", "--shared", str(shared)]) == 1
    err = capsys.readouterr().err
    assert "882 of 882 paragraphs come from report groups the model trained on" in err
    assert "nothing left to score" in err
