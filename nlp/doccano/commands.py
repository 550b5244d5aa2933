"""``policy-nlp doccano …``: the annotators' bridge (serve, push, pull, autolabel, next, agreement).

Each command is a thin function over ``doccano`` (the adapter), ``doccano_convert`` (pure
conversions), ``doccano_server`` and the model modules; they return an exit code and print
expected failures as one line, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from .client import Doccano, DoccanoError, credentials
from .convert import content_hash, convert_record, merge_export, upload_row
from .server import DEFAULT_PORT, ServerError, default_data_dir
from ..labels import LabelConfig, load_labels

MAX_MESSAGES = 50   # per kind, on the terminal; the rest are counted


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _err(message: str) -> None:
    print(f"policy-nlp doccano: {message}", file=sys.stderr)


def _report(kind: str, messages: list[str]) -> None:
    for message in messages[:MAX_MESSAGES]:
        _say(f"  {kind}: {message}")
    if len(messages) > MAX_MESSAGES:
        _say(f"  … and {len(messages) - MAX_MESSAGES} more {kind}")


# --- push ---------------------------------------------------------------------------------------

@dataclass
class PushItem:
    text: str
    meta: dict
    cats: list = field(default_factory=list)
    entities: list = field(default_factory=list)
    display: dict = field(default_factory=dict)


def _is_annotation_file(path: Path) -> bool:
    """A .jsonl whose first record carries ``cats`` or ``entities`` is an annotation export."""
    if path.suffix.lower() != ".jsonl" or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:
                    return False
                return isinstance(record, dict) and ("cats" in record or "entities" in record)
    return False


def collect(inputs: Iterable[Path], labels: LabelConfig) -> tuple[list[PushItem], list[str]]:
    """Paragraphs (any input the paragraph reader takes) and labelled records; plus read errors."""
    from ..annotation.examples import read_examples
    from ..reading.read import ReadError, iter_files
    from ..reading.segment import iter_reports

    items: list[PushItem] = []
    errors: list[str] = []
    for path in iter_files(list(inputs)):   # folders expand here, so labelled .jsonl inside them count too
        if isinstance(path, ReadError):
            errors.append(str(path))
            continue
        if _is_annotation_file(path):
            try:
                examples = read_examples(path, labels)
            except ValueError as e:
                errors.append(str(e))
                continue
            for ex in examples:
                items.append(PushItem(ex.text, ex.meta, list(ex.cats), [tuple(e) for e in ex.entities],
                                      {"source_file": path.name}))
            continue
        for report in iter_reports([path]):
            if isinstance(report, ReadError):
                errors.append(str(report))
                continue
            for p in report:
                meta = {"paragraph_id": p.id, "report_id": p.report_id, "report_title": p.report_title,
                        "source": p.source, "paragraph_index": p.paragraph_index, "start": p.start, "end": p.end,
                        "is_heading": p.is_heading, "heading_path": list(p.heading_path), **p.meta}
                display = {"report": p.report_title, "source_file": Path(p.source).name}
                if p.heading_path:
                    display["heading"] = " › ".join(p.heading_path)
                items.append(PushItem(p.text, meta, display=display))
    return items, errors


def model_suggestions(model: Path, items: list[PushItem]) -> None:
    """Put the model's themes, scores and entities in each item's flat (display) metadata."""
    from ..model import load_pipeline, predict

    nlp = load_pipeline(model)
    for item, prediction in zip(items, predict(nlp, [i.text for i in items])):
        item.display.update({
            "model_name": Path(model).name,
            "model_themes": prediction["themes"],
            "model_scores": prediction["scores"],
            "model_entities": [f"{e['text']} ({e['label']})" for e in prediction["entities"]],
        })


def push(dc: Doccano, inputs: list[Path], project: str, model: Optional[Path] = None,
         labels: Optional[LabelConfig] = None) -> dict:
    """Create the project and labels if needed, then upload what is not there yet."""
    labels = labels or load_labels()
    items, errors = collect(inputs, labels)
    project_id, created = dc.ensure_project(project)
    try:
        return _fill(dc, project_id, created, items, errors, model, labels)
    except BaseException as e:
        if not created:
            raise
        dc.delete_project(project_id)     # leave no half-made project behind
        if isinstance(e, DoccanoError):
            raise DoccanoError(f"{e}; the project {project!r} this push had created was deleted again") from None
        raise


def _fill(dc: Doccano, project_id: int, created: bool, items: list, errors: list, model: Optional[Path],
          labels: LabelConfig) -> dict:
    label_counts = dc.ensure_labels(project_id, labels)
    present = set()
    for example in dc.examples(project_id):
        meta = example.get("meta") or {}
        present.add(meta.get("content_hash") or content_hash(example.get("text") or ""))
    new: list[PushItem] = []
    skipped = 0
    for item in items:
        key = content_hash(item.text)
        if key in present:
            skipped += 1
            continue
        present.add(key)
        new.append(item)
    if model and new:
        model_suggestions(model, new)
    uploaded = 0
    batch = 2000   # one celery import job per batch keeps each job short
    for start in range(0, len(new), batch):
        rows = [upload_row(i.text, i.meta, i.cats, i.entities, i.display) for i in new[start:start + batch]]
        try:
            uploaded += dc.upload_rows(project_id, rows)
        except DoccanoError as e:
            if created or not uploaded:
                raise
            raise DoccanoError(f"{e}; {uploaded} example(s) were uploaded before it: pushing again uploads "
                               f"only the rest (the same text is never uploaded twice)") from None
    return {"project_id": project_id, "created": created, "labels": label_counts, "uploaded": uploaded,
            "skipped": skipped, "labelled": sum(1 for i in new if i.cats or i.entities), "errors": errors}


def cmd_push(args: argparse.Namespace) -> int:
    dc = Doccano.connect(args.url)
    result = push(dc, args.inputs, args.project, args.model)
    for error in result["errors"]:
        _err(f"skipped {error}")
    _say(f"project {args.project!r} (id {result['project_id']}{', new' if result['created'] else ''}) at {dc.url}: "
         f"{result['uploaded']} example(s) uploaded ({result['labelled']} with labels), "
         f"{result['skipped']} already there (same text); labels created: {result['labels']['created']}")
    return 1 if result["errors"] else 0


# --- pull ---------------------------------------------------------------------------------------

def pull(dc: Doccano, project: str, output: Path, only_approved: bool = False, annotator: Optional[str] = None,
         labels: Optional[LabelConfig] = None, force: bool = False):
    from ..io import atomic_write, dumps

    labels = labels or load_labels()
    project_id = dc.project_id(project)
    files = dc.export(project_id, only_approved)
    try:
        result = merge_export(files, labels, annotator)
    except ValueError as e:
        raise DoccanoError(str(e)) from None
    kept = _records_in(output)
    if not result.records and kept and not force:
        what = "approved " if only_approved else ""
        raise DoccanoError(f"the export of {project!r} holds no {what}labelled examples"
                           + (f" by {annotator!r}" if annotator else "")
                           + f"; {output} ({kept} record(s)) was left as it is (--force replaces it with an empty file)")
    with atomic_write(output) as out:
        for record in result.records:
            out.write(dumps(record) + "\n")
    return result


def _records_in(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


def cmd_pull(args: argparse.Namespace) -> int:
    dc = Doccano.connect(args.url)
    result = pull(dc, args.project, args.output, args.only_approved, args.annotator, force=args.force)
    _report("fixed", result.fixed)
    _report("rejected", result.rejected)
    _report("conflict", result.conflicts)
    _say(f"{len(result.records)} labelled example(s) from {', '.join(result.sources) or 'no file'} written to "
         f"{args.output}; {len(result.fixed)} fix(es), {len(result.rejected)} rejection(s), "
         f"{len(result.conflicts)} conflict(s), {result.unlabelled} unlabelled example(s) left out")
    return 0


# --- next (active learning) -----------------------------------------------------------------------

def labelled_ids(files: dict[str, list]) -> set:
    """Examples that anyone has labelled, from an export."""
    out = set()
    for rows in files.values():
        for raw in rows:
            if isinstance(raw, dict) and (raw.get("cats") or raw.get("entities") or raw.get("label")):
                out.add(raw.get("id"))
    return out


def next_batch(dc: Doccano, project: str, model: Path, count: int) -> list:
    """Mark the ``count`` unlabelled examples the model is least sure of (metadata and score)."""
    from ..annotation.active import decider_thresholds, select, uncertainty
    from ..model import load_pipeline, predict

    nlp = load_pipeline(model)
    thresholds, default, exclusive = decider_thresholds(nlp)
    project_id = dc.project_id(project)
    examples = dc.examples(project_id)
    done = labelled_ids(dc.export(project_id))
    todo = [e for e in examples if e["id"] not in done and e.get("text")]
    scored = [(e["id"], e["text"], uncertainty(p["scores"], thresholds, default, exclusive))
              for e, p in zip(todo, predict(nlp, [e["text"] for e in todo]))]
    picks = select(scored, count)
    chosen = {p.example_id: p for p in picks}
    by_id = {e["id"]: e for e in examples}
    for example in examples:   # clear the marks of an earlier batch
        meta = example.get("meta") or {}
        if ("next_rank" in meta or "uncertainty" in meta) and example["id"] not in chosen:
            dc.update_example(project_id, example, {k: v for k, v in meta.items()
                                                    if k not in ("next_rank", "uncertainty")}, score=100.0)
    for pick in picks:
        example = by_id[pick.example_id]
        meta = dict(example.get("meta") or {}, next_rank=pick.rank, uncertainty=pick.uncertainty)
        # doccano can order examples by score (ascending): the batch comes first, in rank order.
        dc.update_example(project_id, example, meta, score=round(pick.rank / (len(picks) + 1), 6))
    return picks


def cmd_next(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise DoccanoError("--count must be at least 1")
    dc = Doccano.connect(args.url)
    picks = next_batch(dc, args.project, args.model, args.count)
    for pick in picks:
        print(f"{pick.rank}\texample {pick.example_id}\tuncertainty {pick.uncertainty:.3f}")
    _say(f"marked {len(picks)} example(s) in {args.project!r}: metadata next_rank 1..{len(picks)}; "
         f"in doccano, order by score (ascending) to annotate them first")
    return 0


# --- autolabel ----------------------------------------------------------------------------------

def register_autolabel(dc: Doccano, project_id: int, base_url: str) -> list[dict]:
    """Replace the project's configs that point at a bridge model server with two for ``base_url``."""
    from .autolabel import doccano_configs, is_ours

    for config in dc.autolabel_configs(project_id):
        if is_ours(config):
            dc.delete_autolabel_config(project_id, config["id"])
    return [dc.add_autolabel_config(project_id, config) for config in doccano_configs(base_url)]


