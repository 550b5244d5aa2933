"""The doccano bridge against a real doccano server (marked ``doccano``), plus its pure parts."""
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest_doccano import make_annotator
from conftest_doccano import admin, doccano_env, server, tiny_model  # noqa: F401  (fixtures)
from nlp.doccano import server as doccano_server
from nlp.annotation.active import closeness, select, uncertainty
from nlp.annotation.agreement import adjudication, agreement, cohen_kappa, krippendorff_alpha
from nlp.annotation.examples import check_file
from nlp.doccano.autolabel import ModelServer, Predictor, TEMPLATE, doccano_configs
from nlp.cli import main
from nlp.doccano.client import Credentials, Doccano, DoccanoError
from nlp.doccano.commands import next_batch, pull, push, register_autolabel
from nlp.doccano.convert import py_to_utf16
from nlp.labels import load_labels

doccano = pytest.mark.doccano
ROOT = Path(__file__).resolve().parent.parent
RARE = "𠮷"
REPORT = f"""某市科技局2015年工作总结
一、主要工作
（一）知识产权
全年专利申请量达到1200件，同比增长15%。市科技局组织实施“专利倍增计划”，推动企业开展知识产权贯标工作。
（二）孵化载体
新建孵化器3家，{RARE}祥创业园被认定为省级孵化器，市科技局给予资金支持。
二、2016年工作打算
加强人才引进，落实《某市人才引进办法》，与高校开展产学研合作。
"""


def _report(tmp_path) -> Path:
    path = tmp_path / "reports" / "city_2015.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(REPORT, encoding="utf-8")
    return path


def _by_text(dc: Doccano, project_id: int) -> dict:
    return {e["text"]: e for e in dc.examples(project_id)}


def _span(text: str, surface: str, label: str, utf16: bool = False) -> list:
    start = text.index(surface)
    end = start + len(surface)
    if utf16:
        start, end = py_to_utf16(text, start), py_to_utf16(text, end)
    return [start, end, label]


# --- push, annotate, pull ------------------------------------------------------------------------

