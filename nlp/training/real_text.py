"""Look up, at run time, the real paragraph a corpus paragraph was written from.

The real reports stay in ``../shared`` (never copied into the project); each corpus record
names its source as ``meta.doc_id`` + ``meta.line``: a seed page's file stem and line number,
or an excerpt's ``doc_id`` and the line within its text (both 1-based).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from .. import PROJECT_DIR

DEFAULT_SHARED = PROJECT_DIR.parent / "shared"


class RealText:
    def __init__(self, shared: Union[str, Path, None] = None):
        self.shared = Path(shared or DEFAULT_SHARED)
        if not (self.shared / "corpus").is_dir() and not (self.shared / "seeds").is_dir():
            raise FileNotFoundError(f"{self.shared}: no seeds/ or corpus/ folder with the real reports")

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
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    out[row["doc_id"]] = row.get("text", "").splitlines()
        return out

    def paragraph(self, doc_id: str, line: int) -> Optional[str]:
        lines = self._lines(str(doc_id))
        if not lines or not 1 <= int(line) <= len(lines):
            return None
        return lines[int(line) - 1].strip() or None
