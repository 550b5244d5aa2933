#!/usr/bin/env python3
"""How many annotated entity spans fall on pkuseg token boundaries, with and without the
domain dictionary (configs/user_dict.txt), on 50 paragraphs of the corpus (fixed seed).

    python benchmarks/segmenter_dictionary.py [--paragraphs 50]
"""
import argparse
import json
import random
import sys
from pathlib import Path

import spacy_pkuseg

ROOT = Path(__file__).resolve().parent.parent


def boundaries(words: list[str]) -> set[int]:
    out, offset = {0}, 0
    for word in words:
        offset += len(word)
        out.add(offset)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paragraphs", type=int, default=50)
    ap.add_argument("--model", type=Path, default=ROOT / "models/pkuseg_ctb8")
    args = ap.parse_args()
    rows = [json.loads(l) for l in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    sample = random.Random(0).sample([r for r in rows if r["entities"]], args.paragraphs)
    spans = sum(len(r["entities"]) for r in sample)
    print(f"{args.paragraphs} paragraphs, {spans} entity spans")
    for name, user_dict in (("without dictionary", None), ("with configs/user_dict.txt", str(ROOT / "configs/user_dict.txt"))):
        seg = spacy_pkuseg.pkuseg(str(args.model), user_dict=user_dict)
        aligned = {"ORG": [0, 0], "PROGRAM": [0, 0], "POLICY": [0, 0]}
        for row in sample:
            cuts = boundaries(seg.cut(row["text"]))
            for start, end, label in row["entities"]:
                aligned[label][0] += start in cuts and end in cuts
                aligned[label][1] += 1
        total = sum(a for a, _ in aligned.values())
        detail = ", ".join(f"{label} {a}/{n}" for label, (a, n) in aligned.items())
        print(f"{name:<28} {total}/{spans} on token boundaries ({total / spans:.1%}): {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
