"""The displayed rule's 95% intervals cover the truth (issue 13; the full study is bench/honest.py)."""

import numpy as np
import pytest

from targeting.sim.studies import coverage, honest_trial, population, score_trial

TRIALS = 30
NOMINAL = 0.95


def lowest_acceptable(intervals: int) -> float:
    """Nominal coverage minus 2.5 binomial standard errors.

    If each of ``intervals`` independent intervals covers with probability 0.95, the share that
    covers has standard error sqrt(0.95 * 0.05 / intervals); falling 2.5 of them short happens by
    chance about 0.6% of the time (normal approximation, one-sided). Leaves of one tree are judged
    on disjoint people, so pooling them over trials keeps them close to independent.
    """
    return NOMINAL - 2.5 * np.sqrt(NOMINAL * (1 - NOMINAL) / intervals)


@pytest.fixture(scope="module")
def scores():
    # logistic_t: the fastest estimator; the intervals use the doubly robust scores, not the CATE.
    pop = population("bleeding_trial", 100_000)
    return [score_trial(honest_trial("bleeding_trial", seed, n=2000, estimator="logistic_t"), pop)
            for seed in range(1, TRIALS + 1)]


@pytest.mark.slow
def test_gain_over_treat_none_interval_covers_the_true_gain(scores):
    rate, se = coverage([s.none_covered for s in scores])
    assert rate >= lowest_acceptable(len(scores)), (rate, se)


@pytest.mark.slow
def test_leaf_effect_intervals_cover_the_true_leaf_effects(scores):
    flags = [flag for s in scores for flag in s.leaf_covered]
    rate, se = coverage(flags)
    assert len(flags) >= TRIALS, "most trials show a split tree with estimated leaves"
    assert rate >= lowest_acceptable(len(flags)), (rate, se)
