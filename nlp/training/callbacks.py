"""Training callbacks named in configs, so ``python -m spacy train`` builds what ``policy-nlp train`` builds."""
from typing import Callable, Iterable

import numpy as np
from spacy.language import Language
from spacy.training import Example
from spacy.util import registry


@registry.callbacks("policy_nlp.tune_thresholds_on_dev.v1")
def tune_thresholds_on_dev(dev: Callable[[Language], Iterable[Example]],
                           decider: str = "theme_decider") -> Callable[[Language], Language]:
    """``[training.before_to_disk]`` for a theme scorer without out-of-fold scores
    (``textcat_multilabel``): the decider's thresholds are tuned on the dev corpus each time the
    loop saves a model, so the saved model carries thresholds tuned for its own weights."""

    def tune(nlp: Language) -> Language:
        examples = list(dev(nlp))
        if not examples or decider not in nlp.pipe_names:
            return nlp
        docs = list(nlp.pipe(eg.reference.text for eg in examples))
        labels = sorted(docs[0].cats)
        if labels:
            scores = np.array([[doc.cats.get(label, 0.0) for label in labels] for doc in docs])
            gold = np.array([[eg.reference.cats.get(label, 0.0) >= 0.5 for label in labels] for eg in examples],
                            dtype=np.int8)
            nlp.get_pipe(decider).tune(scores, gold, labels)
        return nlp

    return tune
