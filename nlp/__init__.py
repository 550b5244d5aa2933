"""policy-nlp: read Chinese local S&T bureau work reports, tag paragraphs with policy themes and entities."""
from pathlib import Path

__version__ = "0.1.0"

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONFIGS_DIR = PROJECT_DIR / "configs"
MODELS_DIR = PROJECT_DIR / "models"
