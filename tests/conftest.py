import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seeds" / "000_d1176b456afaead3.txt"
PKUSEG_MODEL = ROOT / "models" / "pkuseg_ctb8"
DEFAULT_MODEL = ROOT / "models" / "default"




@pytest.fixture(scope="session")
def shared():
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: the tests read the real reports from ../shared")
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
