"""Files installed with the package: the project's ``configs/`` folder, installed as ``nlp.configs``.

Read through ``importlib.resources``, so an installed package (not only a source checkout) finds
its label config, its default configs and the user dictionary, whatever the working directory.
"""
from importlib.resources import files
from pathlib import Path


def config_file(name: str) -> Path:
    """``configs/NAME`` as installed (``labels.json``, ``default.cfg``, ``user_dict.txt``…)."""
    path = files("nlp.configs") / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not among the package's configs ({files('nlp.configs')})")
    return Path(str(path))
