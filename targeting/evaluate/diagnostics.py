"""Checks that need no ground truth: balance, overlap, calibration, GATES, RATE; and truth mode."""

from __future__ import annotations

import numpy as np
from scipy import stats

from targeting.data.prepare import Prepared
from targeting.estimate.cate import CateResult
from targeting.estimate.nuisance import OVERLAP_BOUNDS, Nuisances
from targeting.evaluate.explain import best_linear_projection, effect_by_covariate
from targeting.evaluate.stats import ALPHA, Z95, mean_interval
from targeting.model.report import (BalanceRow, Calibration, CateSummary, Diagnostics, Gate, Interval,
                                    Overlap, Quantile, Rate, RiskStratum, TruthAccuracy)

# A standardised mean difference above this marks a covariate as imbalanced between arms (a common
# rule of thumb in the balance-table literature).
SMD_IMBALANCE = 0.1

# Standard errors of the heterogeneity tests when the judged people's CATEs were fitted out of fold (or bag)
# among themselves. Then person i's CATE was fitted on j's outcome and j's on i's, and a test
# statistic T = sum_i c_i e_i (c_i: i's centred CATE or group weight, e_i: the noise in i's score) is
# a U-statistic: to first order c_i = c_i0 + sum_j h_ij e_j, and
# Var T = sum_i c_i0^2 s^2 + (sum_ij h_ij^2 + sum_ij h_ij h_ji) s^4. The robust (independent-terms)
# variance estimates all but the last sum, which by Cauchy-Schwarz is at most the one before it, so
# twice the robust variance bounds Var T. Under the null the z-values' SD was 1.22-1.4 (bench/RESULTS.md,
# null size), below the bound of sqrt(2); bench/null_size.py checks that the tests keep their size.
CROSS_FITTED_SE_FACTOR = float(np.sqrt(2.0))


def _quantiles(values: np.ndarray, qs) -> list[Quantile]:
    return [Quantile(float(q), float(np.quantile(values, q))) for q in qs]


def _balance_row(covariate: str, level: str, control: str, treated: str, smd: float, p: float) -> BalanceRow:
    return BalanceRow(covariate, level, control, treated, smd, p, bool(abs(smd) > SMD_IMBALANCE))


def balance_table(prepared: Prepared) -> list[BalanceRow]:
    """Covariates by arm (the bleeding paper's Table 1): means or shares, standardised differences, p."""
    t = prepared.t
    rows = []
    for j, cov in enumerate(prepared.covariates):
        x = prepared.x_codes[:, j]
        if cov.kind == "numeric":
            a, b = x[(t == 0) & ~np.isnan(x)], x[(t == 1) & ~np.isnan(x)]
            pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
            p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
            rows.append(_balance_row(cov.name, "mean (SD)", f"{a.mean():.4g} ({a.std(ddof=1):.3g})",
                                     f"{b.mean():.4g} ({b.std(ddof=1):.3g})",
                                     float((b.mean() - a.mean()) / pooled) if pooled > 0 else 0.0, p))
            continue
        code = np.where(np.isnan(x), len(cov.levels), x).astype(int)
        names = list(cov.levels) + ["(missing)"]
        table = np.array([[np.sum((code == k) & (t == arm)) for k in range(len(names))] for arm in (0, 1)])
        used = table.sum(axis=0) > 0
        p = float(stats.chi2_contingency(table[:, used])[1]) if used.sum() > 1 else float("nan")
        for k in np.nonzero(used)[0]:
            s0, s1 = table[0, k] / table[0].sum(), table[1, k] / table[1].sum()
            pooled = np.sqrt((s0 * (1 - s0) + s1 * (1 - s1)) / 2)
            rows.append(_balance_row(cov.name, names[k], f"{table[0, k]} ({s0:.1%})", f"{table[1, k]} ({s1:.1%})",
                                     float((s1 - s0) / pooled) if pooled > 0 else 0.0, p))
    return rows


