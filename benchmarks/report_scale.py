#!/usr/bin/env python3
"""How long the HTML report takes and how big it gets, for 10,000 tagged paragraphs (the #15 bound:
under 15 s and 20 MB), and past the paragraph limit.

Tags --paragraphs unique paragraphs (sentences of the annotated corpus recombined, in reports of 30
with made-up titles naming real places and years), then times `policy-nlp report` on them.

    python benchmarks/report_scale.py [--model models/default] [--paragraphs 10000]
"""
import argparse
import json
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlp.report.render import write_report  # noqa: E402
from nlp.tagging.tag import tag_command  # noqa: E402

PLACES = ["福州市", "厦门市", "泉州市", "长沙市", "鼓楼区", "大兴区", "合肥市", "成都市", "昆明市", "兰州市"]


def build(path: Path, n: int, seed: int = 0) -> None:
    texts = [json.loads(line)["text"] for line in (ROOT / "annotations/policy_reports.jsonl").open(encoding="utf-8")]
    sentences = sorted({s for t in texts for s in re.findall(r"[^。；]+[。；]", t) if len(s) >= 8})
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            report = i // 30
            title = f"{PLACES[report % len(PLACES)]}科技局{2015 + report % 9}年工作总结"
            f.write(json.dumps({"id": f"p{i}", "report_id": f"r{report}", "report_title": title,
                                "text": "".join(rng.sample(sentences, rng.randint(2, 4)))}, ensure_ascii=False) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models/default")
    ap.add_argument("--paragraphs", type=int, default=10000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="policy-nlp-report-") as tmp:
        source, tagged = Path(tmp) / "p.jsonl", Path(tmp) / "tagged.jsonl"
        build(source, args.paragraphs)
        assert tag_command([source], args.model, tagged, workers=2, progress="never") == 0
        for limit in (args.paragraphs, args.paragraphs // 4):
            started = time.perf_counter()
            made = write_report([tagged], Path(tmp) / "report.html", max_paragraphs=limit)
            seconds = time.perf_counter() - started
            print(f"{made['paragraphs']:,} paragraphs in {made['reports']} reports, texts shown for {made['shown']:,}: "
                  f"{seconds:.1f} s, {made['bytes'] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
