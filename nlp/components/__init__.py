"""spaCy components of the pipeline; importing this module registers their factories
(and the pipeline's tokenizer)."""
from ..segmenter import tokenizer  # noqa: F401
from . import entity_rules, gazetteer, sk_themes, themes  # noqa: F401
