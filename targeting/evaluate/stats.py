"""Small inference helpers shared by the evaluation stages: means with intervals, Holm, shrinkage."""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

from targeting.model.report import Interval

Z95 = float(stats.norm.ppf(0.975))
# Level of every test the report shows (harm flags, heterogeneity): 95% intervals, 5% tests.
ALPHA = 0.05


def mean_interval(values: np.ndarray) -> Interval:
    """Mean with a normal-theory 95% interval (for means of doubly robust scores)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return Interval(mean, mean - Z95 * se, mean + Z95 * se, se)


def two_sided_p(estimate: float, se: float) -> float:
    """Two-sided p-value of a normal estimate against zero."""
    if not se > 0:
        return float("nan")
    return float(2 * stats.norm.sf(abs(estimate) / se))


def one_sided_p(estimate: float, se: float, *, above: float = 0.0) -> float:
    """P-value of the one-sided test that the true value exceeds ``above`` (large estimate => small p)."""
    if not se > 0:
        return float("nan")
    return float(stats.norm.sf((estimate - above) / se))


def holm(p_values) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control, any dependence).

    Delegates to ``statsmodels.stats.multitest.multipletests(method="holm")``. A p-value that could
    not be computed (NaN, e.g. a group whose scores do not vary) counts as 1: no evidence.
    """
    p = np.asarray(p_values, dtype=float)
    if len(p) == 0:
        return p
    return multipletests(np.where(np.isnan(p), 1.0, p), method="holm")[1]


def shrink(estimates, ses, *, target: float | None = None) -> np.ndarray:
    """Empirical-Bayes partial pooling of subgroup effects toward a common mean.

    Model: estimate_g ~ N(theta_g, se_g^2), theta_g ~ N(mu, tau^2). ``tau^2`` is the
    DerSimonian-Laird method-of-moments estimate, from
    ``statsmodels.stats.meta_analysis.combine_effects(method_re="dl")`` (truncated at zero, which
    statsmodels leaves to the caller); ``mu`` is the precision-weighted (fixed-effect) mean unless
    ``target`` (e.g. the overall effect) is given. Each estimate moves toward ``mu`` by the factor
    se_g^2 / (se_g^2 + tau^2): noisy small groups move most.
    """
    est = np.asarray(estimates, dtype=float)
    var = np.asarray(ses, dtype=float) ** 2
    if len(est) < 2 or not np.all(var > 0):
        return est.copy()
    # With a negative untruncated tau^2, statsmodels' random-effects summaries (unused here) take
    # square roots of negative variances: numpy's "invalid value" warning is expected, nothing else.
    with np.errstate(invalid="ignore"):
        pooled = combine_effects(est, var, method_re="dl")
    tau2 = max(0.0, float(pooled.tau2))
    mu = float(pooled.mean_effect_fe) if target is None else float(target)
    return est + var / (var + tau2) * (mu - est)
