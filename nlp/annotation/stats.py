"""What a set of paragraphs looks like, measured: to hold the corpus against real text.

Lengths, punctuation forms and endings, figures and placeholders, run-on and heading lines,
themes per paragraph and their shares, and entity density per label.
"""
from __future__ import annotations

import re
from collections import Counter
from statistics import median

from ..reading.segment import is_heading
from .examples import Example

_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_PLACEHOLDER = re.compile(r"[xX×]{1,3}|\*{2,}|某某")
FULL, HALF = set("，；：（）"), set(",;:()")


def measures(examples: list[Example]) -> dict:
    n = len(examples) or 1
    lengths = [len(e.text) for e in examples]
    chars = sum(lengths) or 1
    ends = Counter(e.text[-1] if e.text else "" for e in examples)
    themes = Counter(c for e in examples for c in e.cats)
    entities = Counter(label for e in examples for *_, label in e.entities)
    out = {
        "paragraphs": len(examples),
        "characters": sum(lengths),
        "length median": median(lengths) if lengths else 0,
        "share over 200 chars": sum(x > 200 for x in lengths) / n,
        "share ending in 。": ends["。"] / n,
        "share ending in ；;：:，,": sum(ends[c] for c in "；;：:，,") / n,
        "share with full-width ，；：（）": sum(any(c in FULL for c in e.text) for e in examples) / n,
        "share with half-width , ; : ( )": sum(any(c in HALF for c in e.text) for e in examples) / n,
        "figures per 100 chars": 100 * sum(len(_FIGURE.findall(e.text)) for e in examples) / chars,
        "placeholders per 100 chars": 100 * sum(len(_PLACEHOLDER.findall(e.text)) for e in examples) / chars,
        "share with placeholders": sum(bool(_PLACEHOLDER.search(e.text)) for e in examples) / n,
        "share run-on (over 500 chars)": sum(x > 500 for x in lengths) / n,
        "share heading lines": sum(is_heading(e.text) for e in examples) / n,
        "themes per paragraph": sum(len(e.cats) for e in examples) / n,
    }
    out.update({f"theme share: {t}": themes[t] / n for t in sorted(themes)})
    out.update({f"{label} per 1,000 chars": 1000 * entities[label] / chars for label in sorted(entities)})
    return out


def format_measures(columns: dict[str, dict]) -> str:
    names = list(columns)
    keys = list(dict.fromkeys(k for c in columns.values() for k in c))
    width = max(len(k) for k in keys) + 2
    lines = [f"{'':<{width}}" + "".join(f"{n[-18:]:>20}" for n in names)]
    for key in keys:
        cells = []
        for name in names:
            v = columns[name].get(key)
            cells.append(f"{'':>20}" if v is None else f"{v:>20,}" if isinstance(v, int) else f"{v:>20.3f}")
        lines.append(f"{key:<{width}}" + "".join(cells))
    return "\n".join(lines)
