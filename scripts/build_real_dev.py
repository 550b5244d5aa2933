#!/usr/bin/env python3
"""Assemble the real-text dev set (stand-off: no real text is written) from two annotation passes.

Each pass is JSONL of ``{"doc_id", "line", "cats", "entities": [[surface, LABEL(, [k…])], …]}``
over the real lines of 30+ characters in ``../shared`` (``RealText.units``); names become offsets
with ``mark_names``. Where the passes differ, the adjudication file (``{"doc_id", "line", "cats",
"entities", "note"}``, settled by the guide) decides; lines without a second pass or without an
adjudicated answer keep the first pass and say so in ``status``.

    python scripts/build_real_dev.py --pass1 P1.jsonl… --pass2 P2.jsonl… [--adjudication A.jsonl] \
        --shared ../shared --output annotations/real_dev.jsonl --agreement annotations/agreement/real_dev_passes.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.annotation.examples import mark_names  # noqa: E402
from nlp.training.real_text import RealText, group_of, sha256_text  # noqa: E402


def read_pass(paths: list[Path], texts: dict) -> dict:
    out = {}
    for path in paths:
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not raw.strip():
                continue
            r = json.loads(raw)
            key = (r["doc_id"], int(r["line"]))
            if key not in texts:
                raise SystemExit(f"{path}:{number}: {key} is not a real line of 30+ characters")
            try:
                entities = mark_names(texts[key], r.get("entities", []))
            except ValueError as e:
                raise SystemExit(f"{path}:{number}: {e}")
            out[key] = {"cats": sorted(set(r["cats"])), "entities": entities, "note": r.get("note")}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pass1", type=Path, nargs="+", required=True)
    ap.add_argument("--pass2", type=Path, nargs="+", required=True)
    ap.add_argument("--adjudication", type=Path, nargs="*", default=[])
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--output", type=Path, required=True)
    ap.add_argument("--passes-output", type=Path, help="both passes as offsets, for agreement figures")
    args = ap.parse_args()
    real = RealText(args.shared)
    texts = {(d, n): t for d, n, t in real.units()}
    first, second = read_pass(args.pass1, texts), read_pass(args.pass2, texts)
    settled = read_pass(args.adjudication, texts) if args.adjudication else {}
    rows, counts = [], {}
    for key, text in texts.items():
        a, b = first.get(key), second.get(key)
        if a is None and b is None:
            continue
        if a and b and a["cats"] == b["cats"] and a["entities"] == b["entities"]:
            final, status = a, "agreed"
        elif key in settled:
            final, status = settled[key], "adjudicated"
        else:
            final, status = (a or b), ("first pass only" if b is None else "second pass only" if a is None
                                       else "disagreement, first pass kept")
        counts[status] = counts.get(status, 0) + 1
        rows.append({"doc_id": key[0], "line": key[1], "sha256": sha256_text(text),
                     "group": group_of(*key), "cats": final["cats"], "entities": final["entities"],
                     "status": status, **({"note": final["note"]} if final.get("note") else {})})
    with args.output.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    if args.passes_output:
        with args.passes_output.open("w", encoding="utf-8") as f:
            for key in texts:
                if key in first and key in second:
                    f.write(json.dumps({"doc_id": key[0], "line": key[1], "sha256": sha256_text(texts[key]),
                                        "first": first[key], "second": second[key]}, ensure_ascii=False) + "\n")
    print(f"{len(rows)} of {len(texts)} real lines written to {args.output}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
