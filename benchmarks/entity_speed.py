#!/usr/bin/env python3
"""Characters per second of each trained pipeline, and of its entity recogniser alone, on the
real report lines of ../shared (text no model was trained on).

For each model: the whole pipeline (``nlp.pipe``), then the same with the entity components
disabled; the difference is the entity recogniser's own cost, printed as characters per second.
(`benchmarks/throughput.py` holds the whole `tag` command against stock pkuseg segmentation.)

    python benchmarks/entity_speed.py models/default [OTHER_MODEL…] [--shared ../shared] [--repeat 3]
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.model import load_pipeline  # noqa: E402
from nlp.training.real_text import RealText  # noqa: E402

ENTITY_PIPES = {"crf_entities", "tok2vec", "ner", "gazetteer", "entity_rules"}


def seconds(nlp, texts, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=64):
            pass
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--shared", type=Path, default=Path("../shared"))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    texts = [text for _, _, text in RealText(args.shared).units()]
    chars = sum(map(len, texts))
    print(f"{len(texts)} real lines, {chars:,} characters; best of {args.repeat} passes")
    for path in args.models:
        nlp = load_pipeline(path)
        nlp.pipe([texts[0]])   # warm up
        whole = seconds(nlp, texts, args.repeat)
        entity = [name for name in nlp.pipe_names if name in ENTITY_PIPES]
        with nlp.select_pipes(disable=entity):
            without = seconds(nlp, texts, args.repeat)
        print(f"{path}: pipeline {chars / whole:,.0f} chars/s; entity recogniser ({', '.join(entity)}) alone "
              f"{chars / max(whole - without, 1e-9):,.0f} chars/s; rest of the pipeline {chars / without:,.0f} chars/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
