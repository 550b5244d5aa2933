"""Training from configs, metric arithmetic, threshold tuning, safe loading, and `spacy train`."""
import json
import subprocess
import sys

import numpy as np
import pytest

from nlp.annotation.examples import Example
from nlp.components.themes import ThemeDecider, decide
from nlp.metrics import entity_metrics, theme_metrics
from nlp.training.evaluate import score
from nlp.model import ModelError, load_pipeline
from nlp.training.train import train
from tests.conftest import ROOT

PARAGRAPHS = [
    ("全年专利授权量达到{n}件，新增知识产权示范企业{m}家。", ["ip"], [("知识产权示范企业", "PROGRAM")]),
    ("新认定{n}家众创空间，xx科技企业孵化器在孵企业{m}家。", ["incubator"], [("xx科技企业孵化器", "ORG")]),
    ("实施星火计划项目{n}项，选派科技特派员{m}名服务农村。", ["agritech"], [("星火计划", "PROGRAM")]),
    ("xx银行科技支行发放科技贷款{n}亿元，支持{m}家企业。", ["sci_finance"], [("xx银行科技支行", "ORG")]),
    ("召开全局干部大会{n}次，学习会议精神{m}次。", ["other"], []),
]


def write_export(path, per_template=12):
    rows = []
    for i in range(per_template):
        for t, (template, cats, names) in enumerate(PARAGRAPHS):
            text = template.format(n=10 + i * 7 + t, m=2 + i)
            entities = sorted([text.index(name), text.index(name) + len(name), label] for name, label in names)
            rows.append({"id": len(rows) + 1, "text": text, "cats": cats, "entities": entities,
                         "meta": {"doc_id": f"r{i}", "line": t + 1, "group": f"r{i}", "fold": i % 5}})
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


SMALL = {"nlp.tokenizer.segmenter": "char", "training.max_epochs": 4, "training.eval_frequency": 20,
         "components.sk_themes.min_df": 1, "components.crf_entities.max_iterations": 50}


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("train")
    data = write_export(tmp / "export.jsonl")
    provenance = train(ROOT / "configs" / "default.cfg", tmp / "model",
                       overrides={**SMALL, "paths.annotations": str(data), "paths.test_fold": 0}, quiet=True)
    return tmp / "model", data, provenance


def test_training_writes_a_model_with_its_provenance(small_model):
    model, data, provenance = small_model
    meta = json.loads((model / "meta.json").read_text(encoding="utf-8"))["policy_nlp"]
    assert meta["data"]["path"] == str(data) and meta["data"]["records"] == 60
    assert meta["data"]["train"] == 45 and meta["data"]["dev"] == 0      # fold 0 (r0, r5, r10) held out, no dev fold
    assert meta["train_groups"] == sorted(f"r{i}" for i in range(12) if i % 5) and meta["dev_groups"] == []
    assert meta["config"].endswith("configs/default.cfg") and meta["data"]["sha256"]
    assert set(meta["thresholds"]) == {"ip", "incubator", "agritech", "sci_finance"}
    nlp = load_pipeline(model)
    doc = nlp("全年专利授权量达到999件，新增知识产权示范企业9家。")
    assert doc._.themes == ["ip"]
    assert doc.cats["ip"] > max(p for label, p in doc.cats.items() if label != "ip")
    assert [(e.text, e.label_) for e in doc.ents] == [("知识产权示范企业", "PROGRAM")]


def test_same_data_config_and_seed_give_the_same_model(small_model, tmp_path):
    model, data, provenance = small_model
    again = train(ROOT / "configs" / "default.cfg", tmp_path / "again",
                  overrides={**SMALL, "paths.annotations": str(data), "paths.test_fold": 0}, quiet=True)
    for part in ("sk_themes/weights.npz", "crf_entities/model.crfsuite", "theme_decider/thresholds.json"):
        assert (tmp_path / "again" / part).read_bytes() == (model / part).read_bytes(), part
    assert again["thresholds"] == provenance["thresholds"]


def test_a_tampered_model_file_is_refused(small_model, tmp_path):
    import shutil

    model = tmp_path / "copy"
    shutil.copytree(small_model[0], model)
    weights = model / "sk_themes" / "weights.npz"
    weights.write_bytes(weights.read_bytes() + b"\0")
    with pytest.raises(ModelError, match=r"sk_themes/weights.npz: changed since training"):
        load_pipeline(model)
    (model / "sk_themes" / "evil.pkl").write_bytes(b"cos\nsystem\n")
    with pytest.raises(ModelError, match="evil.pkl: file not written by training"):
        load_pipeline(model)


