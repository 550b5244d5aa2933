"""k-fold cross-validation grouped by source report.

Fold k is the test fold: held out of training, threshold tuning and early stopping, which use
fold k+1 as dev; the other folds train. Paragraphs written from one report share a fold, so
a model is never scored on a report it has seen. Each fold is also scored on the real
paragraphs behind its test paragraphs (read from ../shared at run time).
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
from spacy.util import load_config

from ..annotation.examples import read_examples
from .corpus import select
from .evaluate import predict_examples, real_text_scores, score
from ..model import load_pipeline
from .train import train


def _flatten(result: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and key != "n":
            out[f"{prefix}{key}"] = float(value)
    return out


def crossval(config: Path, folds: int = 5, overrides: Optional[dict] = None, real: bool = True) -> dict:
    overrides = dict(overrides or {})
    resolved = load_config(config, overrides=overrides, interpolate=True)
    examples = read_examples(resolved["paths"]["annotations"])
    seed = resolved["system"]["seed"]
    per_fold = []
    for k in range(folds):
        fold_overrides = {**overrides, "paths.test_fold": k, "paths.dev_fold": (k + 1) % folds,
                          "corpora.train.folds": folds, "corpora.dev.folds": folds}
        test = select(examples, "test", folds, (k + 1) % folds, seed, test_fold=k)
        print(f"fold {k + 1}/{folds}: training ({len(test)} test paragraphs held out)", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="policy-nlp-cv-") as tmp:
            train(config, Path(tmp) / "model", overrides=fold_overrides, quiet=True)
            pipeline = load_pipeline(Path(tmp) / "model")
            result = score(test, predict_examples(pipeline, [e.text for e in test]))
            if real:
                result["real_text"] = real_text_scores(pipeline, test)
        per_fold.append(result)
        print(f"fold {k + 1}/{folds}: theme macro F1 {result['themes']['macro_f']:.3f}, entity F1 "
              f"{result['entities']['micro_f']:.3f}" + (f", real-text theme macro F1 "
              f"{result['real_text']['themes']['macro_f']:.3f}" if real else ""), file=sys.stderr)
    flat = [_flatten(r) for r in per_fold]
    for fold in flat:   # a theme or label absent from a test fold has no F1 there: leave it out of the mean
        for key in [k for k in fold if k.endswith(".support") and fold[k] == 0]:
            for metric in ("p", "r", "f", "support"):
                fold.pop(key[:-len("support")] + metric, None)
    keys = dict.fromkeys(k for fold in flat for k in fold)
    summary = {key: {"mean": float(np.mean(values)), "std": float(np.std(values)), "folds": len(values)}
               for key in keys for values in [[f[key] for f in flat if key in f]]}
    return {"config": str(config), "overrides": {k: str(v) for k, v in overrides.items()}, "folds": folds,
            "summary": summary, "per_fold": per_fold}


def format_summary(result: dict) -> str:
    s = result["summary"]
    lines = [f"{'':<22}{'mean':>8}{'± std':>8}"]
    pick = [("theme macro F1", "themes.macro_f"), ("theme micro F1", "themes.micro_f")]
    pick += [(f"  {k[len('themes.per_theme.'):-2]} F1", k) for k in s if k.startswith("themes.per_theme.") and k.endswith(".f")]
    pick += [("entity F1 (micro)", "entities.micro_f")]
    pick += [(f"  {k.split('.')[2]} F1", k) for k in s if k.startswith("entities.per_label.") and k.endswith(".f")]
    pick += [("real-text theme macro F1", "real_text.themes.macro_f"), ("real-text theme micro F1", "real_text.themes.micro_f")]
    for name, key in pick:
        if key in s:
            lines.append(f"{name:<26}{s[key]['mean']:>6.3f}{s[key]['std']:>8.3f}")
    return "\n".join(lines)


def crossval_command(config: Path, folds: int = 5, output: Optional[Path] = None, overrides: Optional[dict] = None) -> int:
    result = crossval(config, folds, overrides)
    print(format_summary(result))
    if output:
        from ..io import atomic_write

        with atomic_write(output) as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return 0
