"""The subgroup forest plot: effects with 95% intervals, grouped by family, harm flags marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import textwrap

from matplotlib.lines import Line2D

from targeting.format import fmt_change, shorten_words
from targeting.model.narrative import expression_words, shown_flag

from targeting.report.charts.sides import harm_side, label_harm_side
from targeting.report.charts.style import (FONT, FULL_WIDTH, GREEN, GREY, INK, LIGHT, ORANGE, RED, is_finite,
                                           literal, new_figure, render_svg, style_axes, styled)

#: Marker per harm flag (every flag a subgroup can carry), so flags differ in grey print too.
FLAG_STYLE = {
    "harmed": dict(marker="D", color=RED, mfc=RED, ms=6.0, label="harmed (adjusted test)"),
    "possibly_harmed": dict(marker="v", color=ORANGE, mfc="white", ms=5.5,
                            label="possibly harmed (not after adjustment)"),
    "benefits": dict(marker="s", color=GREEN, mfc=GREEN, ms=4.8, label="benefits"),
    "no_clear_effect": dict(marker="o", color=GREY, mfc="white", ms=4.8, label="no clear effect"),
}
FLAG_STYLE["leans_harmful"] = FLAG_STYLE["no_clear_effect"]  # the colour must not say more than the evidence
ROW_HEIGHT = 0.17
LINE_HEIGHT = 0.13  # each further line of a wrapped label


def _rows(subgroups: Sequence[Mapping[str, Any]],
          family_labels: Mapping[str, str]) -> list[tuple[str, Any]]:
    """``("head", family heading)`` then ``("row", subgroup)`` per family, in order of appearance."""
    rows: list[tuple[str, Any]] = []
    for family in dict.fromkeys(s["family"] for s in subgroups):
        rows.append(("head", family_labels[family]))
        rows.extend(("row", s) for s in subgroups if s["family"] == family)
    return rows


def _legend_handles() -> list[Line2D]:
    return [Line2D([], [], ls="-", lw=1.1, color=style["color"], marker=style["marker"], mfc=style["mfc"],
                   mec=style["color"], ms=style["ms"], label=style["label"])
            for flag, style in FLAG_STYLE.items() if flag != "leans_harmful"]


def _name(group: Mapping[str, Any]) -> str:
    """A pre-specified group is named by its expression: said in words on the chart."""
    return expression_words(group["name"]) if group["family"] == "prespecified" else group["name"]


def _wrapped(text: str, width: int) -> str:
    """A label wrapped on words into lines of at most ``width`` characters; a single word longer
    than a line is cut in its middle (`shorten_words`), so no label runs off the plot."""
    text = shorten_words(text, width)
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


@styled
def subgroup_forest_svg(subgroups: Sequence[Mapping[str, Any]], *, direction: str,
                        family_labels: Mapping[str, str], outcome: str = "outcome",
                        harm_threshold: float = 0.0, label_width: int = 44, binary: bool = False) -> str | None:
    """Forest plot of subgroup effects with 95% intervals, grouped by family.

    Harmed groups are red *and* drawn as filled diamonds with a bold label, so they stand out in
    grey print; the harmful side of zero is shaded and labelled.

    Parameters
    ----------
    subgroups : sequence of mapping
        ``report["subgroups"]``.
    direction : str
        ``"lower-is-better"`` or ``"higher-is-better"``.
    family_labels : mapping
        Family code to heading (``report["harm_summary"]["family_labels"]``).
    outcome : str
        Outcome name for the axis label.
    harm_threshold : float
        Dotted line at the harm threshold when it is not zero.
    label_width : int
        Group names longer than this are wrapped on words onto further lines.
    binary : bool
        The outcome is 0/1: the axis reads in percentage points.

    Returns
    -------
    str or None
        An SVG document, or ``None`` when there are no subgroups (no group was large enough).
    """
    if not subgroups:
        return None
    rows = _rows(subgroups, family_labels)
    labels = [_wrapped(item, label_width + 6) if kind == "head" else
              _wrapped(_name(item), label_width) + (" *" if item["exploratory"] else "")
              for kind, item in rows]
    extra_lines = sum(label.count("\n") for label in labels)
    fig = new_figure(FULL_WIDTH, max(2.0, len(rows) * ROW_HEIGHT + extra_lines * LINE_HEIGHT + 1.0))
    ax = fig.add_subplot()
    style_axes(ax)
    ax.spines["left"].set_visible(False)
    # y positions from the top, a wrapped label taking the room of its lines
    step = [1.0 + label.count("\n") * LINE_HEIGHT / ROW_HEIGHT for label in labels]
    total = sum(step)
    ys = [total - sum(step[:i]) - step[i] / 2 + 0.5 for i in range(len(rows))]
    seen: set[str] = set()
    for y, (kind, item) in zip(ys, rows):
        if kind == "head":
            continue
        flag = shown_flag(item)
        style = FLAG_STYLE[flag]
        label = None if flag in seen else style["label"]  # one legend entry per flag
        seen.add(flag)
        lo, hi, est = item["ci_low"], item["ci_high"], item["effect"]
        if is_finite(lo) and is_finite(hi):
            ax.plot([lo, hi], [y, y], color=style["color"], lw=2.0 if flag == "harmed" else 1.1,
                    solid_capstyle="butt")
        if is_finite(est):
            ax.plot([est], [y], ls="none", mec=style["color"], mew=1.1, label=label, marker=style["marker"],
                    mfc=style["mfc"], ms=style["ms"])
    ax.set_yticks(ys, [literal(label) for label in labels])
    for tick, (kind, item) in zip(ax.get_yticklabels(), rows):
        if kind == "head":
            tick.set_fontweight("bold")
            tick.set_fontsize(FONT)
        elif item["flag"] == "harmed":
            tick.set_color(RED)
            tick.set_fontweight("bold")
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(0.3, total + 1.6)
    ax.axvline(0, color=INK, lw=0.9)
    if harm_threshold:
        ax.axvline(harm_side(direction) * harm_threshold, color=RED, lw=0.8, ls=":")
    ax.grid(axis="x", color=LIGHT, lw=0.5)
    ax.set_axisbelow(True)
    label_harm_side(ax, direction, y=0.995)
    if binary:
        ax.xaxis.set_major_formatter(lambda v, _: fmt_change(v, True).replace(" pp", ""))
    unit = " (percentage points)" if binary else ""
    ax.set_xlabel(f"Effect on {literal(outcome)}{unit}\ntreated minus untreated, with 95% interval")
    fig.legend(handles=_legend_handles(), loc="outside lower center", ncol=4, frameon=False,
               handletextpad=0.4, columnspacing=1.2)
    return render_svg(fig)
