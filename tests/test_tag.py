"""Batch tagging end to end, with the default model, on small generated files and the seed page."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.labels import load_labels
from nlp.tagging.output import FIELDS, OutputError, output_kind, read_output
from nlp.tagging.tag import summarize, tag_command
from tests.conftest import ROOT, SEED

REPORT_A = ("xx市科技局2023年工作总结\n一、知识产权工作\n全市专利授权量达到5200件，新增国家知识产权示范企业3家。\n"
            "二、孵化载体\n新认定省级科技企业孵化器2家，众创空间4家。\n")
REPORT_B = ("xx县科技局工作要点\n大力实施星火计划，推广农业新品种20个，选派科技特派员60名。\n"
            "与福州大学签订产学研合作协议。\n")


@pytest.fixture
def reports(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text(REPORT_A, encoding="utf-8")
    (folder / "b.txt").write_bytes(REPORT_B.encode("gb18030"))
    (folder / "c.html").write_text("<html><body><p>xx区科技局工作总结</p><p>全年技术合同成交额12亿元。</p></body></html>",
                                   encoding="utf-8")
    return folder


def test_records_have_every_field(default_model, reports, tmp_path):
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 0
    records = list(read_output(out))
    assert [r["source"].rsplit("/", 1)[1] for r in records] == ["a.txt"] * 4 + ["b.txt"] * 2 + ["c.html"]
    themes = set(load_labels().themes)
    for record in records:
        assert list(record) == FIELDS
        assert set(record["scores"]) == themes
        assert set(record["themes"]) <= themes and record["themes"]
        for entity in record["entities"]:
            assert record["text"][entity["start"]:entity["end"]] == entity["text"]
    patent = next(r for r in records if r["text"].startswith("全市专利授权量"))
    assert "ip" in patent["themes"]
    assert patent["heading_path"] == ["一、知识产权工作"]


def test_jsonl_input_keeps_its_ids(default_model, tmp_path):
    source = tmp_path / "p.jsonl"
    source.write_text("\n".join(json.dumps({"id": f"p{i}", "text": t}, ensure_ascii=False)
                                for i, t in enumerate(["加强科普宣传，举办科技活动周。", "落实研发费用加计扣除政策。"])),
                      encoding="utf-8")
    out = tmp_path / "o.jsonl"
    assert tag_command([source], default_model, out, progress="never") == 0
    assert [r["id"] for r in read_output(out)] == ["p0", "p1"]


def test_two_workers_keep_input_order(default_model, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(7):
        (folder / f"r{i:02d}.txt").write_text(f"第{i}号报告\n全年新增高新技术企业{i + 10}家。\n", encoding="utf-8")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert tag_command([folder], default_model, one, progress="never") == 0
    assert tag_command([folder], default_model, two, workers=2, progress="never") == 0
    assert one.read_text(encoding="utf-8") == two.read_text(encoding="utf-8")
    assert [r["source"][-7:] for r in read_output(two)] == [f"r{i:02d}.txt" for i in range(7)]


def test_resume_after_interruption(default_model, reports, tmp_path):
    full = tmp_path / "full.jsonl"
    assert tag_command([reports], default_model, full, progress="never") == 0
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 0
    # Simulate a run killed while writing its third file: the sidecar (a settings line, then one
    # line per finished chunk) knows two files, the output holds them plus half a record.
    progress = out.with_name(out.name + ".progress")
    entries = progress.read_text(encoding="utf-8").splitlines()
    keep = json.loads(entries[2])["bytes"]
    data = out.read_bytes()
    out.write_bytes(data[:keep] + data[keep:keep + 25])
    progress.write_text("\n".join(entries[:3]) + "\n" + entries[3][:9], encoding="utf-8")
    assert tag_command([reports], default_model, out, progress="never") == 0
    assert out.read_bytes() == full.read_bytes()


def test_refuses_to_append_to_a_foreign_file(default_model, reports, tmp_path):
    out = tmp_path / "mine.jsonl"
    out.write_text("precious\n", encoding="utf-8")
    assert tag_command([reports], default_model, out, progress="never") == 1
    assert out.read_text(encoding="utf-8") == "precious\n"


def test_corrupt_file_is_reported_and_skipped(default_model, reports, tmp_path, capsys):
    (reports / "broken.txt").write_bytes(b"\x81\x30\xff\xfe\xfd\x80\x80" * 10)
    (reports / "empty.htm").write_bytes(b"")
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 1
    err = capsys.readouterr().err
    assert "broken.txt: undecodable bytes" in err and "empty.htm: empty file" in err and "2 file(s) failed" in err
    assert len(list(read_output(out))) == 7


def test_csv_output_and_summary(default_model, reports, tmp_path):
    out, summary = tmp_path / "out.csv", tmp_path / "summary.csv"
    assert tag_command([reports], default_model, out, summary=summary, progress="never") == 0
    records = list(read_output(out))
    assert len(records) == 7 and isinstance(records[0]["scores"], dict)
    rows = list(csv.DictReader(summary.open(encoding="utf-8")))
    assert [int(r["paragraphs"]) for r in rows] == [4, 2, 1]
    for row, report_id in zip(rows, dict.fromkeys(r["report_id"] for r in records)):
        mine = [r for r in records if r["report_id"] == report_id]
        for theme in load_labels().themes:
            n = sum(theme in r["themes"] for r in mine)
            assert int(row[f"n_{theme}"]) == n
            assert float(row[f"share_{theme}"]) == pytest.approx(n / len(mine), abs=1e-4)


def test_summary_arithmetic_on_known_records():
    records = [
        {"report_id": "r1", "report_title": "T", "source": "s", "themes": ["ip"],
         "entities": [{"label": "ORG", "text": "市委"}, {"label": "ORG", "text": "市委"}, {"label": "PROGRAM", "text": "星火计划"}]},
        {"report_id": "r1", "report_title": "T", "source": "s", "themes": ["ip", "policy"],
         "entities": [{"label": "ORG", "text": "科技部"}, {"label": "POLICY", "text": "某办法"}]},
        {"report_id": "r1", "report_title": "T", "source": "s", "themes": ["other"], "entities": []},
        {"report_id": "r1", "report_title": "T", "source": "s", "themes": ["policy"], "entities": []},
    ]
    [row] = summarize(records, ["ip", "policy", "other", "talent"])
    assert row["paragraphs"] == 4
    assert (row["n_ip"], row["share_ip"]) == (2, 0.5)
    assert (row["n_other"], row["share_other"], row["n_talent"], row["share_talent"]) == (1, 0.25, 0, 0.0)
    assert row["top_ORG"] == "市委 (2); 科技部 (1)"
    assert row["top_PROGRAM"] == "星火计划 (1)"


def test_seed_page(default_model, shared, tmp_path):
    out = tmp_path / "seed.jsonl"
    assert tag_command([SEED], default_model, out, workers=2, progress="never") == 0
    records = list(read_output(out))
    assert len({r["report_id"] for r in records}) == 4
    assert [r["paragraph_index"] for r in records if r["report_id"] == records[0]["report_id"]] == \
        list(range(sum(r["report_id"] == records[0]["report_id"] for r in records)))
    ip_heading = next(r for r in records if r["text"] == "(四)国家知识产权示范城市工作效果明显")
    assert ip_heading["is_heading"] and "ip" in ip_heading["themes"]
    names = {e["text"] for r in records for e in r["entities"]}
    assert {"xx市科学技术奖励办法"} <= names      # a 《》 title found by the rules


def test_output_kind_is_checked(tmp_path):
    with pytest.raises(OutputError, match="must end in .jsonl, .csv or .parquet"):
        output_kind(tmp_path / "x.txt")


def test_a_stale_progress_file_without_output_starts_over(default_model, reports, tmp_path):
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 0
    first = out.read_bytes()
    out.unlink()           # the user deletes the output but not the sidecar
    assert tag_command([reports], default_model, out, progress="never") == 0
    assert out.read_bytes() == first
    progress = out.with_name(out.name + ".progress").read_text(encoding="utf-8").splitlines()
    assert len(progress) == 4 and json.loads(progress[-1])["bytes"] == len(first)   # settings + 3 files


def test_readme_demo_command_on_a_fresh_checkout(default_model, tmp_path):
    """`make demo`: tag the bundled examples into a folder that does not exist yet, then show them."""
    out = tmp_path / "out" / "demo.jsonl"
    summary = tmp_path / "out" / "demo_summary.csv"
    tag = subprocess.run([sys.executable, "-m", "nlp", "tag", str(ROOT / "examples"), "--model", str(default_model),
                          "--output", str(out), "--summary", str(summary)], capture_output=True, text=True)
    assert tag.returncode == 0, tag.stderr
    records = list(read_output(out))
    assert {Path(r["source"]).name for r in records} == {p.name for p in (ROOT / "examples").iterdir()}
    # real findings, not the fallback: a theme other than "other" and names marked at their offsets
    assert sum(set(r["themes"]) != {"other"} for r in records) > len(records) // 2
    assert all(r["text"][e["start"]:e["end"]] == e["text"] for r in records for e in r["entities"])
    assert sum(len(r["entities"]) for r in records) >= 20
    show = subprocess.run([sys.executable, "-m", "nlp.tagging.show", str(out), str(summary)], capture_output=True, text=True)
    assert show.returncode == 0, show.stderr
    assert records[0]["text"][:10] in show.stdout


def test_the_prediction_cache_changes_nothing_but_speed(default_model, reports, tmp_path):
    repeated = tmp_path / "rep"
    repeated.mkdir()
    for name in ("a", "b", "c"):                 # the same paragraphs in three reports
        (repeated / f"{name}.txt").write_text(REPORT_A, encoding="utf-8")
    with_cache, without = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    assert tag_command([repeated], default_model, with_cache, progress="never", cache_size=100) == 0
    assert tag_command([repeated], default_model, without, progress="never", cache_size=0) == 0
    strip = lambda r: {k: v for k, v in r.items() if k not in ("source", "report_id", "id")}
    on, off = [strip(r) for r in read_output(with_cache)], [strip(r) for r in read_output(without)]
    assert on == off and len(on) == 12
