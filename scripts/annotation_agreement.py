#!/usr/bin/env python3
"""Agreement between two independent annotation passes over the same paragraphs.

    python scripts/annotation_agreement.py annotations/agreement/first_pass.jsonl annotations/agreement/second_pass.jsonl

Prints per-theme Cohen's kappa and entity F1 of one pass against the other (exact spans).
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.metrics import cohen_kappa  # noqa: E402
from nlp.metrics import entity_metrics  # noqa: E402
from nlp.labels import load_labels  # noqa: E402


def main(first_path: str, second_path: str) -> int:
    first = {r["text_sha1"]: r for r in map(json.loads, Path(first_path).read_text(encoding="utf-8").splitlines())}
    second = [json.loads(l) for l in Path(second_path).read_text(encoding="utf-8").splitlines()]
    pairs = [(first[s["text_sha1"]], s) for s in second]
    labels = load_labels()
    print(f"{len(pairs)} paragraphs labelled twice\n\n| theme | kappa | first | second |\n|---|---|---|---|")
    kappas = []
    for theme in labels.themes:
        a = [theme in f["cats"] for f, _ in pairs]
        b = [theme in s["cats"] for _, s in pairs]
        kappa = cohen_kappa(a, b)
        if kappa is not None:
            kappas.append(kappa)
        print(f"| {theme} | {'n/a' if kappa is None else f'{kappa:.3f}'} | {sum(a)} | {sum(b)} |")
    print(f"| mean | {sum(kappas) / len(kappas):.3f} | | |")
    m = entity_metrics([[tuple(e) for e in f["entities"]] for f, _ in pairs],
                       [[tuple(e) for e in s["entities"]] for _, s in pairs], labels.entities)
    print("\n| entity | F1 | spans (first) |\n|---|---|---|")
    for label, v in m["per_label"].items():
        print(f"| {label} | {v['f']:.3f} | {v['support']} |")
    print(f"| all | {m['micro_f']:.3f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
