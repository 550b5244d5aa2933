"""Train a pipeline from a config and save it with its provenance.

The default pipeline's components are fitted in ``initialize`` (the CRF, the scikit-learn
classifier, and the theme decider tuned on out-of-fold scores), so it trains on every
paragraph, with no dev fold held back. A pipeline with gradient-trained components (spaCy's
``ner``, ``textcat_multilabel``) goes through spaCy's loop with a dev fold. ``meta.json``
records the data (path, SHA-256), the split, the report groups trained on and used as dev,
the config and the commit the model came from.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import spacy
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as train_loop
from .config import load_config

import nlp.components  # noqa: F401
import nlp.training.callbacks  # noqa: F401
import nlp.training.corpus  # noqa: F401
import nlp.training.gazetteer  # noqa: F401

from ..annotation.examples import read_examples
from .corpus import make_doc_example, select
from .evaluate import predict_examples, score
from ..labels import load_labels
from ..model import write_checksums


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def split_settings(resolved) -> dict:
    """The grouped split, read from the one place of the config that holds it: ``[paths]``."""
    paths = resolved["paths"]
    return {"folds": int(paths["folds"]), "seed": int(paths["fold_seed"]),
            "dev_fold": int(paths["dev_fold"]), "test_fold": int(paths["test_fold"])}


def needs_training_loop(pipeline) -> bool:
    """True when a component learns by gradient updates (tok2vec, ner, textcat): it then needs
    spaCy's loop and a dev split; the scikit-learn and CRF components are fitted in initialize."""
    from spacy.pipeline import TrainablePipe

    return any(isinstance(pipe, TrainablePipe) and getattr(pipe, "model", None) is not None
               and name not in pipeline.config["training"]["frozen_components"]
               for name, pipe in pipeline.pipeline)


def span_alignment(pipeline, examples) -> dict:
    """How many annotated spans end inside a pkuseg word (kept exact; the word is split)."""
    from collections import Counter

    stats: Counter = Counter()
    for example in examples:
        make_doc_example(pipeline, example, (), stats)
    out = {"spans": stats["aligned"] + stats["misaligned"], "inside_words": stats["misaligned"]}
    out.update({k.replace("misaligned_", "inside_words_"): v for k, v in stats.items() if k.startswith("misaligned_")})
    return out


def train(config_path: Path, output: Path, overrides: Optional[dict] = None, quiet: bool = False,
          chosen_by: Optional[dict] = None) -> dict:
    """Train and save to ``output``; returns what ``meta.json`` records under ``policy_nlp``.

    With no dev fold (``paths.dev_fold = -1``, the default) every paragraph outside the test fold
    trains, and nothing is scored: the model's figures come from cross-validation."""
    config_path, output = Path(config_path), Path(output)
    overrides = dict(overrides or {})
    config = load_config(config_path, overrides=overrides, interpolate=False)
    resolved = config.interpolate()
    data_path = Path(resolved["paths"]["annotations"])
    labels_path = resolved["paths"].get("labels")
    examples = read_examples(data_path, load_labels(labels_path))
    split = split_settings(resolved)
    pick = lambda name: select(examples, name, split["folds"], split["dev_fold"], split["seed"], split["test_fold"])
    train_set, dev = pick("train"), (pick("dev") if split["dev_fold"] >= 0 else [])
    if not train_set:
        raise SystemExit(f"policy-nlp train: {data_path}: no paragraphs left to train on")
    log = sys.stderr
    print(f"Training {config_path} on {len(train_set)} paragraphs from {data_path}"
          + (f" ({len(dev)} for dev)" if dev else " (no dev split)"), file=log)
    started = time.time()
    pipeline = init_nlp(config)
    if needs_training_loop(pipeline):
        if not dev:
            raise SystemExit(f"policy-nlp train: {config_path} has components trained by gradient updates; "
                             "they need a dev split (set paths.dev_fold)")
        with tempfile.TemporaryDirectory(prefix="policy-nlp-train-") as tmp:
            train_loop(pipeline, Path(tmp), stdout=open(os.devnull, "w") if quiet else sys.stdout, stderr=log)
            pipeline = spacy.load(Path(tmp) / "model-best")
    decider = pipeline.get_pipe("theme_decider") if "theme_decider" in pipeline.pipe_names else None
    provenance = {
        "config": str(config_path), "config_sha256": sha256(config_path), "overrides": overrides,
        "data": {"path": str(data_path), "sha256": sha256(data_path), "records": len(examples),
                 "train": len(train_set), "dev": len(dev)},
        "split": split, "train_groups": sorted({e.group for e in train_set}),
        "dev_groups": sorted({e.group for e in dev}),
        "trained_on": "all" if split["test_fold"] < 0 and not dev else "split",
        "thresholds": dict(decider.thresholds) if decider else {},
        "other_bound": decider.other_bound if decider else None,
        "span_alignment": span_alignment(pipeline, train_set),
        "commit": git_commit(), "seconds": None,
    }
    if dev:
        provenance["dev_scores"] = score(dev, predict_examples(pipeline, [e.text for e in dev]))
    if chosen_by:
        provenance["chosen_by"] = chosen_by
    provenance["seconds"] = round(time.time() - started, 1)
    pipeline.meta["policy_nlp"] = provenance
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
    print(f"Saved {output} ({provenance['seconds']:.0f} s)", file=log)
    return provenance


def git_commit() -> Optional[str]:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
