"""One canonical form of a text for every feature and model, one character for one.

Published pages write punctuation full-width (，；：（）), copied pages half-width (, ; : ( )),
and digits, Latin letters and spaces come in both widths. Models see ``fold(text)``, in which
every full-width ASCII form is its half-width twin and odd spaces are a plain space; CJK marks
with no half-width twin (。、《》“”) stay. Each character maps to exactly one character, so an
offset into the folded text is an offset into the input, which is what the output reports.
"""
from __future__ import annotations

_FOLD = {c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)}
_FOLD.update({0x3000: " ", 0x00A0: " ", 0x2002: " ", 0x2003: " ", 0x2009: " ", 0x200B: " ", 0xFEFF: " "})


def fold(text: str) -> str:
    """``text`` with full-width and half-width forms made the same; ``len`` is unchanged."""
    return text.translate(_FOLD)