def test_evaluate_scores_only_groups_the_model_never_saw(small_model, tmp_path, capsys):
    from nlp.cli import main

    model, data, _ = small_model
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(model), str(data), "--output", str(out)]) == 0
    scores = json.loads(out.read_text(encoding="utf-8"))["annotations.held_out"]
    assert scores["n"] == 15          # fold 0 only: the 45 paragraphs it trained on are left out
    assert "45 of 60 paragraphs come from report groups the model trained on" in capsys.readouterr().err
    ip = scores["themes"]["per_theme"]["ip"]
    assert ip["tp"] + ip["fn"] == ip["support"] == 3
    assert set(scores["entities"]["per_label"]) == {"ORG", "PROGRAM", "POLICY"}


@pytest.mark.slow
def test_evaluate_refuses_data_the_model_trained_on(tmp_path, capsys):
    from nlp.cli import main

    data = write_export(tmp_path / "export.jsonl")
    train(ROOT / "configs" / "default.cfg", tmp_path / "all", overrides={**SMALL, "paths.annotations": str(data)},
          quiet=True)
    assert main(["evaluate", str(tmp_path / "all"), str(data)]) == 1
    assert "nothing left to score" in capsys.readouterr().err


def test_theme_metrics_on_a_hand_computed_case():
    gold = [["ip"], ["ip", "policy"], ["other"], ["policy"]]
    pred = [["ip"], ["policy"], ["ip"], ["policy"]]
    m = theme_metrics(gold, pred, ["ip", "policy", "other", "talent"])
    # ip: tp 1, fp 1, fn 1 -> P .5 R .5 F .5; policy: tp 2 -> 1.0; other: fn 1 -> 0; talent: no support
    assert m["per_theme"]["ip"] == {"p": 0.5, "r": 0.5, "f": 0.5, "support": 2, "tp": 1, "fp": 1, "fn": 1}
    assert m["per_theme"]["policy"]["f"] == 1.0 and m["per_theme"]["other"]["f"] == 0.0
    assert m["per_theme"]["talent"]["support"] == 0
    assert m["macro_f"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert m["micro_f"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))     # tp 3, fp 1, fn 2


def test_entity_metrics_need_exact_spans():
    gold = [[(0, 4, "ORG"), (5, 9, "PROGRAM")]]
    pred = [[(0, 4, "ORG"), (5, 8, "PROGRAM"), (10, 12, "ORG")]]
    m = entity_metrics(gold, pred, ["ORG", "PROGRAM", "POLICY"])
    assert m["per_label"]["ORG"] == {"p": 0.5, "r": 1.0, "f": pytest.approx(2 / 3), "support": 1,
                                     "tp": 1, "fp": 1, "fn": 0}
    assert m["per_label"]["PROGRAM"]["f"] == 0.0
    assert m["micro_p"] == pytest.approx(1 / 3) and m["micro_r"] == 0.5


def test_score_combines_both():
    examples = [Example("甲乙", ["ip"], [(0, 2, "ORG")], {})]
    predictions = [{"themes": ["ip"], "entities": [{"start": 0, "end": 2, "label": "ORG"}]}]
    result = score(examples, predictions)
    assert result["themes"]["macro_f"] == 1.0 and result["entities"]["micro_f"] == 1.0


def test_threshold_tuning_and_exclusive_other():
    decider = ThemeDecider(exclusive=["other"])
    scores = np.array([[0.9, 0.2], [0.35, 0.1], [0.3, 0.6], [0.1, 0.05]])
    gold = np.array([[1, 0], [1, 0], [0, 1], [0, 0]])
    thresholds = decider.tune(scores, gold, ["ip", "talent"])["thresholds"]
    assert 0.1 < thresholds["ip"] <= 0.35       # catches 0.35 and 0.9, not 0.3
    assert 0.1 < thresholds["talent"] <= 0.6
    assert decide({"ip": 0.36, "talent": 0.0, "other": 0.99}, thresholds, 0.5, ["other"]) == ["ip"]
    assert decide({"ip": 0.01, "talent": 0.01, "other": 0.2}, thresholds, 0.5, ["other"]) == ["other"]


def test_other_only_when_no_theme_is_likely():
    thresholds = {"ip": 0.6, "talent": 0.6}
    # nothing passes its threshold: the likeliest theme if it reaches the bound, else other
    assert decide({"ip": 0.45, "talent": 0.2}, thresholds, 0.5, ["other"], other_bound=0.4) == ["ip"]
    assert decide({"ip": 0.35, "talent": 0.2}, thresholds, 0.5, ["other"], other_bound=0.4) == ["other"]


