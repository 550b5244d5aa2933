"""`tag --cluster`: the same output as local workers, on a Dask LocalCluster and a running scheduler."""
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from nlp.tagging.tag import tag_command
from tests.test_tag_reliability import write_paragraphs

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask, distributed) is not installed")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big(tmp_path_factory, default_model):
    tmp = tmp_path_factory.mktemp("cluster")
    source = write_paragraphs(tmp / "big.jsonl", 1200)
    reference = tmp / "two_workers.jsonl"
    assert tag_command([source], default_model, reference, workers=2, progress="never", chunk_mb=0.01) == 0
    return source, reference


def test_a_local_cluster_gives_the_two_worker_output(big, default_model, tmp_path):
    source, reference = big
    out = tmp_path / "dask.jsonl"
    assert tag_command([source], default_model, out, cluster="local:2", progress="never", chunk_mb=0.01) == 0
    assert out.read_bytes() == reference.read_bytes()


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(big, default_model, tmp_path):
    source, reference = big
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    out = tmp_path / "dask.jsonl"
    codes = []
    try:
        run = threading.Thread(target=lambda: codes.append(tag_command(
            [source], default_model, out, cluster=cluster.scheduler_address, progress="never", chunk_mb=0.01)))
        run.start()
        progress = Path(str(out) + ".progress")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (progress.exists() and len(progress.read_text().splitlines()) > 3):
            time.sleep(0.05)
        victim = sorted(client.run(os.getpid).values())[0]
        os.kill(victim, signal.SIGKILL)            # the nanny starts a new worker; the scheduler reruns its chunk
        run.join(timeout=300)
        assert codes == [0]
        assert out.read_bytes() == reference.read_bytes()
        assert victim not in client.run(os.getpid).values()
    finally:
        client.close()
        cluster.close()


def test_a_scheduler_that_does_not_answer_is_a_clear_error(default_model, tmp_path, capsys):
    source = write_paragraphs(tmp_path / "p.jsonl", 5)
    assert tag_command([source], default_model, tmp_path / "o.jsonl", cluster="tcp://127.0.0.1:9", progress="never") == 1
    err = capsys.readouterr().err
    assert "no Dask scheduler answered within 5 s" in err and "dask scheduler" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_without_dask_the_cluster_option_says_what_to_install(default_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    source = write_paragraphs(tmp_path / "p.jsonl", 5)
    assert tag_command([source], default_model, tmp_path / "o.jsonl", cluster="local:1", progress="never") == 1
    assert "pip install 'policy-nlp[cluster]'" in capsys.readouterr().err
