"""Units of tagging work (chunks), what a worker does with one, and the local worker processes.

A chunk is a whole input file or, for a ``.jsonl`` larger than ``chunk_bytes``, a run of its
lines cut at a line end, so one big export keeps every worker busy. A worker loads the pipeline
once, reads its chunk (under a time limit: a pathological page is skipped with a message, not
waited for), tags it and returns the records, or an error as a plain string: an error object
from lxml or a reader need not survive pickling across processes, a string always does. One bad
file never stops a batch.

Local workers die with the main process, however it ends (``PR_SET_PDEATHSIG``, and a watch on
the parent's pid), and ignore Ctrl-C, which the main process handles for them.
"""
import os
import signal
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from ..reading.read import ReadError, iter_files
from .output import FIELDS, encode_records

WORKER_GB = 0.5    # a worker peaks at about 350 MB (benchmarks/results/scale.json), with room to spare


@dataclass(frozen=True)
class Chunk:
    source: str                 # the path as given: records keep it
    path: str                   # the absolute path a worker opens (on a cluster: a shared filesystem)
    key: str                    # absolute path and chunk number: the same across runs and spellings
    size: int                   # of the input file when planned (a resumed run checks it is unchanged)
    start: int = 0
    end: Optional[int] = None   # None: the whole file
    first_line: int = 1

    @property
    def nbytes(self) -> int:
        return (self.end if self.end is not None else self.size) - self.start


@dataclass
class ChunkResult:
    chunk: Optional[Chunk]
    source: str
    data: bytes = b""       # the chunk's records, encoded for the output (.jsonl or .csv lines)
    count: int = 0          # how many records
    error: Optional[str] = None


def plan_chunks(inputs: list, chunk_bytes: int, exclude: Iterable = ()) -> Iterator[Union[Chunk, ReadError]]:
    """Chunks of every input file, in input order; a ``ReadError`` for an input that is missing."""
    for item in iter_files(inputs, exclude=exclude):
        if isinstance(item, ReadError):
            yield item
            continue
        resolved, size = str(item.resolve()), item.stat().st_size
        if item.suffix.lower() == ".jsonl" and size > chunk_bytes and _line_splittable(item):
            yield from _jsonl_chunks(item, resolved, size, chunk_bytes)
        else:
            yield Chunk(str(item), resolved, f"{resolved}#0", size)