def overlap_summary(nuis: Nuisances, t: np.ndarray) -> Overlap:
    """Propensity distribution by arm (histogram counts for the figure) and the share outside bounds."""
    edges = np.linspace(0, 1, 41)
    return Overlap(
        known=bool(nuis.propensity_known), bounds=[float(b) for b in OVERLAP_BOUNDS],
        share_outside=float(nuis.share_outside_overlap), n_bounded=int(nuis.n_trimmed), edges=edges.tolist(),
        control_counts=np.histogram(nuis.propensity[t == 0], edges)[0].tolist(),
        treated_counts=np.histogram(nuis.propensity[t == 1], edges)[0].tolist(),
        quantiles=_quantiles(nuis.propensity, (0, 0.05, 0.5, 0.95, 1)),
    )


def calibration(gamma_benefit: np.ndarray, cate_benefit: np.ndarray, *, se_factor: float = 1.0) -> Calibration:
    """Best linear predictor test: regress DR scores on the centred CATE (robust standard errors,
    multiplied by ``se_factor``: `CROSS_FITTED_SE_FACTOR` for CATEs cross-fitted among these people).

    A slope clearly above zero means the CATE ranks real differences ("heterogeneity detected");
    a slope near 1 means its scale is also right.
    """
    centred = cate_benefit - cate_benefit.mean()
    design = np.column_stack([np.ones_like(centred), centred])
    if np.allclose(centred, 0):
        return Calibration(None, None, None, None, None, False,
                           "not detected: the estimated effects do not vary between people")
    coef, *_ = np.linalg.lstsq(design, gamma_benefit, rcond=None)
    resid = gamma_benefit - design @ coef
    bread = np.linalg.inv(design.T @ design)
    meat = design.T @ (design * resid[:, None] ** 2)
    cov = bread @ meat @ bread * len(resid) / (len(resid) - 2)
    se = se_factor * float(np.sqrt(cov[1, 1]))
    slope = float(coef[1])
    p = float(stats.norm.sf(slope / se)) if se > 0 else float("nan")
    detected = bool(p < ALPHA)
    verdict = ("detected: people the model expects to gain more do gain more (slope {:.2f}, 95% CI {:.2f} to {:.2f})"
               if detected else
               "not detected: the model's ranking does not predict who gains more (slope {:.2f}, 95% CI {:.2f} to {:.2f})")
    return Calibration(slope, slope - Z95 * se, slope + Z95 * se, p, float(coef[0]), detected,
                       verdict.format(slope, slope - Z95 * se, slope + Z95 * se))


def gates(gamma: np.ndarray, cate: np.ndarray, sign: float, groups: int = 5, *, se_factor: float = 1.0) -> list[Gate]:
    """Group average effects by quintile of predicted benefit (lowest to highest), held out; each
    quintile's standard error multiplied by ``se_factor`` (see `calibration`)."""
    order = np.argsort(sign * cate, kind="stable")
    out = []
    for k, idx in enumerate(np.array_split(order, groups)):
        iv = mean_interval(gamma[idx])
        half = Z95 * se_factor * iv.se
        out.append(Gate(f"Q{k + 1}", int(len(idx)), float(cate[idx].mean()), iv.estimate, iv.estimate - half,
                        iv.estimate + half))
    return out


def _toc_integrals(gamma_sorted: np.ndarray, counts: np.ndarray, harmonic: np.ndarray) -> tuple[float, float]:
    """AUTOC and Qini of people in ranking order, each person repeated ``counts`` times.

    Repeats are handled in closed form, so a bootstrap resample costs a few cumulative sums
    instead of a sort: a person repeated w times after S others, with partial sum G before them,
    adds sum_{m=1..w} (G + m g) / (S + m) = (G - S g)(H[S + w] - H[S]) + w g to sum_j C_j / j,
    where H are harmonic numbers, and w G + g w (w + 1) / 2 to sum_j C_j.
    """
    weighted = counts * gamma_sorted
    n = counts.sum()
    mean = weighted.sum() / n
    before = np.cumsum(counts) - counts
    partial = np.cumsum(weighted) - weighted
    to_next = harmonic[(before + counts).astype(np.intp)] - harmonic[before.astype(np.intp)]
    sum_c_over_j = np.sum((partial - before * gamma_sorted) * to_next + weighted)
    sum_c = np.sum(counts * partial + gamma_sorted * counts * (counts + 1) / 2)
    return float(sum_c_over_j / n - mean), float((sum_c / n - mean * (n + 1) / 2) / n)


