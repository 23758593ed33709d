"""Charts for the brief: pure functions from ReportModel parts (plain dicts) to SVG strings.

Every chart is drawn on its own :class:`matplotlib.figure.Figure` (never pyplot global state),
saved as SVG with text kept as text (WeasyPrint sets it in DejaVu Sans and embeds the font in the
PDF; a path per glyph made drawing the charts half of the brief's rendering time) and closed.
Charts never compute statistics: they only draw numbers that are in the report.
Figures are sized in inches for an A4 page with fonts of at least 8 pt, and every colour
distinction is doubled by a marker, line style or hatch so that grey printing keeps it.
A function returns ``None`` when the report holds nothing to draw.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch, Patch

from targeting.format import fmt_effect, fmt_value

__all__ = [
    "budget_curve_svg",
    "effect_distribution_svg",
    "overlap_svg",
    "policy_tree_svg",
    "subgroup_forest_svg",
]

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

# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _txt(value: Any) -> str:
    """Text from the input, made literal for matplotlib (no mathtext)."""
    return str(value).replace("$", r"\$")


def _short(value: Any, width: int) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _render(fig: Figure) -> str:
    """Serialise a figure to an SVG string and release it."""
    buffer = io.StringIO()
    try:
        FigureCanvasSVG(fig)
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        fig.clear()
        del fig
    return buffer.getvalue()


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _styled(func):
    """Run a chart function with the brief's style (fonts, sizes, text as text)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)

    return wrapper


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _harm_side(direction: str) -> int:
    """+1 when a positive effect (treated minus untreated) is harmful, else -1."""
    return 1 if str(direction).startswith("lower") else -1


def _label_harm_side(ax, direction: str, *, y: float = 0.98) -> None:
    """Shade the harmful side of zero lightly and write which side it is (keeping at least a
    sixth of the axis on each side of zero so both labels have room)."""
    side = _harm_side(direction)
    lo, hi = ax.get_xlim()
    span = hi - lo
    lo, hi = min(lo, -span / 6), max(hi, span / 6)
    if side > 0 and hi > 0:
        ax.axvspan(0, hi, color="#f6dede", zorder=0, lw=0)
        ax.text(0.995, y, "harmful side →", transform=ax.transAxes, ha="right", va="top",
                fontsize=SMALL, color=RED, fontweight="bold")
        ax.text(0.005, y, "← beneficial side", transform=ax.transAxes, ha="left", va="top",
                fontsize=SMALL, color=GREEN)
    elif side < 0 and lo < 0:
        ax.axvspan(lo, 0, color="#f6dede", zorder=0, lw=0)
        ax.text(0.005, y, "← harmful side", transform=ax.transAxes, ha="left", va="top",
                fontsize=SMALL, color=RED, fontweight="bold")
        ax.text(0.995, y, "beneficial side →", transform=ax.transAxes, ha="right", va="top",
                fontsize=SMALL, color=GREEN)
    ax.set_xlim(lo, hi)


def _with_room_for_labels(ax, top: float = 0.14) -> None:
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + (hi - lo) * top)


def _style_axes(ax) -> None:
    for name in ("top", "right"):
        ax.spines[name].set_visible(False)
    ax.tick_params(length=3, width=0.6)


# ----------------------------------------------------------------------------------------------
# policy tree
# ----------------------------------------------------------------------------------------------

def _edge_labels(node: Mapping[str, Any]) -> tuple[str, str]:
    kind = node.get("left_if")
    if kind == "below threshold":
        t = fmt_value(node.get("threshold"))
        return f"under {t}", f"{t} or over"
    if kind == "recorded":
        return "recorded", "missing"
    levels = [str(v) for v in node.get("left_levels") or []]
    left = ", ".join(levels)
    return _short(left, 28), "other values"


def _leaves(node: Mapping[str, Any]) -> int:
    if "leaf" in node or "left" not in node:
        return 1
    return _leaves(node["left"]) + _leaves(node["right"])


