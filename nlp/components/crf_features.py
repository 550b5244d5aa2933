"""What a character looks like to the entity CRF: its features as strings, and as ids.

``CharFeatures.strings`` is the definition: one list of feature strings per character, which
CRFsuite trains on. ``CompiledCrf`` tags with the same trained model without building those
strings (CRFsuite's tagger spends most of its time receiving them): character n-grams are looked
up as packed code points in sorted arrays, word and sparse features in dicts of the model's own
attributes; the scores are summed with numpy and decoded by pkuseg's Viterbi. Both paths read one
``Analysis`` of the text, and ``tests/test_crf.py`` checks that they tag every paragraph of the
corpus and the real excerpts alike.
"""
import bisect
import json
import re
import struct
from pathlib import Path
from typing import Iterable, NamedTuple, Optional, Sequence, Union

import numpy as np
from spacy_pkuseg.inference import run_viterbi

# Character n-gram templates over the padded text ("\x02\x02" + text + "\x03\x03"): a name and
# the offsets, from the character's own position - 2, whose characters make the value.
CHAR_TEMPLATES = (("c", (2,)), ("p1", (1,)), ("n1", (3,)), ("p2", (0,)), ("n2", (4,)), ("b0", (1, 2)),
                  ("b1", (2, 3)), ("t0", (0, 1, 2)), ("t1", (1, 2, 3)), ("t2", (2, 3, 4)))
# The character kinds of (itself, before, after), over the padded kinds
KIND_TEMPLATE = ("ty", (2, 1, 3))
WORD_TEMPLATES = ("wp", "w", "wpw", "wb", "wa")
_BREAKS = re.compile("[，。；：、,;:!?！？\n]")


class Analysis(NamedTuple):
    text: str
    padded: str                            # text with two marks either side
    kinds: str                             # one kind letter per padded character
    words: list[tuple[int, int]]           # the pkuseg words, as (start, end)
    extras: list["Chunk"]                  # the sparse features, in the order a character gets them


# Sparse features: positions and the feature at each (or one feature for all of them)
Chunk = tuple[Sequence[int], Union[str, list[str]]]


class _Kinds(dict):
    """str.translate table: character → its kind (H Han, D digit, X times, L Latin, P other)."""

    def __missing__(self, code: int) -> str:
        c = chr(code)
        kind = ("H" if "\u4e00" <= c <= "\u9fff" else "D" if c.isdigit() else "X" if c in "xX*×"
                else "L" if c.isascii() and c.isalpha() else "P")
        self[code] = kind
        return kind


_KINDS = _Kinds()


def bucket(distance: int) -> str:
    return "0" if distance == 0 else "1" if distance <= 2 else "3" if distance <= 5 else "6" if distance <= 10 else "11"


