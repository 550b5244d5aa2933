"""`tag` under hostile use: concurrent runs, kills, broken files, odd paths, full disks, big files."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nlp.cli import main
from nlp.tagging.output import Lock, read_output
from nlp.tagging.tag import tag_command
from nlp.tagging.work import plan_chunks, worker_count
from tests.conftest import ROOT
from tests.test_read import _broken_docx

SENTENCES = ["全市专利授权量达到{n}件，新增国家知识产权示范企业{m}家。", "新认定省级科技企业孵化器{m}家，众创空间{n}家。",
             "实施星火计划项目{n}项，选派科技特派员{m}名服务农村。", "与福州大学签订产学研合作协议{m}项，技术合同成交额{n}亿元。",
             "召开全局干部大会{m}次，学习贯彻会议精神。"]


def write_paragraphs(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            text = SENTENCES[i % len(SENTENCES)].format(n=100 + i, m=i % 9 + 1)
            f.write(json.dumps({"id": f"p{i}", "report_id": f"r{i // 20}", "text": text}, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def reports(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("xx市科技局工作总结\n全市专利授权量达到5200件。\n新认定孵化器2家。\n", encoding="utf-8")
    (folder / "b.txt").write_text("xx县科技局工作要点\n实施星火计划项目12项。\n", encoding="utf-8")
    return folder


def run_cli(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nlp", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, **kwargs)


# -- one writer per output ----------------------------------------------------------------------
def test_a_second_run_on_the_same_output_is_refused(default_model, reports, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    held = Lock(out)                         # another run holds the output
    try:
        assert tag_command([reports], default_model, out, progress="never") == 1
        assert "being written by another `policy-nlp tag` run" in capsys.readouterr().err
        assert not out.exists()
    finally:
        held.release()
    assert tag_command([reports], default_model, out, progress="never") == 0
    assert len(list(read_output(out))) == 3 and not Path(str(out) + ".lock").exists()


# -- inputs: the output inside an input folder, one file under two names ------------------------------
def test_output_inside_an_input_folder_is_not_read_back(default_model, reports, tmp_path):
    out = reports / "tagged.jsonl"
    for _ in range(2):                       # the second run resumes: nothing to add, nothing doubled
        assert tag_command([reports], default_model, out, summary=reports / "s.csv", progress="never") == 0
        assert [r["text"] for r in read_output(out)] == ["全市专利授权量达到5200件。", "新认定孵化器2家。",
                                                         "实施星火计划项目12项。"]


def test_a_file_named_twice_is_tagged_once(default_model, reports, tmp_path):
    out = tmp_path / "out.jsonl"
    assert tag_command([reports / "a.txt", reports / ".." / "in" / "a.txt", reports], default_model, out,
                       progress="never") == 0
    assert [Path(r["source"]).name for r in read_output(out)] == ["a.txt", "a.txt", "b.txt"]


# -- resume: checked against what the sidecar records ----------------------------------------------
def test_an_output_cut_below_its_progress_is_not_resumed(default_model, reports, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 0
    cut = out.read_bytes()[:-30]
    out.write_bytes(cut)
    assert tag_command([reports], default_model, out, progress="never") == 1
    assert "is shorter" in capsys.readouterr().err and out.read_bytes() == cut


def test_an_output_changed_after_the_run_is_not_resumed(default_model, reports, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 0
    data = out.read_bytes()
    out.write_bytes(data.replace("星火".encode(), "燎原".encode()))
    assert tag_command([reports], default_model, out, progress="never") == 1
    assert "differs from what" in capsys.readouterr().err


def test_an_input_changed_since_the_interrupted_run_is_an_error(default_model, reports, tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never") == 0
    (reports / "a.txt").write_text("xx市科技局工作总结\n全市专利授权量达到5200件，另有新内容。\n", encoding="utf-8")
    assert tag_command([reports], default_model, out, progress="never") == 1
    assert "a.txt changed since the interrupted run" in capsys.readouterr().err


# -- one bad file never stops a batch, in any worker mode ---------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_docx_is_skipped_in_every_worker_mode(default_model, reports, tmp_path, capsys, workers):
    _broken_docx(reports / "a0_broken.docx")
    out = tmp_path / "out.jsonl"
    for _ in range(2):                       # and on resume it is reported again, not a stop
        assert tag_command([reports], default_model, out, workers=workers, progress="never") == 1
        err = capsys.readouterr().err
        assert "a0_broken.docx: not a readable .docx file" in err and "pickle" not in err
        assert len(list(read_output(out))) == 3


def test_a_pdf_or_other_unsupported_file_named_in_a_batch_is_skipped(default_model, reports, tmp_path, capsys):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n")   # and malformed at that
    out = tmp_path / "out.jsonl"
    assert tag_command([pdf, reports], default_model, out, workers=2, progress="never") == 1
    assert "report.pdf: unknown format .pdf" in capsys.readouterr().err
    assert len(list(read_output(out))) == 3


def test_a_file_that_takes_too_long_to_read_is_skipped(default_model, reports, tmp_path, capsys, monkeypatch):
    import nlp.reading.html as html

    def stuck(markup):
        while True:
            pass

    monkeypatch.setattr(html, "html_to_text", stuck)
    (reports / "a1_stuck.html").write_text("<html><body><p>全年专利授权量一千件。</p></body></html>", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, progress="never", time_limit=0.5) == 1
    assert "a1_stuck.html: reading took longer than 0.5 s" in capsys.readouterr().err
    assert len(list(read_output(out))) == 3


# -- errors named before any work, in one line --------------------------------------------------------
def test_an_unwritable_summary_is_refused_before_tagging(default_model, reports, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    out = tmp_path / "out.jsonl"
    assert tag_command([reports], default_model, out, summary=tmp_path / "file" / "s.csv", progress="never") == 1
    assert "cannot create the folder for the summary" in capsys.readouterr().err
    assert not out.exists()


def test_a_full_disk_is_one_line_and_the_output_stays_resumable(default_model, reports, tmp_path, capsys,
                                                                 monkeypatch):
    import errno

    from nlp.tagging import output

    out, full = tmp_path / "out.jsonl", tmp_path / "full.jsonl"
    assert tag_command([reports], default_model, full, progress="never") == 0
    real_write, calls = output.Output._write, []

    def fill_up(self, data):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(output.Output, "_write", fill_up)
    assert tag_command([reports], default_model, out, progress="never") == 1
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.setattr(output.Output, "_write", real_write)
    assert tag_command([reports], default_model, out, progress="never") == 0
    assert out.read_bytes() == full.read_bytes()


def test_a_corrupt_checksums_file_is_one_line(default_model, reports, tmp_path, capsys):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(default_model, model)
    (model / "checksums.json").write_text("{not json", encoding="utf-8")
    assert tag_command([reports], model, tmp_path / "o.jsonl", progress="never") == 1
    assert "checksums.json: not valid JSON" in capsys.readouterr().err


def test_a_model_file_holding_a_pickle_is_refused(default_model, reports, tmp_path, capsys):
    import shutil

    import numpy as np

    from nlp.model import write_checksums

    model = tmp_path / "model"
    shutil.copytree(default_model, model)
    weights = model / "sk_themes" / "weights.npz"
    with np.load(weights) as arrays:
        data = dict(arrays)
    data["coef"] = np.array([{"a": 1}], dtype=object)           # an object array: pickled inside the .npz
    np.savez(weights, **data)
    write_checksums(model)                                      # even when the checksums vouch for it
    assert tag_command([reports], model, tmp_path / "o.jsonl", progress="never") == 1
    err = capsys.readouterr().err
    assert "cannot load the model" in err and "pickle" in err.lower()


# -- workers -----------------------------------------------------------------------------------------
def test_workers_must_be_at_least_one(capsys):
    for bad in ("0", "-1", "x"):
        with pytest.raises(SystemExit) as stop:
            main(["tag", "in", "--output", "o.jsonl", "--workers", bad])
        assert stop.value.code == 2
        assert "--workers" in capsys.readouterr().err


def test_workers_are_capped_by_cores_and_memory():
    cores = len(os.sched_getaffinity(0))
    chosen, note = worker_count(64)
    assert 1 <= chosen <= cores and "starting" in note
    assert worker_count(1) == (1, None)
    with pytest.raises(ValueError):
        worker_count(0)


def test_a_big_jsonl_is_cut_into_chunks_at_line_ends(tmp_path):
    source = write_paragraphs(tmp_path / "big.jsonl", 500)
    chunks = list(plan_chunks([source], chunk_bytes=4000))
    assert len(chunks) > 5
    data = source.read_bytes()
    assert b"".join(data[c.start:c.end] for c in chunks) == data
    assert all(data[c.end - 1:c.end] == b"\n" for c in chunks)
    assert [c.first_line for c in chunks] == [1 + data[:c.start].count(b"\n") for c in chunks]


@pytest.mark.slow
def test_one_big_file_with_two_workers_gives_the_one_worker_output(default_model, tmp_path):
    source = write_paragraphs(tmp_path / "big.jsonl", 600)
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert tag_command([source], default_model, one, progress="never", chunk_mb=0.01) == 0
    assert tag_command([source], default_model, two, workers=2, progress="never", chunk_mb=0.01) == 0
    assert one.read_bytes() == two.read_bytes()
    assert [r["id"] for r in read_output(two)] == [f"p{i}" for i in range(600)]
    progress = Path(str(two) + ".progress").read_text(encoding="utf-8").splitlines()
    assert len(progress) - 1 > 5                        # resumable chunk by chunk


def _wait_for_chunks(progress: Path, n: int, process: subprocess.Popen, limit: float = 240) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if progress.exists() and len(progress.read_text(encoding="utf-8").splitlines()) > n:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("no progress")


@pytest.mark.slow
def test_sigkill_at_any_moment_then_rerun_gives_every_record_once_in_order(default_model, tmp_path):
    source = write_paragraphs(tmp_path / "big.jsonl", 1500)
    reference = tmp_path / "reference.jsonl"
    assert tag_command([source], default_model, reference, progress="never", chunk_mb=0.02) == 0
    out = tmp_path / "out.jsonl"
    args = [sys.executable, "-m", "nlp", "tag", str(source), "--model", str(default_model), "--output", str(out),
            "--chunk-mb", "0.02", "--workers", "2", "--progress", "never"]
    for kill_after in (2, 6):
        process = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        _wait_for_chunks(Path(str(out) + ".progress"), kill_after, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert run_cli(*args[3:]).returncode == 0
    assert out.read_bytes() == reference.read_bytes()


@pytest.mark.slow
def test_workers_die_with_the_main_process(default_model, tmp_path):
    source = write_paragraphs(tmp_path / "big.jsonl", 3000)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([sys.executable, "-m", "nlp", "tag", str(source), "--model", str(default_model),
                                "--output", str(out), "--chunk-mb", "0.02", "--workers", "2", "--progress", "never"],
                               cwd=ROOT, stderr=subprocess.PIPE, text=True)
    _wait_for_chunks(Path(str(out) + ".progress"), 1, process)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert len(children) >= 2
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and
                                              "Z" not in _state(pid) for pid in children):
        time.sleep(0.1)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)]


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.slow
def test_sigterm_stops_the_run_cleanly_and_it_resumes(default_model, tmp_path):
    source = write_paragraphs(tmp_path / "big.jsonl", 1500)
    out = tmp_path / "out.jsonl"
    args = ["tag", str(source), "--model", str(default_model), "--output", str(out), "--chunk-mb", "0.02",
            "--progress", "never"]
    process = subprocess.Popen([sys.executable, "-m", "nlp", *args], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    _wait_for_chunks(Path(str(out) + ".progress"), 2, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 130 and "interrupted" in process.stderr.read()
    assert not Path(str(out) + ".lock").exists()
    assert run_cli(*args).returncode == 0
    assert [r["id"] for r in read_output(out)] == [f"p{i}" for i in range(1500)]


# -- parquet streams -------------------------------------------------------------------------------
def test_parquet_output_holds_the_same_records_as_jsonl(default_model, tmp_path):
    pytest.importorskip("pyarrow")
    source = write_paragraphs(tmp_path / "p.jsonl", 120)
    as_jsonl, as_parquet = tmp_path / "o.jsonl", tmp_path / "o.parquet"
    assert tag_command([source], default_model, as_jsonl, progress="never") == 0
    assert tag_command([source], default_model, as_parquet, summary=tmp_path / "s.csv", progress="never") == 0
    assert list(read_output(as_parquet)) == list(read_output(as_jsonl))
    assert not Path(str(as_parquet) + ".partial.jsonl").exists()


def test_parquet_is_written_in_row_groups(tmp_path):
    pyarrow = pytest.importorskip("pyarrow.parquet")
    from nlp.tagging.output import FIELDS, jsonl_to_parquet

    source = tmp_path / "w.jsonl"
    record = {k: None for k in FIELDS} | {"text": "段落", "themes": ["ip"], "scores": {"ip": 0.9}, "entities": [],
                                          "heading_path": [], "paragraph_index": 1, "is_heading": False}
    source.write_text("".join(json.dumps(record | {"id": str(i)}, ensure_ascii=False) + "\n" for i in range(250)),
                      encoding="utf-8")
    assert jsonl_to_parquet(source, tmp_path / "o.parquet", rows_per_group=100) == 250
    assert pyarrow.ParquetFile(tmp_path / "o.parquet").num_row_groups == 3
