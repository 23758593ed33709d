"""Each CATE estimator on simulated data with known effects; auto's score table; thin-fit findings."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from targeting.config import merge_sources
from targeting.data.prepare import prepare
from targeting.estimate import cate as cate_module
from targeting.estimate.cate import candidates_for, estimate_cate
from targeting.estimate.selection import (RECALIBRATION_FLOOR, choice_groups, cross_fitted_choice, equal_share,
                                          not_clearly_worse, recalibration, shrunk_stack_weights, stack_weights)
from targeting.evaluate.diagnostics import CROSS_FITTED_SE_FACTOR, calibration, diagnose
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.sim.simulate import bleeding_trial, cate_lesson

LESSON = {"outcome": "y", "treatment": "treated", "true_effect": "true_effect", "folds": 3}
BLEEDING = {"outcome": "event", "treatment": "treatment", "direction": "lower-is-better", "propensity": 0.5,
            "true_effect": "true_effect", "id": "subject_id", "folds": 3}


@pytest.fixture(autouse=True)
def one_openmp_thread():
    with threadpool_limits(limits=1, user_api="openmp"):  # as the pipeline runs them
        yield


def _stage(frame, settings):
    prepared = prepare(frame, merge_sources(("defaults", {}), ("test", settings)))
    return prepared, fit_nuisances(prepared, folds=make_folds(prepared, settings["folds"], 0), seed=0)


@pytest.fixture(scope="module")
def lesson():
    with threadpool_limits(limits=1, user_api="openmp"):
        return _stage(cate_lesson(1200, seed=8), LESSON)


def _quartile_means(estimate, truth):
    """Mean estimated effect among the people whose true effect is in the bottom / top quarter."""
    low, high = np.quantile(truth, [0.25, 0.75])
    return estimate[truth <= low].mean(), estimate[truth >= high].mean()


@pytest.mark.parametrize("estimator", ["causal_forest", "dr", "t", "s", "x"])
def test_each_estimator_ranks_a_known_effect(lesson, estimator):
    """Effect 2*x1 - x2 ranges over [-1, 2]: the top true quarter must be estimated clearly above the
    bottom one (their true means, -0.28 and 1.32, differ by 1.6; the honest forest shrinks most, to about 0.45),
    and the ranking must follow the truth."""
    prepared, nuisances = lesson
    result = estimate_cate(prepared, nuisances, estimator=estimator, seed=0)
    bottom, top = _quartile_means(result.cate, prepared.true_effect)
    assert top - bottom > 0.3
    assert np.corrcoef(result.cate, prepared.true_effect)[0, 1] > 0.5
    assert result.estimator == estimator and result.findings == ()
    assert (result.cate_low is not None) == (estimator in ("causal_forest", "dr"))
    if result.cate_low is not None:
        assert np.all(result.cate_low <= result.cate) and np.all(result.cate <= result.cate_high)


def test_logistic_t_ranks_a_known_risk_difference():
    prepared, nuisances = _stage(bleeding_trial(1500, seed=9), {**BLEEDING, "estimator": "logistic_t"})
    result = estimate_cate(prepared, nuisances, estimator="logistic_t", seed=0)
    bottom, top = _quartile_means(result.cate, prepared.true_effect)
    assert top - bottom > 0.02  # true quarter means, -0.024 and 0.068, differ by 0.09
    assert np.all((result.cate >= -1) & (result.cate <= 1))  # differences of probabilities


def test_auto_scores_every_candidate_and_delivers_their_stack(lesson):
    prepared, nuisances = lesson
    result = estimate_cate(prepared, nuisances, estimator="auto", seed=0)
    names = [s.name for s in result.scores]
    assert names == [*candidates_for(prepared), "stack", "constant"]
    assert [s.name for s in result.scores if s.selected] == ["stack"] and result.estimator == "stack"
    stack = result.scores[-2]
    assert stack.dr_loss == pytest.approx(np.mean((nuisances.gamma - result.cate) ** 2))
    # each group's weights are learned on the other groups' scores, so every person can judge it
    assert result.honest_rows.all()
    assert all(s.scored_on == prepared.n for s in result.scores)
    constant = result.scores[-1]
    for score in result.scores:
        assert score.loss_vs_constant == pytest.approx(score.dr_loss - constant.dr_loss)
        if score.name != "constant":
            assert score.loss_vs_selected == pytest.approx(score.dr_loss - stack.dr_loss)
    weights = [s.stack_weight for s in result.scores if s.name not in ("stack", "constant")]
    assert min(weights) >= 0 and sum(weights) == pytest.approx(1.0)


def test_a_groups_cate_does_not_depend_on_that_groups_scores():
    rng = np.random.default_rng(0)
    n = 1000
    predictions = rng.normal(size=(n, 3))
    target = predictions @ np.array([0.6, 0.3, 0.1]) + rng.normal(size=n)
    groups = choice_groups(n, 0)
    mine = groups == 3
    first, _ = cross_fitted_choice(shrunk_stack_weights, predictions, target, groups)
    changed = target.copy()
    changed[mine] = -10 * predictions[mine, 0]  # scores that would put all weight elsewhere
    second, weights = cross_fitted_choice(shrunk_stack_weights, predictions, changed, groups)
    np.testing.assert_allclose(second[mine], first[mine])
    assert not np.allclose(second[~mine], first[~mine])  # the others' weights did learn from them
    assert weights.shape == (20, 3) and np.allclose(weights.sum(axis=1), 1) and weights.min() >= 0


def test_shrunk_stack_averages_least_squares_and_equal_weights_on_the_plausible():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=4000)
    good = truth + rng.normal(0, 0.1, 4000)
    rough, bad = good + rng.normal(0, 0.01, 4000), -truth
    predictions = np.column_stack([good, rough, bad])
    target = truth + rng.normal(0, 1, 4000)
    keep = not_clearly_worse(predictions, target)
    assert keep.tolist() == [True, True, False]  # -truth is far worse; the near-copies cannot be told apart
    w = shrunk_stack_weights(predictions, target)
    np.testing.assert_allclose(w, 0.5 * stack_weights(predictions, target) + [0.25, 0.25, 0.0])
    # Beyond 5,000 people the equal part falls like the least-squares weights' noise, 1 / sqrt(n).
    assert equal_share(5_000) == 0.5 and equal_share(20_000) == pytest.approx(0.25)
    assert equal_share(100) == 0.5


def test_auto_does_not_pick_a_t_learner_that_is_badly_wrong():
    """A constant true effect of 1 on a wiggly baseline: the T-learner's two outcome models each
    carry their own error, so their difference is noise; a model that shrinks to the truth must win."""
    rng = np.random.default_rng(12)
    n = 3000
    x = rng.uniform(-2, 2, (n, 4))
    t = rng.integers(0, 2, n)
    y = 3 * np.sin(2 * x[:, 0]) + 2 * x[:, 1] ** 2 + 1.0 * t + rng.normal(0, 1, n)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "d": x[:, 3], "t": t, "y": y,
                          "true_effect": np.ones(n)})
    prepared, nuisances = _stage(frame, {"outcome": "y", "treatment": "t", "propensity": 0.5,
                                         "true_effect": "true_effect", "folds": 5})
    result = estimate_cate(prepared, nuisances, estimator="auto", seed=0)
    losses = {s.name: s.dr_loss for s in result.scores}
    assert result.estimator != "t"
    assert losses["t"] > losses[result.estimator]
    assert np.sqrt(np.mean((result.cate - 1.0) ** 2)) < np.sqrt(np.mean((nuisances.mu1 - nuisances.mu0 - 1.0) ** 2))


def test_the_score_table_does_not_depend_on_the_order_of_the_candidates(lesson, monkeypatch):
    prepared, nuisances = lesson
    first = {s.name: s for s in estimate_cate(prepared, nuisances, estimator="auto", seed=0).scores}
    reversed_order = tuple(reversed(candidates_for(prepared)))
    monkeypatch.setattr(cate_module, "candidates_for", lambda _: reversed_order)
    second = {s.name: s for s in estimate_cate(prepared, nuisances, estimator="auto", seed=0).scores}
    assert set(first) == set(second)
    for name, score in first.items():
        other = second[name]
        assert other.dr_loss == pytest.approx(score.dr_loss, rel=1e-9)
        assert other.selected == score.selected
        if score.stack_weight is not None:
            assert other.stack_weight == pytest.approx(score.stack_weight, abs=1e-6)


def test_stack_weights_are_a_convex_combination_that_recovers_a_mixture():

    rng = np.random.default_rng(0)
    p = rng.normal(size=(5000, 3))
    target = 0.7 * p[:, 0] + 0.3 * p[:, 2] + rng.normal(0, 0.1, 5000)
    w = stack_weights(p, target)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-6)
    assert w == pytest.approx([0.7, 0.0, 0.3], abs=0.02)
    # a target no convex combination reaches still gets weights on the simplex
    w = stack_weights(p, -5 * p[:, 1])
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-6)


def test_an_underdetermined_dr_learner_is_a_finding():
    """60 people, 3 folds, a 40-level category: 40 training people against more coefficients."""
    frame = bleeding_trial(60, seed=5)
    frame["site"] = [f"site {i % 40}" for i in range(60)]
    prepared, nuisances = _stage(frame, {**BLEEDING, "propensity": None, "folds": 3})
    result = estimate_cate(prepared, nuisances, estimator="dr", seed=0)
    (item,) = result.findings
    assert item.code == "underdetermined_dr_learner"
    assert item.values == {"folds": 3, "coefficients": prepared.x_dense.shape[1] + 1, "smallest_training_fold": 40}
    assert item.values["coefficients"] > 40


def test_other_warnings_from_a_fit_are_passed_on(lesson, monkeypatch):
    prepared, nuisances = lesson

    def noisy_fit(stage, train, test, intervals):
        warnings.warn("something unexpected", RuntimeWarning)
        n = int(test.sum())
        return np.zeros(n), np.zeros(n), np.zeros(n)

    monkeypatch.setattr(cate_module, "_dr_out_of_fold", noisy_fit)
    with pytest.warns(RuntimeWarning, match="something unexpected"):
        result = estimate_cate(prepared, nuisances, estimator="dr", seed=0)
    assert result.findings == ()


def _beyond_the_cap(monkeypatch, prepared):
    monkeypatch.setattr(cate_module, "SELECTION_FIT_MAX", prepared.n // 2)
    monkeypatch.setattr(cate_module, "SELECTION_ROWS", prepared.n // 2)
    monkeypatch.setattr(cate_module, "SELECTION_ROWS_MIN", prepared.n // 2)


def test_beyond_the_cap_the_sample_chooses_and_no_model_sees_the_others(lesson, monkeypatch):
    prepared, nuisances = lesson
    _beyond_the_cap(monkeypatch, prepared)
    result = estimate_cate(prepared, nuisances, estimator="auto", seed=0)
    assert result.estimator == "stack" and all(s.scored_on == prepared.n // 2 for s in result.scores)
    judged = result.honest_rows
    assert judged.sum() == prepared.n - prepared.n // 2  # the sample chose; the others judge
    # The others' outcomes (and scores) reach no CATE model: changing them changes no one's CATE.
    # The nuisances are held fixed, so the T-learner (their difference) is unchanged too.
    rng = np.random.default_rng(1)
    y = prepared.y.copy()
    y[judged] = rng.permutation(y[judged]) + 5.0
    gamma1 = nuisances.gamma1.copy()
    gamma1[judged] += rng.normal(size=judged.sum()) * 10
    again = estimate_cate(dataclasses.replace(prepared, y=y), dataclasses.replace(nuisances, gamma1=gamma1),
                          estimator="auto", seed=0)
    np.testing.assert_allclose(again.cate, result.cate)
    assert result.judged_apart == (dict((s.name, s.stack_weight) for s in result.scores)["t"] == 0)


def test_the_selection_sample_shrinks_with_many_covariates_but_not_below_its_floor():
    assert cate_module.selection_rows(50_000, 20) == 50_000
    assert cate_module.selection_rows(100_000, 20) == cate_module.SELECTION_ROWS
    assert cate_module.selection_rows(100_000, 50) == cate_module.SELECTION_CELLS // 50
    assert cate_module.selection_rows(100_000, 200) == cate_module.SELECTION_ROWS_MIN


def test_the_forest_tries_a_third_of_the_covariates_up_to_grfs_default():
    assert [cate_module.forest_features(p) for p in (2, 20, 60, 90, 200)] == [1, 6, 20, 30, 35]


def test_autos_forest_predicts_each_person_with_trees_that_never_saw_them(lesson):
    """The out-of-bag forest: a person's prediction does not move when their own residuals do,
    while the forest fitted on them does; people outside the trainable ones get every tree."""
    prepared, nuisances = lesson
    stage = cate_module._shared_stage(prepared, nuisances, 0)
    everyone = np.ones(prepared.n, dtype=bool)
    before = cate_module._forest_out_of_bag(stage, everyone)[0]
    moved = dataclasses.replace(stage, y_residual=stage.y_residual.copy(), t_residual=stage.t_residual.copy())
    moved.y_residual[0] += 50 * stage.y_residual.std()
    moved.t_residual[0] = 0.5
    after = cate_module._forest_out_of_bag(moved, everyone)[0]
    assert after[0] == pytest.approx(before[0], rel=1e-12)  # threads may sum the trees in another order
    assert np.abs(after[1:] - before[1:]).max() > 1e-3 * np.abs(before).max()  # the others' trees saw them
    assert np.isfinite(before).all()
    some = np.arange(prepared.n) >= 1  # person 0 now outside: predicted by trees that never saw anyone outside
    np.testing.assert_allclose(cate_module._forest_out_of_bag(moved, some)[0],
                               cate_module._forest_out_of_bag(stage, some)[0], rtol=1e-12)


def test_recalibration_is_the_least_squares_slope_clipped_to_shrinking():
    rng = np.random.default_rng(2)
    cate = rng.normal(size=500)
    exact = recalibration(cate, 1.0 + 0.4 * (cate - cate.mean()))
    assert exact.slope == pytest.approx(0.4) and exact.apply(cate).mean() == pytest.approx(cate.mean())  # own mean
    np.testing.assert_array_equal(np.argsort(exact.apply(cate)), np.argsort(cate))  # rankings kept
    assert recalibration(cate, 5 * cate).slope == 1.0  # never widens
    unsupported = recalibration(cate, 3.0 - cate)
    assert unsupported.slope == RECALIBRATION_FLOOR  # shrunk to the floor, the order kept
    np.testing.assert_array_equal(np.argsort(unsupported.apply(cate)), np.argsort(cate))


def test_auto_delivers_its_stack_recalibrated_and_shrinks_it_where_effects_do_not_vary():
    """The lesson's data with every effect removed: auto's CATE is exactly the cross-fitted stack of
    the candidates recalibrated by the scores, which shrinks it (its slope is below 1 here), so its
    error against the true (zero) effects is below the stack's; the calibration test judges the
    stack before the shrinkage."""
    frame = cate_lesson(1500, seed=3)
    frame["y"] = frame["y"] - frame["true_effect"] * frame["treated"]
    frame["true_effect"] = 0.0
    prepared, nuisances = _stage(frame, LESSON)
    result = estimate_cate(prepared, nuisances, estimator="auto", seed=0)
    names = candidates_for(prepared)
    fits = cate_module._fit_all_out_of_fold(names, cate_module._shared_stage(prepared, nuisances, 0), nuisances.folds,
                                            1, intervals=False)  # auto's candidates: the forest out of bag
    predictions = np.column_stack([fits[name].cate for name in names])
    stacked, _ = cross_fitted_choice(shrunk_stack_weights, predictions, nuisances.gamma,
                                     choice_groups(prepared.n, 0))
    calibrated = recalibration(stacked, nuisances.gamma)
    np.testing.assert_allclose(result.cate, calibrated.apply(stacked))
    assert result.shrinkage == calibrated.slope < 1 and "shrunk to" in result.label
    assert np.sqrt(np.mean(result.cate ** 2)) < np.sqrt(np.mean(stacked ** 2))
    diagnostics = diagnose(prepared, nuisances, result, harm_threshold=0.0, seed=0, judged_on=result.honest_rows)
    raw = calibration(nuisances.gamma, stacked, se_factor=CROSS_FITTED_SE_FACTOR)
    assert diagnostics.calibration.slope == pytest.approx(raw.slope)
    assert diagnostics.calibration.p_value == pytest.approx(raw.p_value)