class CharFeatures:
    """The feature definition, set by the component's config (heads, cues, place suffixes)."""

    def __init__(self, heads: dict[str, list[str]], place_suffixes: str, cues: Iterable[str], head_window: int):
        self.heads = heads
        self.places = re.compile("[" + re.escape(place_suffixes) + "]") if place_suffixes else re.compile("(?!)")
        self.cues = list(cues)
        self.window = head_window
        self.ahead = {label: [f"ahead={label}{bucket(d)}" for d in range(head_window + 1)] for label in heads}

    def analyse(self, text: str, word_starts: Iterable[int], gazetteer: dict[str, str],
                by_prefix: "GazetteerIndex") -> Analysis:
        """``text`` already folded; ``by_prefix`` is the gazetteer's ``gazetteer_index``."""
        n = len(text)
        ends: dict[int, list[str]] = {}      # labels whose head word ends at i (sparse)
        starts: dict[int, list[str]] = {}    # labels whose head word starts at i
        for label, words in self.heads.items():
            for word in words:
                at = text.find(word)
                while at >= 0:
                    ends.setdefault(at + len(word) - 1, []).append(label)
                    starts.setdefault(at, []).append(label)
                    at = text.find(word, at + 1)
        bounds = sorted(set(word_starts) | {n})
        padded = "\x02\x02" + text + "\x03\x03"
        extras: list[Chunk] = []
        # How far ahead the nearest head of each label ends, within the clause: a name's first
        # characters are decided by a head word many characters later (国家知识产权示范城市).
        # Each head covers the positions before it, back to the window, the previous head of its
        # label or the previous clause break, whichever is nearest.
        breaks = [m.start() for m in _BREAKS.finditer(text)]
        for label in (self.heads if self.window else ()):
            names = self.ahead[label]
            covered = -1
            for j in sorted(i for i, labels in ends.items() if label in labels):
                b = bisect.bisect_left(breaks, j)
                first = max(j - self.window, covered + 1, breaks[b - 1] + 1 if b else 0)
                if first <= j:
                    extras.append((range(first, j + 1), names[j - first::-1]))
                covered = j
        if " " in text:   # letter-spaced text (全 国 科 普): the nearest characters that are not spaces
            spaced = [i for i in range(n) if padded[i + 1] == " " or padded[i + 3] == " "]
            extras.append(([i for i in spaced for _ in "ab"],
                           [f for i in spaced for f in ("sp1=" + text[:i].rstrip(" ")[-1:],
                                                        "sn1=" + text[i + 1:].lstrip(" ")[:1])]))
        # a head's end, and "prevend" on the character after it, in one pass (a character gets
        # the previous head's prevend before its own end)
        where, which = [], []
        for i in sorted(ends):
            where += [i] * len(ends[i])
            which += ["end=" + label for label in ends[i]]
            if i + 1 < n:
                where += [i + 1] * len(ends[i])
                which += ["prevend=" + label for label in ends[i]]
        extras.append((where, which))
        at_start = [i for i in sorted(starts) if i]
        extras.append(([i - 1 for i in at_start for _ in starts[i]],
                       ["next=" + label for i in at_start for label in starts[i]]))
        extras += [(span, "book") for span in _inside(text)]
        extras += [(span, "quote") for span in _inside_quotes(text)]
        extras.append(([m.start() for m in self.places.finditer(text)], "place"))
        cue_at: dict[int, str] = {}          # the first cue a position follows wins
        for cue in self.cues:
            at = text.find(cue)
            while at >= 0:
                end = at + len(cue)
                for k in range(end, min(n, end + 3)):
                    cue_at.setdefault(k, f"cue{k - end}")
                at = text.find(cue, at + 1)
        extras.append((list(cue_at), list(cue_at.values())))
        if gazetteer:                        # the longest gazetteer name, left to right
            names_at, firsts = by_prefix
            after = 0
            for m in firsts.finditer(text, 0, n - 1):
                i = m.start()
                if i < after:
                    continue
                for length, names in names_at.get(text[i:i + 2], ()):
                    if text[i:i + length] in names:
                        label = gazetteer[text[i:i + length]]
                        extras.append(([i], "gaz=B-" + label))
                        if length > 1:
                            extras.append((range(i + 1, i + length), "gaz=I-" + label))
                        after = i + length
                        break
        return Analysis(text, padded, padded.translate(_KINDS), list(zip(bounds, bounds[1:])),
                        [chunk for chunk in extras if len(chunk[0])])

    @staticmethod
    def strings(a: Analysis) -> list[list[str]]:
        """One list of feature strings per character: the features CRFsuite is trained on."""
        n, padded, kinds = len(a.text), a.padded, a.kinds
        lengths, words, before, after = _words(a)
        position = [p for length in lengths for p in _POSITIONS.get(length) or _positions(length)]
        word_of = [w for w, length in zip(words, lengths) for _ in range(length)]
        before = [w for w, length in zip(before, lengths) for _ in range(length)]
        after = [w for w, length in zip(after, lengths) for _ in range(length)]
        columns = [[f"{name}={''.join(padded[i + k] for k in offsets)}" for i in range(n)]
                   for name, offsets in CHAR_TEMPLATES]
        name, offsets = KIND_TEMPLATE
        columns.append([f"{name}={''.join(kinds[i + k] for k in offsets)}" for i in range(n)])
        columns += [["wp=" + x for x in position], ["w=" + x for x in word_of],
                    ["wpw=" + x + y for x, y in zip(position, word_of)], ["wb=" + x for x in before],
                    ["wa=" + x for x in after]]
        rows = [list(row) for row in zip(*columns)]
        for positions, features in a.extras:
            if isinstance(features, str):
                for i in positions:
                    rows[i].append(features)
            else:
                for i, feature in zip(positions, features):
                    rows[i].append(feature)
        return rows


