"""Statistics of the drawn rule's leaves, the harm-aware alternative, and the Policy part.

A leaf's effect is estimated on the estimation people its query selects: exactly the people the
leaf names, minus those whose outcomes chose the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from targeting.data.prepare import Prepared
from targeting.estimate.nuisance import Nuisances
from targeting.evaluate.stats import mean_interval
from targeting.evaluate.subgroups import MIN_GROUP
from targeting.evaluate.values import policy_value
from targeting.model.narrative import POLICY_LABELS, headline_rule
from targeting.model.report import BudgetSummary, Policy, Rule, SaferRule
from targeting.policy.learn import describe_leaves, learn_tree, tree_as_dict
from targeting.policy.stage import LEARN_SHARE, PolicyFit, learning_scores


@dataclass(frozen=True)
class LeafRow:
    """One leaf: its path code, the Rule shown, and the statistics drawn on the tree."""

    leaf_path: str
    rule: Rule
    stats: dict


def leaf_rules(leaves, path: np.ndarray, estimate: np.ndarray, prepared: Prepared, nuis: Nuisances) -> list[LeafRow]:
    """Each leaf with its size and cost (everyone) and its effect (estimation people in it)."""
    out = []
    for leaf in leaves:
        members = path == leaf["path"]
        judged = members & estimate
        effect = low = high = None
        if judged.sum() >= MIN_GROUP:
            iv = mean_interval(nuis.gamma[judged])
            effect, low, high = iv.estimate, iv.ci_low, iv.ci_high
        rule = Rule(leaf=leaf["path"] or "root", rule=leaf["rule"], query=leaf["query"], treat=leaf["treat"],
                    n=int(members.sum()), share=float(members.mean()), cost=float(prepared.cost[members].sum()),
                    effect=effect, ci_low=low, ci_high=high, n_estimated=int(judged.sum()))
        stats = {"treat": leaf["treat"], "n": rule.n, "effect": effect, "ci_low": low, "ci_high": high,
                 "rule": leaf["rule"]}
        out.append(LeafRow(leaf["path"], rule, stats))
    return out


def leaf_groups(rules: list[LeafRow], fit: PolicyFit) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """The policy-leaf subgroup family: (name, query, members, estimation members) per leaf of a split tree."""
    groups = []
    for row in rules:
        if row.leaf_path:
            members = fit.path == row.leaf_path
            groups.append((row.rule.rule, row.rule.query, members, members & fit.estimate))
    return groups


def safer_rule(fit: PolicyFit, prepared: Prepared, nuis: Nuisances, benefit: np.ndarray,
               harmed: np.ndarray) -> SaferRule | None:
    """The best tree under the same budget that treats no one flagged harmed, when the drawn one does.

    Every flagged person's score is set below what all others' scores could make up, so no treated
    leaf can contain one; the rest of the search sees the learning people's scores as before.
    """
    if not (fit.treat.astype(bool) & harmed).any():
        return None
    scores = learning_scores(benefit, fit.learn)
    penalty = float(np.abs(scores).sum()) + 1.0
    tree = learn_tree(prepared, np.where(harmed, -penalty, scores), np.ones(prepared.n, dtype=bool), fit.settings)
    treat, path = tree.apply(prepared.x_codes)
    leaves = describe_leaves(tree, prepared)
    rows = fit.estimate
    given_up = mean_interval((benefit * (fit.treat - treat))[rows])
    return SaferRule(
        headline_rule=headline_rule(leaves), rules=[row.rule for row in leaf_rules(leaves, path, rows, prepared, nuis)],
        treated_n=int(treat.sum()), treated_share=float(treat.mean()), total_cost=float((treat * prepared.cost).sum()),
        value=policy_value(POLICY_LABELS["safer"], treat, nuis, prepared, rows), given_up=given_up,
        preferred=bool(given_up.ci_low <= 0),
    )


def policy_summary(fit: PolicyFit, prepared: Prepared, rules: list[LeafRow], *, harmed: np.ndarray,
                   safer: SaferRule | None) -> Policy:
    """The Policy part of the report: budget, search, split, the rules and the tree as nested dicts."""
    budget = prepared.budget
    return Policy(
        budget=BudgetSummary(budget.kind, float(budget.value), budget.describe(), float(fit.settings.budget_units),
                             prepared.cost_source),
        depth=fit.settings.depth, search=fit.method, min_leaf=fit.settings.min_leaf,
        rules=[row.rule for row in rules], tree=tree_as_dict(fit.tree, {row.leaf_path: row.stats for row in rules}),
        treated_n=int(fit.treat.sum()), treated_share=float(fit.treat.mean()),
        total_cost=float((fit.treat * prepared.cost).sum()), learn_share=LEARN_SHARE, learn_n=int(fit.learn.sum()),
        estimate_n=int(fit.estimate.sum()), stability=fit.stability, fold_root_features=list(fit.fold_root_features),
        headline_rule=headline_rule(fit.leaves), treated_in_harmed=int((fit.treat.astype(bool) & harmed).sum()),
        safer=safer,
    )
