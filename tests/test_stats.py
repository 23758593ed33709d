"""Inference helpers against hand-computed values."""

import itertools

import numpy as np
import pytest

from targeting.evaluate.stats import Z95, holm, mean_interval, one_sided_p, shrink


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


def _holm_by_closed_testing(p):
    """Holm is the closed testing procedure with Bonferroni local tests: H_i's adjusted p-value is the
    largest Bonferroni p-value over every intersection hypothesis that contains H_i."""
    m = len(p)
    out = np.zeros(m)
    for subset in itertools.product((False, True), repeat=m):
        members = np.nonzero(subset)[0]
        if len(members):
            local = min(1.0, len(members) * min(p[j] for j in members))
            out[members] = np.maximum(out[members], local)
    return out


@pytest.mark.parametrize("seed", range(20))
def test_holm_equals_closed_testing_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.3, int(rng.integers(1, 8))) ** rng.uniform(0.5, 2)
    if seed % 4 == 0:
        p[-1] = p[0]  # ties
    assert holm(p) == pytest.approx(_holm_by_closed_testing(p), abs=1e-12)


def test_holm_counts_an_unknown_p_value_as_no_evidence():
    assert holm([float("nan"), 0.01]) == pytest.approx([1.0, 0.02])
    assert holm([]).shape == (0,)


def test_shrinkage_of_three_groups_by_hand():
    # w = 1, mu = 4/3, Q = (16 + 1 + 25) / 9 = 14/3, df = 2, c = 3 - 3/3 = 2, tau^2 = (14/3 - 2) / 2 = 4/3;
    # factor 1 / (1 + 4/3) = 3/7 of the way to 4/3.
    assert shrink([0.0, 1.0, 3.0], [1.0, 1.0, 1.0]) == pytest.approx([4 / 7, 8 / 7, 16 / 7])
    # Unequal precision, pooled toward the fixed-effect mean: w = (1, 1, 1/4), mu = 3.5 / 2.25 = 14/9,
    # Q = (196 + 16 + 400) / 81 = 68/9, c = 2.25 - 2.0625 / 2.25 = 4/3, tau^2 = (68/9 - 2) / (4/3) = 25/6;
    # factors 1 / (1 + 25/6) = 6/31 and 4 / (4 + 25/6) = 24/49.
    assert shrink([0.0, 2.0, 6.0], [1.0, 1.0, 2.0]) == pytest.approx([28 / 93, 178 / 93, 562 / 147])
    # Unequal precision: w = (1, 1/4), mu = 0.5 / 1.25 = 0.4, Q = 0.16 + 0.64 = 0.8 < df = 1, so tau^2 = 0
    # (statsmodels' untruncated -0.2 would move the estimates away from the mean).
    assert shrink([0.0, 2.0], [1.0, 2.0]) == pytest.approx([0.4, 0.4])


def test_shrinkage_leaves_what_it_cannot_pool():
    assert shrink([0.3], [0.1]) == pytest.approx([0.3])
    assert shrink([0.3, 0.5], [0.1, 0.0]) == pytest.approx([0.3, 0.5])


