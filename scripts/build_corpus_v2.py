#!/usr/bin/env python3
"""Corpus version 2: the v1 corpus brought to guide version 2, plus the new re-expressed paragraphs.

- v1 paragraphs: a reviewer's fixes (``{"id", "cats", "entities": [[surface, LABEL(, [k…])], …],
  "note"}``, one line per changed paragraph) replace their labels (``meta.v2_note`` keeps why).
- New paragraphs (``{"doc_id", "line", "text", "form", "cats", "entities": [[surface, LABEL…]]}``),
  two per real line, one in full-width and one in half-width punctuation, written from the real
  lines of ``../shared`` in new wording (``meta.origin = "rewrite"``, ``meta.form``).
Names become offsets with ``mark_names``; folds are re-balanced over the source reports.

    python scripts/build_corpus_v2.py annotations/policy_reports.jsonl --fixes FIXES.jsonl \
        --new NEW.jsonl… --output annotations/policy_reports.jsonl
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.annotation.examples import mark_names  # noqa: E402
from nlp.training.real_text import group_of  # noqa: E402

FOLDS = 5


def assign_folds(sizes: dict[str, int]) -> dict[str, int]:
    """Greedy balance: biggest reports first, each to the fold with fewest paragraphs so far."""
    load = [0] * FOLDS
    folds = {}
    for group in sorted(sizes, key=lambda g: (-sizes[g], hashlib.sha1(g.encode()).hexdigest())):
        fold = min(range(FOLDS), key=lambda f: (load[f], f))
        folds[group] = fold
        load[fold] += sizes[group]
    return folds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--fixes", type=Path)
    ap.add_argument("--new", type=Path, nargs="*", default=[])
    ap.add_argument("--output", type=Path, required=True)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    fixes = {}
    if args.fixes:
        for line in args.fixes.read_text(encoding="utf-8").splitlines():
            if line.strip():
                fix = json.loads(line)
                fixes[fix["id"]] = fix
    for row in rows:
        row["meta"].setdefault("guide", 1)
        fix = fixes.pop(row["id"], None)
        if fix:
            row["cats"] = sorted(set(fix["cats"]))
            row["entities"] = mark_names(row["text"], fix["entities"])
            row["meta"]["v2_note"] = fix.get("note", "")
        row["meta"]["guide"] = 2
    if fixes:
        raise SystemExit(f"fixes for unknown ids: {sorted(fixes)[:5]}")
    seen = {row["text"] for row in rows}
    for path in args.new:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            r = json.loads(line)
            text = r["text"].strip()
            if text in seen:
                print(f"{path.name}:{number}: duplicate text dropped", file=sys.stderr)
                continue
            seen.add(text)
            try:
                entities = mark_names(text, r.get("entities", []))
            except ValueError as e:
                raise SystemExit(f"{path}:{number}: {e}")
            rows.append({"text": text, "cats": sorted(set(r["cats"])), "entities": entities,
                         "meta": {"doc_id": r["doc_id"], "line": int(r["line"]), "origin": "rewrite",
                                  "group": group_of(r["doc_id"], int(r["line"])), "annotator": path.stem,
                                  "form": r.get("form"), "guide": 2}})
    sizes = defaultdict(int)
    for row in rows:
        sizes[row["meta"]["group"]] += 1
    folds = assign_folds(sizes)
    with args.output.open("w", encoding="utf-8") as out:
        for i, row in enumerate(rows, 1):
            row["meta"]["fold"] = folds[row["meta"]["group"]]
            row.pop("id", None)
            out.write(json.dumps({"id": i, **row}, ensure_ascii=False) + "\n")
    print(f"{len(rows)} paragraphs from {len(sizes)} reports written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
