"""spaCy components of the pipeline; importing this module registers their factories."""
from . import entity_rules, gazetteer, sk_themes, themes  # noqa: F401