def _line_splittable(path: Path) -> bool:
    """UTF-16 text cannot be cut at a 0x0A byte; everything else a .jsonl is written in can."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return not head.startswith((b"\xff\xfe", b"\xfe\xff")) and head.count(b"\x00") < len(head) // 8


def _jsonl_chunks(path: Path, resolved: str, size: int, chunk_bytes: int) -> Iterator[Chunk]:
    index, start, line = 0, 0, 1
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_bytes)
            if not block:
                return
            block += f.readline()        # finish the line the block ends in
            yield Chunk(str(path), resolved, f"{resolved}#{index}", size, start, start + len(block), line)
            index, start, line = index + 1, start + len(block), line + block.count(b"\n")


# -- the worker side ------------------------------------------------------------------------------
_state: dict = {"model": None, "pipeline": None, "cache": OrderedDict(), "cache_size": 0}


class ReadTimeout(Exception):
    pass


def load_worker(model: str, cache_size: int) -> None:
    """Load the pipeline once per process (again only if the model on disk changed)."""
    from ..model import load_pipeline

    stamp = (str(Path(model).resolve()), (Path(model) / "checksums.json").stat().st_mtime_ns)
    if _state["model"] != stamp:
        _state["pipeline"] = load_pipeline(model)
        _state["model"] = stamp
    _state["cache"] = OrderedDict()
    _state["cache_size"] = cache_size


def _init_local_worker(model: str, cache_size: int) -> None:
    import sys

    from ..model import ModelError

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        load_worker(model, cache_size)
    except ModelError as e:
        print(f"policy-nlp tag: {e}", file=sys.stderr)   # the pool then reports the worker's end
        os._exit(3)


def _die_with_parent() -> None:
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass    # not Linux: the watch below still ends the worker within a second

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            threading.Event().wait(1.0)

    threading.Thread(target=watch, daemon=True, name="policy-nlp-parent-watch").start()


def _predict(texts: list[str]) -> list[dict]:
    """Predictions for texts; repeated paragraphs (boilerplate, re-published pages) come from a cache."""
    from ..model import doc_record

    cache, size, pipeline = _state["cache"], _state["cache_size"], _state["pipeline"]
    missing = list(dict.fromkeys(t for t in texts if t not in cache))
    fresh = {}
    for text, doc in zip(missing, pipeline.pipe(missing, batch_size=64)):
        fresh[text] = doc_record(doc)
    out = [fresh[t] if t in fresh else cache[t] for t in texts]
    if size:
        for text, record in fresh.items():
            cache[text] = record
        for text in texts:
            if text in cache:
                cache.move_to_end(text)
        while len(cache) > size:
            cache.popitem(last=False)
    return out


class _time_limit:
    """Raise ``ReadTimeout`` after ``seconds`` (main thread of a process only; elsewhere no limit)."""

    def __init__(self, seconds: Optional[float]):
        self.seconds = seconds if seconds and threading.current_thread() is threading.main_thread() else None

    def __enter__(self):
        if self.seconds:
            def expire(signum, frame):
                raise ReadTimeout()
            self._old = signal.signal(signal.SIGALRM, expire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc) -> None:
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


def read_chunk(chunk: Chunk) -> list:
    from ..reading.segment import read_jsonl_paragraphs, read_paragraphs

    if chunk.end is None:
        return read_paragraphs(Path(chunk.path), source=chunk.source)
    return read_jsonl_paragraphs(Path(chunk.path), chunk.start, chunk.end, chunk.first_line, source=chunk.source)


def tag_chunk(chunk: Chunk, time_limit: Optional[float] = None, kind: str = "jsonl") -> ChunkResult:
    """Read and tag one chunk into encoded records; errors come back as text, never raised."""
    result = ChunkResult(chunk, chunk.source)
    try:
        with _time_limit(time_limit):
            paragraphs = read_chunk(chunk)
    except ReadError as e:
        result.error = e.problem
        return result
    except ReadTimeout:
        result.error = (f"reading took longer than {time_limit:g} s (pathological markup?); skipped "
                        f"(--time-limit sets the limit)")
        return result
    except Exception as e:    # any reader's failure is this file's problem, not the batch's
        result.error = f"{type(e).__name__}: {str(e)[:300]}"
        return result
    try:
        records = []
        for paragraph, prediction in zip(paragraphs, _predict([p.text for p in paragraphs])):
            record = paragraph.to_dict()
            record.pop("meta")
            record.update(prediction)
            records.append({k: record.get(k) for k in FIELDS})
        result.data, result.count = encode_records(records, kind), len(records)
    except Exception as e:
        result.error = f"tagging failed: {type(e).__name__}: {str(e)[:300]}"
    return result


# -- local runs -----------------------------------------------------------------------------------
class WorkerDied(Exception):
    """The workers cannot go on (a process died, a cluster went away); the output stays resumable."""


def worker_count(requested: int) -> tuple[int, Optional[str]]:
    """The workers to start: at most one per core and as many as memory holds; a note when capped."""
    if requested < 1:
        raise ValueError(f"--workers must be at least 1 (got {requested})")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    memory = available_gb()
    by_memory = max(1, int(memory / WORKER_GB)) if memory is not None else requested
    chosen = min(requested, cores, by_memory)
    if chosen == requested:
        return chosen, None
    why = f"{cores} core(s)" if chosen == cores else f"{memory:.1f} GB of memory available at ~{WORKER_GB:g} GB a worker"
    return chosen, f"--workers {requested}: starting {chosen}, as this machine has {why}"


def available_gb() -> Optional[float]:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def run_local(items: Iterable[Union[Chunk, ReadError]], workers: int, model: str, cache_size: int,
              time_limit: Optional[float], kind: str = "jsonl") -> Iterator[ChunkResult]:
    """Results in input order; at most ``2 × workers`` chunks in flight, so memory stays flat."""
    if workers == 1:
        load_worker(model, cache_size)
        for item in items:
            yield _failed(item) if isinstance(item, ReadError) else tag_chunk(item, time_limit, kind)
        return
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(workers, initializer=_init_local_worker, initargs=(model, cache_size))
    pending: deque = deque()
    finished = False
    try:
        for item in items:
            pending.append(_failed(item) if isinstance(item, ReadError) else pool.submit(tag_chunk, item, time_limit, kind))
            while len(pending) > 2 * workers:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
        finished = True
    except BrokenProcessPool:
        raise WorkerDied("a worker process died (killed, or out of memory); what was written is kept: "
                         "run the same command again to resume") from None
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:     # interrupted: stop the workers now rather than wait for their chunks
            pool.shutdown(wait=False, cancel_futures=True)
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()


def _failed(error: ReadError) -> ChunkResult:
    return ChunkResult(None, error.path, error=error.problem)


def _result(item) -> ChunkResult:
    return item if isinstance(item, ChunkResult) else item.result()