class GazetteerIndex(NamedTuple):
    names_at: dict[str, list[tuple[int, set[str]]]]   # by first two characters: (length, names), longest first
    firsts: re.Pattern                               # finds the characters a name starts with


def gazetteer_index(gazetteer: dict[str, str]) -> GazetteerIndex:
    by_length: dict[str, dict[int, set[str]]] = {}
    for name in gazetteer:
        if len(name) >= 2:
            by_length.setdefault(name[:2], {}).setdefault(len(name), set()).add(name)
    firsts = "".join(sorted({re.escape(prefix[0]) for prefix in by_length})) or "^$"
    return GazetteerIndex({prefix: sorted(lengths.items(), reverse=True) for prefix, lengths in by_length.items()},
                          re.compile(f"[{firsts}]" if by_length else "(?!)"))


def _positions(length: int) -> list[str]:
    return ["S"] if length == 1 else ["B"] + ["M"] * (length - 2) + ["E"]


_POSITIONS = {length: _positions(length) for length in range(1, 12)}


def _words(a: Analysis) -> tuple[list[int], list[str], list[str], list[str]]:
    """Per pkuseg word: its length, itself (LONG past 6 characters), the words before and after.
    Characters before the first word start (none in a Doc) count as one-character words of no text."""
    text, pieces = a.text, a.words
    lead = pieces[0][0] if pieces else len(text)
    full = [text[start:end] for start, end in pieces]
    lengths = [1] * lead + list(map(len, full))
    words = [""] * lead + [w if len(w) <= 6 else "LONG" for w in full]
    before = [""] * lead + (["^"] + [w[-4:] for w in full[:-1]] if full else [])
    after = [""] * lead + ([w[:4] for w in full[1:]] + ["$"] if full else [])
    return lengths, words, before, after


def _inside(text: str) -> list[range]:
    """Spans from 《 to its 》, both included (nesting counted; an unclosed one runs to the end)."""
    spans, depth, start = [], 0, 0
    for m in _BOOK_MARKS.finditer(text):
        if m.group() == "《":
            if not depth:
                start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if not depth:
                spans.append(range(start, m.start() + 1))
    if depth:
        spans.append(range(start, len(text)))
    return spans


def _inside_quotes(text: str) -> list[range]:
    """Spans from “ to ”, both included; a straight quote marks only itself (but opens at 0)."""
    spans, start = [], None
    for m in _QUOTE_MARKS.finditer(text):
        i, c = m.start(), m.group()
        if start is None and c in "“\"":
            start = i
        if start is not None and c in "”\"" and i > 0:
            spans.append(range(start, i + 1))
            start = None
    if start is not None:
        spans.append(range(start, len(text)))
    return spans


_BOOK_MARKS, _QUOTE_MARKS = re.compile("[《》]"), re.compile("[“”\"]")


def pack(value: str) -> int:
    """A short string as one number: its code points, 21 bits apiece (as ``code_points`` arrays
    are packed: three characters fit in 63 bits)."""
    packed = 0
    for c in value:
        packed = (packed << 21) | ord(c)
    return packed


