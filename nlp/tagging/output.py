"""The tagged output: one record per paragraph, written chunk by chunk, resumable, one writer at a time.

Records of one chunk of input are written in one block, flushed to disk, and then a line in the
sidecar ``OUT.progress`` records the chunk, the output's length after it and a CRC of the block.
A re-run checks the output against the sidecar (not shorter than recorded, last block
unchanged), truncates what follows the last finished chunk and skips the finished chunks: the
output has every record exactly once, whenever the run was killed. ``OUT.lock`` (an exclusive
``flock``) keeps a second run from writing the same output.

``.parquet`` output is written as ``.jsonl`` first (resumable) and converted at the end in
batches of rows (row groups), so memory stays flat whatever the size.
"""
import csv
import io
import json
import os
import zlib
from pathlib import Path
from typing import Iterator, Optional

FIELDS = ["id", "report_id", "report_title", "source", "place", "year", "metadata_from", "paragraph_index", "start",
          "end", "heading_path", "is_heading", "text", "themes", "scores", "entities"]
JSON_FIELDS = {"metadata_from", "heading_path", "themes", "scores", "entities"}
KINDS = ("jsonl", "csv", "parquet")
PROGRESS_VERSION = 3


class OutputError(Exception):
    """An output that cannot be written or resumed; the message says which file and why."""


def sidecars(path: Path) -> list[Path]:
    """Files that belong to an output: never read back as input."""
    path = Path(path)
    work = working_path(path)
    return [path, work, _progress_path(work), _lock_path(path)]


def working_path(path: Path) -> Path:
    """Where records are appended: the output itself, or a ``.partial.jsonl`` for ``.parquet``."""
    path = Path(path)
    return Path(str(path) + ".partial.jsonl") if path.suffix.lower() == ".parquet" else path


def _progress_path(work: Path) -> Path:
    return work.with_name(work.name + ".progress")


def _lock_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".lock")


def output_kind(path: Path) -> str:
    kind = Path(path).suffix.lower().lstrip(".")
    if kind not in KINDS:
        raise OutputError(f"{path}: output must end in .jsonl, .csv or .parquet")
    return kind


class Lock:
    """An exclusive lock file beside the output, held while one run writes it."""

    def __init__(self, output: Path):
        import fcntl

        self.path = _lock_path(output)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"{self.path}: cannot create the lock file ({e.strerror}); is the folder writable?") \
                from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 64, 0).decode("ascii", "replace").strip()
            os.close(self._fd)
            raise OutputError(f"{output} is being written by another `policy-nlp tag` run"
                              + (f" (process {holder})" if holder else "")
                              + "; wait for it to finish or choose another --output") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, str(os.getpid()).encode("ascii"), 0)

    def release(self) -> None:
        try:
            self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)   # closing releases the flock


