"""Inference helpers against hand-computed values."""

import numpy as np
import pytest

from targeting.evaluate.stats import holm, mean_interval, one_sided_p, shrink


def test_holm_matches_hand_computation():
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06 by monotonicity), 0.5 (x1 = 0.5)
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 0.8 x 2 caps at 1; monotone after
    assert holm([0.4, 0.4, 0.4]) == pytest.approx([1.0, 1.0, 1.0])


def test_shrinkage_matches_hand_computation():
    est, se = np.array([0.0, 2.0]), np.array([1.0, 1.0])
    # DerSimonian-Laird: w = 1, mu = 1, Q = 2, df = 1, denom = 2 - 1 = 1, tau^2 = 1;
    # factor se^2 / (se^2 + tau^2) = 0.5, so each estimate moves halfway to 1.
    assert shrink(est, se) == pytest.approx([0.5, 1.5])
    # No excess spread: tau^2 = 0, everything pools to the target.
    assert shrink([1.0, 1.1], [1.0, 1.0], target=0.0) == pytest.approx([0.0, 0.0])


def test_mean_interval_and_one_sided_p():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    iv = mean_interval(values)
    se = np.std(values, ddof=1) / 2
    assert iv.estimate == 2.5 and iv.se == pytest.approx(se)
    assert iv.ci_low == pytest.approx(2.5 - 1.959964 * se, rel=1e-5)
    assert one_sided_p(0.0, 1.0) == pytest.approx(0.5)
    assert one_sided_p(1.96, 1.0) == pytest.approx(0.025, rel=1e-2)


def _toc_by_expansion(gamma_sorted, counts):
    """AUTOC and Qini straight from the definition, on the resample written out person by person."""
    g = np.repeat(gamma_sorted, counts.astype(int))
    k = np.arange(1, len(g) + 1)
    toc = np.cumsum(g) / k - g.mean()
    return toc.mean(), np.mean(k / len(g) * toc)


@pytest.mark.parametrize("seed", range(10))
def test_closed_form_toc_equals_the_definition_on_any_resample(seed):
    from targeting.evaluate.diagnostics import _toc_integrals

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    gamma_sorted = rng.normal(rng.normal(), 1, n)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 3 * n + 1))])
    for counts in (np.ones(n), rng.poisson(1.0, n).astype(float), np.bincount(rng.integers(0, n, n), minlength=n)):
        if counts.sum() == 0:
            continue
        assert _toc_integrals(gamma_sorted, counts.astype(float), harmonic) == pytest.approx(
            _toc_by_expansion(gamma_sorted, counts), rel=1e-9, abs=1e-12)


def test_rate_interval_covers_the_truth_of_a_known_ranking():
    """Scores that rank people by their true effect: AUTOC's interval must sit above zero and
    contain the value computed from the true effects (not the noisy scores)."""
    from targeting.evaluate.diagnostics import rate

    rng = np.random.default_rng(3)
    n = 20_000
    tau = rng.uniform(-1, 1, n)
    gamma = tau + rng.normal(0, 2, n)
    result = rate(gamma, tau, seed=0)
    order = np.argsort(-tau)
    k = np.arange(1, n + 1)
    true_autoc = np.mean(np.cumsum(tau[order]) / k - tau.mean())
    assert result.autoc_low > 0
    assert result.autoc_low <= true_autoc <= result.autoc_high