# Poisson(1) counts as a table of 2**16 equally likely values at the distribution's quantiles: a
# uniform index into it is a Poisson(1) draw up to probabilities rounded to 1/65,536.
_POISSON_TABLE_SIZE = 2 ** 16
_POISSON_COUNTS = stats.poisson.ppf((np.arange(_POISSON_TABLE_SIZE) + 0.5) / _POISSON_TABLE_SIZE, 1.0)


def rate(gamma_benefit: np.ndarray, cate_benefit: np.ndarray, *, seed: int, n_boot: int = 200,
         se_factor: float = 1.0) -> Rate:
    """Rank-weighted average treatment effect (AUTOC and Qini) with a bootstrap 95% interval (its
    standard error multiplied by ``se_factor``, see `calibration`).

    People are ranked once by estimated benefit. The bootstrap is the Poisson bootstrap: each
    resample keeps that ranking and repeats every person Poisson(1) times, which matches the
    ordinary bootstrap for large n and needs no sorting or gathering per resample. The counts are
    drawn from `_POISSON_COUNTS` (8 times faster than numpy's Poisson sampler; drawing them was 4.4
    of the 12 s this function and the others of `diagnose` took at 1,000,000 people).
    """
    n = len(gamma_benefit)
    order = np.argsort(-cate_benefit, kind="stable")
    gamma_sorted = gamma_benefit[order]
    # A Poisson resample holds n + O(sqrt(n)) people; 2n + 10 leaves a wide margin.
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 2 * n + 11))])
    autoc, qini = _toc_integrals(gamma_sorted, np.ones(n), harmonic)
    rng = np.random.default_rng(seed)
    boots = np.array([_toc_integrals(gamma_sorted, _POISSON_COUNTS[rng.integers(0, _POISSON_TABLE_SIZE, n,
                                                                                dtype=np.uint16)], harmonic)
                      for _ in range(n_boot)])
    se = se_factor * boots.std(axis=0, ddof=1)
    return Rate(autoc, float(autoc - Z95 * se[0]), float(autoc + Z95 * se[0]),
                qini, float(qini - Z95 * se[1]), float(qini + Z95 * se[1]), n_boot)


def risk_quintiles(mu0: np.ndarray, groups: int = 5) -> list[np.ndarray]:
    """Row indices of each fifth of people by predicted untreated outcome, lowest first."""
    return np.array_split(np.argsort(mu0, kind="stable"), groups)


RISK_COLUMN = "baseline_risk_fifth"  # the individuals.csv column that places each person in a fifth


def risk_fifths(mu0: np.ndarray) -> np.ndarray:
    """Each person's fifth of predicted untreated outcome, 1 (lowest) to 5."""
    fifth = np.zeros(len(mu0), dtype=int)
    for k, idx in enumerate(risk_quintiles(mu0)):
        fifth[idx] = k + 1
    return fifth


def risk_query(k: int) -> str:
    """The query selecting fifth ``k`` (1-based) in individuals.csv."""
    return f"`{RISK_COLUMN}` == {k}"


