"""Batch tagging: files → paragraphs → pipeline → one record per paragraph, resumable.

Work is shared out by file: each worker process loads the pipeline once, reads its file,
tags every report in it and sends back one block of records per report. Blocks are written
in input order, each in one write followed by fsync, and a sidecar ``OUT.progress`` records
the byte length of the output after each finished report. A re-run truncates the output to
the last finished report and skips the reports already done, so an interrupted run never
leaves a partial record behind. At most ``2 × workers`` files are in flight: memory stays flat.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter, OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

from ..reading.read import ReadError, iter_files

FIELDS = ["id", "report_id", "report_title", "source", "paragraph_index", "start", "end", "heading_path",
          "is_heading", "text", "themes", "scores", "entities"]
JSON_FIELDS = {"heading_path", "themes", "scores", "entities"}


@dataclass
class FileResult:
    source: str
    blocks: list[tuple[str, list[dict]]] = field(default_factory=list)   # (report_id, records)
    error: Optional[str] = None


# -- the worker side --------------------------------------------------------------------------
_pipeline = None
_cache: "OrderedDict[str, dict]" = OrderedDict()
_cache_size = 0


def _init_worker(model: str, cache_size: int) -> None:
    global _pipeline, _cache_size
    from ..model import load_pipeline

    _pipeline = load_pipeline(model)
    _cache.clear()
    _cache_size = cache_size


def _predict(texts: list[str]) -> list[dict]:
    """Predictions for texts; repeated paragraphs (boilerplate, re-published pages) come from a cache."""
    from ..model import doc_record

    missing = list(dict.fromkeys(t for t in texts if t not in _cache))
    for text, doc in zip(missing, _pipeline.pipe(missing, batch_size=64)):
        _cache[text] = doc_record(doc)
    out = []
    for text in texts:
        out.append(_cache[text])
        _cache.move_to_end(text)
    while len(_cache) > _cache_size:
        _cache.popitem(last=False)
    return out


def tag_file(path: str, done: frozenset = frozenset()) -> FileResult:
    from ..reading.segment import read_paragraphs

    result = FileResult(path)
    try:
        paragraphs = read_paragraphs(Path(path))
    except ReadError as e:
        result.error = e.problem
        return result
    reports: "OrderedDict[str, list]" = OrderedDict()
    for paragraph in paragraphs:
        if paragraph.report_id not in done:
            reports.setdefault(paragraph.report_id, []).append(paragraph)
    for report_id, report in reports.items():
        predictions = _predict([p.text for p in report])
        records = []
        for paragraph, prediction in zip(report, predictions):
            record = paragraph.to_dict()
            record.pop("meta")
            record.update(prediction)
            records.append({k: record.get(k) for k in FIELDS})
        result.blocks.append((report_id, records))
    return result


# -- the writer side --------------------------------------------------------------------------
class Output:
    """An output file (.jsonl or .csv) plus its progress sidecar; resumes where a run stopped."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.kind = self.path.suffix.lower().lstrip(".")
        if self.kind not in ("jsonl", "csv"):
            raise ValueError(f"{self.path}: output must end in .jsonl, .csv or .parquet")
        self.progress = self.path.with_name(self.path.name + ".progress")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.done: set[str] = set()
        length = 0
        if self.path.exists() and self.progress.exists():
            for line in self.progress.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    break    # a torn last line of the sidecar: that report is redone
                self.done.add(entry["report_id"])
                length = entry["bytes"]
        elif self.path.exists():
            raise FileExistsError(f"{self.path} exists but was not written by `policy-nlp tag` (no "
                                  f"{self.progress.name}); remove it or choose another output")
        self._out = open(self.path, "ab")
        self._out.truncate(length)   # drop whatever follows the last finished report
        self._out.seek(length)
        # a sidecar left without its output (output deleted by hand) starts over
        self._log = open(self.progress, "a" if self.done else "w", encoding="utf-8")
        if length == 0 and self.kind == "csv":
            self._write_block(self._csv([], header=True))

    def _csv(self, records: list[dict], header: bool = False) -> bytes:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        if header:
            writer.writeheader()
        for record in records:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v
                             for k, v in record.items()})
        return buffer.getvalue().encode("utf-8")

    def _write_block(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()
        os.fsync(self._out.fileno())

    def write_report(self, report_id: str, records: list[dict]) -> None:
        if self.kind == "jsonl":
            data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")
        else:
            data = self._csv(records)
        self._write_block(data)
        self._log.write(json.dumps({"report_id": report_id, "bytes": self._out.tell()}, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())
        self.done.add(report_id)

    def close(self) -> None:
        self._out.close()
        self._log.close()


def read_output(path: Path) -> Iterator[dict]:
    """Records of a finished .jsonl or .csv output, as dicts."""
    with open(path, encoding="utf-8", newline="") as f:
        if Path(path).suffix.lower() == ".csv":
            for row in csv.DictReader(f):
                yield {k: json.loads(v) if k in JSON_FIELDS else v for k, v in row.items()}
        else:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def summarize(records: Iterable[dict], themes: list[str]) -> list[dict]:
    """One row per report: paragraph count; per theme the count and share; top ORG and PROGRAM names."""
    rows: "OrderedDict[str, dict]" = OrderedDict()
    for record in records:
        row = rows.get(record["report_id"])
        if row is None:
            row = rows[record["report_id"]] = {"report_id": record["report_id"], "report_title": record["report_title"],
                                               "source": record["source"], "paragraphs": 0, "themes": Counter(),
                                               "ORG": Counter(), "PROGRAM": Counter()}
        row["paragraphs"] += 1
        row["themes"].update(record["themes"])
        for entity in record["entities"]:
            if entity["label"] in ("ORG", "PROGRAM"):
                row[entity["label"]][entity["text"]] += 1
    out = []
    for row in rows.values():
        flat = {k: row[k] for k in ("report_id", "report_title", "source", "paragraphs")}
        for theme in themes:
            flat[f"n_{theme}"] = row["themes"][theme]
            flat[f"share_{theme}"] = round(row["themes"][theme] / row["paragraphs"], 4)
        for label in ("ORG", "PROGRAM"):
            flat[f"top_{label}"] = "; ".join(f"{name} ({n})" for name, n in row[label].most_common(5))
        out.append(flat)
    return out


def write_summary(path: Path, rows: list[dict]) -> None:
    from ..io import atomic_write

    with atomic_write(path) as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["report_id"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _ordered_results(files: Iterable[Union[Path, ReadError]], done: frozenset, workers: int,
                     model: str, cache_size: int) -> Iterator[FileResult]:
    """Results in input order; at most 2 × workers files in flight."""
    if workers <= 1:
        _init_worker(model, cache_size)
        for item in files:
            yield FileResult(item.path, error=item.problem) if isinstance(item, ReadError) else tag_file(str(item), done)
        return
    pending: list[Union[Future, FileResult]] = []
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(model, cache_size)) as pool:
        for item in files:
            if isinstance(item, ReadError):
                pending.append(FileResult(item.path, error=item.problem))
            else:
                pending.append(pool.submit(tag_file, str(item), done))
            while len(pending) > 2 * workers:
                head = pending.pop(0)
                yield head if isinstance(head, FileResult) else head.result()
        for head in pending:
            yield head if isinstance(head, FileResult) else head.result()


def _progress(enabled: str):
    from tqdm import tqdm

    show = enabled == "always" or (enabled == "auto" and sys.stderr.isatty() and not os.environ.get("CI"))
    return tqdm(unit=" reports", disable=not show, file=sys.stderr, dynamic_ncols=True)


def tag_command(inputs: list[Path], model: Path, output: Path, summary: Optional[Path] = None,
                workers: int = 1, progress: str = "auto", cache_size: int = 20000) -> int:
    from ..labels import load_labels
    from ..model import ModelError, verify

    try:
        verify(model)
    except ModelError as e:
        print(f"policy-nlp tag: {e}", file=sys.stderr)
        return 1
    parquet = Path(output).suffix.lower() == ".parquet"
    if parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            print("policy-nlp tag: .parquet output needs pyarrow (pip install 'policy-nlp[parquet]')", file=sys.stderr)
            return 1
    work_path = Path(str(output) + ".partial.jsonl") if parquet else Path(output)
    try:
        out = Output(work_path)
    except (ValueError, FileExistsError) as e:
        print(f"policy-nlp tag: {e}", file=sys.stderr)
        return 1
    if out.done:
        print(f"resuming: {len(out.done)} reports already in {work_path}", file=sys.stderr)
    failures = paragraphs = 0
    bar = _progress(progress)
    try:
        for result in _ordered_results(iter_files(inputs), frozenset(out.done), workers, str(model), cache_size):
            if result.error:
                failures += 1
                print(f"policy-nlp tag: skipped {result.source}: {result.error}", file=sys.stderr)
                continue
            for report_id, records in result.blocks:
                out.write_report(report_id, records)
                paragraphs += len(records)
                bar.update(1)
                bar.set_postfix(paragraphs=paragraphs, refresh=False)
    finally:
        bar.close()
        out.close()
    if parquet:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = [{k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v for k, v in r.items()}
                for r in read_output(work_path)]
        pq.write_table(pa.Table.from_pylist(rows), output)
        work_path.unlink()
        out.progress.unlink()
    if summary:
        records = _parquet_records(output) if parquet else read_output(work_path)
        write_summary(summary, summarize(records, list(load_labels().themes)))
    print(f"tagged {paragraphs} paragraphs into {output}" + (f"; {failures} file(s) failed" if failures else ""),
          file=sys.stderr)
    return 1 if failures else 0


def _parquet_records(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for row in pq.read_table(path).to_pylist():
        yield {k: json.loads(v) if k in JSON_FIELDS and isinstance(v, str) else v for k, v in row.items()}
