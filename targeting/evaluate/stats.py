"""Small inference helpers shared by the evaluation stages: means with intervals, Holm, shrinkage."""

from __future__ import annotations

import numpy as np
from scipy import stats

from targeting.model.report import Interval

Z95 = float(stats.norm.ppf(0.975))


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
    """Holm step-down adjusted p-values (family-wise error control, any dependence)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def shrink(estimates, ses, *, target: float | None = None) -> np.ndarray:
    """Empirical-Bayes partial pooling of subgroup effects toward a common mean.

    Model: estimate_g ~ N(theta_g, se_g^2), theta_g ~ N(mu, tau^2). ``tau^2`` is estimated by the
    DerSimonian-Laird method of moments; ``mu`` is the precision-weighted mean unless ``target``
    (e.g. the overall effect) is given. Each estimate moves toward ``mu`` by the factor
    se_g^2 / (se_g^2 + tau^2): noisy small groups move most.
    """
    est = np.asarray(estimates, dtype=float)
    var = np.asarray(ses, dtype=float) ** 2
    if len(est) < 2 or not np.all(var > 0):
        return est.copy()
    w = 1 / var
    mu_fixed = float(np.sum(w * est) / np.sum(w))
    q = float(np.sum(w * (est - mu_fixed) ** 2))
    denom = float(np.sum(w) - np.sum(w ** 2) / np.sum(w))
    tau2 = max(0.0, (q - (len(est) - 1)) / denom) if denom > 0 else 0.0
    mu = mu_fixed if target is None else float(target)
    weight = var / (var + tau2) if tau2 > 0 else np.ones_like(var)
    return est + weight * (mu - est)
