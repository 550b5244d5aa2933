"""Real report text, read at run time from ``../shared`` (never copied into the project).

Two uses: the real paragraph a corpus paragraph was written from (``meta.doc_id`` + ``meta.line``),
and the real-text dev set (``annotations/real_dev.jsonl``): stand-off labels of every real line
of 30+ characters, which ``load_real_dev`` joins with the text, checking each line's SHA-256.
A line is ``text.splitlines()[line - 1].strip()`` of a seed page or of an excerpt's ``text``.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Optional, Union

from ..annotation.examples import Example, read_lines

SEED = "000_d1176b456afaead3"
# The seed page holds four reports; these are the lines where each begins.
SEED_REPORT_STARTS = [(10, 1), (90, 2), (208, 3), (282, 4)]
MIN_CHARS = 30


class RealTextMissing(FileNotFoundError):
    pass


def shared_dir(option: Optional[Path] = None) -> Path:
    """The folder of real reports: the ``--shared`` option, else ``$POLICY_NLP_SHARED``; never a guess."""
    import os

    chosen = option or (Path(os.environ["POLICY_NLP_SHARED"]) if os.environ.get("POLICY_NLP_SHARED") else None)
    if chosen is None:
        raise RealTextMissing("the folder of real reports is not known: give --shared DIR "
                              "(the folder holding seeds/ and corpus/) or set POLICY_NLP_SHARED")
    if not Path(chosen).is_dir():
        raise RealTextMissing(f"{chosen}: no such folder (--shared names the folder holding seeds/ and corpus/)")
    return Path(chosen)


def group_of(doc_id: str, line: int) -> str:
    """The source report of a real line: the excerpt, or one of the seed page's four reports."""
    if doc_id == SEED:
        number = max([n for start, n in SEED_REPORT_STARTS if line >= start] or [1])
        return f"{SEED}#{number}"
    return doc_id


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RealText:
    def __init__(self, shared: Union[str, Path]):
        self.shared = Path(shared)
        if not (self.shared / "corpus").is_dir() and not (self.shared / "seeds").is_dir():
            raise RealTextMissing(f"{self.shared}: no seeds/ or corpus/ folder with the real reports "
                                  f"(pass --shared DIR: the folder holding seeds/ and corpus/)")

    @lru_cache(maxsize=None)
    def _lines(self, doc_id: str) -> Optional[list[str]]:
        seed = self.shared / "seeds" / f"{doc_id}.txt"
        if seed.is_file():
            return seed.read_text(encoding="utf-8", errors="replace").splitlines()
        return self._excerpts().get(doc_id)

    @lru_cache(maxsize=1)
    def _excerpts(self) -> dict[str, list[str]]:
        out = {}
        for path in sorted((self.shared / "corpus").glob("*.jsonl")):
            for line in read_lines(path):
                if line.strip():
                    row = json.loads(line)
                    out[row["doc_id"]] = row.get("text", "").splitlines()
        return out

    def paragraph(self, doc_id: str, line: int) -> Optional[str]:
        lines = self._lines(str(doc_id))
        if not lines or not 1 <= int(line) <= len(lines):
            return None
        return lines[int(line) - 1].strip() or None

    def units(self) -> Iterator[tuple[str, int, str]]:
        """Every real line of 30+ characters: the units of the real-text dev set."""
        docs = [p.stem for p in sorted((self.shared / "seeds").glob("*.txt"))] + list(self._excerpts())
        for doc_id in docs:
            for number, raw in enumerate(self._lines(doc_id) or [], 1):
                if len(raw.strip()) >= MIN_CHARS:
                    yield doc_id, number, raw.strip()


def load_real_dev(path: Union[str, Path], shared: Union[str, Path]) -> list[Example]:
    """The real-text dev set: stand-off labels joined with the text from ``shared``.

    Raises ``RealTextMissing`` naming what is missing when ``shared`` or a line is absent,
    and ``ValueError`` naming the record when a line's text no longer matches its hash."""
    real = RealText(shared)
    out, missing = [], []
    for number, raw in enumerate(read_lines(path), 1):
        if not raw.strip():
            continue
        record = json.loads(raw)
        text = real.paragraph(record["doc_id"], record["line"])
        if text is None:
            missing.append(f"{record['doc_id']} line {record['line']}")
            continue
        if sha256_text(text) != record["sha256"]:
            raise ValueError(f"{path}:{number}: {record['doc_id']} line {record['line']}: the text in {shared} "
                             f"does not match the recorded SHA-256 (the real reports changed?)")
        meta = {"doc_id": record["doc_id"], "line": record["line"], "group": group_of(record["doc_id"], record["line"]),
                "origin": "real"}
        out.append(Example(text, list(record["cats"]), [tuple(e) for e in record["entities"]], meta, line=number))
    if missing:
        raise RealTextMissing(f"{path}: {len(missing)} line(s) not found in {shared}, e.g. {', '.join(missing[:3])}")
    return out