def unregister_autolabel(dc: Doccano, project_id: int, base_url: str) -> None:
    for config in dc.autolabel_configs(project_id):
        if str(config.get("model_attrs", {}).get("url", "")).startswith(base_url + "/"):
            dc.delete_autolabel_config(project_id, config["id"])


def cmd_autolabel(args: argparse.Namespace) -> int:
    from .autolabel import ModelServer, Predictor
    from ..model import load_pipeline

    dc = Doccano.connect(args.url)
    project_id = dc.project_id(args.project)
    nlp = load_pipeline(args.model)
    try:
        server = ModelServer(Predictor.from_pipeline(nlp, args.timeout), args.port, Path(args.model).name)
    except OSError as e:
        raise DoccanoError(f"cannot listen on 127.0.0.1:{args.port}: {e.strerror}; choose another --port") from None
    server.start()
    register_autolabel(dc, project_id, server.url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    _say(f"model {args.model} serving at {server.url} for project {args.project!r}; turn on auto-labeling in the "
         f"annotation page's settings. Ctrl-C stops it{' (configs kept)' if args.keep_configs else ''}.")
    try:
        stop.wait()
    finally:
        if not args.keep_configs:
            try:
                unregister_autolabel(dc, project_id, server.url)
            except DoccanoError as e:
                _err(f"could not remove the auto-labeling configs: {e}")
        server.close()
    return 0


# --- agreement ----------------------------------------------------------------------------------

def per_annotator(files: dict[str, list], labels: LabelConfig, exclude: Iterable[str] = ()) -> dict:
    """{annotator: {example id: converted record}} for the examples each one labelled."""
    out: dict[str, dict] = {}
    for name, rows in files.items():
        user = name.rsplit(".", 1)[0]
        if user in set(exclude) or user == "all":
            continue
        for number, raw in enumerate(rows, 1):
            converted = convert_record(raw, labels, f"{name}:{number}")
            if converted.labelled:
                out.setdefault(user, {})[converted.record["id"]] = converted.record
    return out


def cmd_agreement(args: argparse.Namespace) -> int:
    from ..annotation.agreement import adjudication, agreement, format_report
    from ..io import atomic_write, dumps

    labels = load_labels()
    dc = Doccano.connect(args.url)
    files = dc.export(dc.project_id(args.project))
    if "all.jsonl" in files:
        raise DoccanoError(f"project {args.project!r} is collaborative (one shared label set): there is no "
                           f"per-annotator labelling to compare")
    records = per_annotator(files, labels, args.exclude or [])
    report = agreement(records, labels.themes, labels.entities)
    print(format_report(report))
    if args.output:
        with atomic_write(args.output) as out:
            out.write(json.dumps(report, ensure_ascii=False, indent=1) + "\n")
    disagreements = adjudication(records)
    with atomic_write(args.adjudication) as out:
        for record in disagreements:
            out.write(dumps(record) + "\n")
    _say(f"{len(disagreements)} paragraph(s) to adjudicate written to {args.adjudication}")
    return 0


# --- server -------------------------------------------------------------------------------------

def cmd_install(args: argparse.Namespace) -> int:
    from .server import install, is_installed, venv_dir

    if is_installed() and not args.force:
        _say(f"doccano already installed in {venv_dir()}")
        return 0
    install(force=args.force, log=_say)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import install, is_installed, serve, stop

    if not is_installed():
        install(log=_say)
    try:
        creds = credentials(interactive=None)
        username, password = creds.username, creds.password
    except DoccanoError:
        username = password = ""
        _say("DOCCANO_USERNAME / DOCCANO_PASSWORD not set: no admin user created or updated")
    info = serve(args.data, args.port, username, password, os.environ.get("DOCCANO_EMAIL", ""), log=_say)
    if not args.foreground:
        return 0
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    _say(f"serving at {info.url} until Ctrl-C")
    done.wait()
    stop(args.data, log=_say)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from .server import stop

    stop(args.data, log=_say)
    return 0


# --- wiring -------------------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="doccano_command", required=True)

    def client(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--url", default=None, help="doccano URL (default: $DOCCANO_URL or http://127.0.0.1:8000); "
                                                  "user and password come from $DOCCANO_USERNAME/$DOCCANO_PASSWORD")
        p.add_argument("--project", required=True, help="doccano project name")
        return p

    def data(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--data", type=Path, default=default_data_dir(),
                       help="server data folder: database, media, logs, pid file (default: $POLICY_NLP_DOCCANO_DATA "
                            "or ./doccano-data)")
        return p

    p = sub.add_parser("install", help="install doccano into its own venv under the cache folder")
    p.add_argument("--force", action="store_true", help="reinstall even if installed")
    p.set_defaults(doccano_func=cmd_install)

    p = data(sub.add_parser("serve", help="start a local doccano on 127.0.0.1 (installs it on first use)"))
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops the server")
    p.set_defaults(doccano_func=cmd_serve)

    p = data(sub.add_parser("stop", help="stop the doccano server of a data folder"))
    p.set_defaults(doccano_func=cmd_stop)

    p = client(sub.add_parser("push", help="upload paragraphs or labelled records to a project"))
    p.add_argument("inputs", nargs="+", type=Path, help="report files/folders, paragraph or annotation .jsonl")
    p.add_argument("--model", "-m", type=Path, help="add this model's themes, scores and entities to the metadata")
    p.set_defaults(doccano_func=cmd_push)

    p = client(sub.add_parser("pull", help="export a project into the annotation format"))
    p.add_argument("--output", "-o", type=Path, required=True)
    p.add_argument("--only-approved", action="store_true", help="only examples marked done (confirmed)")
    p.add_argument("--annotator", help="only this user's labels")
    p.add_argument("--force", action="store_true", help="replace a non-empty output even with an empty export")
    p.set_defaults(doccano_func=cmd_pull)

    p = client(sub.add_parser("autolabel", help="serve a model for doccano's auto-labeling"))
    p.add_argument("--model", "-m", type=Path, default=Path("models/default"))
    p.add_argument("--port", type=int, default=8765, help="port of the model server on 127.0.0.1")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds the model may take per paragraph")
    p.add_argument("--keep-configs", action="store_true", help="leave the configs in doccano on exit")
    p.set_defaults(doccano_func=cmd_autolabel)

    p = client(sub.add_parser("next", help="mark the unlabelled examples the model is least sure of"))
    p.add_argument("--model", "-m", type=Path, default=Path("models/default"))
    p.add_argument("--count", "-n", type=int, default=50)
    p.set_defaults(doccano_func=cmd_next)

    p = client(sub.add_parser("agreement", help="inter-annotator agreement and an adjudication file"))
    p.add_argument("--output", "-o", type=Path, help="JSON file for the full report")
    p.add_argument("--adjudication", type=Path, default=Path("adjudication.jsonl"),
                   help="JSONL of the disagreements (default: adjudication.jsonl)")
    p.add_argument("--exclude", action="append", help="leave out this user (e.g. whoever pushed pre-labels)")
    p.set_defaults(doccano_func=cmd_agreement)


def run(args: argparse.Namespace) -> int:
    try:
        return args.doccano_func(args)
    except (DoccanoError, ServerError) as e:
        _err(str(e))
    except Exception as e:
        # nlp.model (spaCy) is imported only by the commands that load a model.
        model = sys.modules.get(f"{__package__}.model")
        if model is not None and isinstance(e, model.ModelError):
            _err(str(e))
        elif isinstance(e, OSError):
            name = getattr(e, "filename", None)
            _err(f"{name}: {e.strerror or e}" if name else str(e))
        else:
            raise
    return 1
