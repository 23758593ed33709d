"""The brief's chart style and the figure life cycle shared by every chart.

Text is kept as text in the SVG (``svg.fonttype: none``): WeasyPrint sets it in DejaVu Sans and
embeds the font in the PDF, where a path per glyph made drawing the charts half of the brief's
rendering time.
"""

from __future__ import annotations

import functools
import io
import math
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

#: Width of a full-width chart (A4 minus margins), inches.
FULL_WIDTH = 6.7
FONT = 8.5
SMALL = 8.0

INK = "#222222"
GREY = "#6b6b6b"
LIGHT = "#d9d9d9"
BLUE = "#1f5a96"
ORANGE = "#c46a00"
RED = "#b2182b"
GREEN = "#2b7a3d"

_RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "targeting-brief",
    "font.family": ["DejaVu Sans", "sans-serif"],
    "font.size": FONT,
    "axes.titlesize": FONT + 1,
    "axes.labelsize": FONT,
    "xtick.labelsize": SMALL,
    "ytick.labelsize": SMALL,
    "legend.fontsize": SMALL,
    "axes.edgecolor": GREY,
    "axes.linewidth": 0.6,
    "xtick.color": INK,
    "ytick.color": INK,
    "text.color": INK,
    "axes.labelcolor": INK,
    "hatch.linewidth": 0.6,
}


def styled(func):
    """Run a chart function with the brief's style (fonts, sizes, text as text)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches with constrained layout."""
    return Figure(figsize=(width, height), layout="constrained")


def render_svg(fig: Figure) -> str:
    """Serialise a figure to an SVG string (no date, so the output is reproducible) and release it."""
    buffer = io.StringIO()
    try:
        FigureCanvasSVG(fig)
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        fig.clear()
    return buffer.getvalue()


def literal(value: Any) -> str:
    """Text from the input, made literal for matplotlib (no mathtext)."""
    return str(value).replace("$", r"\$")


def shorten(value: Any, width: int) -> str:
    """``value`` as text of at most ``width`` characters, an ellipsis marking a cut."""
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def is_finite(value: Any) -> bool:
    """Whether ``value`` is a finite number that can be drawn (``None`` stands for a missing one)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def style_axes(ax) -> None:
    """Open axes: no top or right spine, short thin ticks."""
    for name in ("top", "right"):
        ax.spines[name].set_visible(False)
    ax.tick_params(length=3, width=0.6)