def test_the_bound_is_tuned_on_out_of_fold_scores():
    decider = ThemeDecider(exclusive=["other"])
    # ip's F1-best threshold must stay above 0.35 (three talent paragraphs score ip 0.32-0.35),
    # so the ip paragraph at 0.3 passes no threshold; the `other` paragraphs' best theme scores
    # 0.12 at most: only a bound between the two gets both right
    scores = np.array([[0.9, 0.1], [0.3, 0.05], [0.35, 0.8], [0.32, 0.7], [0.33, 0.75], [0.1, 0.1], [0.12, 0.08]])
    gold = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [0, 1], [0, 0], [0, 0]])
    tuned = decider.tune(scores, gold, ["ip", "talent"])
    assert tuned["thresholds"]["ip"] > 0.35
    assert 0.12 < tuned["other_bound"] <= 0.3


def test_decider_is_tuned_at_initialize_from_the_scorer_out_of_fold_scores(small_model):
    model, _, provenance = small_model
    nlp = load_pipeline(model)
    decider = nlp.get_pipe("theme_decider")
    assert decider.thresholds == provenance["thresholds"] and decider.other_bound == provenance["other_bound"]



@pytest.mark.slow
def test_spacy_train_builds_the_same_model_as_policy_nlp_train(tmp_path):
    data = write_export(tmp_path / "export.jsonl")
    overrides = {"paths.annotations": str(data), "nlp.tokenizer.segmenter": "char", "components.sk_themes.min_df": 1,
                 "components.crf_entities.max_iterations": 50}
    command = [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "default.cfg"),
               "--code", str(ROOT / "nlp" / "spacy_code.py"), "--output", str(tmp_path / "out")]
    command += [arg for key, value in overrides.items() for arg in (f"--{key}", str(value))]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    train(ROOT / "configs" / "default.cfg", tmp_path / "ours", overrides=overrides, quiet=True)
    for part in ("sk_themes/weights.npz", "crf_entities/model.crfsuite", "theme_decider/thresholds.json"):
        assert (tmp_path / "out" / "model-last" / part).read_bytes() == (tmp_path / "ours" / part).read_bytes(), part


def test_textcat_config_holds_only_what_differs_from_the_default():
    from nlp.training.config import load_config

    text = (ROOT / "configs" / "textcat.cfg").read_text(encoding="utf-8")
    assert 'config = "default.cfg"' in text and len(text.splitlines()) < 60
    default = load_config(ROOT / "configs" / "default.cfg", interpolate=True)
    textcat = load_config(ROOT / "configs" / "textcat.cfg", interpolate=True)
    assert textcat["nlp"]["pipeline"] == ["crf_entities", "entity_rules", "textcat_multilabel", "theme_decider"]
    assert textcat["components"]["crf_entities"] == default["components"]["crf_entities"]
    assert textcat["components"]["theme_decider"]["scores_from"] == "textcat_multilabel"
    assert textcat["paths"]["dev_fold"] == 0 and default["paths"]["dev_fold"] == -1
    assert textcat["initialize"]["tokenizer"] == default["initialize"]["tokenizer"]
    assert textcat["initialize"]["components"]["crf_entities"]["patterns"]["dev_fold"] == 0   # the split follows [paths]


@pytest.mark.slow
def test_paths_labels_is_honoured_by_the_corpus_the_classifier_and_its_keywords(tmp_path):
    from nlp.labels import load_labels

    data = write_export(tmp_path / "export.jsonl")
    raw = json.loads((ROOT / "configs" / "labels.json").read_text(encoding="utf-8"))
    raw["themes"] = [t for t in raw["themes"] if t["id"] in ("ip", "incubator", "agritech", "sci_finance", "other")]
    for theme in raw["themes"]:
        theme["keywords"] = ["星火计划"] if theme["id"] == "agritech" else []
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    assert len(load_labels().themes) > 5
    train(ROOT / "configs" / "default.cfg", tmp_path / "model",
          overrides={**SMALL, "paths.annotations": str(data), "paths.labels": str(labels)}, quiet=True)
    nlp = load_pipeline(tmp_path / "model")
    themes = nlp.get_pipe("sk_themes")
    assert set(themes.labels) == {"ip", "incubator", "agritech", "sci_finance", "other"}
    assert themes.cfg["keywords"] == {"agritech": ["星火计划"]}
    assert set(nlp("实施星火计划项目9项。").cats) == set(themes.labels)