@doccano
def test_push_then_annotate_in_doccano_then_pull_gives_what_was_added(admin, tmp_path):
    labels = load_labels()
    result = push(admin, [_report(tmp_path)], "roundtrip-report")
    assert result["created"] and result["uploaded"] == 7 and result["labels"]["created"] == 16
    pid = result["project_id"]
    assert set(admin.label_type_ids(pid, "category")) == set(labels.themes)
    assert set(admin.label_type_ids(pid, "span")) == set(labels.entities)
    colours = {t.text: t.background_color for t in admin.client.list_label_types(pid, "category")}
    assert colours["ip"] == labels.colors["ip"]

    examples = _by_text(admin, pid)
    ip_text = next(t for t in examples if t.startswith("全年专利"))
    inc_text = next(t for t in examples if t.startswith("新建孵化器"))
    meta = examples[inc_text]["meta"]
    assert meta["meta"]["report_title"] == "某市科技局2015年工作总结"
    assert meta["meta"]["heading_path"] == ["一、主要工作", "（二）孵化载体"]
    assert meta["heading"] == "一、主要工作 › （二）孵化载体" and meta["report"] == "某市科技局2015年工作总结"

    # An annotator labels two paragraphs in the UI: the browser sends UTF-16 offsets.
    ann = make_annotator(admin, pid, "ann-roundtrip")
    cat_ids, span_ids = ann.label_type_ids(pid, "category"), ann.label_type_ids(pid, "span")
    added = {ip_text: (["ip", "policy"], [_span(ip_text, "市科技局", "ORG"), _span(ip_text, "专利倍增计划", "PROGRAM")]),
             inc_text: (["incubator"], [_span(inc_text, f"{RARE}祥创业园", "ORG"), _span(inc_text, "市科技局", "ORG")])}
    for text, (cats, spans) in added.items():
        example_id = examples[text]["id"]
        for cat in cats:
            ann.add_category(pid, example_id, cat_ids[cat])
        for start, end, label in spans:
            s16, e16, _ = _span(text, text[start:end], label, utf16=True)
            ann.add_span(pid, example_id, s16, e16, span_ids[label])
    stored = ann.labels_of(pid, examples[inc_text]["id"])[1]
    assert sorted(s["start_offset"] for s in stored) == [8, py_to_utf16(inc_text, inc_text.index("市科技局"))]

    out = tmp_path / "annotations" / "pulled.jsonl"
    pulled = pull(admin, "roundtrip-report", out, annotator="ann-roundtrip")
    records = {r["text"]: r for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert set(records) == set(added)
    for text, (cats, spans) in added.items():
        assert records[text]["cats"] == sorted(cats)
        assert records[text]["entities"] == sorted(spans)
        assert records[text]["id"] == examples[text]["id"]
        assert list(records[text]) == ["id", "text", "cats", "entities", "meta"]
    assert records[inc_text]["meta"]["paragraph_index"] == 4
    assert "content_hash" not in records[inc_text]["meta"] and "heading" not in records[inc_text]
    assert pulled.unlabelled == 5
    moved = [f for f in pulled.fixed if "UTF-16" in f]     # the two spans ending after 𠮷, nothing else
    assert len(moved) == 2 and all(f"example {examples[inc_text]['id']}:" in f for f in moved)
    assert not [p for p in check_file(out) if p.severity == "error"]

    # Without --annotator: the only labels are the annotator's, so the result is the same.
    again = pull(admin, "roundtrip-report", tmp_path / "all.jsonl")
    assert [r["cats"] for r in again.records] == [r["cats"] for r in pulled.records]
    # --only-approved: only what the annotator marked done
    ann.confirm(pid, examples[ip_text]["id"])
    approved = pull(admin, "roundtrip-report", tmp_path / "ok.jsonl", only_approved=True, annotator="ann-roundtrip")
    assert [r["text"] for r in approved.records] == [ip_text]


@doccano
def test_push_with_a_model_keeps_its_suggestions_in_metadata_only(admin, tiny_model, tmp_path):
    text = "落实《专利资助办法》，与高校开展合作。"
    paragraphs = tmp_path / "p.jsonl"
    paragraphs.write_text(json.dumps({"text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    pid = push(admin, [paragraphs], "with-model", model=tiny_model)["project_id"]
    meta = admin.examples(pid)[0]["meta"]
    assert meta["model_themes"] == ["cooperation", "ip"] and meta["model_scores"]["ip"] == 0.9
    assert meta["model_entities"] == ["专利资助办法 (POLICY)"] and meta["model_name"] == "tiny"
    example_id = admin.examples(pid)[0]["id"]
    assert admin.labels_of(pid, example_id) == ([], [])       # suggestions are not anyone's labels
    admin.add_category(pid, example_id, admin.label_type_ids(pid, "category")["ip"])
    record = pull(admin, "with-model", tmp_path / "out.jsonl").records[0]
    assert record["cats"] == ["ip"] and not any(k.startswith("model_") for k in record["meta"])


@doccano
def test_a_small_file_with_emoji_is_uploaded_as_utf8(admin, tmp_path):
    texts = ["科技局发布😀新政策，支持𠮷祥企业创新。", "全年专利授权量增长。"]
    paragraphs = tmp_path / "emoji.jsonl"
    paragraphs.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    pid = push(admin, [paragraphs], "emoji-push")["project_id"]
    assert sorted(e["text"] for e in admin.examples(pid)) == sorted(texts)


@doccano
def test_a_failed_push_removes_the_project_it_created(admin, tmp_path, monkeypatch):
    paragraphs = tmp_path / "p.jsonl"
    paragraphs.write_text(json.dumps({"text": "全年专利授权量增长。"}, ensure_ascii=False) + "\n", encoding="utf-8")

    def refuse(project_id, rows):
        raise DoccanoError("doccano rejected the upload: simulated")

    monkeypatch.setattr(admin, "upload_rows", refuse)
    with pytest.raises(DoccanoError, match="had created was deleted again"):
        push(admin, [paragraphs], "doomed-push")
    assert admin.find_project("doomed-push") is None


@doccano
def test_pull_never_replaces_labels_with_an_empty_export(admin, tmp_path):
    report = _report(tmp_path)
    push(admin, [report], "nothing-approved")
    out = tmp_path / "labels.jsonl"
    out.write_text('{"id": 1, "text": "已有标注。", "cats": ["ip"], "entities": [], "meta": {}}\n', encoding="utf-8")
    before = out.read_bytes()
    with pytest.raises(DoccanoError, match="holds no approved labelled examples.*left as it is"):
        pull(admin, "nothing-approved", out, only_approved=True)
    assert out.read_bytes() == before
    pull(admin, "nothing-approved", out, only_approved=True, force=True)
    assert out.read_bytes() == b""


@doccano
def test_push_again_adds_no_duplicates(admin, tmp_path):
    report = _report(tmp_path)
    first = push(admin, [report], "repush")
    labelled = tmp_path / "labelled.jsonl"
    text = next(e["text"] for e in admin.examples(first["project_id"]) if e["text"].startswith("加强人才"))
    labelled.write_text(json.dumps({"text": text, "cats": ["talent"], "entities": [], "meta": {"doc_id": "x"}},
                                   ensure_ascii=False) + "\n", encoding="utf-8")
    second = push(admin, [report, labelled], "repush")
    assert not second["created"] and second["uploaded"] == 0 and second["skipped"] == 8
    assert len(admin.examples(first["project_id"])) == 7


@doccano
def test_corpus_round_trip_through_doccano_is_identical(doccano_env, tmp_path, capsys):
    corpus = tmp_path / "policy_reports.jsonl"
    shutil.copy(ROOT / "annotations" / "policy_reports.jsonl", corpus)
    pulled = tmp_path / "pulled.jsonl"
    assert main(["doccano", "push", str(corpus), "--project", "corpus-roundtrip"]) == 0
    assert main(["doccano", "pull", "--project", "corpus-roundtrip", "--output", str(pulled)]) == 0
    assert "0 fix(es), 0 rejection(s), 0 conflict(s)" in capsys.readouterr().err
    original = corpus.read_text(encoding="utf-8").splitlines()
    result = pulled.read_text(encoding="utf-8").splitlines()
    assert len(result) == len(original)
    for before, after in zip(original, result):
        record = json.loads(after)
        record["id"] = json.loads(before)["id"]       # doccano numbers examples itself
        assert json.dumps(record, ensure_ascii=False) == before


# --- auto-labeling -------------------------------------------------------------------------------

@doccano
def test_doccano_auto_labeling_produces_the_models_labels(admin, tiny_model, tmp_path):
    from nlp.model import load_pipeline, predict

    text = f"{RARE}市落实《科技创新券管理办法》，专利申请量增长。"
    paragraphs = tmp_path / "paragraphs.jsonl"
    paragraphs.write_text(json.dumps({"id": "p1", "text": text}, ensure_ascii=False) + "\n", encoding="utf-8")
    pid = push(admin, [paragraphs], "autolabel")["project_id"]
    nlp = load_pipeline(tiny_model)
    expected = next(predict(nlp, [text]))
    assert expected["themes"] == ["ip"] and [e["label"] for e in expected["entities"]] == ["POLICY"]

    model_server = ModelServer(Predictor.from_pipeline(nlp), 0, "tiny")
    model_server.start()
    try:
        register_autolabel(admin, pid, model_server.url)
        register_autolabel(admin, pid, model_server.url)      # re-registering replaces, not adds
        configs = admin.autolabel_configs(pid)
        assert sorted(c["task_type"] for c in configs) == ["Category", "Span"]
        ann = make_annotator(admin, pid, "ann-auto")
        example_id = admin.examples(pid)[0]["id"]
        ann.autolabel(pid, example_id)                         # what the annotation page calls
        cats, spans = ann.labels_of(pid, example_id)
        names = {v: k for k, v in ann.label_type_ids(pid, "category").items()}
        assert [names[c["label"]] for c in cats] == ["ip"]
        entity = expected["entities"][0]
        assert [(s["start_offset"], s["end_offset"]) for s in spans] == \
            [(py_to_utf16(text, entity["start"]), py_to_utf16(text, entity["end"]))]
    finally:
        model_server.close()
    records = pull(admin, "autolabel", tmp_path / "out.jsonl", annotator="ann-auto").records
    assert records[0]["cats"] == ["ip"]
    assert records[0]["entities"] == [[entity["start"], entity["end"], "POLICY"]]
    assert text[entity["start"]:entity["end"]] == "科技创新券管理办法"


def _post(url, body, raw=None):
    return requests.post(url, data=raw if raw is not None else json.dumps(body), timeout=10)


def test_model_server_answers_bad_requests_and_slow_models_with_error_statuses():
    release = threading.Event()

    def slow_or_failing(text):
        if text == "slow":
            release.wait(30)
        if text == "boom":
            raise RuntimeError("model exploded")
        return {"themes": ["ip"], "scores": {"ip": 0.9}, "entities": [{"start": 1, "end": 3, "label": "ORG",
                                                                       "text": text[1:3]}]}

    model_server = ModelServer(Predictor(slow_or_failing, timeout=0.5), 0, "fake")
    model_server.start()
    url = model_server.url
    try:
        assert requests.get(f"{url}/health", timeout=5).json()["ok"] is True
        assert _post(f"{url}/predict", None, raw=b"{not json").status_code == 400
        assert _post(f"{url}/predict", {"txt": "a"}).status_code == 400
        assert _post(f"{url}/predict", ["a"]).status_code == 400
        assert _post(f"{url}/nowhere", {"text": "a"}).status_code == 404
        assert requests.get(f"{url}/predict", timeout=5).status_code == 405
        assert _post(f"{url}/predict", {"text": "x" * 30000}).status_code == 413
        failed = _post(f"{url}/predict", {"text": "boom"})
        assert failed.status_code == 500 and "model exploded" in failed.json()["error"]
        slow = _post(f"{url}/predict", {"text": "slow"})      # held until released: only the timeout answers
        assert slow.status_code == 504
        assert _post(f"{url}/predict", {"text": "meanwhile"}).status_code == 504   # still busy: no pile-up wait
        release.set()   # the slow call finishes in the background; the server then answers again
        time.sleep(0.2)
        text = f"{RARE}科技局"
        assert _post(f"{url}/doccano/category", {"text": text}).json() == [{"label": "ip"}]
        assert _post(f"{url}/doccano/span", {"text": text}).json() == \
            [{"label": "ORG", "start_offset": 2, "end_offset": 4}]
    finally:
        model_server.close()


def _fake_server(**kwargs) -> ModelServer:
    predict = lambda text: {"themes": ["ip"], "scores": {"ip": 0.9}, "entities": []}
    server = ModelServer(Predictor(predict, timeout=0.5), 0, "fake", **kwargs)
    server.start()
    return server


def _raw(server, data: bytes) -> bytes:
    import socket

    with socket.create_connection(server.server_address, timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while True:                 # refusals close the connection: read to the end
            piece = sock.recv(65536)
            if not piece:
                return answer
            answer += piece


def test_model_server_refuses_a_negative_content_length():
    server = _fake_server()
    try:
        answer = _raw(server, b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400") and b"must not be negative" in answer
    finally:
        server.close()


def test_model_server_cuts_off_a_client_that_trickles_its_request():
    import socket

    server = _fake_server(request_seconds=0.5)
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n" + b" " * 40
    sent = 0
    try:
        with socket.create_connection(server.server_address, timeout=10) as sock:
            for byte in request:                  # one byte every 0.1 s: each read is quick, the whole is not
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                sent += 1
                time.sleep(0.1)
                ready = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) if _readable(sock) else None
                if ready == b"":
                    break
        assert sent < len(request)               # the server hung up before the client was done
    finally:
        server.close()


def _readable(sock) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def test_model_server_answers_503_beyond_its_connection_limit():
    import socket

    server = _fake_server(max_connections=2)
    idle = [socket.create_connection(server.server_address, timeout=10) for _ in range(2)]
    try:
        for sock in idle:
            sock.sendall(b"POST /predict HTTP/1.1\r\n")      # half a request: each holds a slot
        time.sleep(0.2)
        assert _raw(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 503")
        for sock in idle:
            sock.close()
        time.sleep(0.3)
        assert requests.get(f"{server.url}/health", timeout=5).json()["ok"] is True
    finally:
        server.close()


def test_autolabel_template_turns_an_error_body_into_no_labels():
    from jinja2 import Template

    assert json.loads(Template(TEMPLATE).render(input={"error": "x"})) == []
    assert json.loads(Template(TEMPLATE).render(input=[{"label": "科技"}])) == [{"label": "科技"}]
    configs = doccano_configs("http://127.0.0.1:9")
    assert [c["model_attrs"]["url"] for c in configs] == ["http://127.0.0.1:9/doccano/category",
                                                          "http://127.0.0.1:9/doccano/span"]


# --- active learning -----------------------------------------------------------------------------

def test_uncertainty_is_closeness_to_each_themes_threshold():
    assert closeness(0.5, 0.5) == 1.0 and closeness(0.0, 0.5) == 0.0 and closeness(1.0, 0.5) == 0.0
    assert closeness(0.3, 0.3) == 1.0 and round(closeness(0.65, 0.3), 3) == 0.5
    sure = uncertainty({"ip": 0.95, "talent": 0.02, "other": 0.5}, {}, 0.5)
    unsure = uncertainty({"ip": 0.95, "talent": 0.48}, {}, 0.5)
    assert unsure > 0.9 > 0.2 > sure            # "other" (exclusive) does not count
    assert uncertainty({"ip": 0.3}, {"ip": 0.3}, 0.5) > uncertainty({"ip": 0.3}, {}, 0.5)


def test_selection_prefers_uncertain_and_skips_near_duplicates():
    candidates = [(1, "与高校开展产学研合作，签订协议十项。", 0.95), (2, "与高校开展产学研合作，签订协议十二项。", 0.94),
                  (3, "农业科技示范园建设取得进展。", 0.80), (4, "全年专利申请量增长。", 0.10)]
    picks = select(candidates, 2)
    assert [p.example_id for p in picks] == [1, 3] and [p.rank for p in picks] == [1, 2]
    assert [p.example_id for p in select(candidates, 2, diversity=0.0)] == [1, 2]


@doccano
def test_next_marks_the_least_certain_unlabelled_examples(admin, tiny_model, tmp_path):
    texts = ["与高校开展产学研合作，签订协议十项。", "与高校开展产学研合作，签订协议十二项。", "农业科技示范园建设取得进展。",
             "全年专利申请量增长。", "召开全体干部大会。"]
    paragraphs = tmp_path / "p.jsonl"
    paragraphs.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    labelled = tmp_path / "l.jsonl"
    labelled.write_text(json.dumps({"text": "国际合作项目三项。", "cats": ["cooperation"], "entities": [], "meta": {}},
                                   ensure_ascii=False) + "\n", encoding="utf-8")
    pid = push(admin, [paragraphs, labelled], "next")["project_id"]

    before = _by_text(admin, pid)
    picks = next_batch(admin, "next", tiny_model, 2)
    examples = _by_text(admin, pid)
    assert [examples[texts[0]]["id"], examples[texts[2]]["id"]] == [p.example_id for p in picks]
    marked = {t: e for t, e in examples.items() if "next_rank" in e["meta"]}
    assert sorted(marked) == sorted([texts[0], texts[2]])
    assert marked[texts[0]]["meta"]["next_rank"] == 1 and marked[texts[0]]["score"] < marked[texts[2]]["score"] < 1
    assert marked[texts[0]]["meta"]["meta"] == before[texts[0]]["meta"]["meta"]   # provenance untouched
    assert "国际合作项目三项。" not in marked                   # labelled: never picked

    picks = next_batch(admin, "next", tiny_model, 1)           # a new batch clears the old marks
    examples = _by_text(admin, pid)
    assert [t for t, e in examples.items() if "next_rank" in e["meta"]] == [texts[0]]
    assert examples[texts[2]]["score"] == 100.0 and "uncertainty" not in examples[texts[2]]["meta"]


# --- agreement -----------------------------------------------------------------------------------

def test_kappa_and_alpha_on_a_worked_example():
    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == pytest.approx(0.5)
    units = [[True, True], [True, False], [False, False], [False, False]]
    assert krippendorff_alpha(units) == pytest.approx(1 - 7 * 2 / 30)
    assert cohen_kappa([True, True], [True, True]) is None     # no variation: undefined, not 1
    assert krippendorff_alpha([[True, True, False]]) == pytest.approx(0.0)   # three coders, one unit
    assert krippendorff_alpha([[True], [False]]) is None                       # nobody coded a unit twice


def test_alpha_matches_the_krippendorff_package_with_missing_codings():
    import random

    import krippendorff
    import numpy as np

    rng = random.Random(7)
    for _ in range(20):
        coders, n_units = rng.randint(2, 4), rng.randint(5, 40)
        data = np.full((coders, n_units), np.nan)
        for u in range(n_units):
            for c in rng.sample(range(coders), rng.randint(1, coders)):
                data[c, u] = rng.choice([0, 1, 2]) if rng.random() < 0.7 else 1
        units = [[int(v) for v in data[:, u] if not np.isnan(v)] for u in range(n_units)]
        ours = krippendorff_alpha(units)
        try:
            theirs = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        except ValueError:      # the package refuses data with one value only; ours says None
            assert ours is None
            continue
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_agreement_report_and_adjudication_from_records():
    def rec(text, cats, entities=()):
        return {"text": text, "cats": cats, "entities": [list(e) for e in entities], "meta": {}}

    records = {"a": {1: rec("市科技局召开会议。", ["party"], [(0, 4, "ORG")]), 2: rec("专利增长。", ["ip"]),
                     3: rec("只有a标了。", ["other"])},
               "b": {1: rec("市科技局召开会议。", ["party", "policy"], [(1, 4, "ORG")]), 2: rec("专利增长。", ["ip"])}}
    report = agreement(records, ["ip", "party", "policy"], ["ORG"])
    assert report["examples_compared"] == 2
    assert report["themes"]["ip"]["pairs"]["a vs b"]["agreement"] == 1.0
    assert report["themes"]["policy"]["pairs"]["a vs b"] == {"kappa": 0.0, "n": 2, "yes": [0, 1], "agreement": 0.5}
    assert report["entities"]["pairs"]["a vs b"]["f1"] == 0.0
    todo = adjudication(records)
    assert [r["id"] for r in todo] == [1]
    kinds = {(d["type"], d.get("theme") or tuple(d["span"])): (d["given_by"], d["not_by"]) for d in todo[0]["disagreements"]}
    assert kinds == {("theme", "policy"): (["b"], ["a"]), ("entity", (0, 4, "ORG")): (["a"], ["b"]),
                     ("entity", (1, 4, "ORG")): (["b"], ["a"])}
    assert todo[0]["cats"] == ["party"] and todo[0]["entities"] == []


@doccano
def test_agreement_command_between_two_annotators(admin, doccano_env, tmp_path, capsys):
    texts = ["市科技局召开专利工作会议。", "新建孵化器三家。", "加强人才引进。"]
    paragraphs = tmp_path / "p.jsonl"
    paragraphs.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    pid = push(admin, [paragraphs], "agreement")["project_id"]
    ids = {e["text"]: e["id"] for e in admin.examples(pid)}
    for name, first_cats in (("ann-a", ["ip"]), ("ann-b", ["ip", "policy"])):
        ann = make_annotator(admin, pid, name)
        cats = ann.label_type_ids(pid, "category")
        for text, themes in ((texts[0], first_cats), (texts[1], ["incubator"]), (texts[2], ["talent"])):
            for theme in themes:
                ann.add_category(pid, ids[text], cats[theme])
        ann.add_span(pid, ids[texts[0]], 0, 4, ann.label_type_ids(pid, "span")["ORG"])
    report, adjudicate = tmp_path / "agreement.json", tmp_path / "adjudicate.jsonl"
    assert main(["doccano", "agreement", "--project", "agreement", "-o", str(report),
                 "--adjudication", str(adjudicate)]) == 0
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["annotators"] == ["ann-a", "ann-b"] and data["examples_compared"] == 3
    assert data["themes"]["ip"]["pairs"]["ann-a vs ann-b"]["agreement"] == 1.0
    assert data["themes"]["policy"]["pairs"]["ann-a vs ann-b"]["yes"] == [0, 1]
    assert data["entities"]["pairs"]["ann-a vs ann-b"]["f1"] == 1.0
    rows = [json.loads(line) for line in adjudicate.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [ids[texts[0]]]
    assert rows[0]["disagreements"] == [{"type": "theme", "theme": "policy", "given_by": ["ann-b"], "not_by": ["ann-a"]}]
    assert "policy" in capsys.readouterr().out
    # pull without --annotator leaves the disagreement out and says so
    assert main(["doccano", "pull", "--project", "agreement", "-o", str(tmp_path / "p.jsonl")]) == 0
    assert "1 conflict(s)" in capsys.readouterr().err


# --- errors: clear messages, no tracebacks ---------------------------------------------------------

@doccano
def test_wrong_password_server_down_and_unknown_project_are_clear_errors(doccano_env, monkeypatch, capsys, tmp_path):
    out = str(tmp_path / "x.jsonl")
    monkeypatch.setenv("DOCCANO_PASSWORD", "not-the-password")
    assert main(["doccano", "pull", "--project", "corpus", "-o", out]) == 1
    err = capsys.readouterr().err
    assert "wrong user name or password" in err and "Traceback" not in err and "not-the-password" not in err

    monkeypatch.setenv("DOCCANO_PASSWORD", doccano_env.password)
    assert main(["doccano", "pull", "--project", "no-such-project", "-o", out]) == 1
    assert "no project named 'no-such-project'" in capsys.readouterr().err

    monkeypatch.setenv("DOCCANO_URL", f"http://127.0.0.1:{doccano_server.free_port()}")
    assert main(["doccano", "push", str(tmp_path), "--project", "x"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach doccano" in err and "is it running?" in err and "Traceback" not in err

    monkeypatch.delenv("DOCCANO_PASSWORD")
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    assert main(["doccano", "pull", "--project", "x", "-o", out]) == 1
    assert "set DOCCANO_PASSWORD" in capsys.readouterr().err
    assert not Path(out).exists()


def test_credentials_never_show_the_password(monkeypatch):
    creds = Credentials("http://127.0.0.1:1", "u", "hunter2")
    assert "hunter2" not in repr(creds)
    with pytest.raises(DoccanoError, match="cannot reach doccano"):
        Doccano(creds)


@doccano
def test_serve_and_stop_commands_with_their_own_data_folder(server, doccano_env, tmp_path, capsys):
    info, creds = server
    data = tmp_path / "data"
    port = doccano_server.free_port()
    try:
        code = main(["doccano", "serve", "--data", str(data), "--port", str(port)])
        assert code == 0, capsys.readouterr().err
        running = doccano_server.running(data)
        assert running and running.url == f"http://127.0.0.1:{port}"
        assert requests.get(f"{running.url}/v1/health/", headers={"Accept": "application/json"}, timeout=10).ok
        assert oct((data / "secret_key").stat().st_mode & 0o777) == "0o600"
        for log in (data / "logs").iterdir():
            assert creds.password not in log.read_text(encoding="utf-8", errors="replace"), log
        Doccano(Credentials(running.url, creds.username, creds.password))   # the admin can log in
        capsys.readouterr()

        assert main(["doccano", "serve", "--data", str(data), "--port", str(info.port)]) == 1
        assert "already runs" in capsys.readouterr().err
        assert main(["doccano", "serve", "--data", str(tmp_path / "other"), "--port", str(info.port)]) == 1
        assert f"port {info.port} on 127.0.0.1 is in use" in capsys.readouterr().err

        assert main(["doccano", "stop", "--data", str(data)]) == 0
        assert doccano_server.running(data) is None and not (data / "server.json").exists()
        for pid in running.pids.values():
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            except OSError:
                state = "gone"
            assert state in ("gone", "Z", "X"), (pid, state)
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{running.url}/v1/health/", timeout=5)
    finally:
        doccano_server.stop(data, log=lambda *_: None)   # never leave a server behind a failed assertion


def test_a_worker_lost_to_celerys_start_up_race_is_started_again(tmp_path):
    import subprocess
    import sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    health = HTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=health.serve_forever, daemon=True).start()
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "worker.log").write_text(
        "sqlite3.IntegrityError: UNIQUE constraint failed: kombu_queue.name\n", encoding="utf-8")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    started = []

    def restart(name):
        process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "doccano"])
        started.append(process)
        return process.pid

    info = doccano_server.ServerInfo(f"http://127.0.0.1:{health.server_address[1]}", 0, tmp_path,
                                     {"worker": dead.pid})
    try:
        doccano_server.wait_healthy(info, timeout=20, restart=restart)
        assert len(started) == 1 and info.pids["worker"] == started[0].pid
        (tmp_path / "logs" / "worker.log").write_text("some other failure\n", encoding="utf-8")
        info.pids["worker"] = dead.pid
        with pytest.raises(doccano_server.ServerError, match="worker process exited during start"):
            doccano_server.wait_healthy(info, timeout=20, restart=restart)     # anything else is not retried
    finally:
        health.shutdown()
        for process in started:
            process.kill()
