#!/usr/bin/env python3
"""Where tagging's time goes: microseconds a character for each stage, in process, on text never seen.

Builds the same unique paragraphs as ``scale.py`` (sentences of the annotated corpus recombined,
no paragraph twice), loads the model (timing imports and loading apart), then times stock
spacy-pkuseg segmentation alone, the pipeline's tokenizer, and each component over all the
paragraphs in batches, one pass each (memos start empty, as in a fresh worker), and prints each
stage's share beside stock segmentation.

    python benchmarks/stages.py [--model models/default] [--megabytes 3]
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models/default")
    ap.add_argument("--megabytes", type=float, default=3.0)
    args = ap.parse_args()
    started = time.perf_counter()
    from nlp.model import load_pipeline
    imported = time.perf_counter()
    nlp = load_pipeline(args.model)
    loaded = time.perf_counter()
    print(f"imports {imported - started:.2f} s, loading the model {loaded - imported:.2f} s")

    from scale import build, stock_segmentation
    with tempfile.TemporaryDirectory(prefix="policy-nlp-stages-") as tmp:
        source = Path(tmp) / "paragraphs.jsonl"
        count, chars = build(source, args.megabytes, seed=1)
        texts = [json.loads(line)["text"] for line in source.open(encoding="utf-8")]
        stock = 1e6 / stock_segmentation(source, args.model)
    print(f"{count:,} unique paragraphs, {chars:,} characters")
    stages = []
    t = time.perf_counter()
    docs = [nlp.tokenizer(text) for text in texts]
    stages.append(("tokenizer (fast pkuseg, Doc)", time.perf_counter() - t))
    for name, component in nlp.pipeline:
        t = time.perf_counter()
        docs = list(component.pipe(docs, batch_size=64)) if hasattr(component, "pipe") else [component(d) for d in docs]
        stages.append((name, time.perf_counter() - t))
    total = sum(seconds for _, seconds in stages) * 1e6 / chars
    print(f"{'stock spacy-pkuseg segmentation alone':<32}{stock:>7.2f} µs/char  100 %")
    for name, seconds in stages:
        per = seconds * 1e6 / chars
        print(f"{name:<32}{per:>7.2f} µs/char  {per / stock:>5.0%}")
    print(f"{'whole pipeline':<32}{total:>7.2f} µs/char  {total / stock:>5.0%}  "
          f"({1e6 / total:,.0f} chars/s; stock {1e6 / stock:,.0f}: {stock / total:.0%} of stock's speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
