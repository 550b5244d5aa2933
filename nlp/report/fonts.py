"""A font with Chinese characters, for the charts (drawn as outlines) and the page (embedded).

The report must read the same on any machine, without network or installed CJK fonts: the
charts' text becomes paths, and the page embeds a subset of the font holding just the
characters it uses (a few hundred KB). The font is Noto Sans CJK SC (SIL Open Font Licence)
as the PyPI package mplfonts ships it, else the first CJK font fontconfig knows.
"""
import base64
import io
import subprocess
from functools import lru_cache
from pathlib import Path


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def cjk_font() -> Path:
    try:
        from importlib.resources import files

        shipped = Path(str(files("mplfonts") / "fonts" / "NotoSansCJKsc-Regular.otf"))
        if shipped.is_file():
            return shipped
    except ModuleNotFoundError:
        pass
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=20).stdout
        found = sorted(line.split(":")[0].strip() for line in listed.splitlines()
                       if line.strip().lower().endswith((".otf", ".ttf:", ".otf:", ".ttf")))
        if found:
            return Path(found[0])
    except (OSError, subprocess.SubprocessError):
        pass
    raise FontMissing("no font with Chinese characters found: pip install 'policy-nlp[fonts]' (Noto Sans CJK SC, "
                      "from PyPI) or install one for the system (e.g. apt-get install fonts-noto-cjk)")


def embedded_font(text: str) -> str:
    """The font cut down to the characters of ``text`` (and ASCII), as a base64 WOFF."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    options = subset.Options()
    options.flavor, options.layout_features, options.name_IDs, options.hinting = "woff", [], [], False
    font = TTFont(str(cjk_font()), lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted({ord(c) for c in text} | set(range(32, 127))))
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.flavor = "woff"
    font.save(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
