"""The distribution of estimated individual effects, harmful side hatched."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.patches import Patch

from targeting.format import fmt_change
from targeting.report.charts.sides import harm_side, label_harm_side
from targeting.report.charts.style import (BLUE, FULL_WIDTH, INK, RED, SMALL, is_finite, literal, new_figure,
                                           render_svg, shorten, style_axes, styled)

BENEFIT_FILL = "#a9c4e0"
HARM_FILL = "#e8b4b4"
HARM_HATCH = "////"


def _with_room_for_labels(ax, top: float) -> None:
    """Raise the top of the y axis by ``top`` of its span, for the labels written there."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + (hi - lo) * top)


@styled
def effect_distribution_svg(cate_summary: Mapping[str, Any], *, direction: str,
                            outcome: str = "outcome", binary: bool = False) -> str:
    """Histogram of estimated individual effects, harmful side hatched, zero and mean marked.

    Parameters
    ----------
    cate_summary : mapping
        ``report["diagnostics"]["cate_summary"]`` with ``edges`` (k + 1), ``counts`` (k) and
        ``mean``.
    direction : str
        ``"lower-is-better"`` or ``"higher-is-better"``.
    outcome : str
        Outcome name for the axis label.
    binary : bool
        The outcome is 0/1: the axis reads in percentage points.

    Returns
    -------
    str
        An SVG document.
    """
    edges = cate_summary["edges"]
    side = harm_side(direction)
    fig = new_figure(FULL_WIDTH, 2.2)
    ax = fig.add_subplot()
    style_axes(ax)
    for lo, hi, count in zip(edges[:-1], edges[1:], cate_summary["counts"]):
        harmful = side * (lo + hi) / 2 > 0
        ax.bar(lo, count, width=hi - lo, align="edge", color=HARM_FILL if harmful else BENEFIT_FILL,
               edgecolor=RED if harmful else BLUE, lw=0.5, hatch=HARM_HATCH if harmful else None)
    ax.axvline(0, color=INK, lw=1.0)
    mean = cate_summary["mean"]
    _with_room_for_labels(ax, 0.18)
    if is_finite(mean):
        ax.axvline(mean, color=INK, lw=1.0, ls="--")
        ax.text(mean, 0.84, f" average {fmt_change(mean, binary)}", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=SMALL,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    label_harm_side(ax, direction)
    if binary:
        ax.xaxis.set_major_formatter(lambda v, _: fmt_change(v, True).replace(" pp", ""))
    unit = " (percentage points)" if binary else ""
    ax.set_xlabel(f"Estimated individual effect on {literal(shorten(outcome, 40))}{unit}, treated minus untreated")
    ax.set_ylabel("People")
    handles = [Patch(fc=BENEFIT_FILL, ec=BLUE, lw=0.5, label="beneficial estimate"),
               Patch(fc=HARM_FILL, ec=RED, lw=0.5, hatch=HARM_HATCH, label="harmful estimate")]
    # below the plot: inside it would meet the side labels or the average's label
    fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    return render_svg(fig)
