"""Accuracy against known truth on the 20,000-patient bleeding trial (slow: run with -m slow)."""

import numpy as np
import pytest

from targeting.sim.simulate import bleeding_trial
from targeting.sim.studies import TRIAL_SETTINGS, run_frame


@pytest.fixture(scope="module")
def big_trial():
    frame = bleeding_trial(20000, seed=2024)
    return frame, run_frame(frame, **TRIAL_SETTINGS, estimator="auto", budget="30%")


@pytest.mark.slow
def test_auto_estimator_tracks_the_true_risk_difference(big_trial):
    frame, result = big_trial
    cate = result.individuals["cate"].to_numpy()
    # Issue 14's target, 0.90, is for the mean over seeds (0.939 over 20 seeds, bench/RESULTS.md;
    # tests/test_selection_study.py checks it); one seed varies with an SD of 0.028 (lowest 0.880),
    # so one seed is held to 0.85, three SDs below the mean.
    assert np.corrcoef(cate, frame["true_effect"])[0, 1] >= 0.85


@pytest.mark.slow
def test_budgeted_tree_reaches_most_of_the_oracle_value(big_trial):
    frame, result = big_trial
    benefit = -frame["true_effect"].to_numpy()          # fewer bleeds is better
    treat = result.individuals["treat"].to_numpy()
    k = int(0.30 * len(frame))
    best = np.sort(benefit)[::-1][:k]
    oracle = best[best > 0].sum()
    assert treat.mean() <= 0.30
    assert (benefit * treat).sum() >= 0.75 * oracle
