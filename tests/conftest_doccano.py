"""Fixtures for the doccano bridge tests: a real doccano server and a tiny model.

Import it from a test module (``from conftest_doccano import *``). The server tests are
marked ``doccano``; they skip only when doccano is not installed *and*
POLICY_NLP_REQUIRE_DOCCANO is unset. With the variable set (CI), a missing install is
installed here (cached under POLICY_NLP_CACHE) and the tests run.
"""

import os
import secrets
from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from nlp.doccano import server as doccano_server
from nlp.doccano.client import Credentials, Doccano

ADMIN = "pnlp-admin"


def pytest_configure(config) -> None:   # used when loaded as a plugin (pytest_plugins)
    config.addinivalue_line("markers", "doccano: needs a real doccano server (started by the test session)")


def require_doccano() -> None:
    """Skip, or install, or go on: the rule for every server test."""
    if doccano_server.is_installed():
        return
    if not os.environ.get("POLICY_NLP_REQUIRE_DOCCANO"):
        pytest.skip(f"doccano is not installed in {doccano_server.venv_dir()} "
                    f"(run `policy-nlp doccano install`, or set POLICY_NLP_REQUIRE_DOCCANO=1 to install it here)")
    doccano_server.install()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A doccano server for the whole session: (ServerInfo, admin Credentials)."""
    require_doccano()
    data = tmp_path_factory.mktemp("doccano-data")
    password = secrets.token_urlsafe(16)
    info = doccano_server.serve(data, doccano_server.free_port(), ADMIN, password, log=lambda *_: None)
    try:
        yield info, Credentials(info.url, ADMIN, password)
    finally:
        doccano_server.stop(data, log=lambda *_: None)


@pytest.fixture
def admin(server) -> Doccano:
    return Doccano(server[1])


@pytest.fixture
def doccano_env(server, monkeypatch):
    """Environment for CLI calls as the admin."""
    info, creds = server
    monkeypatch.setenv("DOCCANO_URL", creds.url)
    monkeypatch.setenv("DOCCANO_USERNAME", creds.username)
    monkeypatch.setenv("DOCCANO_PASSWORD", creds.password)
    return creds


def make_annotator(dc: Doccano, project_id: int, name: str) -> Doccano:
    """A second user, member of the project as annotator, logged in."""
    password = secrets.token_urlsafe(12)
    dc.create_user(name, password)
    dc.ensure_member(project_id, name, "annotator")
    return Doccano(Credentials(dc.url, name, password))


# --- a tiny model: keyword themes + the project's entity rules and theme decider ----------------

KEYWORDS = {"专利": ["ip", 0.9], "孵化": ["incubator", 0.9], "人才": ["talent", 0.9],
            "合作": ["cooperation", 0.52], "政策": ["policy", 0.7], "农业": ["agritech", 0.45]}


@Language.factory("test_keyword_cats", default_config={"keywords": KEYWORDS, "floor": 0.05})
def make_keyword_cats(nlp: Language, name: str, keywords: dict, floor: float):
    from nlp.labels import load_labels

    themes = load_labels().themes

    def keyword_cats(doc):
        cats = {t: floor for t in themes}
        for word, (theme, p) in keywords.items():
            if word in doc.text:
                cats[theme] = max(cats[theme], p)
        doc.cats = cats
        return doc

    return keyword_cats


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A pipeline saved like a trained model (checksums included) that load_pipeline accepts."""
    from nlp.model import write_checksums

    path = tmp_path_factory.mktemp("models") / "tiny"
    nlp = spacy.blank("zh")
    nlp.add_pipe("test_keyword_cats")
    nlp.add_pipe("entity_rules")
    nlp.add_pipe("theme_decider")
    nlp.to_disk(path)
    write_checksums(path)
    return path
