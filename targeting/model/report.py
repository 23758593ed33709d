"""The ReportModel: typed, plain, JSON-serialisable data that every renderer reads and nothing else.

Effects are on the outcome's own scale (treated minus untreated); ``direction`` says which sign
is good. Comparisons (``difference``) are oriented so that positive is better. Intervals are 95%.
A renderer never computes a statistic: everything it shows is here.

Every part is a frozen dataclass of plain values (str, float, int, bool, None, lists and
dicts of those, and other parts), so ``ReportModel.from_dict(model.to_dict())`` rebuilds the model
and :mod:`targeting.model.schema` derives the JSON Schema of ``report.json`` from these types.
``config`` (the effective settings, keyed as in :mod:`targeting.config`) and ``policy.tree``
(nested dicts, the shape of EconML's tree interpreter) stay mappings.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

# The diagnostics parts live in their own module and are re-exported here with the rest of the contract.
from targeting.model.diagnostics import (BalanceRow, Calibration, CateSummary, CovariateEffect, Diagnostics,  # noqa: F401
                                         EffectBin, EstimatorScore, Gate, Interval, Overlap, ProjectionTerm,
                                         Quantile, Rate, TruthAccuracy)
from targeting.model.findings import Finding


SCHEMA_VERSION = "1.1"


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
    """One leaf of the policy tree, in words and as a pandas query.

    ``n`` people of the input satisfy ``query``; the effect is the mean over the ``n_estimated`` of
    them who did not learn the rule (``None`` when fewer than ten).
    """

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
    n_estimated: int


@dataclass(frozen=True)
class BudgetSummary:
    """The budget as given and on the cost scale the search uses (people count as cost 1)."""

    kind: str
    value: float
    description: str
    cost_units: float
    cost_source: str | None


@dataclass(frozen=True)
class SaferRule:
    """The best rule under the same budget that treats no one in a group flagged harmed.

    ``given_up`` is the drawn rule's value minus this rule's (positive = the drawn rule is better),
    on the estimation people; ``preferred`` (over the drawn rule) when that difference is not
    clearly above zero.
    """

    headline_rule: str
    rules: list[Rule]
    treated_n: int
    treated_share: float
    total_cost: float
    value: PolicyValue
    given_up: Interval
    preferred: bool


@dataclass(frozen=True)
class Policy:
    """The drawn treatment rule, how it was found, and on whom it was learned and judged.

    The rule is learned from ``learn_n`` people (``learn_share`` of each arm) and everything about
    it is estimated on the other ``estimate_n`` (an honest split within each arm). ``treated_share`` is the share of
    everyone in the input the rule treats; ``treated_in_harmed`` how many of them are in a group
    flagged harmed.
    """

    budget: BudgetSummary
    depth: int
    search: str
    min_leaf: int
    rules: list[Rule]
    tree: dict[str, Any]
    treated_n: int
    treated_share: float
    total_cost: float
    learn_share: float
    learn_n: int
    estimate_n: int
    stability: float
    fold_root_features: list[str]
    headline_rule: str
    treated_in_harmed: int
    safer: SaferRule | None


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
    """Effect in one group of people, with a multiplicity-adjusted harm verdict.

    ``query`` selects the group's ``n`` people in the input's data sheet (for baseline-risk
    strata, in ``individuals.csv``: ``query_on`` says which). ``n_estimated`` of them, whose
    outcomes did not define the group, estimate its effect.
    """

    family: str
    name: str
    query: str
    n: int
    share: float
    n_estimated: int
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    shrunk_effect: float
    flag: str
    exploratory: bool
    query_on: str


@dataclass(frozen=True)
class RiskStratum:
    """One fifth of people by predicted untreated outcome; ``query`` selects it in individuals.csv."""

    name: str
    query: str
    n: int
    mean_risk: float
    effect: float
    ci_low: float
    ci_high: float
    cate_mean: float
    cate_sd: float


@dataclass(frozen=True)
class CovariateSummary:
    name: str
    kind: str
    levels: list[str]
    n_missing: int


@dataclass(frozen=True)
class DataSummary:
    """The analysed data: counts, the outcome's distribution, the design and the covariates."""

    n: int
    n_rows_in_file: int
    n_treated: int
    n_control: int
    outcome: str
    outcome_type: str
    outcome_mean: float
    outcome_sd: float
    outcome_min: float
    outcome_max: float
    outcome_mean_treated: float
    outcome_mean_control: float
    treatment: str
    treated_label: str
    control_label: str
    direction: str
    design: str
    covariates: list[CovariateSummary]
    cost_source: str | None
    total_cost: float


@dataclass(frozen=True)
class Provenance:
    """Where the numbers come from: the input's hash, the tool and package versions, the seed."""

    input_file: str
    input_sha256: str
    data_sheet: str | None
    tool: str
    tool_version: str
    packages: dict[str, str | None]
    seed: int
    created: str
    config_from_sheet: list[str]


@dataclass(frozen=True)
class HarmSummary:
    """The harm box: which groups are harmed, how many were tested, and how."""

    harmed: list[str]
    possibly_harmed: list[str]
    groups_tested: int
    families: list[str]
    family_labels: dict[str, str]
    method: str
    share_individuals_harmed: float
    share_individuals_harmed_low: float
    share_individuals_harmed_high: float


@dataclass(frozen=True)
class Recommendation:
    """The rule's one status, used on every page, chart and sheet.

    ``status``: ``recommended`` (the drawn rule), ``safer_recommended`` (the rule that treats no
    one in a harmed group, see ``policy.safer``) or ``not_supported`` (no rule beats the simple
    choices); ``rule_label`` names the drawn rule accordingly; ``reason`` says why in one sentence.
    """

    status: str
    rule_label: str
    reason: str


@dataclass(frozen=True)
class ReportModel:
    """Everything the brief, the workbook and report.json show."""

    schema_version: str
    title: str
    summary: list[str]
    targeting_supported: bool
    recommendation: Recommendation
    config: dict[str, Any]
    provenance: Provenance
    data: DataSummary
    policy: Policy
    values: dict[str, PolicyValue]
    comparisons: dict[str, Comparison]
    budget_curve: list[CurvePoint]
    subgroups: list[Subgroup]
    risk_strata: list[RiskStratum]
    diagnostics: Diagnostics
    findings: list[Finding]
    harm_summary: HarmSummary

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts with non-finite floats as None (valid JSON)."""
        return _finite(asdict(self))

    def to_json(self) -> str:
        """``report.json``: the model as indented JSON (non-finite numbers as null)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReportModel":
        """Rebuild the typed model from ``to_dict()`` output (or a parsed ``report.json``).

        Raises
        ------
        KeyError, TypeError
            When a field the contract requires is missing or has the wrong shape.
        """
        from targeting.model.typed import build

        return build(cls, data)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
