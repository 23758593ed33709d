"""The policy tree: one box per split, one box per leaf with its verdict, n and held-out effect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.patches import FancyBboxPatch

from targeting.format import fmt_change, fmt_change_ci, fmt_int, fmt_value
from targeting.report.charts.style import (BLUE, FONT, FULL_WIDTH, GREY, INK, SMALL, literal, new_figure,
                                           render_svg, shorten, styled)

LEVEL_HEIGHT = 0.55
LEAF_HEIGHT = 0.82
SPLIT_BOX_HEIGHT = 0.34
TREAT_BAND = 0.22
TOP_MARGIN = 0.08


def _is_leaf(node: Mapping[str, Any]) -> bool:
    return "leaf" in node


def _edge_labels(node: Mapping[str, Any], levels: Mapping[str, Sequence[str]]) -> tuple[str, str]:
    """Words on the left and right branch of a split; a categorical split names the levels on both
    sides when the covariate's levels are known (``Yes`` / ``No``, not ``Yes`` / other values)."""
    kind = node["left_if"]
    if kind == "below threshold":
        t = fmt_value(node["threshold"])
        return f"under {t}", f"{t} or over"
    if kind == "recorded":
        return "recorded", "missing"
    left_levels = [str(v) for v in node["left_levels"]]
    right_levels = [v for v in levels.get(node["feature"], []) if v not in left_levels]
    right = ", ".join(right_levels) if right_levels else "other values"
    return shorten(", ".join(left_levels), 28), shorten(right, 28)


def _leaves(node: Mapping[str, Any]) -> int:
    return 1 if _is_leaf(node) else _leaves(node["left"]) + _leaves(node["right"])


def _depth(node: Mapping[str, Any]) -> int:
    return 0 if _is_leaf(node) else 1 + max(_depth(node["left"]), _depth(node["right"]))


def _leaf_lines(node: Mapping[str, Any], binary: bool) -> list[str]:
    """n, effect and its interval; an effect is missing when too few people were held out."""
    effect = node["effect"]
    ci = "(too few held out)" if effect is None else f"({fmt_change_ci(node['ci_low'], node['ci_high'], binary)})"
    return [f"{fmt_int(node['n'])} people", f"effect {fmt_change(effect, binary)}", ci]


@styled
def policy_tree_svg(tree: Mapping[str, Any], *, binary: bool = False,
                    levels: Mapping[str, Sequence[str]] | None = None) -> str:
    """Draw the policy tree: one box per split, one box per leaf with its rule, n and effect.

    Treated leaves have a thick solid border, a dark header band and the word TREAT; untreated
    leaves a dashed border and "do not treat", so the distinction survives grey printing.

    Parameters
    ----------
    tree : mapping
        ``report["policy"]["tree"]``: nested dicts with ``feature``/``left_if``/``left``/``right``
        at splits and ``leaf``/``treat``/``n``/``effect``/``ci_low``/``ci_high`` at leaves.
    binary : bool
        The outcome is 0/1: effects in percentage points.
    levels : mapping, optional
        Covariate name to its levels (``report["data"]["covariates"]``), to name both sides of a
        categorical split.

    Returns
    -------
    str
        An SVG document.
    """
    n_leaves = _leaves(tree)
    depth = _depth(tree)
    width = FULL_WIDTH
    height = depth * LEVEL_HEIGHT + LEAF_HEIGHT + 0.1
    fig = new_figure(width, height)
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
        if _is_leaf(node):
            x = (next(counter) + 0.5) * slot
            top = height - TOP_MARGIN - depth * LEVEL_HEIGHT
            draw_leaf(node, x, top)
            return x, top
        lx, ltop = place(node["left"], level + 1)
        rx, rtop = place(node["right"], level + 1)
        x = (lx + rx) / 2
        y = height - TOP_MARGIN - level * LEVEL_HEIGHT
        box_h = SPLIT_BOX_HEIGHT
        name = shorten(literal(node["feature"].replace("_", " ")), 26)
        box_w = min(max(0.16 + 0.075 * len(name), 1.1), slot * 2 - 0.2)
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h), box_w, box_h,
                                    boxstyle="round,pad=0,rounding_size=0.06",
                                    fc="#f2f2f2", ec=GREY, lw=0.8))
        ax.text(x, y - box_h / 2, name, ha="center", va="center", fontsize=FONT + 0.5,
                fontweight="bold")
        left_text, right_text = _edge_labels(node, levels or {})
        for (cx, ctop), label, ha in (((lx, ltop), left_text, "right"), ((rx, rtop), right_text, "left")):
            ax.plot([x, cx], [y - box_h, ctop], color=GREY, lw=0.9)
            mx, my = (x + cx) / 2, (y - box_h + ctop) / 2
            ax.text(mx + (-0.06 if ha == "right" else 0.06), my, literal(label), ha=ha, va="center",
                    fontsize=SMALL, color=INK,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
        return x, y

    def draw_leaf(node: Mapping[str, Any], x: float, top: float) -> None:
        treat = node["treat"]
        h = LEAF_HEIGHT - 0.08
        ax.add_patch(FancyBboxPatch((x - leaf_w / 2, top - h), leaf_w, h,
                                    boxstyle="round,pad=0,rounding_size=0.05",
                                    fc="#e6eef7" if treat else "white",
                                    ec=BLUE if treat else GREY,
                                    lw=2.0 if treat else 1.0,
                                    ls="-" if treat else (0, (4, 2))))
        if treat:
            ax.add_patch(FancyBboxPatch((x - leaf_w / 2, top - TREAT_BAND), leaf_w, TREAT_BAND,
                                        boxstyle="round,pad=0,rounding_size=0.05",
                                        fc=BLUE, ec=BLUE, lw=2.0))
        ax.text(x, top - TREAT_BAND / 2, "✔ TREAT" if treat else "✘ do not treat", ha="center",
                va="center", fontsize=FONT + 0.5, fontweight="bold",
                color="white" if treat else GREY)
        ax.text(x, top - TREAT_BAND - 0.06, "\n".join(_leaf_lines(node, binary)), ha="center", va="top",
                fontsize=SMALL, linespacing=1.25)

    place(tree, 0)
    return render_svg(fig)
