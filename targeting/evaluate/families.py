"""The families of subgroups a report tests for harm, and their assessment.

Families: the analyst's pre-specified groups (confirmatory), each covariate's levels and tertiles,
the drawn rule's leaves, the baseline-risk fifths, and the most harmed region a tree can find.
Family-wise control is across all families kept (Bonferroni), Holm within each. Groups found in
the data (leaves, the harm region) are judged only by the estimation people, whose outcomes did
not find them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targeting.data.prepare import Prepared
from targeting.estimate.nuisance import Nuisances
from targeting.evaluate.diagnostics import risk_fifths, risk_query
from targeting.evaluate.subgroups import (FAMILY_LABELS, MIN_GROUP, assess_family, covariate_groups,
                                          harm_search_group, prespecified_groups)
from targeting.model.narrative import harm_method, risk_group_name
from targeting.model.report import CateSummary, HarmSummary, Subgroup
from targeting.policy.learn import PolicySettings

# (name, pandas query, members the query selects, members whose outcomes judge the group)
Group = tuple[str, str, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Family:
    """A labelled family of groups; ``exploratory`` when the groups were found in the data;
    ``query_on`` is the table its queries select from (the input, or individuals.csv)."""

    name: str
    groups: list[Group]
    exploratory: bool
    query_on: str = "input"


def fixed_groups(groups) -> list[Group]:
    """Groups fixed in advance of any outcome: every member judges the group."""
    return [(name, query, mask, mask) for name, query, mask in groups]


def risk_groups(nuis: Nuisances) -> list[Group]:
    """Fifths of predicted untreated outcome (held-out predictions), selectable in individuals.csv."""
    fifth = risk_fifths(nuis.mu0)
    groups = []
    for k in range(1, 6):
        mask = fifth == k
        groups.append((risk_group_name(k - 1, nuis.mu0[mask].min(), nuis.mu0[mask].max()), risk_query(k), mask, mask))
    return groups


def subgroup_families(prepared: Prepared, nuis: Nuisances, benefit: np.ndarray, settings: PolicySettings, *,
                      leaf_groups: list[Group], prespecified: list[str], learn: np.ndarray) -> list[Family]:
    """Every family with at least one group judged by ``MIN_GROUP`` people, pre-specified first."""
    families = [Family("covariate", fixed_groups(covariate_groups(prepared)), False),
                Family("policy_leaf", leaf_groups, True),
                Family("baseline_risk", risk_groups(nuis), True, "individuals"),
                Family("harm_search", harm_search_group(prepared, benefit, settings, learn=learn), True)]
    if prespecified:
        families.insert(0, Family("prespecified", fixed_groups(prespecified_groups(prepared, prespecified)), False))
    return [f for f in families if any(group[3].sum() >= MIN_GROUP for group in f.groups)]


def assess_families(families: list[Family], nuis: Nuisances, *, sign: float, harm_threshold: float) -> list[Subgroup]:
    """Effects and multiplicity-adjusted harm verdicts for every group of every family."""
    overall = float(nuis.gamma.mean())
    subgroups: list[Subgroup] = []
    for family in families:
        subgroups += assess_family(family.name, family.groups, nuis, sign, harm_threshold, overall,
                                   exploratory=family.exploratory, n_families=len(families),
                                   query_on=family.query_on)
    return subgroups


def harmed_members(families: list[Family], subgroups: list[Subgroup], n: int) -> np.ndarray:
    """Who, of the ``n`` people, belongs to at least one group flagged harmed."""
    harmed = {(s.family, s.name) for s in subgroups if s.flag == "harmed"}
    inside = np.zeros(n, dtype=bool)
    for family in families:
        for name, _, members, _ in family.groups:
            if (family.name, name) in harmed:
                inside |= members
    return inside


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
