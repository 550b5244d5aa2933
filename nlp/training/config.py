"""Training configs, with one level of inheritance: a config may name the config it overrides.

``configs/textcat.cfg`` holds only what differs from ``configs/default.cfg``::

    [base]
    config = "default.cfg"    # relative to the overriding file

The base is read, the file's own sections are merged over it (spaCy's ``Config.merge``), then the
command-line overrides. ``policy-nlp config FILE`` prints the merged config, which plain
``python -m spacy train`` takes.
"""
from pathlib import Path
from typing import Optional, Union

from thinc.api import Config


def load_config(path: Union[str, Path], overrides: Optional[dict] = None, interpolate: bool = False) -> Config:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    own = Config().from_str(path.read_text(encoding="utf-8"), interpolate=False)
    base = own.pop("base", None)
    if base is not None:
        if "config" not in base:
            raise ValueError(f"{path}: [base] needs config = \"FILE\" (the config this one overrides)")
        parent_path = path.parent / base["config"]
        parent = load_config(parent_path)
        if "base" in Config().from_str(parent_path.read_text(encoding="utf-8"), interpolate=False):
            raise ValueError(f"{path}: its base {parent_path} has a base of its own; one level only")
        # a list (the pipeline) replaces the base's list, as a section's keys replace the base's keys
        own = parent.merge(own)
    return Config().from_str(own.to_str(), overrides=overrides or {}, interpolate=interpolate)
