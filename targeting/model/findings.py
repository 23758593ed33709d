"""Statistical caveats as data: a code, a severity, the numbers behind it, one plain sentence.

Findings are not errors: the run completes and the brief and workbook show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    SERIOUS = "serious"


class Code(str, Enum):
    MISSING_COVARIATE_VALUES = "missing_covariate_values"
    DROPPED_ROWS = "dropped_rows"
    DROPPED_CONSTANT_COVARIATE = "dropped_constant_covariate"
    WEAK_OVERLAP = "weak_overlap"
    NO_HETEROGENEITY = "no_heterogeneity"
    HETEROGENEITY_DETECTED = "heterogeneity_detected"
    UNSTABLE_TREE = "unstable_tree"
    NO_INTERVALS = "no_individual_intervals"
    INTERVALS_NOT_CALIBRATED = "individual_intervals_not_calibrated"
    KNOWN_PROPENSITY = "known_propensity"
    ESTIMATED_PROPENSITY = "estimated_propensity"
    IMBALANCE = "covariate_imbalance"
    HARM_FOUND = "harm_found"
    TARGETING_NOT_SUPPORTED = "targeting_not_supported"
    RULE_TREATS_HARMED = "rule_treats_harmed"
    CONSTANT_OUTCOME_IN_ARM = "constant_outcome_in_arm"
    UNDERDETERMINED_DR = "underdetermined_dr_learner"
    DUPLICATE_IDS = "duplicate_ids"
    OUTCOME_LEAKAGE = "outcome_leakage"
    EXTERNAL_LINKS = "external_links"


@dataclass(frozen=True)
class Finding:
    """One caveat or notable fact, shown in the brief and the workbook."""

    code: str
    severity: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)


def finding(code: Code, severity: Severity, message: str, **values: Any) -> Finding:
    """Build a finding with plain (JSON-serialisable) values."""
    return Finding(code.value, severity.value, message, {k: _plain(v) for k, v in values.items()})


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
