"""Invariances: what must not change when nothing meaningful changes."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compare_helpers import assert_same
from test_golden_numbers import EXAMPLES, GOLDEN, SECTIONS, numbers
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


def test_people_are_analysed_in_an_order_of_their_own():
    """Shuffled rows give the same arrays to every fit; ``rows`` still names each person's row in
    the file they came from."""
    from targeting.config import merge_sources
    from targeting.data.prepare import prepare
    from targeting.estimate.nuisance import make_folds

    frame = cate_lesson(500, seed=4)
    config = merge_sources(("test", {"outcome": "y", "treatment": "treated", "exclude": ["true_effect"]}))
    rng = np.random.default_rng(8)
    order = rng.permutation(len(frame))
    shuffled = frame.iloc[order].reset_index(drop=True)
    first, second = prepare(frame, config), prepare(shuffled, config)
    for name in ("y", "t", "x_codes", "x_dense", "cost"):
        assert np.array_equal(getattr(first, name), getattr(second, name), equal_nan=True), name
    assert first.dense_names == second.dense_names
    assert np.array_equal(order[second.rows - 1] + 1, first.rows), "rows name the file's rows"
    assert np.array_equal(frame["y"].to_numpy()[first.rows - 1], first.y)
    assert np.array_equal(make_folds(first, 5, seed=1), make_folds(second, 5, seed=1))
    assert np.bincount(make_folds(first, 5, seed=1)).min() >= 99  # still a balanced split


def test_people_tied_on_covariates_arm_and_outcome_follow_their_other_columns():
    """Brute force over every order of four rows, three of them alike but for their cost."""
    from itertools import permutations

    from targeting.data.order import canonical_order

    frame = pd.DataFrame({"x": [1, 1, 1, 2], "cost": [3.0, 1.0, 2.0, 1.0]})
    t, y = np.array([0, 0, 0, 1]), np.zeros(4)
    seen = set()
    for rows in permutations(range(4)):
        rows = list(rows)
        shuffled = frame.iloc[rows].reset_index(drop=True)
        order = canonical_order(shuffled, ["x"], t[rows], y[rows], None)
        seen.add(tuple(map(tuple, shuffled.iloc[order].to_numpy())))
    assert len(seen) == 1


def _run_example(name, shuffle_seed=None):
    """An example's run, its rows shuffled when ``shuffle_seed`` is given: (result, the order used)."""
    from targeting.config import merge_sources
    from targeting.data.read import RawInput, read_input
    from targeting.pipeline import run

    raw = read_input(Path(__file__).resolve().parents[1] / "examples" / f"{name}.xlsx")
    config = merge_sources(("defaults", {}), ("the workbook's config sheet", raw.sheet_config))
    order = np.arange(len(raw.frame))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(raw.frame))
        raw = RawInput(raw.frame.iloc[order].reset_index(drop=True), raw.sheet_config, raw.name, raw.sha256,
                       raw.data_sheet)
    return run(raw, config), order


@pytest.mark.parametrize("name", EXAMPLES)
def test_shuffled_rows_give_the_golden_numbers(name):
    """A bundled example with its rows shuffled gives every number of the unshuffled report."""
    report = _run_example(name, shuffle_seed=21)[0].report.to_dict()
    found = {key: value for section in SECTIONS for key, value in numbers(report[section], section).items()}
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    assert sorted(found) == sorted(expected)
    for key, value in expected.items():
        assert found[key] == pytest.approx(value, rel=1e-7, abs=1e-10), key


def test_shuffled_rows_give_the_same_report_and_individuals():
    """Every word too, and the same individuals, each with the row it has in the shuffled file."""
    first, _ = _run_example("bleeding_trial")
    second, order = _run_example("bleeding_trial", shuffle_seed=22)
    reports = [result.report.to_dict() for result in (first, second)]
    for report in reports:
        del report["provenance"]["created"]  # the clock, the one thing allowed to differ
    assert_same(*reports)
    assert second.individuals["row"].tolist() == list(range(1, len(order) + 1)), "in the file's order"
    back = second.individuals.assign(row=order[second.individuals["row"] - 1] + 1).sort_values("row")
    pd.testing.assert_frame_equal(back.reset_index(drop=True), first.individuals, rtol=1e-9)