@pytest.mark.parametrize("seed", range(5))
def test_shrinkage_is_the_normal_posterior_mean_by_numerical_integration(seed):
    """Given tau^2 (the DL estimate) and the target, each shrunk value is E[theta | estimate] under
    theta ~ N(target, tau^2), estimate ~ N(theta, se^2): computed here on a grid, not by formula."""
    rng = np.random.default_rng(seed)
    k = int(rng.integers(4, 9))
    se = rng.uniform(0.5, 2, k)
    est = rng.normal(0, 6, k) + rng.normal(0, se)  # true effects spread more than the noise
    w = 1 / se ** 2
    mu_fixed = np.sum(w * est) / np.sum(w)
    tau2 = max(0.0, (np.sum(w * (est - mu_fixed) ** 2) - (k - 1)) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
    assert tau2 > 0
    target = 0.7
    grid = np.linspace(-40, 40, 400_001)
    prior = np.exp(-0.5 * (grid - target) ** 2 / tau2)
    posterior_means = [np.sum(grid * prior * np.exp(-0.5 * (e - grid) ** 2 / s ** 2))
                       / np.sum(prior * np.exp(-0.5 * (e - grid) ** 2 / s ** 2)) for e, s in zip(est, se)]
    assert shrink(est, se, target=target) == pytest.approx(posterior_means, abs=1e-6)


def test_shrinkage_moves_with_shifts_and_scales_of_the_effects():
    est, se = np.array([0.1, -0.4, 0.9, 0.3]), np.array([0.2, 0.3, 0.25, 0.1])
    base = shrink(est, se)
    assert shrink(est + 5, se) == pytest.approx(base + 5)
    assert shrink(3 * est, 3 * se) == pytest.approx(3 * base)


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


def test_cross_fitted_standard_errors_are_widened_around_the_same_estimates():
    from targeting.evaluate.diagnostics import CROSS_FITTED_SE_FACTOR, calibration, gates, rate

    rng = np.random.default_rng(5)
    tau = rng.uniform(-1, 1, 3000)
    gamma = tau + rng.normal(0, 2, 3000)
    naive, wide = calibration(gamma, tau), calibration(gamma, tau, se_factor=CROSS_FITTED_SE_FACTOR)
    assert wide.slope == naive.slope
    assert wide.ci_high - wide.ci_low == pytest.approx(CROSS_FITTED_SE_FACTOR * (naive.ci_high - naive.ci_low))
    for a, b in zip(gates(gamma, tau, 1.0), gates(gamma, tau, 1.0, se_factor=CROSS_FITTED_SE_FACTOR)):
        assert b.effect == a.effect and b.ci_high - b.ci_low == pytest.approx(
            CROSS_FITTED_SE_FACTOR * (a.ci_high - a.ci_low))
    r1, r2 = rate(gamma, tau, seed=0), rate(gamma, tau, seed=0, se_factor=CROSS_FITTED_SE_FACTOR)
    assert r2.autoc == r1.autoc and r2.autoc_high - r2.autoc_low == pytest.approx(
        CROSS_FITTED_SE_FACTOR * (r1.autoc_high - r1.autoc_low))


def test_cross_fitting_among_the_judged_inflates_the_naive_z_and_the_factor_bounds_it():
    """Under the null, a CATE cross-fitted among the people who judge it (5-nearest-neighbour
    regression of pure-noise scores, 5 folds) gives calibration z-values whose SD is well above 1
    with the robust standard error; widened by CROSS_FITTED_SE_FACTOR it is at most 1. 300
    replications estimate an SD with a standard error of about 0.04-0.055."""
    from sklearn.neighbors import KNeighborsRegressor

    from targeting.evaluate.diagnostics import CROSS_FITTED_SE_FACTOR, calibration

    z = []
    for replication in range(300):
        rng = np.random.default_rng(replication)
        x, gamma = rng.uniform(size=(500, 2)), rng.normal(size=500)
        folds, cate = np.arange(500) % 5, np.empty(500)
        for k in range(5):
            fitted = KNeighborsRegressor(5).fit(x[folds != k], gamma[folds != k])
            cate[folds == k] = fitted.predict(x[folds == k])
        result = calibration(gamma, cate)
        z.append(result.slope / ((result.ci_high - result.ci_low) / (2 * Z95)))
    z = np.array(z)
    assert z.std() > 1.2  # the naive errors are too small
    assert (z / CROSS_FITTED_SE_FACTOR).std() < 1.05


def test_the_bootstraps_poisson_counts_have_poisson_probabilities():
    from scipy import stats as scipy_stats

    from targeting.evaluate.diagnostics import _POISSON_COUNTS

    values, counts = np.unique(_POISSON_COUNTS, return_counts=True)
    share = counts / len(_POISSON_COUNTS)
    np.testing.assert_allclose(share, scipy_stats.poisson.pmf(values, 1.0), atol=1 / len(_POISSON_COUNTS))
    assert share.sum() == 1 and values[0] == 0