def code_points(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


# A CRFsuite model file (crf1d): a 48-byte header, then the FEAT chunk of (type, source,
# destination, weight) records; type 0 is attribute → label, type 1 label → label.
_HEADER = struct.Struct("<4sI4sIIIIIIIII")
_FEATURE = np.dtype([("type", "<u4"), ("src", "<u4"), ("dst", "<u4"), ("weight", "<f8")])


class CompiledCrf:
    """A trained CRFsuite model, arranged for tagging an ``Analysis`` without feature strings."""

    def __init__(self, model: bytes, attributes: list[str], labels: list[str]):
        magic, _, kind, _, _, n_labels, n_attrs, at, *_ = _HEADER.unpack_from(model)
        chunk, _, count = struct.unpack_from("<4sII", model, at)
        if magic != b"lCRF" or kind != b"FOMC" or chunk != b"FEAT" or len(attributes) != n_attrs \
                or len(labels) != n_labels:
            raise ValueError("not a CRFsuite crf1d model with these attributes and labels")
        records = np.frombuffer(model, dtype=_FEATURE, count=count, offset=at + 12)
        self.labels = labels
        self.none = n_attrs                 # a row of zeros: an attribute the model does not know
        self.weights = np.zeros((n_attrs + 1, n_labels))
        state, move = records[records["type"] == 0], records[records["type"] == 1]
        self.weights[state["src"], state["dst"]] = state["weight"]
        # run_viterbi adds edge[tag at i, tag at i + 1]
        self.transitions = np.zeros((n_labels, n_labels))
        self.transitions[move["src"], move["dst"]] = move["weight"]
        by_template: dict[str, dict[str, int]] = {}
        for row, name in enumerate(attributes):
            template, equals, value = name.partition("=")
            by_template.setdefault(template if equals else "", {})[value if equals else name] = row
        # one-character templates: a row per character of the model's alphabet (the last: none)
        singles = [(name, by_template.get(name, {})) for name, offsets in CHAR_TEMPLATES if len(offsets) == 1]
        alphabet = sorted({ord(v) for _, found in singles for v in found if len(v) == 1})
        self.alphabet = np.array(alphabet, dtype=np.int64)
        self.singles = []
        for name, found in singles:
            table = np.full(len(alphabet) + 1, n_attrs, dtype=np.intp)
            for v, row in found.items():
                if len(v) == 1:
                    table[np.searchsorted(self.alphabet, ord(v))] = row
            self.singles.append(table)
        # longer templates: sorted packed values
        self.tables = []
        for name, offsets in (*CHAR_TEMPLATES, KIND_TEMPLATE):
            if len(offsets) == 1:
                continue
            found = {v: row for v, row in by_template.get(name, {}).items() if len(v) == len(offsets)}
            keys = np.array([pack(v) for v in found], dtype=np.int64)
            order = np.argsort(keys)
            self.tables.append((keys[order], np.array(list(found.values()), dtype=np.intp)[order]))
        self.words = [by_template.get(name, {}) for name in WORD_TEMPLATES]
        # every other attribute by its whole name (ahead=, end=, book, gaz=…)
        self.other = {name: row for row, name in enumerate(attributes)}

    def tag(self, analyses: list[Analysis]) -> list[list[str]]:
        """The most likely labels of every character of each text, scored for all texts at once."""
        sizes = [len(a.text) for a in analyses]
        if not sum(sizes):
            return [[] for _ in analyses]
        rows = np.concatenate([self._char_rows(analyses, sizes), self._word_rows(analyses)])
        weights = self.weights
        scores = weights[rows[0]]
        for row in rows[1:]:
            scores += weights[row]
        # the sparse features, each added where it occurs
        firsts = np.cumsum([0] + sizes[:-1]).tolist()
        where, which, get, none = [], [], self.other.get, self.none
        for a, first in zip(analyses, firsts):
            for positions, features in a.extras:
                where += positions if not first else [first + i for i in positions]
                which += [get(features, none)] * len(positions) if isinstance(features, str) else \
                    [get(f, none) for f in features]
        if len(where):
            np.add.at(scores, where, weights[which])
        out, labels = [], self.labels
        for first, n in zip(firsts, sizes):
            states = run_viterbi(scores[first:first + n], self.transitions)[1] if n else ()
            out.append([labels[s] for s in states])
        return out

    def _char_rows(self, analyses: list[Analysis], sizes: list[int]) -> np.ndarray:
        """The attribute of each character n-gram template at every character (in order)."""
        templates = (*CHAR_TEMPLATES, KIND_TEMPLATE)
        rows = np.full((len(templates), sum(sizes)), self.none, dtype=np.intp)
        # where each character sits in the joined padded strings (4 marks a text)
        at = np.arange(rows.shape[1]) + np.repeat(4 * np.arange(len(sizes)), sizes)
        chars = code_points("".join(a.padded for a in analyses))
        kinds = code_points("".join(a.kinds for a in analyses))
        letters = np.minimum(np.searchsorted(self.alphabet, chars), len(self.alphabet) - 1) if len(self.alphabet) else 0
        letters = np.where(self.alphabet[letters] == chars, letters, len(self.alphabet)) if len(self.alphabet) else \
            np.zeros(len(chars), dtype=np.intp)
        t = 0
        for (_, offsets) in CHAR_TEMPLATES:
            if len(offsets) == 1:
                rows[t] = self.singles[t][letters[at + offsets[0]]]
            t += 1
        longer = [(t, offsets) for t, (_, offsets) in enumerate(templates) if len(offsets) > 1]
        for (t, offsets), (keys, values) in zip(longer, self.tables):
            if not len(keys):
                continue
            codes = kinds if t == len(CHAR_TEMPLATES) else chars
            packed = codes[at + offsets[0]]
            for k in offsets[1:]:
                packed = (packed << 21) | codes[at + k]
            found = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
            rows[t] = np.where(keys[found] == packed, values[found], self.none)
        return rows

    def _word_rows(self, analyses: list[Analysis]) -> np.ndarray:
        """The word templates (wp w wpw wb wa) at every character: looked up once per word."""
        lengths, words, before, after = [], [], [], []
        for a in analyses:
            columns = _words(a)
            lengths += columns[0]
            words += columns[1]
            before += columns[2]
            after += columns[3]
        wp, w, wpw, wb, wa = self.words
        none = self.none
        size = np.array(lengths)
        # each character's position in its word: 0 S, 1 B, 2 M, 3 E
        first = np.cumsum(size) - size
        position = np.full(int(size.sum()), 2)
        position[first + size - 1] = 3
        position[first] = np.where(size == 1, 0, 1)
        single = [wpw.get("S" + x, none) for x in words]
        by_position = np.array([single, [wpw.get("B" + x, none) for x in words],
                                [wpw.get("M" + x, none) for x in words], [wpw.get("E" + x, none) for x in words]]).T
        return np.stack([
            np.array([wp.get(x, none) for x in "SBME"])[position],
            np.repeat([w.get(x, none) for x in words], size),
            by_position[np.repeat(np.arange(len(words)), size), position],
            np.repeat([wb.get(x, none) for x in before], size),
            np.repeat([wa.get(x, none) for x in after], size)])


def model_attributes(tagger) -> tuple[list[str], list[str]]:
    """The attribute and label names of a CRFsuite tagger, in the model's id order."""
    info = tagger.info()
    attributes = sorted(info.attributes, key=lambda name: int(info.attributes[name]))
    labels = sorted(info.labels, key=lambda name: int(info.labels[name]))
    return attributes, labels


def write_names(path: Path, attributes: list[str], labels: list[str]) -> None:
    path.write_text(json.dumps({"attributes": attributes, "labels": labels}, ensure_ascii=False), encoding="utf-8")


def read_names(path: Path) -> Optional[tuple[list[str], list[str]]]:
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data["attributes"], data["labels"]
