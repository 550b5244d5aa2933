"""k-fold cross-validation grouped by source report, on the corpus and on the real-text dev set.

Fold k is the test fold: held out of training, of threshold tuning and, for gradient-trained
pipelines, of early stopping (which then uses fold k+1 as dev). Paragraphs re-expressed from
one report share a fold, and a real line of the real-text dev set is scored only by the model
whose test fold holds its report: no model is scored on a report it learnt anything from.
Results keep per-fold and pooled counts, the commit, the data's SHA-256 and the config.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
from .config import load_config

from ..annotation.examples import read_examples
from ..metrics import sum_counts
from .corpus import fold_of, select
from .evaluate import REAL_DEV, predict_examples, score
from .real_text import RealTextMissing, load_real_dev, shared_dir
from .train import git_commit, sha256, split_settings, train


def fold_map(examples, folds: int, seed: int) -> dict[str, int]:
    return {e.group: fold_of(e, folds, seed) for e in examples}


def crossval(config: Path, folds: int = 5, overrides: Optional[dict] = None, real_dev: Optional[Path] = REAL_DEV,
             shared: Optional[Path] = None, keep_predictions: bool = False) -> dict:
    overrides = dict(overrides or {})
    overrides["paths.folds"] = folds
    resolved = load_config(config, overrides=overrides, interpolate=True)
    data = Path(resolved["paths"]["annotations"])
    examples = read_examples(data)
    split = split_settings(resolved)
    uses_dev = split["dev_fold"] >= 0
    groups = fold_map(examples, folds, split["seed"])
    real = load_real_dev(real_dev, shared_dir(shared)) if real_dev else []
    real_fold = [groups.get(e.group, fold_of(e, folds, split["seed"])) for e in real]
    per_fold, predictions = [], []
    timed = [0, 0.0]   # characters tagged, seconds
    for k in range(folds):
        fold_overrides = {**overrides, "paths.test_fold": k, "paths.dev_fold": (k + 1) % folds if uses_dev else -1}
        test = select(examples, "test", folds, fold_overrides["paths.dev_fold"], split["seed"], test_fold=k)
        real_test = [e for e, f in zip(real, real_fold) if f == k]
        print(f"fold {k + 1}/{folds}: training ({len(test)} corpus and {len(real_test)} real paragraphs held out)",
              file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="policy-nlp-cv-") as tmp:
            from ..model import load_pipeline

            train(config, Path(tmp) / "model", overrides=fold_overrides, quiet=True)
            pipeline = load_pipeline(Path(tmp) / "model")
            result = {}
            for name, chosen in (("corpus", test), ("real_dev", real_test)):
                if not chosen and name == "real_dev":
                    continue
                started = time.perf_counter()
                predicted = predict_examples(pipeline, [e.text for e in chosen])
                timed[0] += sum(len(e.text) for e in chosen)
                timed[1] += time.perf_counter() - started
                result[name] = score(chosen, predicted)
                if keep_predictions:
                    # offsets and labels only: real text stays in ../shared
                    predictions += [{"set": name, "fold": k, "id": e.id, "doc_id": e.meta.get("doc_id"),
                                     "line": e.meta.get("line"), "gold": {"cats": e.cats, "entities": e.entities},
                                     "predicted": {"themes": p["themes"], "scores": p["scores"],
                                                   "entities": [[x["start"], x["end"], x["label"]] for x in p["entities"]]}}
                                    for e, p in zip(chosen, predicted)]
        per_fold.append(result)
        print(f"fold {k + 1}/{folds}: " + ", ".join(
            f"{name}: theme macro F1 {r['themes']['macro_f']:.3f}, entity F1 {r['entities']['micro_f']:.3f}"
            for name, r in result.items()), file=sys.stderr)
    summary = {}
    for name in ("corpus", "real_dev"):
        results = [r[name] for r in per_fold if name in r]
        if not results:
            continue
        summary[name] = {
            "pooled": {"themes": sum_counts(r["themes"] for r in results),
                       "entities": sum_counts(r["entities"] for r in results), "n": sum(r["n"] for r in results)},
            "folds": {key: {"mean": float(np.mean(v)), "std": float(np.std(v)), "folds": len(v)} for key, v in {
                "themes.macro_f": [r["themes"]["macro_f"] for r in results],
                "themes.micro_f": [r["themes"]["micro_f"] for r in results],
                "entities.micro_f": [r["entities"]["micro_f"] for r in results],
                **{f"entities.{label}.f": [r["entities"]["per_label"][label]["f"] for r in results
                                           if r["entities"]["per_label"][label]["support"]]
                   for label in results[0]["entities"]["per_label"]}}.items() if v},
        }
    return {"config": str(config), "config_text": Path(config).read_text(encoding="utf-8"),
            "overrides": {k: str(v) for k, v in overrides.items()}, "folds": folds,
            "commit": git_commit(), "data": {"path": str(data), "sha256": sha256(data), "records": len(examples)},
            "real_dev": {"path": str(real_dev), "sha256": sha256(real_dev), "records": len(real)} if real_dev else None,
            "summary": summary, "chars_per_second": round(timed[0] / timed[1]) if timed[1] else None,
            "per_fold": per_fold, **({"predictions": predictions} if keep_predictions else {})}


def format_summary(result: dict) -> str:
    lines = [f"tagging the held-out paragraphs: {result['chars_per_second']:,} characters a second (whole pipeline)"] \
        if result.get("chars_per_second") else []
    for name, s in result["summary"].items():
        pooled, folds = s["pooled"], s["folds"]
        lines.append(f"== {name} ({pooled['n']} paragraphs, each scored by the one fold model that never saw its report)")
        lines.append(f"theme macro F1 {pooled['themes']['macro_f']:.3f} (folds {folds['themes.macro_f']['mean']:.3f} "
                     f"± {folds['themes.macro_f']['std']:.3f}), micro F1 {pooled['themes']['micro_f']:.3f}")
        lines.append("  " + ", ".join(f"{label} {m['f']:.2f}" for label, m in pooled["themes"]["per_label"].items()
                                      if m["support"]))
        lines.append(f"entity F1 {pooled['entities']['micro_f']:.3f} (folds {folds['entities.micro_f']['mean']:.3f} "
                     f"± {folds['entities.micro_f']['std']:.3f})")
        for label, m in pooled["entities"]["per_label"].items():
            lines.append(f"  {label:<8} P {m['p']:.3f} R {m['r']:.3f} F1 {m['f']:.3f} ({m['support']})")
    return "\n".join(lines)


def crossval_command(config: Path, folds: int = 5, output: Optional[Path] = None, overrides: Optional[dict] = None,
                     real_dev: Optional[Path] = REAL_DEV, shared: Optional[Path] = None,
                     predictions: bool = False) -> int:
    if folds < 2:
        print("policy-nlp crossval: --folds must be at least 2", file=sys.stderr)
        return 2
    try:
        result = crossval(config, folds, overrides, real_dev=real_dev, shared=shared, keep_predictions=predictions)
    except (RealTextMissing, ValueError) as e:
        print(f"policy-nlp crossval: {e}", file=sys.stderr)
        return 1
    print(format_summary(result))
    if output:
        from ..io import atomic_write

        with atomic_write(output) as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return 0
