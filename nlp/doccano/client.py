"""The one adapter around doccano: the official doccano-client, plus plain HTTP for what it lacks.

doccano-client 1.2.8 covers projects, label types, examples, labels, members, uploads and
exports. Auto-labeling configs, listing examples with their metadata in big pages, and the
auto-labeling call itself go through the client's own ``requests`` session (already logged
in, with its CSRF token). Every failure a user can cause or meet (server down, wrong
password, unknown project, a rejected upload) becomes a ``DoccanoError`` with a message
that says what happened and what to do; callers print it, no traceback.

Credentials come from the environment (``DOCCANO_URL``, ``DOCCANO_USERNAME``,
``DOCCANO_PASSWORD``) or, only at a terminal, a prompt; never from files or arguments.
"""
from __future__ import annotations

import getpass
import json
import os
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import requests
from requests.adapters import HTTPAdapter

from ..labels import LabelConfig

DEFAULT_URL = "http://127.0.0.1:8000"
PROJECT_TYPE = "IntentDetectionAndSlotFilling"
REQUEST_TIMEOUT = 60      # seconds for one HTTP request; long jobs are polled, not waited on
TASK_TIMEOUT = 600        # seconds for an upload or export job of the celery worker


class DoccanoError(RuntimeError):
    """An expected failure talking to doccano; the message is meant for the user."""


@dataclass(frozen=True)
class Credentials:
    url: str
    username: str
    password: str

    def __repr__(self) -> str:   # never print the password, even in a traceback
        return f"Credentials(url={self.url!r}, username={self.username!r}, password='***')"


def credentials(url: Optional[str] = None, interactive: Optional[bool] = None) -> Credentials:
    """URL, user and password from the environment, or a prompt when stdin is a terminal."""
    url = (url or os.environ.get("DOCCANO_URL") or DEFAULT_URL).rstrip("/")
    username = os.environ.get("DOCCANO_USERNAME", "")
    password = os.environ.get("DOCCANO_PASSWORD", "")
    interactive = sys.stdin.isatty() if interactive is None else interactive
    if (not username or not password) and not interactive:
        missing = " and ".join(n for n, v in (("DOCCANO_USERNAME", username), ("DOCCANO_PASSWORD", password)) if not v)
        raise DoccanoError(f"no doccano credentials: set {missing} (they are never read from files or arguments)")
    if not username:
        username = input(f"doccano user at {url}: ").strip()
    if not password:
        password = getpass.getpass(f"password for {username} at {url}: ")
    if not username or not password:
        raise DoccanoError("a doccano user name and password are needed")
    return Credentials(url, username, password)


class _TimeoutAdapter(HTTPAdapter):
    """requests waits forever by default; a hung server should be an error, not a hang."""

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT
        return super().send(request, **kwargs)


def _detail(response: Optional[requests.Response]) -> str:
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        body = response.text.strip()
    if isinstance(body, dict):
        body = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items())
    return str(body)[:300]


