"""Batch tagging: inputs → chunks → workers (local processes or a Dask cluster) → ordered output.

Everything that can be checked is checked before any work (the model's checksums, that the
output and summary can be written, the worker count, that no other run writes the output);
then the chunks are tagged, and written in input order as they come back (``output.py`` makes
that resumable). A file that cannot be read is reported and skipped; the exit code says so.
"""
import os
import signal
import sys
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Iterable, Iterator, Optional

from .output import (FIELDS, Lock, Output, OutputError, check_writable, jsonl_to_parquet, output_kind, read_output,
                     sidecars, working_path)
from .work import Chunk, WorkerDied, plan_chunks, run_local, worker_count

CHUNK_MB = 1.0


def summarize(records: Iterable[dict], themes: Optional[list[str]] = None) -> list[dict]:
    """One row per report: paragraph count; per theme the count and share; top ORG and PROGRAM names.
    The themes are the model's (the keys of ``scores``) unless given."""
    rows: "OrderedDict[str, dict]" = OrderedDict()
    for record in records:
        if themes is None:
            themes = list(record["scores"])
        row = rows.get(record["report_id"])
        if row is None:
            row = rows[record["report_id"]] = {"report_id": record["report_id"], "report_title": record["report_title"],
                                               "source": record["source"], "place": record.get("place", ""),
                                               "year": record.get("year", ""), "paragraphs": 0, "themes": Counter(),
                                               "ORG": Counter(), "PROGRAM": Counter()}
        row["paragraphs"] += 1
        row["themes"].update(record["themes"])
        for entity in record["entities"]:
            if entity["label"] in ("ORG", "PROGRAM"):
                row[entity["label"]][entity["text"]] += 1
    out = []
    for row in rows.values():
        flat = {k: row[k] for k in ("report_id", "report_title", "source", "place", "year", "paragraphs")}
        for theme in themes or []:
            flat[f"n_{theme}"] = row["themes"][theme]
            flat[f"share_{theme}"] = round(row["themes"][theme] / row["paragraphs"], 4)
        for label in ("ORG", "PROGRAM"):
            flat[f"top_{label}"] = "; ".join(f"{name} ({n})" for name, n in row[label].most_common(5))
        out.append(flat)
    return out