def _depth(node: Mapping[str, Any]) -> int:
    if "leaf" in node or "left" not in node:
        return 0
    return 1 + max(_depth(node["left"]), _depth(node["right"]))


@_styled
def policy_tree_svg(tree: Mapping[str, Any], *, outcome: str = "outcome") -> str:
    """Draw the policy tree: one box per split, one box per leaf with its rule, n and effect.

    Treated leaves have a thick solid border, a dark header band and the word TREAT; untreated
    leaves a dashed border and "do not treat", so the distinction survives grey printing.

    Parameters
    ----------
    tree : mapping
        ``report["policy"]["tree"]``: nested dicts with ``feature``/``left``/``right`` at splits
        and ``leaf``/``treat``/``n``/``effect``/``ci_low``/``ci_high`` at leaves.
    outcome : str
        Outcome name, used in the caption of the effect.

    Returns
    -------
    str
        An SVG document.
    """
    n_leaves = _leaves(tree)
    depth = _depth(tree)
    width = FULL_WIDTH
    level_h = 0.55
    leaf_h = 0.82
    height = depth * level_h + leaf_h + 0.1
    fig = _new_figure(width, height)
    fig.set_layout_engine("none")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")

    slot = width / n_leaves
    leaf_w = min(slot - 0.12, 2.6)
    counter = iter(range(n_leaves))

    def place(node: Mapping[str, Any], level: int) -> tuple[float, float]:
        """Draw ``node`` and its subtree; return the (x, top-y) of its box."""
        if "leaf" in node or "left" not in node:
            x = (next(counter) + 0.5) * slot
            top = height - 0.08 - depth * level_h
            draw_leaf(node, x, top)
            return x, top
        lx, ltop = place(node["left"], level + 1)
        rx, rtop = place(node["right"], level + 1)
        x = (lx + rx) / 2
        y = height - 0.08 - level * level_h
        box_h = 0.34
        name = _short(_txt(node.get("feature", "?")), 26)
        box_w = min(max(0.16 + 0.075 * len(name), 1.1), slot * 2 - 0.2)
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h), box_w, box_h,
                                    boxstyle="round,pad=0,rounding_size=0.06",
                                    fc="#f2f2f2", ec=GREY, lw=0.8))
        ax.text(x, y - box_h / 2, name, ha="center", va="center", fontsize=FONT + 0.5,
                fontweight="bold")
        left_text, right_text = _edge_labels(node)
        for (cx, ctop), label, ha in (((lx, ltop), left_text, "right"), ((rx, rtop), right_text, "left")):
            ax.plot([x, cx], [y - box_h, ctop], color=GREY, lw=0.9)
            mx, my = (x + cx) / 2, (y - box_h + ctop) / 2
            ax.text(mx + (-0.06 if ha == "right" else 0.06), my, _txt(label), ha=ha, va="center",
                    fontsize=SMALL, color=INK,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
        return x, y

    def draw_leaf(node: Mapping[str, Any], x: float, top: float) -> None:
        treat = bool(node.get("treat"))
        h = leaf_h - 0.08
        ax.add_patch(FancyBboxPatch((x - leaf_w / 2, top - h), leaf_w, h,
                                    boxstyle="round,pad=0,rounding_size=0.05",
                                    fc="#e6eef7" if treat else "white",
                                    ec=BLUE if treat else GREY,
                                    lw=2.0 if treat else 1.0,
                                    ls="-" if treat else (0, (4, 2))))
        band = 0.22
        if treat:
            ax.add_patch(FancyBboxPatch((x - leaf_w / 2, top - band), leaf_w, band,
                                        boxstyle="round,pad=0,rounding_size=0.05",
                                        fc=BLUE, ec=BLUE, lw=2.0))
        ax.text(x, top - band / 2, "✔ TREAT" if treat else "✘ do not treat", ha="center",
                va="center", fontsize=FONT + 0.5, fontweight="bold",
                color="white" if treat else GREY)
        n = node.get("n")
        effect = node.get("effect")
        ci = f"({fmt_effect(node.get('ci_low'))} to {fmt_effect(node.get('ci_high'))})"
        if effect is None:
            ci = "(too few held out)"
        lines = [f"n = {n:,}" if isinstance(n, int) else "n = –",
                 f"effect {fmt_effect(effect)}", ci]
        ax.text(x, top - band - 0.06, "\n".join(lines), ha="center", va="top", fontsize=SMALL,
                linespacing=1.25)

    place(tree, 0)
    return _render(fig)


# ----------------------------------------------------------------------------------------------
# budget curve
# ----------------------------------------------------------------------------------------------

@_styled
def budget_curve_svg(curve: Sequence[Mapping[str, Any]], *, chosen_share: float | None = None,
                     gain_label: str = "Gain over treating no one") -> str | None:
    """Gain of the policy tree and of the effect ranking against the budget, with 95% bands.

    Parameters
    ----------
    curve : sequence of mapping
        ``report["budget_curve"]``: points with ``budget_share``, ``tree_gain``/``tree_low``/
        ``tree_high``, ``ranking_gain``/``ranking_low``/``ranking_high`` and ``random_gain``.
        Gains are oriented so that positive is better.
    chosen_share : float, optional
        Share treated by the recommended rule, marked with a vertical line.
    gain_label : str
        Y-axis label.

    Returns
    -------
    str or None
        An SVG document, or ``None`` when there are no points.
    """
    points = [p for p in curve if _finite(p.get("budget_share"))]
    if not points:
        return None
    fig = _new_figure(FULL_WIDTH, 2.9)
    ax = fig.add_subplot()
    _style_axes(ax)
    x = [100 * p["budget_share"] for p in points]

    def series(key: str) -> list[float]:
        return [p.get(key) if _finite(p.get(key)) else math.nan for p in points]

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
    if chosen_share is not None and _finite(chosen_share):
        ax.axvline(100 * chosen_share, color=INK, lw=0.8, ls=(0, (2, 2)))
        ax.text(100 * chosen_share, 1.0, f" recommended rule treats {100 * chosen_share:.0f}%",
                transform=ax.get_xaxis_transform(), ha="left", va="bottom", fontsize=SMALL)
    ax.set_xlim(0, 100)
    ax.set_xlabel("Budget (% of the cost of treating everyone)")
    ax.set_ylabel(_txt(gain_label) + "\n(positive = better)")
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0f}%")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    return _render(fig)


