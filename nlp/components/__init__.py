"""spaCy components of the pipeline; importing this module registers their factories
(and the pipeline's tokenizer)."""
from ..segmenter import tokenizer  # noqa: F401
from . import crf_entities, entity_rules, sk_themes, themes  # noqa: F401
