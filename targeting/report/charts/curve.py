"""The budget curve: gain of the policy tree, of the effect ranking and of a random selection."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from targeting.format import fmt_change, fmt_money, fmt_pct
from targeting.report.charts.style import (BLUE, FULL_WIDTH, GREY, INK, ORANGE, SMALL, is_finite, literal,
                                           new_figure, render_svg, style_axes, styled)


def _from_origin(curve: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """The series with the budget-0 point in front (no one treated: no gain, by definition), so every
    line starts where it truly starts; ``None`` (non-finite in report.json) becomes a gap."""
    head = [] if curve and curve[0]["budget_share"] == 0 else [0.0]
    return head + [p[key] if is_finite(p[key]) else float("nan") for p in curve]


@styled
def budget_curve_svg(curve: Sequence[Mapping[str, Any]], *, chosen_share: float | None = None,
                     chosen_label: str = "rule", gain_label: str = "Gain over treating no one",
                     binary: bool = False, by_cost: bool = False, total_cost: float | None = None,
                     currency: str | None = None) -> str:
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
    binary : bool
        The outcome is 0/1: gains read in percentage points.
    by_cost : bool
        Budgets are shares of the cost of treating everyone (a cost column), not of people.
    total_cost : float, optional
        The cost of treating everyone: with ``by_cost``, a second axis reads the budget as money.
    currency : str, optional
        Currency of that axis.

    Returns
    -------
    str
        An SVG document.
    """
    fig = new_figure(FULL_WIDTH, 3.0)
    ax = fig.add_subplot()
    style_axes(ax)
    head = [] if curve and curve[0]["budget_share"] == 0 else [0.0]
    x = head + [100 * p["budget_share"] for p in curve]

    ax.axhline(0, color=INK, lw=0.7)
    ax.fill_between(x, _from_origin(curve, "ranking_low"), _from_origin(curve, "ranking_high"), color=ORANGE,
                    alpha=0.10, lw=0)
    for key in ("ranking_low", "ranking_high"):
        ax.plot(x, _from_origin(curve, key), color=ORANGE, lw=0.8, ls=":")
    ax.fill_between(x, _from_origin(curve, "tree_low"), _from_origin(curve, "tree_high"), color=BLUE, alpha=0.18,
                    lw=0)
    ax.plot(x, _from_origin(curve, "ranking_gain"), color=ORANGE, lw=1.6, ls="--", marker="s", ms=3.5,
            label="Ranking by estimated individual effect (95% band: dotted edges)")
    ax.plot(x, _from_origin(curve, "tree_gain"), color=BLUE, lw=2.0, marker="o", ms=4,
            label="Best readable rule at each budget (95% band shaded)")
    ax.plot(x, _from_origin(curve, "random_gain"), color=GREY, lw=1.2, ls=":", marker="^", ms=3.5,
            label="Random selection as large as the rule")
    if is_finite(chosen_share):
        ax.axvline(100 * chosen_share, color=INK, lw=0.8, ls=(0, (2, 2)))
        # inside the plot, under its top edge: above it sits the spend axis when there is one
        ax.text(100 * chosen_share, 0.98, f" {literal(chosen_label)}: treats {fmt_pct(chosen_share, 0)}",
                transform=ax.get_xaxis_transform(), ha="left" if chosen_share < 0.6 else "right", va="top",
                fontsize=SMALL, bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85))
    ax.set_xlim(0, 100)
    ax.set_xticks(range(0, 101, 10))
    what = "of the cost of treating everyone" if by_cost else "of people"
    ax.set_xlabel(f"Budget: the most that may be treated (% {what}); a rule may use less")
    unit = "\n(percentage points, positive = better)" if binary else "\n(positive = better)"
    ax.set_ylabel(literal(gain_label) + unit)
    ax.xaxis.set_major_formatter(lambda v, _: fmt_pct(v / 100, 0))
    if binary:
        ax.yaxis.set_major_formatter(lambda v, _: fmt_change(v, True).replace(" pp", ""))
    if by_cost and is_finite(total_cost):
        money = ax.secondary_xaxis("top", functions=(lambda v: v * total_cost / 100, lambda m: 100 * m / total_cost))
        money.xaxis.set_major_formatter(lambda v, _: fmt_money(v, currency))
        money.tick_params(labelsize=SMALL - 0.5)
        money.set_xlabel("Spend", fontsize=SMALL)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    return render_svg(fig)
