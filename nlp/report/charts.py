"""The report's charts, drawn by matplotlib as SVG with the text as outlines (no font needed to view)."""
import io
from collections import OrderedDict
from functools import lru_cache

from .fonts import cjk_font


@lru_cache(maxsize=1)
def _family() -> str:
    """The CJK font, registered with matplotlib once; its family name."""
    from matplotlib import font_manager

    font = cjk_font()
    font_manager.fontManager.addfont(str(font))
    return font_manager.FontProperties(fname=str(font)).get_name()


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=96), _family()


def _svg(figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "policy-nlp"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    svg = buffer.getvalue()
    return svg[svg.index("<svg"):]


def theme_bars(shares: "OrderedDict[str, float]", colors: dict) -> str:
    """Horizontal bars: each theme's share of all paragraphs."""
    import matplotlib

    labels, values = list(shares), [100 * v for v in shares.values()]
    figure, family = _figure(7.0, 0.32 * len(labels) + 0.8)
    with matplotlib.rc_context({"font.family": family}):
        axes = figure.subplots()
        bars = axes.barh(range(len(labels)), values, color=[colors.get(k, "#888888") for k in shares], height=0.7)
        axes.set_yticks(range(len(labels)), labels)
        axes.invert_yaxis()
        axes.set_xlabel("段落占比 (%)")
        axes.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=3, fontsize=8)
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_xlim(0, max(values + [1]) * 1.15)
    return _svg(figure)


def heat(rows: "OrderedDict[str, dict]", themes: list, names: dict, title: str) -> str:
    """Rows (places or years) × themes, each cell the share of the row's paragraphs."""
    import matplotlib
    import numpy as np

    values = np.array([[100 * rows[r][t] for t in themes] for r in rows]) if rows else np.zeros((0, len(themes)))
    figure, family = _figure(0.55 * len(themes) + 2.5, 0.32 * max(len(rows), 1) + 1.6)
    with matplotlib.rc_context({"font.family": family}):
        axes = figure.subplots()
        axes.imshow(values if len(rows) else np.zeros((1, len(themes))), cmap="Blues", aspect="auto",
                    vmin=0, vmax=max(values.max() if values.size else 1, 1))
        axes.set_xticks(range(len(themes)), [names.get(t, t) for t in themes], rotation=60, ha="right", fontsize=8)
        axes.set_yticks(range(len(rows)), [f"{r} ({rows[r]['reports']})" for r in rows], fontsize=8)
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                axes.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=6,
                          color="white" if value > values.max() * 0.6 else "black")
        axes.set_title(title, fontsize=10)
    return _svg(figure)
