#!/usr/bin/env python3
"""Agreement between two independent annotation passes over the same paragraphs.

    python scripts/annotation_agreement.py annotations/agreement/first_pass.jsonl annotations/agreement/second_pass.jsonl
    python scripts/annotation_agreement.py annotations/agreement/real_dev_passes.jsonl        # one file of pairs

Two files are matched by ``text_sha1``; a file of pairs holds ``{"first": {…}, "second": {…}}`` a line
(``cats`` and ``entities`` as offsets). Prints per-theme Cohen's kappa, theme macro F1 of one pass
against the other, and entity F1 per label (exact spans): the ceiling a model can be held to.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlp.labels import load_labels  # noqa: E402
from nlp.metrics import cohen_kappa, entity_metrics, theme_metrics  # noqa: E402


def read_pairs(paths: list[str]) -> list[tuple[dict, dict]]:
    rows = [json.loads(l) for l in Path(paths[0]).read_text(encoding="utf-8").splitlines() if l.strip()]
    if len(paths) == 1:
        return [(r["first"], r["second"]) for r in rows]
    first = {r["text_sha1"]: r for r in rows}
    second = [json.loads(l) for l in Path(paths[1]).read_text(encoding="utf-8").splitlines() if l.strip()]
    return [(first[s["text_sha1"]], s) for s in second]


def main(paths: list[str]) -> int:
    pairs = read_pairs(paths)
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
    themes = theme_metrics([f["cats"] for f, _ in pairs], [s["cats"] for _, s in pairs], labels.themes)
    print(f"| mean kappa | {sum(kappas) / len(kappas):.3f} | | |")
    print(f"\ntheme macro F1 (second against first) {themes['macro_f']:.3f}, micro F1 {themes['micro_f']:.3f}")
    m = entity_metrics([[tuple(e) for e in f["entities"]] for f, _ in pairs],
                       [[tuple(e) for e in s["entities"]] for _, s in pairs], labels.entities)
    print("\n| entity | F1 | spans (first) | spans (second) |\n|---|---|---|---|")
    for label, v in m["per_label"].items():
        print(f"| {label} | {v['f']:.3f} | {v['support']} | {v['tp'] + v['fp']} |")
    print(f"| all | {m['micro_f']:.3f} | | |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
