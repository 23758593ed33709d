"""Charts for the brief: pure functions from ReportModel parts (plain dicts) to SVG strings.

Every chart is drawn on its own :class:`matplotlib.figure.Figure` (never pyplot global state),
saved as SVG with text kept as text and closed (:mod:`.style`). Charts never compute statistics:
they only draw numbers that are in the report, written by :mod:`targeting.format`. Figures are
sized in inches for an A4 page with fonts of at least 8 pt, and every colour distinction is doubled
by a marker, line style or hatch so that grey printing keeps it.
"""

from targeting.report.charts.curve import budget_curve_svg
from targeting.report.charts.effects import effect_distribution_svg
from targeting.report.charts.forest import subgroup_forest_svg
from targeting.report.charts.overlap import overlap_svg
from targeting.report.charts.tree import policy_tree_svg

__all__ = [
    "budget_curve_svg",
    "effect_distribution_svg",
    "overlap_svg",
    "policy_tree_svg",
    "subgroup_forest_svg",
]
