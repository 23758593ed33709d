"""The diagnostics parts of the ReportModel: checks of the estimates that need no ground truth.

Split from :mod:`targeting.model.report` (which re-exports every name) to keep each module to
one screenful of types; the same conventions hold: frozen dataclasses of plain values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval and standard error."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float



@dataclass(frozen=True)
class EstimatorScore:
    """How one candidate CATE estimator did on held-out folds (lower loss is better).

    ``loss_vs_selected`` is the paired difference in loss from the selected candidate, person by
    person on the same rows, with its standard error; ``stack_weight`` the candidate's weight in
    the stacked ensemble (None for a single estimator asked for by name).
    """

    name: str
    label: str
    dr_loss: float
    loss_vs_constant: float
    loss_vs_constant_se: float
    correlation_with_truth: float | None
    selected: bool
    scored_on: int
    loss_vs_selected: float | None
    loss_vs_selected_se: float | None
    stack_weight: float | None


@dataclass(frozen=True)
class Calibration:
    """Best linear predictor test of the CATE: slope of DR scores on the centred CATE."""

    slope: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    mean_effect: float | None
    detected: bool
    verdict: str


@dataclass(frozen=True)
class Gate:
    """Average effect in one quintile of predicted benefit (held out)."""

    group: str
    n: int
    predicted: float
    effect: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class Rate:
    """Rank-weighted average treatment effects of the CATE ranking, with bootstrap intervals."""

    autoc: float
    autoc_low: float
    autoc_high: float
    qini: float
    qini_low: float
    qini_high: float
    bootstrap: int


@dataclass(frozen=True)
class Quantile:
    """One quantile of a distribution: ``value`` is its ``q``-th quantile."""

    q: float
    value: float


@dataclass(frozen=True)
class Overlap:
    """Propensity distribution by arm (histogram counts) and how much was bounded."""

    known: bool
    bounds: list[float]
    share_outside: float
    n_bounded: int
    edges: list[float]
    control_counts: list[int]
    treated_counts: list[int]
    quantiles: list[Quantile]


@dataclass(frozen=True)
class BalanceRow:
    """One covariate (or level) by arm; ``imbalanced`` when the standardised difference is large."""

    covariate: str
    level: str
    control: str
    treated: str
    smd: float
    p_value: float
    imbalanced: bool


@dataclass(frozen=True)
class CateSummary:
    """Distribution of individual effects (histogram) and the share estimated harmed."""

    mean: float
    sd: float
    quantiles: list[Quantile]
    edges: list[float]
    counts: list[int]
    share_harmed: float
    share_harmed_low: float
    share_harmed_high: float


@dataclass(frozen=True)
class TruthAccuracy:
    """Accuracy against known effects (simulations only)."""

    correlation: float | None
    rmse: float
    mae: float
    true_mean_effect: float
    coverage: float | None


@dataclass(frozen=True)
class ProjectionTerm:
    """One term of the effect's best linear projection on the covariates.

    ``coefficient`` is the change in the average effect per ``per`` units of the covariate (one
    standard deviation for a numeric covariate; for a category level, being in that level rather
    than the first), holding the others fixed, with its robust 95% interval.
    """

    term: str
    per: float
    coefficient: float
    ci_low: float
    ci_high: float
    p_value: float


@dataclass(frozen=True)
class EffectBin:
    """The effect among the people in one bin of a covariate, and their mean predicted CATE."""

    label: str
    n: int
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    predicted: float | None


@dataclass(frozen=True)
class CovariateEffect:
    """How the effect changes across one covariate's range (fifths) or levels."""

    covariate: str
    kind: str
    bins: list[EffectBin]


@dataclass(frozen=True)
class Diagnostics:
    """Checks of the estimates that need no ground truth (and accuracy when truth is given)."""

    estimator: str
    estimator_label: str
    estimator_scores: list[EstimatorScore]
    selection_within_noise: bool
    ate: Interval
    calibration: Calibration
    gates: list[Gate]
    rate: Rate
    overlap: Overlap
    balance: list[BalanceRow]
    cate_summary: CateSummary
    individual_intervals: bool
    heterogeneity_se_factor: float
    effect_shrinkage: float
    truth: TruthAccuracy | None
    projection: list[ProjectionTerm]
    effect_by_covariate: list[CovariateEffect]
