#!/usr/bin/env python3
"""Tagging at scale: 1 worker, 2 workers, a Dask LocalCluster, on one big file and on many files.

Builds one .jsonl of unique paragraphs (sentences of the project's annotated paragraphs,
recombined at random, so no paragraph repeats and the prediction cache never helps) and, with
--many-files, the same paragraphs as that many .jsonl files. Times, each as a whole
`policy-nlp tag` command in its own process, cold, cache off:

- stock spacy-pkuseg segmentation alone over the same paragraphs (in this process);
- `tag --workers 1`, `tag --workers 2`, `tag --cluster local:2`, on each shape;
- start-up: the same command on a file of one paragraph (loading the model, starting workers);

and prints characters a second for the whole command and in steady state (its time less the
start-up), the speed-up over one worker, and the peak resident memory of the largest process.

    python benchmarks/scale.py [--model models/default] [--megabytes 3] [--many-files 0] [--output results.json]
"""
import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(path: Path, megabytes: float, seed: int = 0) -> tuple[int, int]:
    texts = [json.loads(line)["text"] for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    sentences = sorted({s for t in texts for s in re.findall(r"[^。；]+[。；]", t) if len(s) >= 8})
    rng = random.Random(seed)
    size = count = chars = 0
    seen = set()
    with path.open("w", encoding="utf-8") as f:
        while size < megabytes * 1_000_000:
            text = "".join(rng.sample(sentences, rng.randint(2, 5)))
            if text in seen:
                continue
            seen.add(text)
            line = json.dumps({"id": f"p{count}", "report_id": f"r{count // 30}", "text": text}, ensure_ascii=False) + "\n"
            f.write(line)
            size, count, chars = size + len(line.encode("utf-8")), count + 1, chars + len(text)
    return count, chars


def stock_segmentation(path: Path, model: Path) -> float:
    import spacy_pkuseg

    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    sys.path.insert(0, str(ROOT))
    from nlp.resources import config_file

    # the same converted model and domain dictionary as the pipeline, without the fast feature path
    seg = spacy_pkuseg.pkuseg(str(model / "tokenizer" / "pkuseg_model"), user_dict=str(config_file("user_dict.txt")))
    started = time.perf_counter()
    for text in texts:
        seg.cut(text)
    return sum(map(len, texts)) / (time.perf_counter() - started)


# runs a command and reports the peak resident memory of its largest process (itself or a worker)
PEAK = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
        "print('peak_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(done.returncode)")


def timed_tag(source: Path, out: Path, model: Path, *options: str) -> tuple[float, float]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "nlp", "tag", str(source), "--model",
                           str(model), "--output", str(out), "--cache-size", "0", "--progress", "never", *options],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tag {' '.join(options)} failed:\n{done.stderr[-2000:]}")
    peak_kb = int(done.stderr.rsplit("peak_kb", 1)[1].split()[0])
    return seconds, peak_kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models/default")
    ap.add_argument("--megabytes", type=float, default=3.0)
    ap.add_argument("--many-files", type=int, default=0, help="also tag the paragraphs as this many files")
    ap.add_argument("--output", type=Path, help="JSON file for the figures")
    ap.add_argument("--only", choices=["workers 1", "workers 2", "cluster local:2"], action="append",
                    help="run only these (repeatable); default all three")
    args = ap.parse_args()
    runs = {"workers 1": ["--workers", "1"], "workers 2": ["--workers", "2"], "cluster local:2": ["--cluster", "local:2"]}
    runs = {name: options for name, options in runs.items() if not args.only or name in args.only}
    with tempfile.TemporaryDirectory(prefix="policy-nlp-scale-") as tmp:
        tmp = Path(tmp)
        source = tmp / "paragraphs.jsonl"
        count, chars = build(source, args.megabytes)
        size = source.stat().st_size
        print(f"one .jsonl: {size / 1e6:.1f} MB, {count:,} unique paragraphs, {chars:,} characters")
        stock = stock_segmentation(source, args.model)
        print(f"{'stock spacy-pkuseg segmentation alone':<44}{stock:>12,.0f} chars/s")
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        figures = {"commit": commit or None, "benchmark": "benchmarks/scale.py", "file_mb": round(size / 1e6, 2),
                   "paragraphs": count, "characters": chars, "stock_segmentation_chars_per_s": round(stock),
                   "startup_seconds": {}, "runs": {}}
        tiny = tmp / "tiny.jsonl"
        tiny.write_text(source.open(encoding="utf-8").readline(), encoding="utf-8")
        for name, options in runs.items():
            seconds, _ = timed_tag(tiny, tmp / f"tiny_{name.replace(' ', '_').replace(':', '')}.jsonl", args.model, *options)
            figures["startup_seconds"][name] = round(seconds, 1)
        print("start-up (a file of one paragraph): " + ", ".join(f"{n} {s} s" for n, s in figures["startup_seconds"].items()))
        shapes = {"one file": [source]}
        if args.many_files:
            folder = tmp / "many"
            folder.mkdir()
            lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
            per = -(-len(lines) // args.many_files)
            for i in range(0, len(lines), per):
                (folder / f"part_{i // per:04d}.jsonl").write_text("".join(lines[i:i + per]), encoding="utf-8")
            shapes[f"{args.many_files} files"] = [folder]
        outputs = []
        for shape, inputs in shapes.items():
            base = None
            for name, options in runs.items():
                out = tmp / f"{shape.replace(' ', '_')}_{name.replace(' ', '_').replace(':', '')}.jsonl"
                seconds, peak = timed_tag(inputs[0], out, args.model, *options)
                outputs.append(out)
                steady = chars / max(seconds - figures["startup_seconds"][name], 1e-9)
                base = base or seconds
                figures["runs"][f"{shape}, {name}"] = {
                    "seconds": round(seconds, 1), "chars_per_s": round(chars / seconds), "steady_chars_per_s": round(steady),
                    "speedup_vs_1_worker": round(base / seconds, 2), "share_of_stock_segmentation": round(chars / seconds / stock, 3),
                    "steady_share_of_stock_segmentation": round(steady / stock, 3), "peak_rss_mb": round(peak)}
                print(f"{shape + ', tag ' + name:<34}{chars / seconds:>10,.0f} chars/s whole ({chars / seconds / stock:.0%})"
                      f"{steady:>10,.0f} steady ({steady / stock:.0%})  {seconds:6.1f} s  ×{base / seconds:.2f}  "
                      f"peak {peak:,.0f} MB")
        k = len(runs)
        same = len({p.read_bytes() for p in outputs[:k]}) == 1 and len({p.read_bytes() for p in outputs[k:]}) <= 1
        figures["identical_outputs_per_shape"] = same
        print(f"outputs identical across the runs of each shape: {same}")
    if args.output:
        args.output.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
