#!/usr/bin/env python3
"""Corpus version 2 (the current corpus): the v1 corpus brought to guide version 2, plus the new re-expressed paragraphs.

- v1 paragraphs: a reviewer's fixes (``{"id", "cats", "entities": [[surface, LABEL(, [k…])], …],
  "note"}``, one line per changed paragraph) replace their labels (``meta.v2_note`` keeps why).
- New paragraphs (``{"doc_id", "line", "text", "form", "cats", "entities": [[surface, LABEL…]]}``),
  two per real line, one in full-width and one in half-width punctuation, written from the real
  lines of ``../shared`` in new wording (``meta.origin = "rewrite"``, ``meta.form``).
Names become offsets with ``mark_names``; folds are re-balanced over the source reports.
- ``--propagate``: bare body names (guide v2) that ``policy-nlp annotations consistency`` found
  labelled in most places and unlabelled in some are labelled where they stand as a word of their
  own (pkuseg word boundaries; not after 各/我/本/上级/基层, which make them generic), each
  recorded in ``meta.propagated``.
- ``--decisions``: a reviewer's decision on every remaining finding of the consistency check
  (``{"id", "start", "end", "surface", "decision": "label"|"keep", "label"|"reason"}``, and
  ``{"surface", "fix_labelled": true, "reason"}`` where the labelled places are the wrong ones):
  "label" marks the occurrence (a span inside it gives way), "keep" leaves it and its reason is
  the documented exception; wrong labelled places are removed or narrowed.

    python scripts/build_corpus.py annotations/policy_reports.jsonl --fixes FIXES.jsonl \
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


GENERIC_BEFORE = ("各", "我", "本", "上级", "基层", "兄弟", "省市")


def propagate(rows: list[dict], names: list[str], pkuseg_model: Path) -> None:
    import spacy

    import nlp.components  # noqa: F401  (the pipeline's tokenizer)

    segmenter = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1"}}})
    segmenter.tokenizer.initialize(pkuseg_model=str(pkuseg_model), pkuseg_user_dict="configs/user_dict.txt")
    added = 0
    for row in rows:
        text = row["text"]
        if not any(name in text for name in names):
            continue
        bounds = {t.idx for t in segmenter.make_doc(text)} | {len(text)}
        for name in sorted(names, key=len, reverse=True):
            at = text.find(name)
            while at >= 0:
                end = at + len(name)
                free = not any(s < end and at < e for s, e, _ in row["entities"])
                if free and at in bounds and end in bounds and not text[:at].endswith(GENERIC_BEFORE):
                    row["entities"] = sorted(row["entities"] + [[at, end, "ORG"]])
                    row["meta"].setdefault("propagated", []).append(name)
                    added += 1
                at = text.find(name, at + 1)
    print(f"propagated {added} bare name(s) to where they were left unlabelled", file=sys.stderr)


# Labelled places found wrong in review: the surface is dropped (a generic term) or narrowed.
NARROW = {"“315”科技创新体系建设": "“315”科技创新体系"}
PARTLY_WRONG = {"新材料", "县人民政府"}   # right in some places: each was kept or fixed by hand in review


def apply_decisions(rows: list[dict], decisions: list[dict]) -> None:
    counts = defaultdict(int)
    for d in decisions:
        if d.get("fix_labelled"):
            surface = d["surface"]
            if surface in PARTLY_WRONG:
                continue
            for row in rows:
                kept = []
                for start, end, label in row["entities"]:
                    if row["text"][start:end] != surface:
                        kept.append([start, end, label])
                    elif surface in NARROW:
                        kept.append([start, start + len(NARROW[surface]), label])
                        counts["narrowed"] += 1
                    else:
                        counts["removed"] += 1
                row["entities"] = kept
            continue
        row = rows[d["id"] - 1]
        start, end = d["start"], d["end"]
        if row["text"][start:end] != d["surface"]:
            raise SystemExit(f"decision for id {d['id']}: {d['surface']!r} is not at {start}")
        if d["decision"] == "label":
            inside = [e for e in row["entities"] if start <= e[0] and e[1] <= end]
            crossing = [e for e in row["entities"] if e[0] < end and start < e[1] and e not in inside]
            if crossing:
                counts["label skipped (crosses a span)"] += 1
                continue
            row["entities"] = sorted([e for e in row["entities"] if e not in inside] + [[start, end, d["label"]]])
            counts["labelled"] += 1
        elif "category noun" in d.get("reason", "") and d["surface"] == "国家高新区":
            # counting zones: the 高新区 span projected inside it is no mention either
            row["entities"] = [e for e in row["entities"] if not (start <= e[0] and e[1] <= end)]
            counts["removed"] += 1
        else:
            counts["kept: " + d.get("reason", "").split(":")[0]] += 1
    print("consistency decisions:", dict(counts), file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--fixes", type=Path)
    ap.add_argument("--new", type=Path, nargs="*", default=[])
    ap.add_argument("--output", type=Path, required=True)
    ap.add_argument("--propagate", nargs="*", default=[], help="bare body names to label wherever they stand alone")
    ap.add_argument("--pkuseg-model", type=Path, default=Path("models/pkuseg_ctb8"))
    ap.add_argument("--decisions", type=Path, help="reviewed consistency decisions (JSONL)")
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
    if args.propagate:
        propagate(rows, args.propagate, args.pkuseg_model)
    if args.decisions:
        apply_decisions(rows, [json.loads(line) for line in args.decisions.read_text(encoding="utf-8").splitlines()
                               if line.strip()])
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
