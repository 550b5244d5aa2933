"""Registrations for ``python -m spacy train CONFIG --code nlp/spacy_code.py``."""
import nlp.components  # noqa: F401
import nlp.training.corpus  # noqa: F401
import nlp.training.gazetteer  # noqa: F401

import nlp.training.callbacks  # noqa: F401
