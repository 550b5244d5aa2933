from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seeds" / "000_d1176b456afaead3.txt"
PKUSEG_MODEL = ROOT / "models" / "pkuseg_ctb8"
DEFAULT_MODEL = ROOT / "models" / "default"




@pytest.fixture(scope="session")
def shared():
    """The real reports (read, never copied). CI has them; elsewhere the tests that need them skip."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is missing: this test reads the real reports from ../shared (CI has them)")
    return SHARED


@pytest.fixture(scope="session")
def pkuseg_model():
    if not (PKUSEG_MODEL / "weights.npz").is_file():
        pytest.fail("models/pkuseg_ctb8 is missing: run `make segmenter` (make test does it)")
    return PKUSEG_MODEL


@pytest.fixture(scope="session")
def default_model():
    if not (DEFAULT_MODEL / "meta.json").is_file():
        pytest.fail("models/default is missing: run `make model` (make test does it)")
    return DEFAULT_MODEL


@pytest.fixture(scope="session")
def default_pipeline(default_model):
    """The default pipeline, loaded once for the tests that only read it."""
    from nlp.model import load_pipeline

    return load_pipeline(default_model)


def pytest_collection_modifyitems(items):
    # every test that trains a model through these fixtures is slow (`-m "not slow"` leaves them out)
    for item in items:
        if {"small_model", "tiny_model"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
