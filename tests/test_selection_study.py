"""The selection study's data and harness, and a small fixed-seed version of its targets
(issue 14; the full study is bench/selection.py)."""

import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from targeting.sim.nie_wager import _FORMULAS, nie_wager
from targeting.sim.selection_study import Benchmark, accuracy, benchmarks, replicate
from targeting.sim.simulate import bleeding_trial
from targeting.sim.studies import TRIAL_SETTINGS


@pytest.fixture(autouse=True)
def one_openmp_thread():
    with threadpool_limits(limits=1, user_api="openmp"):  # as the pipeline runs them
        yield


@pytest.mark.parametrize("setup, x, propensity, baseline, effect", [
    # sin(pi * 0.5 * 1) = 1, trimmed to 0.9; 1 + 2 * 0^2 + 0.2 + 0.4 / 2
    ("A", [0.5, 1.0, 0.5, 0.2, 0.4, 0.9], 0.9, 1.4, 0.75),
    # max(1 + 0, 2, 0) + max(-1 + 0.5, 0); 1 + log(1 + e^0)
    ("B", [1.0, 0.0, 2.0, -1.0, 0.5, 0.0], 0.5, 2.0, 1 + np.log(2)),
    # 1 / (1 + e^0); 2 log(1 + e^0); constant effect
    ("C", [0.0, 0.0, 0.0, 3.0, 3.0, 3.0], 0.5, 2 * np.log(2), 1.0),
    # 1 / (1 + 2 / e); (max(3, 0) + max(-2, 0)) / 2; 3 - 0
    ("D", [1.0, 1.0, 1.0, -1.0, -1.0, 7.0], 1 / (1 + 2 / np.e), 1.5, 3.0),
])
def test_nie_wager_formulas_by_hand(setup, x, propensity, baseline, effect):
    e, b, tau = _FORMULAS[setup](np.array([x]))
    assert e[0] == pytest.approx(propensity)
    assert b[0] == pytest.approx(baseline)
    assert tau[0] == pytest.approx(effect)


def test_nie_wager_randomised_trial_recovers_its_average_effect():
    frame = nie_wager("B", 20000, seed=4)
    treated = frame["treated"] == 1
    difference = frame.loc[treated, "y"].mean() - frame.loc[~treated, "y"].mean()
    se = np.sqrt(frame.loc[treated, "y"].var() / treated.sum() + frame.loc[~treated, "y"].var() / (~treated).sum())
    assert abs(difference - frame["true_effect"].mean()) < 4 * se  # fails by chance with probability 6e-5
    share_se = np.sqrt(0.25 / len(frame))
    assert abs(treated.mean() - 0.5) < 4 * share_se
    assert list(frame.columns) == ["x1", "x2", "x3", "x4", "x5", "x6", "treated", "y", "true_effect"]


def test_nie_wager_refuses_unknown_setups_and_too_few_covariates():
    with pytest.raises(ValueError, match="setup"):
        nie_wager("E", 10)
    with pytest.raises(ValueError, match="at least 5"):
        nie_wager("A", 10, p=4)


def test_accuracy_against_known_effects():
    truth = np.array([0.0, 1.0, 2.0, 3.0])
    fit = accuracy(2 * truth + 1, truth)
    assert fit.correlation == pytest.approx(1.0)
    assert fit.rmse == pytest.approx(np.sqrt(np.mean((truth + 1) ** 2)))
    assert accuracy(np.ones(4), truth).correlation is None


def _numbers(rep):
    fits = {"auto": rep.auto, **rep.candidates, **{f"rule {name}": fit for name, fit in rep.rules.items()}}
    return {**{f"{name} {what}": getattr(fit, what) for name, fit in fits.items() for what in ("correlation", "rmse")},
            **{f"weight {name}": w for name, w in rep.weights.items()}}


def test_reusing_the_candidates_fits_changes_nothing():
    small = Benchmark("small", lambda seed: bleeding_trial(600, seed=seed), TRIAL_SETTINGS, "")
    reused, refitted = replicate(small, 2, folds=3), replicate(small, 2, folds=3, reuse_fits=False)
    assert reused.picked == refitted.picked == "stack"
    # the study applies auto's own rule as auto does
    assert reused.rules["auto: shrunk stack, recalibrated"] == reused.auto
    # Equal up to rounding: the forest's parallel fit may add its trees in another order.
    assert _numbers(reused) == pytest.approx(_numbers(refitted), rel=1e-9)


def test_the_study_has_at_least_eight_data_sets_with_varied_outcomes():
    sets = benchmarks(acic=False)
    assert len(sets) >= 8
    binary = {name for name, b in sets.items() if b.settings.get("outcome") == "event"}
    assert binary == {"bleeding_2000", "bleeding_20000"}


# --- Small fixed-seed versions of the study's targets (slow) ---

STABILITY_SEEDS = 8
BAD_PICK_RATE = 1 / 20      # the target: at most 1 in 20 picks with twice the best true MSE
FAIL_BELOW = 0.01           # a count this unlikely under the target rate fails the test


def _mean_and_se(values):
    values = np.asarray(values, dtype=float)
    return values.mean(), values.std(ddof=1) / np.sqrt(len(values))


@pytest.fixture(scope="module")
def large_trials():
    with threadpool_limits(limits=1, user_api="openmp"):
        large = benchmarks(acic=False)["bleeding_20000"]
        return [replicate(large, seed) for seed in range(1, STABILITY_SEEDS + 1)]


@pytest.mark.slow
def test_auto_rarely_picks_a_model_twice_as_wrong_as_the_best(large_trials):
    bad = sum(rep.mse_ratio() > 2 for rep in large_trials)
    # At the target rate, 3 or more bad picks in 8 seeds happen with probability 0.6%.
    allowed = int(stats.binom.isf(FAIL_BELOW, STABILITY_SEEDS, BAD_PICK_RATE))
    assert allowed == 2
    assert bad <= allowed, [(rep.seed, rep.picked, round(rep.mse_ratio(), 2)) for rep in large_trials]


@pytest.mark.slow
def test_auto_tracks_the_truth_on_the_large_bleeding_trial(large_trials):
    # Over 20 seeds the mean was 0.939 with an SE of 0.006 (bench/RESULTS.md): over 8 seeds the SE
    # is about 0.01, so a mean below the target 0.90 is 4 SEs away.
    mean, se = _mean_and_se([rep.auto.correlation for rep in large_trials])
    assert mean >= 0.90, (mean, se)


@pytest.mark.slow
def test_auto_is_within_noise_of_the_best_single_candidate_on_the_large_trial(large_trials):
    best = "logistic_t"  # the best single candidate in every seed of the full study (bench/RESULTS.md)
    assert all(rep.best("correlation") == best for rep in large_trials)
    mean, se = _mean_and_se([rep.candidates[best].correlation - rep.auto.correlation for rep in large_trials])
    assert mean - 2 * se <= 0.02, (mean, se)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nie_wager_B", "cate_lesson"])
def test_auto_is_within_noise_of_the_best_single_candidate_on_continuous_outcomes(name):
    benchmark = benchmarks(nie_wager_n=1000, acic=False)[name]
    reps = [replicate(benchmark, seed) for seed in (1, 2, 3)]
    best = max(reps[0].candidates, key=lambda c: np.mean([rep.candidates[c].correlation for rep in reps]))
    mean, se = _mean_and_se([rep.candidates[best].correlation - rep.auto.correlation for rep in reps])
    assert mean - 2 * se <= 0.02, (best, mean, se, [rep.picked for rep in reps])
