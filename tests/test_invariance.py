"""Invariances: what must not change when nothing meaningful changes."""

import numpy as np
import pytest

from targeting.policy.search import search_tree, to_node
from targeting.policy.tree import assign
from targeting.sim.simulate import cate_lesson, financial_literacy
from targeting.sim.studies import run_frame

LESSON = {"outcome": "y", "treatment": "treated", "true_effect": "true_effect", "estimator": "t", "folds": 3,
          "budget": "40%", "propensity": 0.5}


@pytest.fixture(scope="module")
def lesson():
    frame = cate_lesson(600, seed=12)
    return frame, run_frame(frame, **LESSON).report


def test_tree_search_ignores_row_order():
    rng = np.random.default_rng(3)
    bins = rng.integers(0, 8, size=(500, 4))
    g, c = rng.normal(0.2, 1, 500), rng.uniform(0.5, 2, 500)
    order = rng.permutation(500)
    first = search_tree(bins, np.full(4, 8), g, c, budget=300.0, min_leaf=20)
    second = search_tree(bins[order], np.full(4, 8), g[order], c[order], budget=300.0, min_leaf=20)
    assert first.benefit == pytest.approx(second.benefit, rel=1e-12)
    treat_first = assign(to_node(first), bins)[0]
    treat_second = assign(to_node(second), bins[order])[0]
    assert np.array_equal(treat_first[order], treat_second)


def test_renamed_columns_change_only_the_names(lesson):
    frame, report = lesson
    renamed = frame.rename(columns={"x1": "first score", "x2": "ünïcode x2", "y": "outcome value"})
    other = run_frame(renamed, **{**LESSON, "outcome": "outcome value"}).report
    for key in report.values:
        assert other.values[key].mean_outcome == pytest.approx(report.values[key].mean_outcome, rel=1e-9)
    assert [r.n for r in other.policy.rules] == [r.n for r in report.policy.rules]
    assert [r.rule.replace("first score", "x1").replace("ünïcode x2", "x2") for r in other.policy.rules] == \
        [r.rule for r in report.policy.rules]


def test_rescaled_outcome_rescales_effects_and_keeps_the_rule(lesson):
    frame, report = lesson
    scaled = frame.assign(y=frame["y"] * 100, true_effect=frame["true_effect"] * 100)
    other = run_frame(scaled, **LESSON).report
    assert other.diagnostics.ate.estimate == pytest.approx(100 * report.diagnostics.ate.estimate, rel=1e-6)
    assert other.comparisons["treat_all"].difference == pytest.approx(
        100 * report.comparisons["treat_all"].difference, rel=1e-6)
    assert [r.rule for r in other.policy.rules] == [r.rule for r in report.policy.rules]
    assert other.diagnostics.calibration.slope == pytest.approx(report.diagnostics.calibration.slope, rel=1e-6)


def test_reversed_direction_flips_the_orientation_not_the_estimates():
    frame = financial_literacy(800, seed=5)
    settings = {"outcome": "savings_rate_change", "treatment": "enrolled", "cost": "cost", "budget": "30%",
                "estimator": "t", "folds": 3, "exclude": ["true_effect", "person_id"]}
    up = run_frame(frame, **settings).report
    down = run_frame(frame.assign(savings_rate_change=-frame["savings_rate_change"]), **settings,
                     direction="lower-is-better").report
    assert down.diagnostics.ate.estimate == pytest.approx(-up.diagnostics.ate.estimate, rel=1e-6)
    assert down.comparisons["treat_none"].difference == pytest.approx(up.comparisons["treat_none"].difference, rel=1e-6)
    assert [r.rule for r in down.policy.rules] == [r.rule for r in up.policy.rules]


def test_folds_follow_the_people_not_the_row_order():
    from targeting.config import merge_sources
    from targeting.data.prepare import prepare
    from targeting.estimate.nuisance import make_folds

    frame = cate_lesson(500, seed=4)
    config = merge_sources(("test", {"outcome": "y", "treatment": "treated", "exclude": ["true_effect"]}))
    order = np.random.default_rng(8).permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    folds = make_folds(prepare(frame, config), 5, seed=1)
    folds_shuffled = make_folds(prepare(shuffled, config), 5, seed=1)
    assert np.array_equal(folds[order], folds_shuffled)
    assert np.bincount(folds).min() >= 99  # still a balanced split
