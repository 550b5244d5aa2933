"""Tagging on a Dask cluster: ``--cluster tcp://HOST:8786`` (a running scheduler) or ``local:N``.

The client (the ``policy-nlp tag`` process) plans the chunks and writes the output, with the
same ordered, resumable writer and progress bar as local runs; Dask only carries chunks to the
workers and records back. Each Dask worker loads the pipeline once, through a worker plugin that
first verifies the model's checksums; a worker that dies mid-chunk loses nothing: the scheduler
runs the chunk again elsewhere, and only the client writes, so no record is written twice.

Workers open inputs and the model by absolute path: on a real cluster those paths must be on a
filesystem every machine sees (NFS and the like), or the model copied to the same path on each.
The per-file time limit is not applied on a cluster (Dask runs tasks in threads, where a reader
cannot be interrupted).
"""
import logging
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

from ..reading.read import ReadError
from .work import Chunk, ChunkResult, WorkerDied, _failed

CONNECT_SECONDS = 5

try:
    from distributed import WorkerPlugin as _PluginBase
except ImportError:   # the optional extra is missing: run_cluster says what to install
    _PluginBase = object


class PipelinePlugin(_PluginBase):
    """Loads the pipeline once in each Dask worker, verifying the model's checksums first."""

    name = "policy-nlp-pipeline"

    def __init__(self, model: str, cache_size: int):
        self.model, self.cache_size = model, cache_size

    def setup(self, worker) -> None:
        from .work import load_worker

        load_worker(self.model, self.cache_size)


def _tag(chunk: Chunk, kind: str) -> ChunkResult:
    from .work import tag_chunk

    return tag_chunk(chunk, None, kind)


def run_cluster(address: str, model: str, cache_size: int,
                kind: str = "jsonl") -> Callable[[Iterable], Iterator[ChunkResult]]:
    """Connect (or start a LocalCluster), load the pipeline on every worker, and return the runner."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise WorkerDied("--cluster needs Dask: pip install 'policy-nlp[cluster]' (dask and distributed)") from None
    plugin = PipelinePlugin(str(Path(model).resolve()), cache_size)
    cluster = None
    if address.startswith("local:"):
        try:
            workers = int(address.split(":", 1)[1])
        except ValueError:
            workers = 0
        if workers < 1:
            raise ValueError(f"--cluster {address}: local:N needs N ≥ 1 worker processes")
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(address, timeout=CONNECT_SECONDS)
        except (OSError, TimeoutError) as e:
            raise WorkerDied(f"--cluster {address}: no Dask scheduler answered within {CONNECT_SECONDS} s ({e}); "
                             f"start one with `dask scheduler` and workers with `dask worker {address}`") from None
    try:
        client.register_plugin(plugin)
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=60)
    except Exception as e:
        client.close()
        if cluster is not None:
            cluster.close()
        raise WorkerDied(f"--cluster {address}: the workers could not load the model: {e}") from None

    def run(items: Iterable[Union[Chunk, ReadError]]) -> Iterator[ChunkResult]:
        try:
            window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
            pending: deque = deque()
            for item in items:
                pending.append(_failed(item) if isinstance(item, ReadError)
                               else client.submit(_tag, item, kind, pure=False, retries=2))
                while len(pending) > window:
                    yield _gather(pending.popleft())
            while pending:
                yield _gather(pending.popleft())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return run


def _gather(item) -> ChunkResult:
    if isinstance(item, ChunkResult):
        return item
    try:
        return item.result()
    except Exception as e:   # KilledWorker after repeated deaths, a lost scheduler…
        raise WorkerDied(f"the cluster could not tag a chunk ({type(e).__name__}: {e}); what was written is "
                         f"kept: run the same command again to resume") from None
