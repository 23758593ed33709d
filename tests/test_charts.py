"""Charts of the brief: the texts they draw for the test report, written out by hand."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from targeting.report import charts

DATA = Path(__file__).parent / "data"
SVG_TEXT = "{http://www.w3.org/2000/svg}text"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads((DATA / "report_bleeding.json").read_text(encoding="utf-8"))


def _texts(svg: str) -> list[str]:
    """Every text drawn in an SVG chart (the brief keeps text as text), in drawing order."""
    return ["".join(node.itertext()) for node in ET.fromstring(svg).iter(SVG_TEXT)]


def test_tree_writes_splits_branches_and_leaves(report):
    texts = _texts(charts.policy_tree_svg(report["policy"]["tree"]))
    assert ["dbp", "under 81", "81 or over"] == texts[-3:]
    assert ["age", "under 46.5", "46.5 or over"] == texts[8:11]
    assert ["smoking", "Yes", "other values"] == texts[19:22]  # levels unknown: the other side unnamed
    # leaf LL: treated, 255 people, effect 0.0108 (-0.0399 to 0.0616)
    assert texts[:4] == ["✔ TREAT", "255 people", "effect +0.0108", "(-0.0399 to +0.0616)"]
    assert texts.count("✔ TREAT") == 2 and texts.count("✘ do not treat") == 2


def test_tree_of_a_binary_outcome_names_both_levels_and_reads_in_points(report):
    levels = {c["name"]: c["levels"] for c in report["data"]["covariates"]}
    texts = _texts(charts.policy_tree_svg(report["policy"]["tree"], binary=True, levels=levels))
    assert ["smoking", "Yes", "No"] == texts[19:22]
    # leaf LL again: +0.0108 is +1.1 percentage points, (-0.0399 to +0.0616) is (-4.0 to +6.2 pp)
    assert texts[:4] == ["✔ TREAT", "255 people", "effect +1.1 pp", "(-4.0 to +6.2 pp)"]


def test_tree_leaf_without_held_out_effect(report):
    tree = copy.deepcopy(report["policy"]["tree"])
    tree["left"]["left"].update(effect=None, ci_low=None, ci_high=None)
    texts = _texts(charts.policy_tree_svg(tree))
    assert texts[:4] == ["✔ TREAT", "255 people", "effect –", "(too few held out)"]


def test_single_leaf_tree():
    leaf = {"leaf": "root", "treat": False, "n": 2000, "effect": 0.0172, "ci_low": -0.0047,
            "ci_high": 0.039, "rule": "everyone"}
    assert _texts(charts.policy_tree_svg(leaf)) == ["✘ do not treat", "2,000 people", "effect +0.0172",
                                                    "(-0.00470 to +0.0390)"]


def test_curve_marks_the_rule_with_its_status(report):
    texts = _texts(charts.budget_curve_svg(report["budget_curve"], chosen_share=0.418,
                                           chosen_label="best rule found (not recommended)"))
    assert " best rule found (not recommended): treats 42%" in texts
    assert ["0%", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "100%"] == texts[:11]
    assert "Budget: the most that may be treated (% of people); a rule may use less" in texts


def test_curve_of_a_binary_outcome_reads_in_points_and_money_axis_when_costed(report):
    texts = _texts(charts.budget_curve_svg(report["budget_curve"], binary=True))
    assert "(percentage points, positive = better)" in texts
    assert "+1.0" in texts and "+1.00" not in texts  # one way of writing a tick
    costed = _texts(charts.budget_curve_svg(report["budget_curve"], by_cost=True, total_cost=300000,
                                            currency="EUR"))
    assert "Spend" in costed and "€150,000" in costed and "€300,000" in costed
    assert any("% of the cost of treating everyone" in t for t in costed)


def test_curve_lines_start_at_no_budget_and_no_gain(report):
    """Every reference reaches its end points: at budget 0 no one is treated and nothing is gained."""
    from matplotlib.figure import Figure

    drawn = []
    original = Figure.savefig

    def capture(fig, *args, **kwargs):
        drawn.extend(line.get_xydata()[0].tolist() for line in fig.axes[0].lines if len(line.get_xydata()) > 2)
        return original(fig, *args, **kwargs)

    Figure.savefig = capture
    try:
        charts.budget_curve_svg(report["budget_curve"])
    finally:
        Figure.savefig = original
    assert drawn and all(point == [0.0, 0.0] for point in drawn)


def test_effect_distribution_marks_the_mean_and_the_harmful_side(report):
    # mean individual effect 0.0142; lower is better, so positive effects are harmful (right side)
    texts = _texts(charts.effect_distribution_svg(report["diagnostics"]["cate_summary"],
                                                  direction="lower-is-better", outcome="event"))
    assert " average +0.0142" in texts
    points = _texts(charts.effect_distribution_svg(report["diagnostics"]["cate_summary"],
                                                   direction="lower-is-better", outcome="event", binary=True))
    assert " average +1.4 pp" in points
    assert texts.index("← beneficial side") > texts.index("harmful side →")
    flipped = _texts(charts.effect_distribution_svg(report["diagnostics"]["cate_summary"],
                                                    direction="higher-is-better", outcome="event"))
    assert "← harmful side" in flipped and "beneficial side →" in flipped


def test_forest_groups_by_family_and_stars_exploratory_groups(report):
    texts = _texts(charts.subgroup_forest_svg(report["subgroups"], direction="lower-is-better", outcome="event",
                                              family_labels=report["harm_summary"]["family_labels"]))
    assert "By covariate (screen)" in texts
    assert "age 60.2 or over" in texts  # the third group, a covariate screen (not starred)
    assert "Policy-tree leaves (exploratory, held out)" in texts
    assert "dbp under 81 and age under 46.5 *" in texts  # a policy leaf, exploratory
    # long names are wrapped on words, never cut: each line is its own text
    assert "baseline risk Q1 (predicted untreated" in texts and "outcome 0.000388 to 0.00301) *" in texts
    assert not any("…" in t for t in texts)


def test_forest_says_a_prespecified_expression_in_words_and_colours_only_evidence(report):
    groups = copy.deepcopy(report["subgroups"][:3])
    groups[0].update(family="prespecified", name="anticoagulant == 'Yes'")
    groups[1].update(flag="possibly_harmed", p_value=0.30)  # merely on the harmful side: drawn grey
    groups[2].update(flag="possibly_harmed", p_value=0.01)  # harm before adjustment: orange
    labels = dict(report["harm_summary"]["family_labels"], prespecified="Pre-specified")
    svg = charts.subgroup_forest_svg(groups, direction="lower-is-better", family_labels=labels)
    assert "anticoagulant is Yes" in _texts(svg)
    from targeting.report.charts.style import ORANGE
    # the orange of "possibly harmed" is drawn for the group with evidence, and only for it
    groups[2]["p_value"] = 0.30
    without_evidence = charts.subgroup_forest_svg(groups, direction="lower-is-better", family_labels=labels)
    groups[1]["p_value"] = groups[2]["p_value"] = 0.01
    both = charts.subgroup_forest_svg(groups, direction="lower-is-better", family_labels=labels)
    assert without_evidence.count(ORANGE) < svg.count(ORANGE) < both.count(ORANGE)


def test_forest_is_absent_without_subgroups(report):
    assert charts.subgroup_forest_svg([], direction="lower-is-better",
                                      family_labels=report["harm_summary"]["family_labels"]) is None


def test_forest_refuses_an_unknown_flag(report):
    """Every flag has its own marker; a flag the chart does not know is an error, not grey."""
    subgroups = copy.deepcopy(report["subgroups"])
    subgroups[0]["flag"] = "harmful"
    with pytest.raises(KeyError):
        charts.subgroup_forest_svg(subgroups, direction="lower-is-better",
                                   family_labels=report["harm_summary"]["family_labels"])


def test_overlap_names_both_arms(report):
    texts = _texts(charts.overlap_svg(report["diagnostics"]["overlap"], treated_label="Treatment",
                                      control_label="Placebo"))
    assert "Treatment (upwards)" in texts and "Placebo (downwards)" in texts
