"""Load a trained pipeline safely, and read its predictions as plain records.

A model directory records a SHA-256 digest of each of its files in ``checksums.json``, written
by ``policy-nlp train``. Loading checks them first: a changed, missing or extra file is an error
naming the file, before spaCy reads anything. No component loads pickles; this also catches
a file swapped in by hand.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable, Iterator, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc

import nlp.components  # noqa: F401  (registers the factories)

CHECKSUMS = "checksums.json"


class ModelError(RuntimeError):
    pass


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != CHECKSUMS)


def write_checksums(model_dir: Path) -> None:
    model_dir = Path(model_dir)
    sums = {str(p.relative_to(model_dir)): _digest(p) for p in model_files(model_dir)}
    (model_dir / CHECKSUMS).write_text(json.dumps(sums, indent=1, sort_keys=True), encoding="utf-8")


def verify(model_dir: Path) -> None:
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: no such model directory (train one with `policy-nlp train` or `make model`)")
    listing = model_dir / CHECKSUMS
    if not listing.is_file():
        raise ModelError(f"{model_dir}: no {CHECKSUMS}; only models written by `policy-nlp train` are loaded")
    try:
        expected = json.loads(listing.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{listing}: not valid JSON ({e}); the model's file list is damaged: retrain it") from None
    if not isinstance(expected, dict) or not all(isinstance(v, str) for v in expected.values()):
        raise ModelError(f"{listing}: expected an object of file name → SHA-256; the model's file list is damaged")
    present = {str(p.relative_to(model_dir)) for p in model_files(model_dir)}
    for name in sorted(present - set(expected)):
        raise ModelError(f"{model_dir / name}: file not written by training (unexpected file in the model)")
    for name, digest in sorted(expected.items()):
        path = model_dir / name
        if not path.is_file():
            raise ModelError(f"{path}: missing from the model directory")
        if _digest(path) != digest:
            raise ModelError(f"{path}: changed since training (checksum mismatch); retrain or restore the model")


def load_pipeline(model_dir: Union[str, Path]) -> Language:
    verify(Path(model_dir))
    try:
        return spacy.load(model_dir)
    except Exception as e:   # a file the checksums vouch for that still does not load (e.g. an object array)
        raise ModelError(f"{model_dir}: cannot load the model: {type(e).__name__}: {str(e)[:300]}") from None


def doc_record(doc: Doc) -> dict:
    """Themes, every theme's score, and entities with offsets into the paragraph text."""
    return {
        "themes": list(doc._.themes or []),
        "scores": {label: round(float(p), 4) for label, p in sorted(doc.cats.items())},
        "entities": [{"start": e.start_char, "end": e.end_char, "label": e.label_, "text": e.text} for e in doc.ents],
    }


def predict(nlp: Language, texts: Iterable[str], batch_size: int = 64) -> Iterator[dict]:
    for doc in nlp.pipe(texts, batch_size=batch_size):
        yield doc_record(doc)
