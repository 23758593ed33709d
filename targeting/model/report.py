"""The ReportModel: plain, JSON-serialisable data that every renderer reads and nothing else.

Effects are on the outcome's own scale (treated minus untreated); ``direction`` says which sign
is good. Comparisons (``difference``) are oriented so that positive is better. Intervals are 95%.
A renderer never computes a statistic: everything it shows is here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval and standard error."""

    estimate: float
    ci_low: float
    ci_high: float
    se: float


@dataclass(frozen=True)
class PolicyValue:
    """Expected mean outcome if a policy were applied to people like these.

    ``gain_per_cost`` is the improvement over treating no one (oriented so positive is better),
    per unit of money (or per person treated, without costs) spent, with its 95% interval.
    """

    label: str
    mean_outcome: float
    ci_low: float
    ci_high: float
    treated_share: float
    treated_n: int
    total_cost: float
    gain_per_cost: float | None = None
    gain_per_cost_low: float | None = None
    gain_per_cost_high: float | None = None


@dataclass(frozen=True)
class Comparison:
    """Targeted policy minus another policy, oriented so positive is better."""

    versus: str
    label: str
    difference: float
    ci_low: float
    ci_high: float
    per_1000: float
    per_1000_low: float
    per_1000_high: float
    p_value: float
    sentence: str


@dataclass(frozen=True)
class Rule:
    """One leaf of the policy tree, in words and as a pandas query."""

    leaf: str
    rule: str
    query: str
    treat: bool
    n: int
    share: float
    cost: float
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    n_held_out: int


@dataclass(frozen=True)
class Policy:
    """The recommended treatment rule and how it was found."""

    budget: dict[str, Any]
    depth: int
    search: str
    min_leaf: int
    rules: list[Rule]
    tree: dict[str, Any]
    treated_n: int
    treated_share: float
    total_cost: float
    held_out_treated_share: float
    stability: float
    fold_root_features: list[str]
    headline_rule: str


@dataclass(frozen=True)
class CurvePoint:
    budget_share: float
    tree_gain: float
    tree_low: float
    tree_high: float
    ranking_gain: float
    ranking_low: float
    ranking_high: float
    random_gain: float


@dataclass(frozen=True)
class Subgroup:
    """Effect in one group of people, with a multiplicity-adjusted harm verdict."""

    family: str
    name: str
    query: str
    n: int
    share: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    shrunk_effect: float
    flag: str
    exploratory: bool


@dataclass(frozen=True)
class RiskStratum:
    name: str
    n: int
    mean_risk: float
    effect: float
    ci_low: float
    ci_high: float
    cate_mean: float
    cate_sd: float


@dataclass(frozen=True)
class Diagnostics:
    """Checks of the estimates that need no ground truth (and accuracy when truth is given)."""

    estimator: str
    estimator_label: str
    estimator_scores: list[dict[str, Any]]
    ate: Interval
    calibration: dict[str, Any]
    gates: list[dict[str, Any]]
    rate: dict[str, Any]
    overlap: dict[str, Any]
    balance: list[dict[str, Any]]
    cate_summary: dict[str, Any]
    individual_intervals: bool
    truth: dict[str, Any] | None


@dataclass(frozen=True)
class ReportModel:
    """Everything the brief, the workbook and report.json show."""

    schema_version: str
    title: str
    summary: list[str]
    targeting_supported: bool
    config: dict[str, Any]
    provenance: dict[str, Any]
    data: dict[str, Any]
    policy: Policy
    values: dict[str, PolicyValue]
    comparisons: dict[str, Comparison]
    budget_curve: list[CurvePoint]
    subgroups: list[Subgroup]
    risk_strata: list[RiskStratum]
    diagnostics: Diagnostics
    findings: list[dict[str, Any]]
    harm_summary: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts with non-finite floats as None (valid JSON)."""
        return _finite(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