# ----------------------------------------------------------------------------------------------
# distribution of individual effects
# ----------------------------------------------------------------------------------------------

@_styled
def effect_distribution_svg(cate_summary: Mapping[str, Any], *, direction: str,
                            outcome: str = "outcome") -> str | None:
    """Histogram of estimated individual effects, harmful side hatched, zero and mean marked.

    Parameters
    ----------
    cate_summary : mapping
        ``report["diagnostics"]["cate_summary"]`` with ``edges`` (k + 1) and ``counts`` (k).
    direction : str
        ``"lower-is-better"`` or ``"higher-is-better"``.
    outcome : str
        Outcome name for the axis label.

    Returns
    -------
    str or None
        An SVG document, or ``None`` when no histogram is stored.
    """
    edges = list(cate_summary.get("edges") or [])
    counts = list(cate_summary.get("counts") or [])
    if len(edges) != len(counts) + 1 or not counts:
        return None
    side = _harm_side(direction)
    fig = _new_figure(FULL_WIDTH, 2.6)
    ax = fig.add_subplot()
    _style_axes(ax)
    for lo, hi, c in zip(edges[:-1], edges[1:], counts):
        mid = (lo + hi) / 2
        harmful = side * mid > 0
        ax.bar(lo, c, width=hi - lo, align="edge", color="#e8b4b4" if harmful else "#a9c4e0",
               edgecolor=RED if harmful else BLUE, lw=0.5, hatch="////" if harmful else None)
    ax.axvline(0, color=INK, lw=1.0)
    mean = cate_summary.get("mean")
    _with_room_for_labels(ax, 0.18)
    if _finite(mean):
        ax.axvline(mean, color=INK, lw=1.0, ls="--")
        ax.text(mean, 0.84, f" average {fmt_effect(mean)}", transform=ax.get_xaxis_transform(),
                ha="left", va="top", fontsize=SMALL,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    _label_harm_side(ax, direction)
    ax.set_xlabel(f"Estimated individual effect on '{_txt(_short(outcome, 40))}' (treated minus untreated)")
    ax.set_ylabel("People")
    handles = [Patch(fc="#a9c4e0", ec=BLUE, lw=0.5, label="beneficial estimate"),
               Patch(fc="#e8b4b4", ec=RED, lw=0.5, hatch="////", label="harmful estimate")]
    if side > 0:  # legend on the beneficial side, below its label
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.9), frameon=False)
    else:
        ax.legend(handles=handles, loc="upper right", bbox_to_anchor=(1.0, 0.9), frameon=False)
    return _render(fig)


