"""The families of subgroups a report tests for harm, and their assessment.

Families: the analyst's pre-specified groups (confirmatory), each covariate's levels and tertiles,
the policy tree's leaves, the baseline-risk fifths, and the most harmed region a tree can find.
Family-wise control is across all families kept (Bonferroni), Holm within each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targeting.data.prepare import Prepared
from targeting.estimate.nuisance import Nuisances
from targeting.evaluate.diagnostics import risk_quintiles
from targeting.evaluate.subgroups import (FAMILY_LABELS, MIN_GROUP, assess_family, covariate_groups,
                                          harm_search_group, prespecified_groups)
from targeting.model.narrative import harm_method, risk_group_name
from targeting.model.report import CateSummary, HarmSummary, Subgroup
from targeting.policy.learn import PolicySettings

Group = tuple[str, str, np.ndarray]  # (name, pandas query, member mask)


@dataclass(frozen=True)
class Family:
    """A labelled family of groups; ``exploratory`` when the groups were found in the data."""

    name: str
    groups: list[Group]
    exploratory: bool


def risk_groups(nuis: Nuisances) -> list[Group]:
    """Fifths of predicted untreated outcome (held-out predictions)."""
    groups = []
    for k, idx in enumerate(risk_quintiles(nuis.mu0)):
        mask = np.zeros(len(nuis.mu0), dtype=bool)
        mask[idx] = True
        groups.append((risk_group_name(k, nuis.mu0[idx].min(), nuis.mu0[idx].max()), "", mask))
    return groups


def subgroup_families(prepared: Prepared, nuis: Nuisances, benefit: np.ndarray, settings: PolicySettings, *,
                      leaf_groups: list[Group], prespecified: list[str]) -> list[Family]:
    """Every family with at least one group of ``MIN_GROUP`` people, pre-specified first."""
    families = [Family("covariate", covariate_groups(prepared), False),
                Family("policy_leaf", leaf_groups, True),
                Family("baseline_risk", risk_groups(nuis), True),
                Family("harm_search", harm_search_group(prepared, benefit, nuis.folds, settings), True)]
    if prespecified:
        families.insert(0, Family("prespecified", prespecified_groups(prepared, prespecified), False))
    return [f for f in families if any(mask.sum() >= MIN_GROUP for _, _, mask in f.groups)]


def assess_families(families: list[Family], nuis: Nuisances, *, sign: float, harm_threshold: float) -> list[Subgroup]:
    """Effects and multiplicity-adjusted harm verdicts for every group of every family."""
    overall = float(nuis.gamma.mean())
    subgroups: list[Subgroup] = []
    for family in families:
        subgroups += assess_family(family.name, family.groups, nuis, sign, harm_threshold, overall,
                                   exploratory=family.exploratory, n_families=len(families))
    return subgroups


def harm_summary(subgroups: list[Subgroup], cate_summary: CateSummary, n_families: int) -> HarmSummary:
    """The harm box: flagged groups, how many were tested and how, and the share of people harmed."""
    return HarmSummary(
        harmed=[s.name for s in subgroups if s.flag == "harmed"],
        possibly_harmed=[s.name for s in subgroups if s.flag == "possibly_harmed"],
        groups_tested=len(subgroups), families=sorted({s.family for s in subgroups}),
        family_labels=dict(FAMILY_LABELS), method=harm_method(n_families),
        share_individuals_harmed=cate_summary.share_harmed,
        share_individuals_harmed_low=cate_summary.share_harmed_low,
        share_individuals_harmed_high=cate_summary.share_harmed_high,
    )