class Output:
    """Append records chunk by chunk to a .jsonl or .csv file, with its progress sidecar."""

    def __init__(self, path: Path, settings: dict):
        self.path = Path(path)
        self.kind = "csv" if self.path.suffix.lower() == ".csv" else "jsonl"
        self.progress = _progress_path(self.path)
        self.settings = dict(settings, version=PROGRESS_VERSION)
        self.done: dict[str, int] = {}     # chunk key -> size of its input file when it was tagged
        length = self._resume_point()
        self._out = open(self.path, "ab")
        self._out.truncate(length)   # drop whatever follows the last finished chunk
        self._out.seek(length)
        fresh = not self.done
        self._log = open(self.progress, "w" if fresh else "a", encoding="utf-8")
        if fresh:
            self._log.write(json.dumps(self.settings) + "\n")
            self._log.flush()
            if self.kind == "csv":
                self._write(_csv_rows([], header=True))

    def _resume_point(self) -> int:
        """The output length to resume from, after checking the output against its sidecar."""
        if not self.path.exists():
            return 0
        if not self.progress.exists():
            if self.path.stat().st_size == 0:
                return 0
            raise OutputError(f"{self.path} exists but was not written by `policy-nlp tag` (no {self.progress.name}); "
                              f"remove it or choose another output")
        lines = self.progress.read_text(encoding="utf-8").split("\n")
        try:
            header = json.loads(lines[0])
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("version") != PROGRESS_VERSION:
            raise OutputError(f"{self.progress}: not a progress file of this version of `policy-nlp tag`; "
                              f"remove {self.path} and {self.progress.name} to start over")
        if header != self.settings:
            changed = ", ".join(f"{k} {header.get(k)!r} → {v!r}" for k, v in self.settings.items() if header.get(k) != v)
            raise OutputError(f"{self.path} was begun with other settings ({changed}); resume with the same ones, "
                              f"or remove {self.path} and {self.progress.name} to start over")
        entries = []
        for line in lines[1:]:
            try:
                entries.append(json.loads(line))
            except ValueError:
                break    # a torn last line: that chunk is redone
        if not entries:
            return 0
        length, start = entries[-1]["bytes"], entries[-1]["start"]
        actual = self.path.stat().st_size
        if actual < length:
            raise OutputError(f"{self.path} is shorter ({actual:,} bytes) than {self.progress.name} records "
                              f"({length:,}): it was cut or changed after the run; remove both to start over")
        with open(self.path, "rb") as f:
            f.seek(start)
            if zlib.crc32(f.read(length - start)) != entries[-1]["crc"]:
                raise OutputError(f"{self.path}: its last finished block differs from what {self.progress.name} "
                                  f"records: the file was changed after the run; remove both to start over")
        self.done = {e["chunk"]: e["size"] for e in entries}
        return length

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._out.flush()
        os.fsync(self._out.fileno())

    def write_chunk(self, key: str, input_size: int, data: bytes) -> None:
        """Append one chunk's records, already encoded by ``encode_records`` (in the worker)."""
        start = self._out.tell()
        self._write(data)
        entry = {"chunk": key, "size": input_size, "start": start, "bytes": self._out.tell(), "crc": zlib.crc32(data)}
        self._log.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._log.flush()
        os.fsync(self._log.fileno())
        self.done[key] = input_size

    def close(self) -> None:
        self._out.close()
        self._log.close()


def encode_records(records: list[dict], kind: str) -> bytes:
    """Records as the bytes of a .jsonl or .csv block. Workers encode, so the process that writes
    only writes: on a machine with as many workers as cores, it must not be the bottleneck."""
    if kind == "csv":
        return _csv_rows(records)
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _csv_rows(records: list[dict], header: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    if header:
        writer.writeheader()
    for record in records:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v for k, v in record.items()})
    return buffer.getvalue().encode("utf-8")


def read_output(path: Path) -> Iterator[dict]:
    """Records of a tagged output (.jsonl, .csv or .parquet), as dicts, streamed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
            for row in batch.to_pylist():
                yield {k: json.loads(v) if k in JSON_FIELDS and isinstance(v, str) else v for k, v in row.items()}
        return
    with open(path, encoding="utf-8", newline="") as f:
        if suffix == ".csv":
            for row in csv.DictReader(f):
                yield {k: json.loads(v) if k in JSON_FIELDS else v for k, v in row.items()}
        else:
            for line in f:
                if line.strip():
                    yield json.loads(line)


def jsonl_to_parquet(source: Path, target: Path, rows_per_group: int = 20000) -> int:
    """Convert the working .jsonl to .parquet one row group at a time; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..io import atomic_write

    schema = pa.schema([(k, pa.int64() if k in ("paragraph_index", "start", "end") else
                         pa.bool_() if k == "is_heading" else pa.string()) for k in FIELDS])
    rows, batch = 0, []
    with atomic_write(target, "wb") as handle, pq.ParquetWriter(handle, schema) as writer:
        for record in read_output(source):
            batch.append({k: json.dumps(v, ensure_ascii=False) if k in JSON_FIELDS else v for k, v in record.items()})
            if len(batch) >= rows_per_group:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                rows, batch = rows + len(batch), []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            rows += len(batch)
    return rows


def check_writable(path: Optional[Path], what: str) -> None:
    """Fail before any work when a file cannot be written (a missing or read-only folder)."""
    if path is None:
        return
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputError(f"{path}: {what} is a folder; give a file name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{folder}: cannot create the folder for the {what} ({e.strerror})") from None
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: the {what} cannot be written (permission denied)")
