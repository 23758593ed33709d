"""Size of the report's verdicts when the treatment does nothing, and coverage of individual
intervals (issue 14). Shared by ``bench/null_size.py`` and the slow tests.

A null trial runs the whole pipeline on a bleeding-type trial whose drug does nothing for anyone
(`null_effect`) and records which verdicts a reader would take as evidence of differences in
effect: the calibration test (the primary test, which alone lets the brief say that effects
differ), the GATES top-minus-bottom difference and the RATE (AUTOC) interval (shown in support),
any harm flag, and whether the brief claims differences. Each is a 5% test, so each should fire in
about 5% of null trials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

from targeting.evaluate.stats import ALPHA, Z95, holm, two_sided_p
from targeting.model.report import Gate
from targeting.sim.simulate import bleeding_trial, null_effect
from targeting.sim.studies import HONEST_SIMULATIONS, TRIAL_SETTINGS, run_frame

NULL_SUBGROUPS = ["age > 65"]  # one pre-specified group, as the harm-null study uses
COVERAGE_SIZES = {"bleeding_trial": 2000, "financial_literacy": 5000, "cate_lesson": 1000}


def gates_top_minus_bottom(gates: list[Gate]) -> tuple[float, float]:
    """Difference of the highest and lowest quintile's effect and its standard error.

    The quintiles hold different people, so their estimates are independent and the variances add;
    each quintile's standard error is read back from its 95% interval.
    """
    top, bottom = gates[-1], gates[0]
    se = np.hypot((top.ci_high - top.ci_low) / (2 * Z95), (bottom.ci_high - bottom.ci_low) / (2 * Z95))
    return float(top.effect - bottom.effect), float(se)


@dataclass(frozen=True)
class NullTrial:
    """What one report on a do-nothing treatment said.

    The p-values are those of the calibration test (one-sided: the report's primary test of
    heterogeneity), the GATES top-minus-bottom difference (two-sided) and the RATE (AUTOC, two-sided,
    its SE read back from the 95% interval). ``brief_claims_heterogeneity``: the brief says effects
    differ between people (its opening sentence or its recommendation).
    """

    seed: int
    n: int
    estimator: str
    calibration_p: float
    gates_p: float
    rate_p: float
    harm_flag: bool
    brief_claims_heterogeneity: bool
    seconds: float

    @property
    def calibration_detected(self) -> bool:
        return bool(self.calibration_p < ALPHA)

    @property
    def gates_significant(self) -> bool:
        return bool(self.gates_p < ALPHA)

    @property
    def rate_excludes_zero(self) -> bool:
        return bool(self.rate_p < ALPHA)

    @property
    def holm_any(self) -> bool:
        """Any of the three heterogeneity tests significant after Holm's adjustment."""
        return bool(holm([self.calibration_p, self.gates_p, self.rate_p]).min() < ALPHA)


def claims_heterogeneity(report) -> bool:
    """Whether the brief tells its reader that effects differ between people."""
    return bool(report.targeting_supported or any("differ between people" in s for s in report.summary))


def null_trial(n: int, seed: int, *, estimator: str = "auto", folds: int = 5) -> NullTrial:
    """Run the pipeline on ``null_effect(n, seed=seed)`` and record its verdicts."""
    start = time.perf_counter()
    report = run_frame(null_effect(n, seed=seed), **TRIAL_SETTINGS, estimator=estimator, folds=folds, seed=seed,
                       subgroup=NULL_SUBGROUPS).report
    diagnostics = report.diagnostics
    rate = diagnostics.rate
    calibration_p = diagnostics.calibration.p_value
    return NullTrial(seed, n, diagnostics.estimator, 1.0 if calibration_p is None else float(calibration_p),
                     two_sided_p(*gates_top_minus_bottom(diagnostics.gates)),
                     two_sided_p(rate.autoc, (rate.autoc_high - rate.autoc_low) / (2 * Z95)),
                     any(group.flag == "harmed" for group in report.subgroups), claims_heterogeneity(report),
                     time.perf_counter() - start)


@dataclass(frozen=True)
class PowerTrial:
    """The calibration test on a bleeding-type trial whose effects do differ (`bleeding_trial`).

    ``se_factor`` is the widening the report applied; ``naive_p`` is the p-value the robust
    standard error alone would have given, for the power the widening costs.
    """

    seed: int
    n: int
    calibration_p: float
    se_factor: float
    brief_claims_heterogeneity: bool

    @property
    def naive_p(self) -> float:
        return float(stats.norm.sf(stats.norm.isf(self.calibration_p) * self.se_factor))


def power_trial(n: int, seed: int, *, estimator: str = "auto", folds: int = 5) -> PowerTrial:
    """Run the pipeline on ``bleeding_trial(n, seed=seed)`` and record its calibration test."""
    report = run_frame(bleeding_trial(n, seed=seed), **TRIAL_SETTINGS, estimator=estimator, folds=folds, seed=seed,
                       subgroup=NULL_SUBGROUPS).report
    p = report.diagnostics.calibration.p_value
    return PowerTrial(seed, n, 1.0 if p is None else float(p), report.diagnostics.heterogeneity_se_factor,
                      claims_heterogeneity(report))


@dataclass(frozen=True)
class CoverageTrial:
    """Share of people whose true effect lies inside their individual 95% interval, in one report."""

    simulation: str
    estimator: str
    seed: int
    n: int
    coverage: float
    mean_width: float


def coverage_trial(simulation: str, seed: int, *, estimator: str, n: int | None = None,
                   folds: int = 5) -> CoverageTrial:
    """Run the pipeline with ``estimator`` (one that gives individual intervals) on a simulation of
    `targeting.sim.studies.HONEST_SIMULATIONS` and read the report's coverage."""
    make, settings = HONEST_SIMULATIONS[simulation]
    n = COVERAGE_SIZES[simulation] if n is None else n
    result = run_frame(make(n, seed=seed), **settings, estimator=estimator, folds=folds, seed=seed)
    coverage = result.report.diagnostics.truth.coverage
    if coverage is None:
        raise ValueError(f"Estimator {estimator!r} gives no individual intervals; use causal_forest or dr.")
    width = result.individuals["cate_high"] - result.individuals["cate_low"]
    return CoverageTrial(simulation, estimator, seed, n, float(coverage), float(width.mean()))
