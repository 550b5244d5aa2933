"""Scores of a trained pipeline on annotated paragraphs, and on the real paragraphs behind them.

Themes: per-theme precision, recall, F1 and support; micro F1 and macro F1 (over themes with
support). Entities: per-label P/R/F1 with exact span match (start, end and label).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterable, Optional, Union

from spacy.language import Language

from ..annotation.examples import Example, read_examples
from ..components.themes import prf, theme_metrics
from ..labels import load_labels
from .real_text import RealText


def entity_metrics(gold: list[Iterable[tuple]], predicted: list[Iterable[tuple]], labels: Iterable[str]) -> dict:
    per = {}
    totals = [0, 0, 0]
    for label in labels:
        tp = fp = fn = 0
        for g, p in zip(gold, predicted):
            g = {(s, e) for s, e, l in g if l == label}
            p = {(s, e) for s, e, l in p if l == label}
            tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
        per[label] = {**prf(tp, fp, fn), "support": tp + fn}
        totals = [totals[0] + tp, totals[1] + fp, totals[2] + fn]
    return {"per_label": per, **{f"micro_{k}": v for k, v in prf(*totals).items()}}


def predict_examples(nlp: Language, texts: list[str]) -> list[dict]:
    from ..model import predict

    return list(predict(nlp, texts))


def score(examples: list[Example], predictions: list[dict]) -> dict:
    labels = load_labels()
    themes = theme_metrics([e.cats for e in examples], [p["themes"] for p in predictions], list(labels.themes))
    entities = entity_metrics([e.entities for e in examples],
                              [[(x["start"], x["end"], x["label"]) for x in p["entities"]] for p in predictions],
                              labels.entities)
    return {"n": len(examples), "themes": themes, "entities": entities}


def real_text_scores(nlp: Language, examples: list[Example], shared: Union[str, Path, None] = None) -> dict:
    """Theme scores on the real paragraphs the (rewritten, not extra) examples came from."""
    real = RealText(shared)
    pairs = []
    for example in examples:
        if example.meta.get("origin", "rewrite") != "rewrite":
            continue
        text = real.paragraph(example.meta.get("doc_id", ""), example.meta.get("line", 0))
        if text:
            pairs.append((example, text))
    predictions = predict_examples(nlp, [text for _, text in pairs])
    metrics = theme_metrics([e.cats for e, _ in pairs], [p["themes"] for p in predictions], list(load_labels().themes))
    return {"n": len(pairs), "themes": metrics}


def format_report(result: dict) -> str:
    lines = [f"{'theme':<16}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}"]
    for label, m in result["themes"]["per_theme"].items():
        lines.append(f"{label:<16}{m['p']:>7.3f}{m['r']:>7.3f}{m['f']:>7.3f}{m['support']:>9}")
    lines.append(f"themes: micro F1 {result['themes']['micro_f']:.3f}, macro F1 {result['themes']['macro_f']:.3f}"
                 f" ({result['n']} paragraphs)")
    lines.append(f"{'entity':<16}{'P':>7}{'R':>7}{'F1':>7}{'support':>9}")
    for label, m in result["entities"]["per_label"].items():
        lines.append(f"{label:<16}{m['p']:>7.3f}{m['r']:>7.3f}{m['f']:>7.3f}{m['support']:>9}")
    lines.append(f"entities: micro F1 {result['entities']['micro_f']:.3f}")
    if "real_text" in result:
        real = result["real_text"]
        lines.append(f"real text: theme macro F1 {real['themes']['macro_f']:.3f}, micro F1 "
                     f"{real['themes']['micro_f']:.3f} on {real['n']} real paragraphs")
    return "\n".join(lines)


def evaluate_command(model: Path, data: Path, output: Optional[Path], real: bool = False,
                     shared: Optional[Path] = None) -> int:
    from ..model import ModelError, load_pipeline

    try:
        nlp = load_pipeline(model)
        examples = read_examples(data)
    except (ModelError, ValueError, OSError) as e:
        print(f"policy-nlp evaluate: {e}", file=sys.stderr)
        return 1
    trained_on = set(nlp.meta.get("policy_nlp", {}).get("train_groups", []))
    held_out = [e for e in examples if e.group not in trained_on]
    if len(held_out) < len(examples):
        print(f"note: {len(examples) - len(held_out)} of {len(examples)} paragraphs come from reports the model "
              f"was trained on; they are left out of the scores", file=sys.stderr)
    if not held_out:
        print("policy-nlp evaluate: nothing left to score", file=sys.stderr)
        return 1
    result = score(held_out, predict_examples(nlp, [e.text for e in held_out]))
    if real:
        try:
            result["real_text"] = real_text_scores(nlp, held_out, shared)
        except FileNotFoundError as e:
            print(f"policy-nlp evaluate: --real: {e}", file=sys.stderr)
            return 1
    print(format_report(result))
    if output:
        from ..io import atomic_write

        with atomic_write(output) as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return 0
