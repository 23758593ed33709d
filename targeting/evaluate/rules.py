"""Statistics of the drawn rule's leaves, and the Policy part of the report.

Leaf effects are estimated on held-out people placed in the same leaf position by trees learned
without them, so the same outcomes never both shape and judge a leaf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targeting.data.prepare import Prepared
from targeting.estimate.nuisance import Nuisances
from targeting.evaluate.stats import mean_interval
from targeting.evaluate.subgroups import MIN_GROUP
from targeting.model.narrative import headline_rule
from targeting.model.report import BudgetSummary, Policy, Rule
from targeting.policy.learn import tree_as_dict
from targeting.policy.stage import PolicyFit


@dataclass(frozen=True)
class LeafRow:
    """One leaf: its path code, the Rule shown, and the statistics drawn on the tree."""

    leaf_path: str
    rule: Rule
    stats: dict


def leaf_rules(fit: PolicyFit, prepared: Prepared, nuis: Nuisances) -> list[LeafRow]:
    """Each leaf of the drawn tree with its size, cost and held-out effect."""
    out = []
    for leaf in fit.leaves:
        members = fit.path == leaf["path"]
        honest = fit.held_out.path == leaf["path"]
        effect = low = high = None
        if honest.sum() >= MIN_GROUP:
            iv = mean_interval(nuis.gamma[honest])
            effect, low, high = iv.estimate, iv.ci_low, iv.ci_high
        rule = Rule(leaf=leaf["path"] or "root", rule=leaf["rule"], query=leaf["query"], treat=leaf["treat"],
                    n=int(members.sum()), share=float(members.mean()), cost=float(prepared.cost[members].sum()),
                    effect=effect, ci_low=low, ci_high=high, n_held_out=int(honest.sum()))
        stats = {"treat": leaf["treat"], "n": rule.n, "effect": effect, "ci_low": low, "ci_high": high,
                 "rule": leaf["rule"]}
        out.append(LeafRow(leaf["path"], rule, stats))
    return out


def policy_summary(fit: PolicyFit, prepared: Prepared, rules: list[LeafRow]) -> Policy:
    """The Policy part of the report: budget, search, the rules and the tree as nested dicts."""
    budget = prepared.budget
    return Policy(
        budget=BudgetSummary(budget.kind, float(budget.value), budget.describe(), float(fit.settings.budget_units),
                             prepared.cost_source),
        depth=fit.settings.depth, search=fit.method, min_leaf=fit.settings.min_leaf,
        rules=[row.rule for row in rules], tree=tree_as_dict(fit.tree, {row.leaf_path: row.stats for row in rules}),
        treated_n=int(fit.treat.sum()), treated_share=float(fit.treat.mean()),
        total_cost=float((fit.treat * prepared.cost).sum()), held_out_treated_share=float(fit.held_out.treat.mean()),
        stability=fit.stability, fold_root_features=list(fit.held_out.root_features),
        headline_rule=headline_rule(fit.leaves),
    )


def leaf_groups(rules: list[LeafRow], fit: PolicyFit) -> list[tuple[str, str, np.ndarray]]:
    """The policy-leaf subgroup family: (name, query, held-out members) per leaf of a split tree."""
    return [(row.rule.rule, row.rule.query, fit.held_out.path == row.leaf_path) for row in rules if row.leaf_path]
