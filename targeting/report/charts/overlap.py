"""Propensity overlap: histograms of the probability of treatment, one arm mirrored below zero."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from targeting.format import fmt_int
from targeting.report.charts.style import (BLUE, FULL_WIDTH, INK, RED, literal, new_figure, render_svg,
                                           shorten, style_axes, styled)


@styled
def overlap_svg(overlap: Mapping[str, Any], *, treated_label: str, control_label: str) -> str:
    """Histograms of the probability of treatment by arm (treated above, control mirrored below).

    Parameters
    ----------
    overlap : mapping
        ``report["diagnostics"]["overlap"]`` with ``edges``, ``treated_counts``,
        ``control_counts`` and ``bounds``.
    treated_label, control_label : str
        Names of the two arms for the legend.

    Returns
    -------
    str
        An SVG document.
    """
    edges = overlap["edges"]
    fig = new_figure(FULL_WIDTH, 2.1)
    ax = fig.add_subplot()
    style_axes(ax)
    widths = [hi - lo for lo, hi in zip(edges[:-1], edges[1:])]
    ax.bar(edges[:-1], overlap["treated_counts"], width=widths, align="edge", color="#a9c4e0",
           edgecolor=BLUE, lw=0.5, label=f"{literal(shorten(treated_label, 30))} (upwards)")
    ax.bar(edges[:-1], [-c for c in overlap["control_counts"]], width=widths, align="edge",
           color="#eeeeee", edgecolor=INK, lw=0.5, hatch="\\\\\\",
           label=f"{literal(shorten(control_label, 30))} (downwards)")
    ax.axhline(0, color=INK, lw=0.7)
    for bound in overlap["bounds"]:
        ax.axvline(bound, color=RED, lw=0.8, ls="--")
    ax.set_xlim(min(edges), max(edges))
    ax.yaxis.set_major_formatter(lambda v, _: fmt_int(abs(v)))
    ax.set_xlabel("Probability of treatment given the covariates (propensity)")
    ax.set_ylabel("People")
    ax.legend(loc="upper left", frameon=False)
    return render_svg(fig)
