#!/usr/bin/env python3
"""Build ``nlp/reading/places.tsv``, the gazetteer of Chinese administrative divisions that
``nlp/reading/metadata.py`` finds a report's place with.

The divisions come from the ``adcodes.csv`` that the PyPI package cpca (MIT licence) ships:
3,511 provinces, prefecture-level cities and counties/districts with their 12-digit codes.
The code gives the hierarchy (2 digits province, 4 city, 6 county); districts of the four
municipalities have the municipality as their city.

    pip download --no-deps cpca==0.5.5 && python scripts/build_places.py cpca-0.5.5-py3-none-any.whl
"""
import argparse
import csv
import io
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "nlp" / "reading" / "places.tsv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("wheel", type=Path, help="the cpca wheel (or its adcodes.csv)")
    args = ap.parse_args()
    if args.wheel.suffix == ".whl":
        with zipfile.ZipFile(args.wheel) as zf:
            text = zf.read("cpca/resources/adcodes.csv").decode("utf-8")
    else:
        text = args.wheel.read_text(encoding="utf-8")
    # placeholders ("市辖区", "县", "省直辖县级行政区划") are not places: their counties belong to the province
    placeholder = lambda name: name in ("市辖区", "县") or name.endswith("直辖县级行政区划")
    rows = sorted((r for r in csv.DictReader(io.StringIO(text)) if not placeholder(r["name"])), key=lambda r: r["adcode"])
    names = {r["adcode"][:6]: r["name"] for r in rows}
    with OUT.open("w", encoding="utf-8", newline="") as f:
        f.write(f"# Chinese administrative divisions, from cpca 0.5.5's adcodes.csv (MIT); built by {Path(__file__).name}\n")
        f.write("code\tname\tlevel\tprovince\tcity\n")
        for row in rows:
            code = row["adcode"][:6]
            level = "province" if code.endswith("0000") else "city" if code.endswith("00") else "county"
            province = names[code[:2] + "0000"]
            city = "" if level == "province" else row["name"] if level == "city" else names.get(code[:4] + "00", province)
            f.write(f"{code}\t{row['name']}\t{level}\t{province}\t{city}\n")
    print(f"{len(rows)} divisions written to {OUT}")


if __name__ == "__main__":
    main()
