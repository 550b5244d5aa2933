"""Turn the CTB8 model shipped in the ``pkuseg==0.0.12`` wheel into spacy-pkuseg's format.

spacy-pkuseg normally downloads its models at first use, which cannot happen offline.
The old ``pkuseg`` wheel on PyPI carries a CTB8-trained model in pkuseg's text format;
its feature keys carry a template number (``"2.c.，"``) that spacy-pkuseg's extractor
does not produce (``"c.，"``), so the index is rewritten and the weights re-saved.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Optional

import numpy as np
import srsly

WHEEL_MODEL_DIR = "pkuseg/models/ctb8/"
# The one wheel this conversion was written for and checked against (pkuseg 0.0.12 on PyPI).
WHEEL_SHA256 = "0c54086810c01ce3d20a9ede0b026decad817ef0a1bd771841e46208ef756c50"
_TEMPLATE_PREFIX = re.compile(r"^\d+\.")


class ConversionError(RuntimeError):
    pass


def _read(zf: zipfile.ZipFile, name: str) -> str:
    try:
        return zf.read(WHEEL_MODEL_DIR + name).decode("utf-8")
    except KeyError:
        raise ConversionError(f"{zf.filename}: no {WHEEL_MODEL_DIR}{name} in the wheel") from None


def convert_wheel(wheel: Path, out_dir: Path, sha256: Optional[str] = WHEEL_SHA256) -> dict:
    """Write ``features.msgpack`` and ``weights.npz`` for spacy-pkuseg into ``out_dir``; the wheel
    must have the SHA-256 given (that of pkuseg 0.0.12; None skips the check)."""
    wheel, out_dir = Path(wheel), Path(out_dir)
    import hashlib

    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if sha256 is not None and digest != sha256:
        raise ConversionError(f"{wheel}: SHA-256 {digest} is not that of the pkuseg 0.0.12 wheel ({sha256}); "
                              f"delete it and run `make segmenter` to fetch it again")
    with zipfile.ZipFile(wheel) as zf:
        unigram = {w.strip() for w in _read(zf, "unigram_word.txt").splitlines() if w.strip()}
        bigram = {w.strip() for w in _read(zf, "bigram_word.txt").splitlines() if w.strip()}
        tag_to_idx = {}
        for line in _read(zf, "tagIndex.txt").splitlines():
            fields = line.split()
            if len(fields) == 2:
                tag_to_idx[fields[0]] = int(fields[1])
        feature_to_idx: dict[str, int] = {}
        for part in range(10):
            for line in _read(zf, f"featureIndex.txt_{part}").splitlines():
                key, _, idx = line.rpartition(" ")
                if key:
                    feature_to_idx[_TEMPLATE_PREFIX.sub("", key, count=1)] = int(idx)
        lines = _read(zf, "model.txt").split("\n", 2)
    n_tag, size = int(lines[0]), int(lines[1])
    weights = np.array(lines[2].split(), dtype=np.float64)
    if weights.shape[0] != size:
        raise ConversionError(f"{wheel}: model.txt declares {size} weights, holds {weights.shape[0]}")
    n_feature = size // n_tag - n_tag
    if n_feature != len(feature_to_idx) or max(feature_to_idx.values()) != n_feature - 1:
        raise ConversionError(
            f"{wheel}: {len(feature_to_idx)} features in the index, {n_feature} in the weights"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    srsly.write_msgpack(
        out_dir / "features.msgpack",
        {"unigram": sorted(unigram), "bigram": sorted(bigram),
         "feature_to_idx": feature_to_idx, "tag_to_idx": tag_to_idx},
    )
    np.savez(out_dir / "weights.npz", sizes=np.array([n_tag, n_feature]), w=weights)
    info = {"source": wheel.name, "model": "ctb8", "n_tag": n_tag, "n_feature": n_feature,
            "unigram": len(unigram), "bigram": len(bigram),
            "licence": "MIT (LICENSE file of the pkuseg 0.0.12 wheel, (c) 2018-2019 pkuseg authors)"}
    (out_dir / "provenance.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info