def test_a_config_whose_base_is_missing_names_it(tmp_path):
    from nlp.training.config import load_config

    (tmp_path / "x.cfg").write_text('[base]\nconfig = "nowhere.cfg"\n', encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="nowhere.cfg"):
        load_config(tmp_path / "x.cfg")


@pytest.mark.slow
def test_textcat_trains_in_spacys_loop_and_tunes_thresholds_on_dev(tmp_path):
    data = write_export(tmp_path / "export.jsonl")
    provenance = train(ROOT / "configs" / "textcat.cfg", tmp_path / "model",
                       overrides={**SMALL, "paths.annotations": str(data), "training.max_epochs": 8}, quiet=True)
    assert provenance["dev_groups"] and provenance["thresholds"]       # tuned by the before_to_disk callback
    nlp = load_pipeline(tmp_path / "model")
    assert nlp.pipe_names == ["crf_entities", "entity_rules", "textcat_multilabel", "theme_decider"]
    assert nlp.get_pipe("theme_decider").thresholds == provenance["thresholds"]
    assert nlp("实施星火计划项目99项，选派科技特派员9名服务农村。")._.themes == ["agritech"]


@pytest.mark.slow
def test_crossval_holds_out_each_fold(tmp_path, monkeypatch):
    from nlp.training import crossval as cv

    data = write_export(tmp_path / "export.jsonl")
    seen = []
    real_train = cv.train

    def spy(config, output, overrides, quiet):
        seen.append((overrides["paths.test_fold"], overrides["paths.dev_fold"]))
        return real_train(config, output, overrides=overrides, quiet=quiet)

    monkeypatch.setattr(cv, "train", spy)
    result = cv.crossval(ROOT / "configs" / "default.cfg", folds=5,
                         overrides={**SMALL, "paths.annotations": str(data)}, real_dev=None)
    assert seen == [(0, -1), (1, -1), (2, -1), (3, -1), (4, -1)]     # no dev fold: nothing tuned on a test fold
    assert len(result["per_fold"]) == 5
    assert sum(fold["corpus"]["n"] for fold in result["per_fold"]) == 60      # every paragraph tested exactly once
    summary = result["summary"]["corpus"]["folds"]["themes.macro_f"]
    folds = [fold["corpus"]["themes"]["macro_f"] for fold in result["per_fold"]]
    assert summary["mean"] == pytest.approx(np.mean(folds)) and summary["std"] == pytest.approx(np.std(folds))
    pooled = result["summary"]["corpus"]["pooled"]["themes"]["per_label"]["ip"]
    assert pooled["tp"] == sum(f["corpus"]["themes"]["per_label"]["ip"]["tp"] for f in result["per_fold"])
    assert result["data"]["sha256"] and "config_text" in result


@pytest.mark.slow
def test_gazetteer_keeps_only_names_marked_wherever_they_occur(tmp_path):
    from nlp.training.gazetteer import gazetteer_patterns

    rows = [
        {"text": "福州大学与xx市科技局合作。", "cats": ["cooperation"], "entities": [[0, 4, "ORG"], [5, 11, "ORG"]]},
        {"text": "市科技局牵头，福州大学参与。", "cats": ["cooperation"], "entities": [[0, 4, "ORG"], [7, 11, "ORG"]]},
        {"text": "实施星火计划，星火计划成效好。", "cats": ["agritech"], "entities": [[2, 6, "PROGRAM"]]},
    ]
    path = tmp_path / "e.jsonl"
    path.write_text("\n".join(json.dumps({**r, "meta": {"group": "g", "fold": 1}}, ensure_ascii=False) for r in rows),
                    encoding="utf-8")
    patterns = {p["pattern"]: p["label"] for p in gazetteer_patterns(path, split="all")}
    # 市科技局 inside the marked xx市科技局 does not count against it; 星火计划 is marked once in two
    assert patterns == {"福州大学": "ORG", "xx市科技局": "ORG", "市科技局": "ORG"}


def test_trained_pipeline_loads_with_plain_spacy(default_model, tmp_path):
    """Entry points register the components and tokenizer: no `import nlp` needed first."""
    script = ("import spacy, sys\n"
              "nlp = spacy.load(sys.argv[1])\n"
              "doc = nlp('市科技局推动福州大学与企业共建知识产权服务平台，实施星火计划。')\n"
              "print(type(nlp.tokenizer).__name__, sorted(doc.cats)[:1], [e.label_ for e in doc.ents])\n")
    run = subprocess.run([sys.executable, "-c", script, str(default_model)], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("FastChineseTokenizer ['") and "ORG" in run.stdout