class Doccano:
    """A logged-in connection to one doccano server."""

    def __init__(self, creds: Credentials):
        # Imported here: doccano-client pulls in pydantic 1 models, only needed when talking to doccano.
        from doccano_client import DoccanoClient

        self.url = creds.url
        self.username = creds.username
        self.client = DoccanoClient(creds.url)
        self.session: requests.Session = self.client._base_repository._session   # logged in, CSRF set
        adapter = _TimeoutAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        with self._errors("log in"):
            try:
                self.client.login(creds.username, creds.password)
            except Exception as e:
                status = getattr(getattr(e, "response", None), "status_code", None)
                if status in (400, 401, 403):
                    raise DoccanoError(f"doccano at {self.url} refused the login of {creds.username!r}: "
                                       f"wrong user name or password (check DOCCANO_USERNAME / DOCCANO_PASSWORD)")
                raise

    @classmethod
    def connect(cls, url: Optional[str] = None, interactive: Optional[bool] = None) -> "Doccano":
        return cls(credentials(url, interactive))

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Turn the client's and requests' exceptions into one clear ``DoccanoError``."""
        from doccano_client.exceptions import DoccanoAPIError

        try:
            yield
        except DoccanoError:
            raise
        except requests.ConnectionError:
            raise DoccanoError(f"cannot reach doccano at {self.url} to {what}: is it running? "
                               f"(start one with `policy-nlp doccano serve`, or set DOCCANO_URL)") from None
        except requests.Timeout:
            raise DoccanoError(f"doccano at {self.url} did not answer within {REQUEST_TIMEOUT} s "
                               f"while trying to {what}") from None
        except (DoccanoAPIError, requests.HTTPError) as e:
            response = getattr(e, "response", None)
            status = getattr(response, "status_code", "?")
            hint = " (the user needs to be a project admin)" if status == 403 else ""
            raise DoccanoError(f"doccano refused to {what}: HTTP {status} {_detail(response)}{hint}") from None

    def _http(self, method: str, path: str, what: str, **kwargs) -> Any:
        """Plain HTTP on the client's session, for the API parts doccano-client lacks."""
        with self._errors(what):
            response = self.session.request(method, f"{self.url}/v1/{path.lstrip('/')}", **kwargs)
            response.raise_for_status()
            return response.json() if response.content else None

    # --- projects and label types -------------------------------------------------------------

    def find_project(self, name: str) -> Optional[int]:
        with self._errors("list projects"):
            for project in self.client.list_projects():
                if project.name == name:
                    return project.id
        return None

    def project_id(self, name: str) -> int:
        found = self.find_project(name)
        if found is None:
            raise DoccanoError(f"no project named {name!r} at {self.url} visible to {self.username!r} "
                               f"(`policy-nlp doccano push … --project {name}` creates it)")
        return found

    def ensure_project(self, name: str, description: str = "") -> tuple[int, bool]:
        """(project id, created?) for a multi-label IntentDetectionAndSlotFilling project."""
        found = self.find_project(name)
        if found is not None:
            with self._errors(f"read project {name!r}"):
                project = self.client.find_project_by_id(found)
            if project.project_type != PROJECT_TYPE:
                raise DoccanoError(f"project {name!r} at {self.url} is a {project.project_type} project; "
                                   f"the bridge needs {PROJECT_TYPE} (themes and entities): choose another name")
            return found, False
        with self._errors(f"create project {name!r}"):
            project = self.client.create_project(
                name, project_type=PROJECT_TYPE,
                description=description or "Chinese S&T policy report paragraphs: themes and entities",
                single_class_classification=False,   # a paragraph has several themes
                collaborative_annotation=False,      # one label set per annotator: agreement needs it
                allow_overlapping=False, grapheme_mode=False)
        return project.id, True

    def delete_project(self, project_id: int) -> None:
        with self._errors(f"delete project {project_id}"):
            self.client.delete_project(project_id)

    def ensure_labels(self, project_id: int, labels: LabelConfig) -> dict[str, int]:
        """Create every theme (category) and entity (span) label with the config's colour."""
        counts = {"created": 0, "recoloured": 0}
        for kind, names in (("category", labels.themes), ("span", labels.entities)):
            with self._errors(f"list {kind} labels"):
                existing = {t.text: t for t in self.client.list_label_types(project_id, kind)}
            for name in names:
                color = labels.colors[name]
                current = existing.get(name)
                with self._errors(f"create {kind} label {name!r}"):
                    if current is None:
                        self.client.create_label_type(project_id, kind, name, color=color)
                        counts["created"] += 1
                    elif current.background_color.lower() != color.lower():
                        self.client.update_label_type(project_id, current.id, kind, color=color)
                        counts["recoloured"] += 1
        return counts

    def label_type_ids(self, project_id: int, kind: str) -> dict[str, int]:
        with self._errors(f"list {kind} labels"):
            return {t.text: t.id for t in self.client.list_label_types(project_id, kind)}

    # --- examples -----------------------------------------------------------------------------

    def examples(self, project_id: int) -> list[dict]:
        """Every example as doccano's JSON (id, text, meta, score, …), in upload order."""
        out: list[dict] = []
        offset = 0
        while True:
            page = self._http("GET", f"projects/{project_id}/examples", "list examples",
                              params={"limit": 500, "offset": offset})
            out.extend(page["results"])
            offset += len(page["results"])
            if not page.get("next") or not page["results"]:
                return out

    def update_example(self, project_id: int, example: dict, meta: dict, score: Optional[float] = None) -> None:
        body = {"text": example["text"], "meta": meta,
                "score": example.get("score", 100.0) if score is None else score}
        self._http("PATCH", f"projects/{project_id}/examples/{example['id']}", f"update example {example['id']}",
                   json=body)

    def upload_rows(self, project_id: int, rows: list[dict]) -> int:
        """Upload JSONL rows (text, cats, entities, metadata) through doccano's own import."""
        if not rows:
            return 0
        uploads = self.client._data_import_repository
        # doccano reads the file with pandas: a key missing from some rows becomes NaN in the others'
        # metadata, which SQLite refuses as invalid JSON. Every row gets every key.
        keys = dict.fromkeys(k for r in rows for k in r)   # first-seen order: a stable column order
        rows = [{k: r.get(k, "") for k in keys} for r in rows]
        with tempfile.TemporaryDirectory(prefix="policy-nlp-push-") as tmp:
            path = Path(tmp) / "paragraphs.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            with self._errors(f"upload {len(rows)} examples"):
                upload_id = uploads.upload(str(path))
                # doccano guesses the encoding of an upload with chardet unless told: a small file with
                # emoji is taken for Windows-1252 and fails ('charmap' codec). The file is UTF-8.
                task_id = uploads.ingest(project_id, [upload_id], PROJECT_TYPE, "JSONL", column_data="text",
                                         encoding="utf_8")
        status = self._wait(task_id, "import the upload")
        errors = status.result.get("error") if isinstance(status.result, dict) else None
        if status.error or errors:
            raise DoccanoError(f"doccano rejected the upload: {(errors or [])[:3] or status.error}")
        return len(rows)

    def _wait(self, task_id: str, what: str, timeout: float = TASK_TIMEOUT):
        """Poll a celery job; doccano-client would wait an hour on a server without its worker."""
        deadline = time.monotonic() + timeout
        while True:
            with self._errors(f"check the job that should {what}"):
                status = self.client._task_status_repository.get(task_id)
            if status.ready:
                return status
            if time.monotonic() > deadline:
                raise DoccanoError(f"doccano's task worker did not {what} within {timeout:.0f} s: "
                                   f"is `doccano task` running beside the web server?")
            time.sleep(0.5)

    def export(self, project_id: int, only_approved: bool = False) -> dict[str, list]:
        """doccano's JSONL export, unpacked: file name -> parsed rows."""
        downloads = self.client._data_export_repository
        with tempfile.TemporaryDirectory(prefix="policy-nlp-pull-") as tmp:
            with self._errors("start an export"):
                option = downloads.find_option_by_name(project_id, "JSONL")
                task_id = downloads.schedule_download(project_id, option, only_approved)
            status = self._wait(task_id, "export the project")
            if status.error:
                raise DoccanoError(f"doccano's export failed: {status.error}")
            with self._errors("download the export"):
                archive = downloads.download(project_id, task_id, tmp)
            return read_export(Path(archive))

    # --- labels on one example (what an annotator does in the UI) ------------------------------

    def add_category(self, project_id: int, example_id: int, label_id: int) -> None:
        self._http("POST", f"projects/{project_id}/examples/{example_id}/categories", "add a category",
                   json={"example": example_id, "label": label_id})

    def add_span(self, project_id: int, example_id: int, start: int, end: int, label_id: int) -> None:
        self._http("POST", f"projects/{project_id}/examples/{example_id}/spans", "add a span",
                   json={"example": example_id, "label": label_id, "start_offset": start, "end_offset": end})

    def labels_of(self, project_id: int, example_id: int) -> tuple[list[dict], list[dict]]:
        """(categories, spans) of the logged-in user on one example."""
        cats = self._http("GET", f"projects/{project_id}/examples/{example_id}/categories", "list categories")
        spans = self._http("GET", f"projects/{project_id}/examples/{example_id}/spans", "list spans")
        return cats, spans

    def confirm(self, project_id: int, example_id: int) -> None:
        with self._errors(f"confirm example {example_id}"):
            self.client.update_example_state(project_id, example_id)

    # --- users and members --------------------------------------------------------------------

    def ensure_member(self, project_id: int, username: str, role: str = "annotator") -> None:
        with self._errors(f"list members of project {project_id}"):
            members = {m.username for m in self.client.list_members(project_id)}
        if username not in members:
            with self._errors(f"add {username!r} to project {project_id} as {role}"):
                self.client.add_member(project_id, username, role)

    def create_user(self, username: str, password: str) -> None:
        with self._errors(f"create user {username!r}"):
            self.client.create_user(username, password)

    # --- auto-labeling (not in doccano-client 1.2.8) ------------------------------------------

    def autolabel_configs(self, project_id: int) -> list[dict]:
        return self._http("GET", f"projects/{project_id}/auto-labeling/configs", "list auto-labeling configs")

    def delete_autolabel_config(self, project_id: int, config_id: int) -> None:
        self._http("DELETE", f"projects/{project_id}/auto-labeling/configs/{config_id}",
                   "delete an auto-labeling config")

    def add_autolabel_config(self, project_id: int, config: dict) -> dict:
        # The UI's form for "Custom REST Request" is broken in doccano 1.8.4; the API takes it.
        return self._http("POST", f"projects/{project_id}/auto-labeling/configs", "register an auto-labeling config",
                          json=config)

    def autolabel(self, project_id: int, example_id: int) -> None:
        """What the annotation page does on opening an example with auto-labeling on."""
        self._http("POST", f"projects/{project_id}/auto-labeling", f"auto-label example {example_id}",
                   params={"example": example_id}, json={})


def read_export(archive: Path) -> dict[str, list]:
    """A doccano export (zip of JSONL files, or one JSONL file): file name -> parsed rows."""
    files: dict[str, str] = {}
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                if name.endswith((".jsonl", ".json")) and not name.endswith("/"):
                    files[Path(name).name] = z.read(name).decode("utf-8")
    else:
        files[archive.name] = archive.read_text(encoding="utf-8")
    out: dict[str, list] = {}
    for name, text in files.items():
        rows = []
        stripped = text.strip()
        if name.endswith(".json") and stripped.startswith("["):
            rows = json.loads(stripped)
        else:
            for number, line in enumerate(text.split("\n"), 1):   # not splitlines: U+2028 is inside strings
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise DoccanoError(f"{archive}:{name}:{number}: not JSON: {e}") from None
        out[name] = rows
    return out
