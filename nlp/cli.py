"""The ``policy-nlp`` command. Each subcommand is a thin shell over one module."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from . import __version__


def _err(message: str) -> None:
    print(f"policy-nlp: {message}", file=sys.stderr)


def cmd_paragraphs(args: argparse.Namespace) -> int:
    from .io import atomic_write, dumps
    from .reading.read import ReadError
    from .reading.segment import iter_reports

    failures = reports = paragraphs = 0
    with atomic_write(args.output) as out:
        for item in iter_reports(args.inputs):
            if isinstance(item, ReadError):
                failures += 1
                _err(f"skipped {item}")
                continue
            reports += 1
            for paragraph in item:
                out.write(dumps(paragraph.to_dict()) + "\n")
                paragraphs += 1
    print(f"{paragraphs} paragraphs from {reports} reports written to {args.output}", file=sys.stderr)
    if failures:
        _err(f"{failures} file(s) could not be read")
        return 1
    return 0


def cmd_convert_pkuseg(args: argparse.Namespace) -> int:
    from .segmenter.convert import ConversionError, convert_wheel

    try:
        info = convert_wheel(args.wheel, args.output)
    except (ConversionError, OSError) as e:
        _err(str(e))
        return 1
    print(f"converted {info['source']}: {info['n_feature']} features -> {args.output}")
    return 0


def cmd_annotations_check(args: argparse.Namespace) -> int:
    from .annotation.examples import check_file

    problems = check_file(args.file)
    for problem in problems:
        print(problem)
    errors = sum(1 for p in problems if p.severity == "error")
    print(f"{args.file}: {errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if errors or (args.strict and problems) else 0


def cmd_annotations_consistency(args: argparse.Namespace) -> int:
    from .annotation.consistency import find_inconsistencies, format_findings, proposals, read_exceptions
    from .annotation.examples import read_examples

    word_starts = None
    if args.pkuseg_model and (args.pkuseg_model / "features.msgpack").is_file():
        import spacy

        from .segmenter import tokenizer  # noqa: F401  (registers the pipeline's tokenizer)

        segmenter = spacy.blank("zh", config={"nlp": {"tokenizer": {"@tokenizers": "policy_nlp.ChineseTokenizer.v1"}}})
        from .resources import config_file

        user_dict = args.user_dict or config_file("user_dict.txt")
        segmenter.tokenizer.initialize(pkuseg_model=str(args.pkuseg_model), pkuseg_user_dict=str(user_dict))
        word_starts = lambda text: {t.idx for t in segmenter.make_doc(text)}
    exceptions = read_exceptions(args.exceptions) if args.exceptions else frozenset()
    findings = find_inconsistencies(read_examples(args.file), min_length=args.min_length, word_starts=word_starts,
                                    exceptions=exceptions)
    if exceptions:
        print(f"{len(exceptions)} reviewed occurrence(s) in {args.exceptions} are documented exceptions")
    print(format_findings(findings, limit=args.limit))
    if args.proposals:
        from .io import atomic_write, dumps

        rows = proposals(findings)
        with atomic_write(args.proposals) as f:
            f.writelines(dumps(row) + "\n" for row in rows)
        print(f"{len(rows)} proposed label(s) written to {args.proposals} for review (the corpus is not changed)")
    return 1 if findings and args.strict else 0


def _examples_for_stats(path: Path, shared: Optional[Path]):
    from .annotation.examples import read_examples

    import json

    from .annotation.examples import read_lines

    first = next((line for line in read_lines(path) if line.strip()), "{}")
    try:
        record = json.loads(first)
    except ValueError:
        record = {}
    if isinstance(record, dict) and "sha256" in record and "text" not in record:   # stand-off: text from ../shared
        from .training.real_text import load_real_dev, shared_dir

        return load_real_dev(path, shared_dir(shared))
    return read_examples(path)


def cmd_annotations_stats(args: argparse.Namespace) -> int:
    from .annotation.stats import format_measures, measures
    from .training.real_text import RealTextMissing

    columns = {}
    try:
        for path in [args.file] + list(args.compare or []):
            columns[str(path)] = measures(_examples_for_stats(path, args.shared))
    except (OSError, ValueError, RealTextMissing) as e:
        _err(str(e))
        return 1
    print(format_measures(columns))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .training.train import train

    chosen_by = None
    if args.chosen_by:
        import json

        result = json.loads(args.chosen_by.read_text(encoding="utf-8"))
        chosen_by = {"file": str(args.chosen_by), "commit": result.get("commit"), "data": result.get("data"),
                     "real_dev": result.get("real_dev"),
                     "figures": {name: {"themes_macro_f": s["pooled"]["themes"]["macro_f"],
                                        "themes_micro_f": s["pooled"]["themes"]["micro_f"],
                                        **{f"{label}_f": m["f"] for label, m in s["pooled"]["entities"]["per_label"].items()}}
                                 for name, s in result["summary"].items()}}
    train(args.config, args.output, overrides=args.overrides, chosen_by=chosen_by)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from .training.config import load_config

    try:
        print(load_config(args.config, overrides=args.overrides).to_str())
    except (OSError, ValueError) as e:
        _err(str(e))
        return 1
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .training.evaluate import evaluate_command

    return evaluate_command(args.model, args.data, args.output, real_dev=args.real_dev, shared=args.shared,
                            include_dev=args.include_dev)


def cmd_crossval(args: argparse.Namespace) -> int:
    from .training.crossval import crossval_command

    return crossval_command(args.config, folds=args.folds, output=args.output, overrides=args.overrides,
                            real_dev=None if args.no_real_dev else args.real_dev, shared=args.shared, predictions=args.predictions)


def cmd_tag(args: argparse.Namespace) -> int:
    from .tagging.tag import tag_command

    return tag_command(args.inputs, model=args.model, output=args.output, summary=args.summary,
                       workers=args.workers, progress=args.progress, cache_size=args.cache_size,
                       chunk_mb=args.chunk_mb, time_limit=args.time_limit or None, cluster=args.cluster,
                       html=args.html)


def cmd_report(args: argparse.Namespace) -> int:
    from .report.render import report_command

    return report_command(args.inputs, args.output, max_paragraphs=args.max_paragraphs, title=args.title)


def cmd_doccano(args: argparse.Namespace) -> int:
    from .doccano import commands as doccano_cli

    return doccano_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policy-nlp", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("paragraphs", help="read report files (txt/html/docx/jsonl, any encoding) into paragraph records")
    p.add_argument("inputs", nargs="+", type=Path, help="files or directories (read recursively)")
    p.add_argument("--output", "-o", type=Path, required=True, help="JSONL file to write")
    p.set_defaults(func=cmd_paragraphs)

    p = sub.add_parser("convert-pkuseg", help="convert the CTB8 model of the pkuseg 0.0.12 wheel for spacy-pkuseg")
    p.add_argument("wheel", type=Path)
    p.add_argument("--output", "-o", type=Path, required=True)
    p.set_defaults(func=cmd_convert_pkuseg)

    p = sub.add_parser("annotations", help="work with annotation files")
    asub = p.add_subparsers(dest="annotations_command", required=True)
    c = asub.add_parser("check", help="validate a doccano JSONL export against the label config")
    c.add_argument("file", type=Path)
    c.add_argument("--strict", action="store_true", help="exit 1 on warnings too (e.g. offsets that may be UTF-16)")
    c.set_defaults(func=cmd_annotations_check)
    c = asub.add_parser("consistency", help="list strings labelled in one place and not, or otherwise, elsewhere")
    c.add_argument("file", type=Path)
    c.add_argument("--proposals", type=Path, help="write proposed labels (JSONL) for review; the corpus is not changed")
    c.add_argument("--min-length", type=int, default=2)
    c.add_argument("--limit", type=int, default=50, help="strings to print")
    c.add_argument("--strict", action="store_true", help="exit 1 when anything is found")
    c.add_argument("--pkuseg-model", type=Path, default=Path("models/pkuseg_ctb8"),
                   help="count only occurrences on pkuseg word boundaries (none: every occurrence)")
    c.add_argument("--user-dict", type=Path, default=None, help="pkuseg user dictionary (default: the package's)")
    c.add_argument("--exceptions", type=Path, help="reviewed occurrences kept as they are, with reasons (JSONL)")
    c.set_defaults(func=cmd_annotations_consistency)
    c = asub.add_parser("stats", help="measure a corpus (lengths, punctuation, figures, labels), side by side")
    c.add_argument("file", type=Path)
    c.add_argument("--compare", type=Path, nargs="*", help="other files (e.g. annotations/real_dev.jsonl)")
    c.add_argument("--shared", type=Path, default=None,
                   help="folder of the real reports, for stand-off files (default $POLICY_NLP_SHARED)")
    c.set_defaults(func=cmd_annotations_stats)

    p = sub.add_parser("train", help="train a pipeline from a config (config overrides as in spaCy: --section.key value)")
    p.add_argument("config", type=Path)
    p.add_argument("--output", "-o", type=Path, required=True)
    p.add_argument("--chosen-by", type=Path,
                   help="the cross-validation results (policy-nlp crossval --output) the settings were chosen by; "
                        "their figures are recorded in meta.json")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("config", help="print a config with its base merged in (for python -m spacy train)")
    p.add_argument("config", type=Path)
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("evaluate", help="score a model on held-out annotated data and/or the real-text dev set")
    p.add_argument("model", type=Path)
    p.add_argument("data", type=Path, nargs="?", help="annotated JSONL (only groups the model never saw are scored)")
    p.add_argument("--output", "-o", type=Path, help="JSON file for the scores")
    p.add_argument("--real-dev", type=Path, nargs="?", const=Path("annotations/real_dev.jsonl"),
                   help="score the real-text dev set (default annotations/real_dev.jsonl; text read from --shared)")
    p.add_argument("--include-dev", action="store_true", help="also score the model's dev groups, labelled as dev")
    p.add_argument("--shared", type=Path, default=None,
                   help="folder holding the real reports, seeds/ and corpus/ (default $POLICY_NLP_SHARED)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("crossval", help="k-fold cross-validation grouped by source report")
    p.add_argument("config", type=Path)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--output", "-o", type=Path)
    p.add_argument("--real-dev", type=Path, default=Path("annotations/real_dev.jsonl"),
                   help="the real-text dev set scored beside the corpus folds (stand-off; text read from --shared)")
    p.add_argument("--no-real-dev", action="store_true", help="score the corpus folds only")
    p.add_argument("--predictions", action="store_true",
                   help="keep every held-out paragraph's prediction in the output (offsets only, for error analysis)")
    p.add_argument("--shared", type=Path, default=None,
                   help="folder holding the real reports (default $POLICY_NLP_SHARED)")
    p.set_defaults(func=cmd_crossval)

    p = sub.add_parser("tag", help="tag every paragraph of new reports")
    p.add_argument("inputs", nargs="+", type=Path)
    p.add_argument("--model", "-m", type=Path, default=Path("models/default"))
    p.add_argument("--output", "-o", type=Path, required=True, help=".jsonl, .csv or .parquet")
    p.add_argument("--summary", type=Path, help="one row per report: .csv, or .xlsx for Excel")
    p.add_argument("--html", type=Path, help="also write the HTML report of what was tagged (as `policy-nlp report`)")
    p.add_argument("--workers", "-j", type=_positive_int, default=1,
                   help="worker processes (at most one per core, and as many as memory holds at ~1 GB each)")
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="tag on a Dask cluster: tcp://HOST:8786 (a running scheduler) or local:N (N worker processes); "
                        "needs pip install 'policy-nlp[cluster]'")
    p.add_argument("--chunk-mb", type=float, default=1.0,
                   help="a .jsonl larger than this is cut into chunks of about this size, shared among the workers")
    p.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds a file may take to read and clean before it is skipped (0: no limit)")
    p.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress bar: auto shows it on a terminal only")
    p.add_argument("--cache-size", type=int, default=20000,
                   help="paragraphs whose predictions are kept per worker, for repeated text (0: off)")
    p.set_defaults(func=cmd_tag)

    p = sub.add_parser("report", help="one self-contained HTML report of tagged outputs: themes by report, "
                                      "place and year, highlighted names")
    p.add_argument("inputs", nargs="+", type=Path, help="outputs of `policy-nlp tag` (.jsonl, .csv or .parquet)")
    p.add_argument("--output", "-o", type=Path, required=True, help="the .html file to write")
    p.add_argument("--max-paragraphs", type=int, default=20000,
                   help="show the texts of at most this many paragraphs (figures count all)")
    p.add_argument("--title", help="the report's heading")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("doccano", help="bridge to a doccano annotation server")
    from .doccano.commands import add_arguments
    add_arguments(p)
    p.set_defaults(func=cmd_doccano)   # cmd_doccano(args) calls nlp.doccano.commands.run(args) -> int exit code

    return parser


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in ("train", "crossval", "config"):
        from spacy.cli._util import parse_config_overrides

        try:
            args.overrides = parse_config_overrides(extra)
        except SystemExit:
            parser.error(f"config overrides must be --section.key value pairs, got {' '.join(extra)}")
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
