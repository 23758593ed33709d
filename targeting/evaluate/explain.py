"""Which covariates drive the differences in effect: a best linear projection and effect curves.

The best linear projection (grf's ``best_linear_projection``) regresses the doubly robust scores
on the covariates with heteroskedasticity-robust (HC1) standard errors: each coefficient is how
much the average effect changes with that covariate, holding the others fixed, and it needs no
CATE model, so its intervals are honest. Numeric covariates are scaled to one standard deviation
so their coefficients compare. The effect-by-covariate curves are the mean score (the effect)
within each fifth of a numeric covariate or each level of a category, with 95% intervals, beside
the mean held-out CATE prediction there.
"""

from __future__ import annotations

import numpy as np
# The modules, not statsmodels.api, which loads all of statsmodels (0.27 s against 0.04 s).
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from targeting.data.prepare import Prepared
from targeting.evaluate.stats import Z95, mean_interval
from targeting.format import fmt_value
from targeting.model.report import CovariateEffect, EffectBin, ProjectionTerm

BINS = 5  # fifths of a numeric covariate
MIN_BIN = 10  # smallest bin shown with an effect


def best_linear_projection(prepared: Prepared, gamma: np.ndarray) -> list[ProjectionTerm]:
    """The effect's best linear projection on the covariates, one term per dense column.

    Parameters
    ----------
    prepared : Prepared
        The validated data (``x_dense`` and its names).
    gamma : ndarray
        Doubly robust scores of the effect (outcome scale).
    """
    x = prepared.x_dense.astype(float)
    scale = np.ones(x.shape[1])
    numeric = {c.name for c in prepared.covariates if c.kind == "numeric"}
    for j, name in enumerate(prepared.dense_names):
        sd = float(x[:, j].std(ddof=1))
        if name in numeric and sd > 0:
            scale[j] = sd
    keep = x.std(axis=0) > 0  # a constant column carries no information here
    design = add_constant(x[:, keep] / scale[keep], has_constant="add")
    fit = OLS(gamma, design).fit(cov_type="HC1")
    terms = []
    for k, j in enumerate(np.flatnonzero(keep), start=1):
        name = prepared.dense_names[j]
        coef, se = float(fit.params[k]), float(fit.bse[k])
        terms.append(ProjectionTerm(term=name, per=float(scale[j]) if name in numeric else 1.0,
                                    coefficient=coef, ci_low=coef - Z95 * se, ci_high=coef + Z95 * se,
                                    p_value=float(fit.pvalues[k])))
    return terms


def effect_by_covariate(prepared: Prepared, gamma: np.ndarray, cate: np.ndarray) -> list[CovariateEffect]:
    """For each covariate, the effect (mean score) and the mean predicted CATE in each bin."""
    out = []
    for j, cov in enumerate(prepared.covariates):
        column = prepared.x_codes[:, j]
        if cov.kind == "numeric":
            present = ~np.isnan(column)
            edges = np.unique(np.quantile(column[present], np.linspace(0, 1, BINS + 1)))
            bins = [(f"{fmt_value(low)} to {fmt_value(high)}", present & (column >= low) & ((column < high) | (high == edges[-1])))
                    for low, high in zip(edges[:-1], edges[1:])]
        else:
            bins = [(level, column == k) for k, level in enumerate(cov.levels)]
        if cov.n_missing:
            bins.append(("(missing)", np.isnan(column)))
        out.append(CovariateEffect(cov.name, cov.kind, [_bin(label, mask, gamma, cate) for label, mask in bins]))
    return out


def _bin(label: str, mask: np.ndarray, gamma: np.ndarray, cate: np.ndarray) -> EffectBin:
    n = int(mask.sum())
    if n < MIN_BIN:
        return EffectBin(label, n, None, None, None, float(cate[mask].mean()) if n else None)
    iv = mean_interval(gamma[mask])
    return EffectBin(label, n, iv.estimate, iv.ci_low, iv.ci_high, float(cate[mask].mean()))