def write_summary(path: Path, rows: list[dict]) -> None:
    """The per-report summary as .csv, or as an Excel sheet for a path ending in .xlsx."""
    import csv

    from ..io import atomic_write

    if Path(path).suffix.lower() == ".xlsx":
        _write_xlsx(Path(path), rows)
        return
    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["report_id"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _write_xlsx(path: Path, rows: list[dict]) -> None:
    from openpyxl import Workbook

    from ..io import atomic_write

    book = Workbook(write_only=True)
    sheet = book.create_sheet("reports")
    columns = list(rows[0]) if rows else ["report_id"]
    sheet.append(columns)
    for row in rows:
        sheet.append([row[c] for c in columns])
    with atomic_write(path, "wb") as handle:
        book.save(handle)


def _progress(enabled: str, total: int):
    from tqdm import tqdm

    show = enabled == "always" or (enabled == "auto" and sys.stderr.isatty() and not os.environ.get("CI"))
    return tqdm(total=total, unit="B", unit_scale=True, disable=not show, file=sys.stderr, dynamic_ncols=True)


def _err(message: str) -> None:
    print(f"policy-nlp tag: {message}", file=sys.stderr)


def _to_do(plan: list, done: dict) -> Iterator:
    """The chunks not yet in the output; an input that changed since the interrupted run is an error."""
    for item in plan:
        if isinstance(item, Chunk) and item.key in done:
            if done[item.key] != item.size:
                raise OutputError(f"{item.source} changed since the interrupted run ({done[item.key]:,} → "
                                  f"{item.size:,} bytes); remove the output and its .progress to start over")
            continue
        yield item


def tag_command(inputs: list[Path], model: Path, output: Path, summary: Optional[Path] = None,
                workers: int = 1, progress: str = "auto", cache_size: int = 20000, chunk_mb: float = CHUNK_MB,
                time_limit: Optional[float] = 60.0, cluster: Optional[str] = None, html: Optional[Path] = None) -> int:
    from ..model import ModelError, verify

    output = Path(output)
    try:
        kind = output_kind(output)
        if kind == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise OutputError(".parquet output needs pyarrow (pip install 'policy-nlp[parquet]')") from None
        if chunk_mb <= 0:
            raise ValueError(f"--chunk-mb must be positive (got {chunk_mb})")
        verify(model)
        check_writable(output, "output")
        check_writable(summary, "summary")
        if summary and Path(summary).suffix.lower() == ".xlsx":
            try:
                import openpyxl  # noqa: F401
            except ImportError:
                raise OutputError("an .xlsx summary needs openpyxl (pip install 'policy-nlp[excel]')") from None
        check_writable(html, "HTML report")
        note = None
        if cluster is None:
            workers, note = worker_count(workers)
        runner = _runner(cluster, workers, str(model), cache_size, time_limit, "csv" if kind == "csv" else "jsonl")
        lock = Lock(output)
    except (OutputError, ModelError, ValueError, WorkerDied) as e:
        _err(str(e))
        return 1
    if note:
        print(note, file=sys.stderr)
    previous_term = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    failures = paragraphs = 0
    out = None
    try:
        work = working_path(output)
        chunk_bytes = max(1, int(chunk_mb * 1024 * 1024))
        out = Output(work, settings={"chunk_bytes": chunk_bytes, "output": kind, "fields": FIELDS})
        if out.done:
            print(f"resuming: {len(out.done)} chunk(s) already in {work}", file=sys.stderr)
        plan = list(plan_chunks(inputs, chunk_bytes, exclude=sidecars(output) + [p for p in (summary, html) if p]))
        todo = list(_to_do(plan, out.done))
        bar = _progress(progress, sum(c.nbytes for c in todo if isinstance(c, Chunk)))
        try:
            for result in runner(todo):
                if result.error:
                    failures += 1
                    _err(f"skipped {result.source}: {result.error}")
                    continue
                out.write_chunk(result.chunk.key, result.chunk.size, result.data)
                paragraphs += result.count
                bar.update(result.chunk.nbytes)
                bar.set_postfix(paragraphs=paragraphs, refresh=False)
        finally:
            bar.close()
    except (OutputError, WorkerDied, ModelError) as e:
        _err(str(e))
        return 1
    except OSError as e:
        _err(f"writing {output} failed: {e.strerror or e}; what was written before is kept: "
             f"free the space or fix the folder, then run the same command to resume")
        return 1
    except KeyboardInterrupt:
        _err("interrupted; what was written is kept: run the same command to resume")
        return 130
    finally:
        if out is not None:
            out.close()
        lock.release()
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    return _finish(output, kind, summary, html, paragraphs, failures)


def _finish(output: Path, kind: str, summary: Optional[Path], html: Optional[Path], paragraphs: int,
            failures: int) -> int:
    """The parquet conversion, summary and HTML report, once every chunk is written (also when some
    files failed: they were named above)."""
    work = working_path(output)
    try:
        if kind == "parquet":
            jsonl_to_parquet(work, output)
            work.unlink()
            Path(str(work) + ".progress").unlink()
        if summary:
            write_summary(summary, summarize(read_output(output)))
        if html:
            from ..report.render import report_command   # the report reads what tagging wrote

            if report_command([output], html) != 0:
                return 1
    except OSError as e:
        _err(f"writing {summary if summary else output} failed: {e.strerror or e}")
        return 1
    print(f"tagged {paragraphs} paragraphs into {output}" + (f"; {failures} file(s) failed" if failures else ""),
          file=sys.stderr)
    return 1 if failures else 0


def _runner(cluster: Optional[str], workers: int, model: str, cache_size: int, time_limit: Optional[float],
            encoding: str):
    if cluster is None:
        return lambda items: run_local(items, workers, model, cache_size, time_limit, encoding)
    from .cluster import run_cluster

    return run_cluster(cluster, model, cache_size, encoding)   # no per-file time limit on Dask


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _terminate(signum, frame) -> None:
    # SIGTERM ends the run as Ctrl-C does: the output is closed cleanly and the workers stopped
    raise KeyboardInterrupt()
