#!/usr/bin/env python3
"""Throughput of batch tagging against pkuseg segmentation alone, and peak memory.

Builds a corpus of at least --megabytes MB of report text from the project's own annotated
paragraphs (repeated and shuffled, cut into reports of 40 paragraphs, one .txt file each),
then prints characters per second for: pkuseg segmentation alone (stock spacy-pkuseg, the
floor); the pipeline's fast pkuseg feature path (and whether its words differ); both, and the
whole pipeline, on one pass over text never seen (the distinct paragraphs, memos empty); the
full `tag` with one and two workers with the prediction cache off (every paragraph goes through
the pipeline) and on (the default: a repeated paragraph is tagged once per worker); and peak
resident memory.

    python benchmarks/throughput.py [--model models/default] [--megabytes 5]
"""
import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from spacy.lang.zh import ChineseTokenizer  # noqa: E402

from nlp.model import doc_record, load_pipeline  # noqa: E402
from nlp.normalize import fold  # noqa: E402
from nlp.reading.segment import iter_reports  # noqa: E402
from nlp.tagging.tag import tag_command  # noqa: E402
from nlp.segmenter.tokenizer import FastChineseTokenizer  # noqa: E402


def build_corpus(folder: Path, megabytes: float, seed: int = 0) -> tuple[int, int]:
    texts = [json.loads(l)["text"] for l in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    rng = random.Random(seed)
    size = files = 0
    while size < megabytes * 1_000_000:
        batch = rng.sample(texts, 40)
        data = ("科技局工作总结\n" + "\n".join(batch) + "\n").encode("utf-8")
        (folder / f"report_{files:05d}.txt").write_bytes(data)
        size += len(data)
        files += 1
    return size, files


def segment(tokenizer, paragraphs: list[str]) -> tuple[float, list[list[str]]]:
    started = time.perf_counter()
    docs = [tokenizer(text) for text in paragraphs]
    speed = sum(map(len, paragraphs)) / (time.perf_counter() - started)
    # the pipeline's tokenizer segments the folded text (full/half width made one): compare folded words
    return speed, [[fold(t.text) for t in doc] for doc in docs]


def peak_mb() -> tuple[float, float]:
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return self_kb / 1024, children_kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models/default")
    ap.add_argument("--megabytes", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="policy-nlp-bench-") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        corpus.mkdir()
        size, files = build_corpus(corpus, args.megabytes)
        paragraphs = [p.text for report in iter_reports([corpus]) for p in report]
        chars = sum(len(t) for t in paragraphs)
        print(f"corpus: {size / 1e6:.1f} MB, {files} reports, {len(paragraphs)} paragraphs, {chars:,} characters")

        nlp = load_pipeline(args.model)
        stock = ChineseTokenizer(nlp.vocab, segmenter="pkuseg")
        stock.from_disk(args.model / "tokenizer")
        # Text never seen: one pass over the distinct paragraphs, the fast path's memos empty.
        distinct = list(dict.fromkeys(paragraphs))
        distinct_chars = sum(map(len, distinct))
        fresh = FastChineseTokenizer(nlp.vocab, segmenter="pkuseg")
        fresh.from_disk(args.model / "tokenizer")
        cold_fast, _ = segment(fresh, distinct)
        started = time.perf_counter()
        records = [doc_record(doc) for doc in nlp.pipe(distinct, batch_size=64)]
        cold_pipeline = distinct_chars / (time.perf_counter() - started)
        cold_stock, _ = segment(stock, [fold(p) for p in distinct])
        print(f"one pass over the {len(records)} distinct paragraphs ({distinct_chars:,} characters), memos empty:")
        print(f"  stock pkuseg {cold_stock:,.0f} chars/s; fast path {cold_fast:,.0f} ({cold_fast / cold_stock:.2f}x); "
              f"whole pipeline {cold_pipeline:,.0f} ({cold_pipeline / cold_stock:.0%} of stock segmentation)")
        del fresh, records
        seg, stock_words = segment(stock, [fold(p) for p in paragraphs])
        print(f"pkuseg segmentation alone (stock spacy-pkuseg) {seg:>10,.0f} chars/s")
        fast, fast_words = segment(nlp.tokenizer, paragraphs)
        differ = sum(a != b for a, b in zip(stock_words, fast_words))
        print(f"pkuseg, the pipeline's fast feature path  {fast:>10,.0f} chars/s  ({fast / seg:.2f}x; "
              f"{differ} of {len(paragraphs)} paragraphs segmented differently)")
        del nlp, stock, stock_words, fast_words

        results = {}
        runs = (("tag, 1 worker, cache off", 1, 0), ("tag, 2 workers, cache off", 2, 0),
                ("tag, 1 worker (default cache)", 1, 20000), ("tag, 2 workers (default cache)", 2, 20000))
        for name, workers, cache in runs:
            out = tmp / f"out_{workers}_{cache}.jsonl"
            started = time.perf_counter()
            if tag_command([corpus], args.model, out, workers=workers, progress="never", cache_size=cache) != 0:
                print(f"{name}: tagging failed", file=sys.stderr)
                return 1
            results[name] = chars / (time.perf_counter() - started)
            print(f"{name:<32} {results[name]:>10,.0f} chars/s  ({results[name] / seg:.0%} of stock "
                  f"segmentation, {results[name] / fast:.0%} of the fast path)")
        one, two = results["tag, 1 worker, cache off"], results["tag, 2 workers, cache off"]
        print(f"2 workers / 1 worker (cache off): {two / one:.2f}x")
        own, children = peak_mb()
        print(f"peak memory: {own:,.0f} MB in the main process, {children:,.0f} MB in the largest worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