# ----------------------------------------------------------------------------------------------
# subgroup forest plot
# ----------------------------------------------------------------------------------------------

_FLAG_STYLE = {
    "harmed": dict(marker="D", color=RED, mfc=RED, ms=6.0, label="harmed (adjusted test)"),
    "possibly_harmed": dict(marker="v", color=ORANGE, mfc="white", ms=5.5,
                            label="possibly harmed (not significant)"),
    "benefits": dict(marker="s", color=GREEN, mfc=GREEN, ms=4.8, label="benefits"),
    "no_clear_effect": dict(marker="o", color=GREY, mfc="white", ms=4.8, label="no clear effect"),
}


@_styled
def subgroup_forest_svg(subgroups: Sequence[Mapping[str, Any]], *, direction: str,
                        family_labels: Mapping[str, str] | None = None, outcome: str = "outcome",
                        harm_threshold: float = 0.0, label_width: int = 48) -> str | None:
    """Forest plot of subgroup effects with 95% intervals, grouped by family.

    Harmed groups are red *and* drawn as filled diamonds with a bold label, so they stand out in
    grey print; the harmful side of zero is shaded and labelled.

    Parameters
    ----------
    subgroups : sequence of mapping
        ``report["subgroups"]``.
    direction : str
        ``"lower-is-better"`` or ``"higher-is-better"``.
    family_labels : mapping, optional
        Family code to heading (``report["harm_summary"]["family_labels"]``).
    outcome : str
        Outcome name for the axis label.
    harm_threshold : float
        Dotted line at the harm threshold when it is not zero.
    label_width : int
        Group names longer than this are shortened (the table beside the plot has them in full).

    Returns
    -------
    str or None
        An SVG document, or ``None`` when there are no subgroups.
    """
    if not subgroups:
        return None
    family_labels = dict(family_labels or {})
    families: list[str] = []
    for s in subgroups:
        if s.get("family") not in families:
            families.append(s.get("family"))
    rows: list[tuple[str, Any]] = []  # ("head", label) or ("row", subgroup)
    for fam in families:
        rows.append(("head", family_labels.get(fam, fam)))
        rows.extend(("row", s) for s in subgroups if s.get("family") == fam)
    row_h = 0.19
    height = max(2.0, len(rows) * row_h + 1.0)
    fig = _new_figure(FULL_WIDTH, height)
    ax = fig.add_subplot()
    _style_axes(ax)
    ax.spines["left"].set_visible(False)
    n = len(rows)
    ticks, labels = [], []
    seen: set[str] = set()
    for i, (kind, item) in enumerate(rows):
        y = n - i
        if kind == "head":
            ticks.append(y)
            labels.append(_txt(_short(item, label_width + 6)))
            continue
        flag = item.get("flag", "no_clear_effect")
        style = dict(_FLAG_STYLE.get(flag, _FLAG_STYLE["no_clear_effect"]))
        label = style.pop("label")
        if flag in seen:
            label = None
        seen.add(flag)
        lo, hi, est = item.get("ci_low"), item.get("ci_high"), item.get("effect")
        if _finite(lo) and _finite(hi):
            ax.plot([lo, hi], [y, y], color=style["color"], lw=2.0 if flag == "harmed" else 1.1,
                    solid_capstyle="butt")
        if _finite(est):
            ax.plot([est], [y], ls="none", mec=style["color"], mew=1.1, label=label,
                    **{k: v for k, v in style.items() if k != "color"})
        ticks.append(y)
        name = _short(item.get("name", ""), label_width)
        if item.get("exploratory"):
            name += " *"
        labels.append(_txt(name))
    ax.set_yticks(ticks, labels)
    for tick, (kind, item) in zip(ax.get_yticklabels(), rows):
        if kind == "head":
            tick.set_fontweight("bold")
            tick.set_fontsize(FONT)
        elif item.get("flag") == "harmed":
            tick.set_color(RED)
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(0.3, n + 1.6)
    ax.axvline(0, color=INK, lw=0.9)
    if harm_threshold and _finite(harm_threshold):
        ax.axvline(_harm_side(direction) * harm_threshold, color=RED, lw=0.8, ls=":")
    ax.grid(axis="x", color=LIGHT, lw=0.5)
    ax.set_axisbelow(True)
    _label_harm_side(ax, direction, y=0.995)
    ax.set_xlabel(f"Effect on '{_txt(_short(outcome, 40))}'\n(treated minus untreated, with 95% interval)")
    handles = []
    for flag, style in _FLAG_STYLE.items():
        handles.append(Line2D([], [], ls="-", lw=1.1, color=style["color"], marker=style["marker"],
                              mfc=style["mfc"], mec=style["color"], ms=style["ms"],
                              label=style["label"]))
    fig.legend(handles=handles, loc="outside lower center", ncol=4, frameon=False,
               handletextpad=0.4, columnspacing=1.2)
    return _render(fig)


