"""Subgroup effects with multiplicity-adjusted harm verdicts, in labelled families.

Each group's effect is the mean of the doubly robust scores of its members (outcome scale,
treated minus untreated) with a 95% interval; the harm test is one-sided and Holm-adjusted within
its family; a partially pooled (empirical-Bayes) estimate shows how much of a group's difference
survives shrinkage toward the overall effect. Groups defined from the data (policy leaves, risk
strata) are built from held-out predictions and marked exploratory.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from targeting.data import query as q
from targeting.data.expr import evaluate_subgroup, parse_subgroup
from targeting.model.report import Subgroup
from targeting.estimate.nuisance import Nuisances
from targeting.policy.learn import PolicySettings, describe_leaves, learn_tree
from targeting.data.prepare import Prepared
from targeting.evaluate.stats import ALPHA, holm, mean_interval, one_sided_p, shrink

MIN_GROUP = 10
FAMILY_LABELS = {
    "prespecified": "Pre-specified (confirmatory)",
    "covariate": "By covariate (screen)",
    "policy_leaf": "Policy-tree leaves (exploratory, judged by people who did not choose them)",
    "baseline_risk": "Baseline-risk strata (held-out predictions)",
    "harm_search": "Harm search (exploratory, found and judged by different people)",
}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def covariate_groups(prepared: Prepared) -> list[tuple[str, str, np.ndarray]]:
    """Each category level, and tertiles of each numeric covariate: (name, query, mask)."""
    groups = []
    for j, cov in enumerate(prepared.covariates):
        x = prepared.x_codes[:, j]
        col = q.column(cov.name)
        if cov.kind == "categorical":
            for k, level in enumerate(cov.levels):
                groups.append((f"{cov.name} is {level}", q.compare(q.stripped_text(col), "==", level), x == k))
            continue
        present = x[~np.isnan(x)]
        cuts = np.unique(np.quantile(present, [1 / 3, 2 / 3], method="lower"))
        cuts = cuts[cuts > present.min()]
        if cuts.size == 0:
            continue
        edges = [None, *cuts.tolist(), None]
        for low, high in zip(edges[:-1], edges[1:]):
            at_least = None if low is None else q.compare(col, ">=", low)
            below = None if high is None else q.compare(col, "<", high)
            if low is None:
                groups.append((f"{cov.name} under {_number(high)}", below, x < high))
            elif high is None:
                groups.append((f"{cov.name} {_number(low)} or over", at_least, x >= low))
            else:
                groups.append((f"{cov.name} {_number(low)} to under {_number(high)}",
                               q.all_of([at_least, below]), (x >= low) & (x < high)))
    return groups


def prespecified_groups(prepared: Prepared, expressions) -> list[tuple[str, str, np.ndarray]]:
    """The analyst's own subgroup expressions, parsed by the safe grammar."""
    out = []
    for text in expressions:
        expr = parse_subgroup(text, list(prepared.frame.columns))
        out.append((expr.name, expr.query, evaluate_subgroup(expr, prepared.frame)))
    return out


def assess_family(family: str, groups, nuis: Nuisances, sign: float, harm_threshold: float,
                  overall_effect: float, *, exploratory: bool, n_families: int,
                  query_on: str = "input") -> list[Subgroup]:
    """Effects, harm p-values, shrinkage and flags for one family.

    ``groups`` holds ``(name, query, members, judged_on)``: ``members`` are the people the query
    selects (its ``n``), ``judged_on`` those of them whose outcomes estimate the effect (all members
    for groups fixed in advance; the estimation people for groups found in the data). P-values are
    Holm-adjusted within the family and then multiplied by the number of families (Bonferroni across
    families), so the chance of any false ``harmed`` flag in a whole report is at most ``ALPHA``.
    """
    kept = [group for group in groups if group[3].sum() >= MIN_GROUP]
    if not kept:
        return []
    gamma = nuis.gamma
    ivs = [mean_interval(gamma[judged]) for _, _, _, judged in kept]
    # Harm means benefit = sign * effect below -harm_threshold; p is small when the group is clearly harmed.
    p = np.array([one_sided_p(-sign * iv.estimate, iv.se, above=harm_threshold) for iv in ivs])
    p = np.where(np.isnan(p), 1.0, p)
    p_adj = np.minimum(1.0, holm(p) * n_families)
    shrunk = shrink([iv.estimate for iv in ivs], [iv.se for iv in ivs], target=overall_effect)
    out = []
    for (name, query, members, judged), iv, pv, pa, sh in zip(kept, ivs, p, p_adj, shrunk):
        benefit_low = min(sign * iv.ci_low, sign * iv.ci_high)
        benefit_high = max(sign * iv.ci_low, sign * iv.ci_high)
        if pa < ALPHA and benefit_high < -harm_threshold:
            flag = "harmed"
        elif sign * iv.estimate < 0:
            flag = "possibly_harmed"
        elif benefit_low > 0:
            flag = "benefits"
        else:
            flag = "no_clear_effect"
        out.append(Subgroup(family, name, query, int(members.sum()), float(members.mean()), int(judged.sum()),
                            iv.estimate, iv.ci_low, iv.ci_high, float(pv), float(pa), float(sh), flag, exploratory,
                            query_on))
    return out


def harm_search_group(prepared: Prepared, benefit: np.ndarray, settings: PolicySettings, *,
                      learn: np.ndarray) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """The most harmed region a depth-2 tree can describe, found by the learning people and judged
    by the estimation people.

    An exact tree maximising total *harm* (minus benefit) is learned from the learning people's
    scores, without a budget; its harm region, in words and as a query, is the group shown, and
    its effect is estimated from the estimation people inside it.
    """
    # No budget (the region is wherever harm outweighs) and an exact depth-2 search.
    search = replace(settings, budget_units=float(prepared.cost.sum() * 2), depth=2)
    tree = learn_tree(prepared, np.where(learn, -benefit, 0.0), np.ones(prepared.n, dtype=bool), search)
    in_region = tree.apply(prepared.x_codes)[0] == 1
    all_leaves = describe_leaves(tree, prepared)
    leaves = [leaf for leaf in all_leaves if leaf["treat"]]
    if not leaves or len(leaves) == len(all_leaves):
        return []
    name = "most harmed region found: " + " — or — ".join(leaf["rule"] for leaf in leaves)
    query = " or ".join(f"({leaf['query']})" for leaf in leaves)
    return [(name, query, in_region, in_region & ~learn)]