def risk_strata(prepared: Prepared, nuis: Nuisances, cate: np.ndarray) -> list[RiskStratum]:
    """Quintiles of predicted untreated outcome (baseline risk), with effects (the paper's Table 8)."""
    out = []
    for k, idx in enumerate(risk_quintiles(nuis.mu0)):
        iv = mean_interval(nuis.gamma[idx])
        out.append(RiskStratum(f"Q{k + 1}", risk_query(k + 1), int(len(idx)), float(nuis.mu0[idx].mean()),
                               iv.estimate, iv.ci_low, iv.ci_high, float(cate[idx].mean()),
                               float(cate[idx].std(ddof=1))))
    return out


def truth_accuracy(cate: CateResult, truth: np.ndarray) -> TruthAccuracy:
    """Accuracy against known effects (simulation studies; the bleeding paper's Table 7)."""
    err = cate.cate - truth
    varies = np.std(cate.cate) > 0 and np.std(truth) > 0
    coverage = None
    if cate.cate_low is not None:
        coverage = float(np.mean((truth >= cate.cate_low) & (truth <= cate.cate_high)))
    return TruthAccuracy(float(np.corrcoef(cate.cate, truth)[0, 1]) if varies else None,
                         float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err))), float(truth.mean()), coverage)


def cate_summary(cate: np.ndarray, sign: float, harm_threshold: float) -> CateSummary:
    """Distribution of individual effects (histogram for the figure) and the share estimated harmed."""
    edges = np.histogram_bin_edges(cate, bins=30)
    harmed = sign * cate < -harm_threshold
    share = mean_interval(harmed.astype(float))
    return CateSummary(float(cate.mean()), float(cate.std(ddof=1)), _quantiles(cate, (0.05, 0.25, 0.5, 0.75, 0.95)),
                       edges.tolist(), np.histogram(cate, edges)[0].tolist(), share.estimate,
                       max(0.0, share.ci_low), min(1.0, share.ci_high))


def ate(gamma: np.ndarray) -> Interval:
    """Average effect (AIPW) with its interval."""
    return mean_interval(gamma)


def diagnose(prepared: Prepared, nuis: Nuisances, cate: CateResult, *, harm_threshold: float, seed: int,
             judged_on: np.ndarray) -> Diagnostics:
    """Every check of the estimates: scores of the candidates, ATE, calibration, GATES, RATE,
    overlap, balance, the distribution of individual effects, and accuracy when truth is known.

    The tests of heterogeneity (calibration, GATES, RATE) use only the ``judged_on`` people, whose
    scores did not choose the CATE model, so choosing the model cannot make them look significant;
    their standard errors are widened by `CROSS_FITTED_SE_FACTOR` unless the judged people's CATE
    models never saw any of them (``cate.judged_apart``).
    """
    rows = judged_on
    se_factor = 1.0 if cate.judged_apart else CROSS_FITTED_SE_FACTOR
    benefit, cate_benefit = (prepared.sign * nuis.gamma)[rows], (prepared.sign * cate.cate)[rows]
    truth = truth_accuracy(cate, prepared.true_effect) if prepared.true_effect is not None else None
    return Diagnostics(
        estimator=cate.estimator, estimator_label=cate.label,
        estimator_scores=list(cate.scores), selection_within_noise=cate.within_noise, ate=ate(nuis.gamma),
        # The stack's shrinkage used this regression's slope: undone here, the slope judges the
        # model's differences before they were shrunk (a positive factor changes no ranking).
        calibration=calibration(benefit, cate_benefit / cate.shrinkage, se_factor=se_factor),
        gates=gates(nuis.gamma[rows], cate.cate[rows], prepared.sign, se_factor=se_factor),
        rate=rate(benefit, cate_benefit, seed=seed, se_factor=se_factor), overlap=overlap_summary(nuis, prepared.t),
        balance=balance_table(prepared), cate_summary=cate_summary(cate.cate, prepared.sign, harm_threshold),
        individual_intervals=cate.cate_low is not None, heterogeneity_se_factor=se_factor, effect_shrinkage=cate.shrinkage,
        truth=truth,
        projection=best_linear_projection(prepared, nuis.gamma),
        effect_by_covariate=effect_by_covariate(prepared, nuis.gamma, cate.cate),
    )
