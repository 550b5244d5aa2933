"""Print a short, readable view of a tagged output and its summary (used by `make demo`)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

from .output import read_output


def main(argv: list[str]) -> int:
    output, summary = Path(argv[0]), Path(argv[1]) if len(argv) > 1 else None
    for record in list(read_output(output))[:12]:
        entities = ", ".join(f"{e['text']}/{e['label']}" for e in record["entities"][:6])
        marker = "#" if record["is_heading"] else " "
        print(f"{marker} [{', '.join(record['themes'])}] {record['text'][:48]}{'…' if len(record['text']) > 48 else ''}")
        if entities:
            print(f"      {entities}")
    if summary and summary.exists():
        print()
        with summary.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                shares = sorted(((float(v), k[6:]) for k, v in row.items() if k.startswith("share_")), reverse=True)
                top = ", ".join(f"{name} {share:.0%}" for share, name in shares[:4] if share)
                print(f"{row['report_title'] or row['report_id']}: {row['paragraphs']} paragraphs; {top}")
                print(f"    ORG: {row['top_ORG']}\n    PROGRAM: {row['top_PROGRAM']}")
    print(f"\nfull output: {output}" + (f", summary: {summary}" if summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
