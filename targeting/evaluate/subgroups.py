"""Subgroup effects with multiplicity-adjusted harm verdicts, in labelled families.

Each group's effect is the mean of the doubly robust scores of its members (outcome scale,
treated minus untreated) with a 95% interval; the harm test is one-sided and Holm-adjusted within
its family; a partially pooled (empirical-Bayes) estimate shows how much of a group's difference
survives shrinkage toward the overall effect. Groups defined from the data (policy leaves, risk
strata) are built from held-out predictions and marked exploratory.
"""

from __future__ import annotations

import numpy as np

from targeting.data import query as q
from targeting.data.expr import evaluate_subgroup, parse_subgroup
from targeting.model.report import Subgroup
from targeting.estimate.nuisance import Nuisances
from targeting.policy.learn import cross_fit_policy, describe_leaves, learn_tree
from targeting.data.prepare import Prepared
from targeting.evaluate.stats import mean_interval, one_sided_p, holm, shrink

ALPHA = 0.05
MIN_GROUP = 10
FAMILY_LABELS = {
    "prespecified": "Pre-specified (confirmatory)",
    "covariate": "By covariate (screen)",
    "policy_leaf": "Policy-tree leaves (exploratory, held out)",
    "baseline_risk": "Baseline-risk strata (held-out predictions)",
    "harm_search": "Harm search (exploratory, learned and judged on different folds)",
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
                groups.append((f"{cov.name} is {level}", q.compare(col, "==", level), x == k))
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
                  overall_effect: float, *, exploratory: bool, n_families: int) -> list[Subgroup]:
    """Effects, harm p-values, shrinkage and flags for one family.

    P-values are Holm-adjusted within the family and then multiplied by the number of families
    (Bonferroni across families), so the chance of any false ``harmed`` flag in a whole report is
    at most 5%.
    """
    kept = [(name, query, mask) for name, query, mask in groups if mask.sum() >= MIN_GROUP]
    if not kept:
        return []
    gamma = nuis.gamma
    ivs = [mean_interval(gamma[mask]) for _, _, mask in kept]
    # Harm means benefit = sign * effect below -harm_threshold; p is small when the group is clearly harmed.
    p = np.array([one_sided_p(-sign * iv.estimate, iv.se, above=harm_threshold) for iv in ivs])
    p = np.where(np.isnan(p), 1.0, p)
    p_adj = np.minimum(1.0, holm(p) * n_families)
    shrunk = shrink([iv.estimate for iv in ivs], [iv.se for iv in ivs], target=overall_effect)
    out = []
    for (name, query, mask), iv, pv, pa, sh in zip(kept, ivs, p, p_adj, shrunk):
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
        out.append(Subgroup(family, name, query, int(mask.sum()), float(mask.mean()), iv.estimate, iv.ci_low,
                            iv.ci_high, float(pv), float(pa), float(sh), flag, exploratory))
    return out


def harm_search_group(prepared: Prepared, benefit: np.ndarray, folds: np.ndarray, *, min_leaf: int,
                      max_bins: int) -> list[tuple[str, str, np.ndarray]]:
    """The most harmed region a depth-2 tree can describe, judged on people it was not learned from.

    For each fold, an exact tree maximising total *harm* (minus benefit) is learned on the other
    folds and marks which held-out people fall in its harm region; the group's effect is then
    estimated from those held-out people only. The name and query describe the same search run on
    everyone (what an analyst would look at), so they summarise the procedure, not each fold's rule.
    """
    harm = -benefit
    unlimited = float(prepared.cost.sum() * 2)  # no budget: the region is wherever harm outweighs
    full = learn_tree(prepared, harm, np.ones(prepared.n, dtype=bool), budget_units=unlimited, depth=2,
                      min_leaf=min_leaf, max_bins=max_bins)
    in_region = cross_fit_policy(prepared, harm, folds, budget_units=unlimited, depth=2, min_leaf=min_leaf,
                                 max_bins=max_bins).treat == 1
    all_leaves = describe_leaves(full, prepared)
    leaves = [leaf for leaf in all_leaves if leaf["treat"]]
    if not leaves or in_region.sum() == 0 or len(leaves) == len(all_leaves):
        return []
    name = "most harmed region found: " + " — or — ".join(leaf["rule"] for leaf in leaves)
    query = " or ".join(f"({leaf['query']})" for leaf in leaves)
    return [(name, query, in_region)]
