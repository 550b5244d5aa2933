"""The label config (``configs/labels.json``) that training, tagging and doccano all read."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from .resources import config_file


@dataclass(frozen=True)
class LabelConfig:
    themes: tuple[str, ...]
    theme_names: dict
    entities: tuple[str, ...]
    exclusive: tuple[str, ...]
    colors: dict
    raw: dict

    @property
    def fallback(self) -> str:
        """The theme given when no other applies (``other``)."""
        return self.exclusive[0]


@lru_cache(maxsize=8)
def _load(path: str) -> LabelConfig:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    themes = tuple(t["id"] for t in raw["themes"])
    entities = tuple(e["id"] for e in raw["entities"])
    colors = {t["id"]: t["color"] for t in raw["themes"] + raw["entities"]}
    return LabelConfig(themes, {t["id"]: t["name"] for t in raw["themes"]}, entities,
                       tuple(raw.get("exclusive", [])), colors, raw)


def load_labels(path: Optional[Union[str, Path]] = None) -> LabelConfig:
    """The label config at ``path``; by default the one installed with the package."""
    return _load(str(path or config_file("labels.json")))