# ----------------------------------------------------------------------------------------------
# propensity overlap
# ----------------------------------------------------------------------------------------------

@_styled
def overlap_svg(overlap: Mapping[str, Any], *, treated_label: str = "treated",
                control_label: str = "control") -> str | None:
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
    str or None
        An SVG document, or ``None`` when no histogram is stored.
    """
    edges = list(overlap.get("edges") or [])
    treated = list(overlap.get("treated_counts") or [])
    control = list(overlap.get("control_counts") or [])
    if len(edges) < 2 or len(treated) != len(edges) - 1 or len(control) != len(edges) - 1:
        return None
    fig = _new_figure(FULL_WIDTH, 2.1)
    ax = fig.add_subplot()
    _style_axes(ax)
    widths = [hi - lo for lo, hi in zip(edges[:-1], edges[1:])]
    ax.bar(edges[:-1], treated, width=widths, align="edge", color="#a9c4e0", edgecolor=BLUE, lw=0.5,
           label=f"{_txt(_short(treated_label, 30))} (upwards)")
    ax.bar(edges[:-1], [-c for c in control], width=widths, align="edge", color="#eeeeee",
           edgecolor=INK, lw=0.5, hatch="\\\\\\", label=f"{_txt(_short(control_label, 30))} (downwards)")
    ax.axhline(0, color=INK, lw=0.7)
    for b in overlap.get("bounds") or []:
        if _finite(b):
            ax.axvline(b, color=RED, lw=0.8, ls="--")
    ax.set_xlim(min(edges), max(edges))
    ax.yaxis.set_major_formatter(lambda v, _: f"{abs(v):,.0f}")
    ax.set_xlabel("Probability of treatment given the covariates (propensity)")
    ax.set_ylabel("People")
    ax.legend(loc="upper left", frameon=False)
    return _render(fig)
