"""The budget curve: gain of the policy tree, of the effect ranking and of a random selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from targeting.format import fmt_pct
from targeting.report.charts.style import (BLUE, FULL_WIDTH, GREY, INK, ORANGE, SMALL, is_finite, literal,
                                           new_figure, render_svg, style_axes, styled)


@styled
def budget_curve_svg(curve: Sequence[Mapping[str, Any]], *, chosen_share: float | None = None,
                     chosen_label: str = "rule", gain_label: str = "Gain over treating no one") -> str:
    """Gain of the policy tree and of the effect ranking against the budget, with 95% bands.

    Parameters
    ----------
    curve : sequence of mapping
        ``report["budget_curve"]``: points with ``budget_share``, ``tree_gain``/``tree_low``/
        ``tree_high``, ``ranking_gain``/``ranking_low``/``ranking_high`` and ``random_gain``
        (``None`` where not finite). Gains are oriented so that positive is better.
    chosen_share : float, optional
        Share treated by the drawn rule, marked with a vertical line.
    chosen_label : str
        What the line is called (the rule's status, e.g. ``recommended rule``).
    gain_label : str
        Y-axis label.

    Returns
    -------
    str
        An SVG document.
    """
    fig = new_figure(FULL_WIDTH, 2.9)
    ax = fig.add_subplot()
    style_axes(ax)
    x = [100 * p["budget_share"] for p in curve]

    def series(key: str) -> list[float]:
        # None (a non-finite value in report.json) becomes a gap in the line
        return [p[key] if is_finite(p[key]) else float("nan") for p in curve]

    ax.axhline(0, color=INK, lw=0.7)
    ax.fill_between(x, series("ranking_low"), series("ranking_high"), color=ORANGE, alpha=0.10, lw=0)
    for key in ("ranking_low", "ranking_high"):
        ax.plot(x, series(key), color=ORANGE, lw=0.8, ls=":")
    ax.fill_between(x, series("tree_low"), series("tree_high"), color=BLUE, alpha=0.18, lw=0)
    ax.plot(x, series("ranking_gain"), color=ORANGE, lw=1.6, ls="--", marker="s", ms=3.5,
            label="Ranking by estimated individual effect (95% band: dotted edges)")
    ax.plot(x, series("tree_gain"), color=BLUE, lw=2.0, marker="o", ms=4,
            label="Policy tree (readable rule) (95% band shaded)")
    ax.plot(x, series("random_gain"), color=GREY, lw=1.2, ls=":", marker="^", ms=3.5,
            label="Random selection")
    if is_finite(chosen_share):
        ax.axvline(100 * chosen_share, color=INK, lw=0.8, ls=(0, (2, 2)))
        ax.text(100 * chosen_share, 1.0, f" {literal(chosen_label)} treats {fmt_pct(chosen_share, 0)}",
                transform=ax.get_xaxis_transform(), ha="left", va="bottom", fontsize=SMALL)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Budget (% of the cost of treating everyone)")
    ax.set_ylabel(literal(gain_label) + "\n(positive = better)")
    ax.xaxis.set_major_formatter(lambda v, _: fmt_pct(v / 100, 0))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return render_svg(fig)
