"""Train a pipeline from a config, tune theme thresholds on dev, and save it with its provenance.

spaCy's own training loop trains the components; afterwards the best model's theme
probabilities on the dev split set each theme's threshold, the dev scores are computed,
and ``meta.json`` records the data (path, SHA-256, split) and config the model came from.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import spacy
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as train_loop
from spacy.util import load_config

import nlp.components  # noqa: F401
import nlp.training.corpus  # noqa: F401

from ..annotation.examples import read_examples
from .corpus import make_doc_example, select
from .evaluate import predict_examples, score
from ..model import write_checksums


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _split(config, name: str, examples):
    reader = config["corpora"][name]
    return select(examples, reader["split"], reader["folds"], reader["dev_fold"], reader["seed"], reader["test_fold"])


def tune_thresholds(pipeline, dev) -> dict:
    """Each theme's threshold, chosen on the dev paragraphs' scores (see ``ThemeDecider.tune``)."""
    docs = list(pipeline.pipe([e.text for e in dev]))
    labels = sorted(docs[0].cats) if docs else []
    if not labels:
        return {}
    scores = np.array([[doc.cats.get(label, 0.0) for label in labels] for doc in docs])
    gold = np.array([[label in e.cats for label in labels] for e in dev], dtype=np.int8)
    return pipeline.get_pipe("theme_decider").tune(scores, gold, labels)


def span_alignment(pipeline, examples) -> dict:
    """How many annotated spans fall off the tokenizer's boundaries (they are widened, never dropped)."""
    from collections import Counter

    stats: Counter = Counter()
    for example in examples:
        make_doc_example(pipeline, example, (), stats)
    out = {"spans": stats["aligned"] + stats["misaligned"], "misaligned": stats["misaligned"],
           "overlap_after_widening": stats["overlap_after_widening"]}
    out.update({k: v for k, v in stats.items() if k.startswith("misaligned_")})
    return out


def train(config_path: Path, output: Path, overrides: Optional[dict] = None, quiet: bool = False) -> dict:
    """Train, tune and save to ``output``; returns the dev scores."""
    config_path, output = Path(config_path), Path(output)
    overrides = dict(overrides or {})
    config = load_config(config_path, overrides=overrides, interpolate=False)
    resolved = config.interpolate()
    data_path = Path(resolved["paths"]["annotations"])
    examples = read_examples(data_path)
    train_set, dev = _split(resolved, "train", examples), _split(resolved, "dev", examples)
    if not train_set or not dev:
        raise SystemExit(f"policy-nlp train: {data_path}: empty train ({len(train_set)}) or dev ({len(dev)}) split")
    log = sys.stderr
    print(f"Training {config_path} on {len(train_set)} paragraphs ({len(dev)} for dev) from {data_path}", file=log)
    started = time.time()
    pipeline = init_nlp(config)
    with tempfile.TemporaryDirectory(prefix="policy-nlp-train-") as tmp:
        train_loop(pipeline, Path(tmp), stdout=open("/dev/null", "w") if quiet else sys.stdout, stderr=log)
        pipeline = spacy.load(Path(tmp) / "model-best")
    thresholds = tune_thresholds(pipeline, dev)
    alignment = span_alignment(pipeline, train_set + dev)
    if alignment["misaligned"]:
        print(f"{alignment['misaligned']} of {alignment['spans']} entity spans were off token boundaries: trained as "
              f"the whole tokens they touch ({alignment['overlap_after_widening']} then overlapped and were merged)",
              file=log)
    metrics = score(dev, predict_examples(pipeline, [e.text for e in dev]))
    pipeline.meta["policy_nlp"] = {
        "config": str(config_path), "config_sha256": sha256(config_path), "overrides": overrides,
        "data": {"path": str(data_path), "sha256": sha256(data_path), "records": len(examples),
                 "train": len(train_set), "dev": len(dev)},
        "train_groups": sorted({e.group for e in train_set}),
        "thresholds": thresholds, "dev_scores": metrics, "span_alignment": alignment,
        "seconds": round(time.time() - started, 1),
    }
    pipeline.meta["performance"] = {"themes_macro_f": metrics["themes"]["macro_f"],
                                    "themes_micro_f": metrics["themes"]["micro_f"],
                                    "ents_f": metrics["entities"]["micro_f"]}
    # Written beside the target, then moved in: an interrupted run never leaves half a model.
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        pipeline.to_disk(staging)
        write_checksums(staging)
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(f"Saved {output}: theme macro F1 {metrics['themes']['macro_f']:.3f}, entity F1 "
          f"{metrics['entities']['micro_f']:.3f} on dev ({time.time() - started:.0f} s)", file=log)
    return metrics
