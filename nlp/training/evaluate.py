"""Scores of a trained pipeline on held-out annotated paragraphs and on the real-text dev set.

Held out means: from a report group the model neither trained on nor tuned on (``meta.json``
records both). Paragraphs of training groups are never scored; paragraphs of dev groups only
with ``include_dev``, and then reported apart, as dev figures. Themes: per-theme P/R/F1 with
counts, micro F1 and macro F1 over the themes with support. Entities: exact spans.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

from spacy.language import Language

from ..annotation.examples import Example, read_examples
from ..labels import load_labels
from ..metrics import entity_metrics, theme_metrics
from .real_text import RealTextMissing, load_real_dev, shared_dir

REAL_DEV = Path("annotations/real_dev.jsonl")   # the default of --real-dev, relative to the project


def predict_examples(nlp: Language, texts: list[str]) -> list[dict]:
    from ..model import predict

    return list(predict(nlp, texts))


def score(examples: list[Example], predictions: list[dict], labels_path: Optional[Path] = None) -> dict:
    labels = load_labels(labels_path)
    themes = theme_metrics([e.cats for e in examples], [p["themes"] for p in predictions], list(labels.themes))
    entities = entity_metrics([e.entities for e in examples],
                              [[(x["start"], x["end"], x["label"]) for x in p["entities"]] for p in predictions],
                              labels.entities)
    return {"n": len(examples), "themes": themes, "entities": entities}


def partition(examples: list[Example], meta: dict) -> tuple[list[Example], list[Example], int]:
    """(held out, dev, count left out because the model trained on their group)."""
    trained = set(meta.get("train_groups", []))
    dev = set(meta.get("dev_groups", []))
    held = [e for e in examples if e.group not in trained and e.group not in dev]
    tuned = [e for e in examples if e.group in dev and e.group not in trained]
    return held, tuned, sum(e.group in trained for e in examples)


def format_report(result: dict, title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"{'theme':<16}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}")
    for label, m in result["themes"]["per_theme"].items():
        lines.append(f"{label:<16}{m['p']:>7.3f}{m['r']:>7.3f}{m['f']:>7.3f}{m['support']:>9}")
    lines.append(f"themes: micro F1 {result['themes']['micro_f']:.3f}, macro F1 {result['themes']['macro_f']:.3f}"
                 f" ({result['n']} paragraphs)")
    lines.append(f"{'entity':<16}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}")
    for label, m in result["entities"]["per_label"].items():
        lines.append(f"{label:<16}{m['p']:>7.3f}{m['r']:>7.3f}{m['f']:>7.3f}{m['support']:>9}")
    lines.append(f"entities: micro F1 {result['entities']['micro_f']:.3f}")
    return "\n".join(lines)


def evaluate_command(model: Path, data: Optional[Path], output: Optional[Path], real_dev: Optional[Path] = None,
                     shared: Optional[Path] = None, include_dev: bool = False) -> int:
    from ..model import ModelError, load_pipeline

    sets: dict[str, list[Example]] = {}
    try:
        nlp = load_pipeline(model)
        if data:
            sets["annotations"] = read_examples(data)
        if real_dev:
            sets["real_dev"] = load_real_dev(real_dev, shared_dir(shared))
    except (ModelError, ValueError, OSError, RealTextMissing) as e:
        print(f"policy-nlp evaluate: {e}", file=sys.stderr)
        return 1
    if not sets:
        print("policy-nlp evaluate: give annotated DATA, --real-dev, or both", file=sys.stderr)
        return 2
    meta = nlp.meta.get("policy_nlp", {})
    results = {"model": str(model), "model_data_sha256": meta.get("data", {}).get("sha256"),
               "model_commit": meta.get("commit")}
    scored = 0
    for name, examples in sets.items():
        held, dev, trained = partition(examples, meta)
        if trained:
            print(f"{name}: {trained} of {len(examples)} paragraphs come from report groups the model trained on; "
                  f"they are left out (a model is never scored on what it learnt from)", file=sys.stderr)
        if dev and not include_dev:
            print(f"{name}: {len(dev)} paragraphs come from the model's dev groups; left out (--include-dev scores "
                  f"them, as dev figures)", file=sys.stderr)
        for kind, chosen in (("held_out", held), ("dev", dev if include_dev else [])):
            if not chosen:
                continue
            result = score(chosen, predict_examples(nlp, [e.text for e in chosen]))
            results[f"{name}.{kind}"] = result
            print(format_report(result, f"== {name}, {kind.replace('_', '-')} ({len(chosen)} paragraphs)"))
            scored += 1
    if not scored:
        print("policy-nlp evaluate: nothing left to score: the model trained on every report group given "
              "(its figures come from cross-validation: `policy-nlp crossval`)", file=sys.stderr)
        return 1
    if output:
        from ..io import atomic_write

        with atomic_write(output) as f:
            json.dump(results, f, indent=2, ensure_ascii=False)
    return 0
