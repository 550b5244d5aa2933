"""Find surface strings labelled in one place and not, or otherwise, in another.

For every string marked as a name somewhere, each other occurrence that is unlabelled, or
labelled with another label or other boundaries, is listed (an occurrence inside a longer
labelled span does not count: 科协 inside 市科协 is covered by the longer name; nor does a name
marked only where a paragraph's edge cuts it off). The proposals
(label the occurrence as the majority does) are written for review, never applied silently.
"""
from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Optional

from .examples import read_lines, Example


@dataclass
class Finding:
    surface: str
    labelled: Counter                                       # label -> count of exact labelled occurrences
    unlabelled: list[tuple] = field(default_factory=list)   # (record id, start)
    other: list[tuple] = field(default_factory=list)        # (record id, start, what covers it)

    @property
    def majority(self) -> str:
        return self.labelled.most_common(1)[0][0]


def find_inconsistencies(examples: list[Example], min_length: int = 2,
                         word_starts: Optional[Callable[[str], set[int]]] = None,
                         exceptions: frozenset = frozenset()) -> list[Finding]:
    """``word_starts``, when given (a segmenter), limits the search to occurrences that begin
    and end on word boundaries: 科技部 inside 科技部门 (科技|部门) is another word.
    ``exceptions`` holds ``(record id, start, surface)`` of occurrences reviewed and kept as they
    are (generic uses, category nouns…): they are not findings."""
    texts = [e.text for e in examples]
    joined = "\n".join(texts)
    offsets, at = [], 0
    for text in texts:
        offsets.append(at)
        at += len(text) + 1
    exact: dict[str, Counter] = defaultdict(Counter)
    interior: set[str] = set()
    spans_of = []
    for e in examples:
        spans_of.append(e.entities)
        for s, t, label in e.entities:
            exact[e.text[s:t]][label] += 1
            if 0 < s and t < len(e.text):
                interior.add(e.text[s:t])
    bounds = [word_starts(text) | {len(text)} for text in texts] if word_starts else None
    findings = []
    for surface, labelled in exact.items():
        # a name cut off by the edge of a paragraph (marked as far as it goes) is no pattern for
        # the same characters elsewhere unless it is also marked whole inside some paragraph
        if len(surface) < min_length or surface not in interior:
            continue
        finding = Finding(surface, labelled)
        pos = joined.find(surface)
        while pos >= 0:
            k = bisect.bisect_right(offsets, pos) - 1
            start, end = pos - offsets[k], pos - offsets[k] + len(surface)
            record = examples[k].id if examples[k].id is not None else k + 1
            if (bounds is not None and not (start in bounds[k] and end in bounds[k])) \
                    or (record, start, surface) in exceptions:
                pos = joined.find(surface, pos + 1)
                continue
            covering = [(s, t, l) for s, t, l in spans_of[k] if s < end and start < t]
            if not covering:
                finding.unlabelled.append((record, start))
            elif not any(s == start and t == end for s, t, _ in covering):
                if not any(s <= start and end <= t for s, t, _ in covering):
                    finding.other.append((record, start, "crossing span " + ",".join(
                        f"{examples[k].text[s:t]}/{l}" for s, t, l in covering)))
            elif len(labelled) > 1:
                label = next(l for s, t, l in covering if s == start and t == end)
                if label != finding.majority:
                    finding.other.append((record, start, f"labelled {label}"))
            pos = joined.find(surface, pos + 1)
        if finding.unlabelled or finding.other:
            findings.append(finding)
    return sorted(findings, key=lambda f: -(len(f.unlabelled) + len(f.other)))


def proposals(findings: list[Finding]) -> list[dict]:
    """Label each unlabelled occurrence as the majority labels the string; for review."""
    return [{"id": record, "start": start, "end": start + len(f.surface), "label": f.majority, "surface": f.surface,
             "labelled_elsewhere": dict(f.labelled)}
            for f in findings for record, start in f.unlabelled]


def format_findings(findings: list[Finding], limit: int = 50) -> str:
    lines = []
    for f in findings[:limit]:
        labelled = ", ".join(f"{label} {n}" for label, n in f.labelled.most_common())
        ids = ", ".join(str(r) for r, *_ in (f.unlabelled + f.other)[:8])
        lines.append(f"{f.surface}: labelled {labelled}; unlabelled {len(f.unlabelled)}, otherwise {len(f.other)} "
                     f"(ids {ids}{', …' if len(f.unlabelled) + len(f.other) > 8 else ''})")
    if len(findings) > limit:
        lines.append(f"… and {len(findings) - limit} more strings")
    lines.append(f"{len(findings)} string(s) labelled inconsistently")
    return "\n".join(lines)


def read_exceptions(path) -> frozenset:
    """Reviewed occurrences kept as they are: JSONL of ``{"id", "start", "surface", "reason"}``."""
    import json

    rows = [json.loads(line) for line in read_lines(path) if line.strip()]
    missing = [i for i, r in enumerate(rows, 1) if not r.get("reason")]
    if missing:
        raise ValueError(f"{path}: line {missing[0]}: an exception needs a reason")
    return frozenset((r["id"], r["start"], r["surface"]) for r in rows)
