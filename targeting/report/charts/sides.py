"""Which side of zero is harmful, shaded and labelled on an effect axis."""

from __future__ import annotations

from targeting.report.charts.style import GREEN, RED, SMALL

#: Light red behind the harmful side of zero.
HARM_SHADE = "#f6dede"


def harm_side(direction: str) -> int:
    """+1 when a positive effect (treated minus untreated) is harmful, else -1."""
    return 1 if direction.startswith("lower") else -1


def label_harm_side(ax, direction: str, *, y: float = 0.98) -> None:
    """Shade the harmful side of zero lightly and write which side it is.

    At least a sixth of the axis is kept on each side of zero so that both labels have room.
    """
    lo, hi = ax.get_xlim()
    span = hi - lo
    lo, hi = min(lo, -span / 6), max(hi, span / 6)
    if harm_side(direction) > 0:
        ax.axvspan(0, hi, color=HARM_SHADE, zorder=0, lw=0)
        harmful, beneficial = ("harmful side →", 0.995, "right"), ("← beneficial side", 0.005, "left")
    else:
        ax.axvspan(lo, 0, color=HARM_SHADE, zorder=0, lw=0)
        harmful, beneficial = ("← harmful side", 0.005, "left"), ("beneficial side →", 0.995, "right")
    for (text, x, ha), colour, weight in ((harmful, RED, "bold"), (beneficial, GREEN, "normal")):
        ax.text(x, y, text, transform=ax.transAxes, ha=ha, va="top", fontsize=SMALL, color=colour,
                fontweight=weight, zorder=5,  # above the zero line, which may cross a short side
                bbox=dict(boxstyle="square,pad=0.1", fc="white", ec="none", alpha=0.75))
    ax.set_xlim(lo, hi)
