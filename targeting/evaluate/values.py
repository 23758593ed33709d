"""Honest values of the drawn rule and its references, and the budget curve.

Every value is a mean of per-person doubly robust contributions over the *estimation* people
(whose outcomes did not choose the rule; see :mod:`targeting.policy.stage`), under decisions
made without their outcomes, so the intervals are ordinary normal intervals for a mean and they
are about the rule that is shown. Counts and costs describe the decisions applied to everyone.
"""

from __future__ import annotations

import numpy as np

from targeting.data.prepare import Prepared
from targeting.estimate.nuisance import Nuisances
from targeting.evaluate.stats import mean_interval, two_sided_p
from targeting.model.narrative import POLICY_LABELS, comparison_sentence
from targeting.model.report import Calibration, Comparison, CurvePoint, PolicyValue
from targeting.policy.learn import PolicySettings, budget_for_subset, rank_policy
from targeting.policy.stage import learn_rules_for_budgets

# The budget shares of the curve: 10%, 20%, ..., 100% of what treating everyone would cost.
CURVE_SHARES = tuple(round(0.1 * k, 1) for k in range(1, 11))


def policy_value(label: str, decisions: np.ndarray, nuis: Nuisances, prepared: Prepared,
                 rows: np.ndarray) -> PolicyValue:
    """Mean outcome if people like these followed ``decisions`` (0/1 or a probability per person),
    estimated on ``rows``, and the gain over treating no one per unit spent."""
    contrib = decisions * nuis.gamma1 + (1 - decisions) * nuis.gamma0
    iv = mean_interval(contrib[rows])
    spend = float(np.mean(decisions[rows] * prepared.cost[rows]))
    per_cost = (None, None, None)
    if spend > 0:
        gain = mean_interval((prepared.sign * decisions * nuis.gamma)[rows])
        per_cost = (gain.estimate / spend, gain.ci_low / spend, gain.ci_high / spend)
    return PolicyValue(label, iv.estimate, iv.ci_low, iv.ci_high, float(np.mean(decisions)),
                       int(round(float(np.sum(decisions)))), float(np.sum(decisions * prepared.cost)), *per_cost)


def compare(versus: str, treat_a: np.ndarray, treat_b: np.ndarray, nuis: Nuisances, prepared: Prepared,
            rows: np.ndarray) -> Comparison:
    """Policy a minus policy b on ``rows``, positive = better for people."""
    iv = mean_interval((prepared.sign * (treat_a - treat_b) * nuis.gamma)[rows])
    return Comparison(
        versus=versus, label=POLICY_LABELS[versus], difference=iv.estimate, ci_low=iv.ci_low, ci_high=iv.ci_high,
        per_1000=1000 * iv.estimate, per_1000_low=1000 * iv.ci_low, per_1000_high=1000 * iv.ci_high,
        p_value=two_sided_p(iv.estimate, iv.se),
        sentence=comparison_sentence(iv.estimate, iv.ci_low, iv.ci_high, versus, outcome=prepared.outcome,
                                     binary=prepared.outcome_binary, sign=prepared.sign),
    )


def random_share(treat: np.ndarray, cost: np.ndarray) -> float:
    """Share a random selection must treat to spend what the targeted policy spends."""
    return float(np.sum(treat * cost) / np.sum(cost))


def budget_curve(prepared: Prepared, nuis: Nuisances, benefit: np.ndarray, cate_benefit: np.ndarray,
                 settings: PolicySettings, *, learn: np.ndarray, shares=CURVE_SHARES) -> list[CurvePoint]:
    """Gain over treating no one, per person, at each budget share: the tree learned from the
    learning people at that budget and the out-of-fold ranking, both judged on the estimation people.
    All budgets share one tree search."""
    rows = ~learn
    total_cost = prepared.cost.sum()
    budgets = [share * total_cost for share in shares]
    trees = learn_rules_for_budgets(prepared, benefit, settings, learn=learn, budgets_units=budgets)
    points = []
    for share, units, tree in zip(shares, budgets, trees):
        ranking = ranking_policy(prepared, cate_benefit, nuis.folds, units)
        tree_iv = mean_interval((tree * benefit)[rows])
        rank_iv = mean_interval((ranking * benefit)[rows])
        points.append(CurvePoint(float(share), tree_iv.estimate, tree_iv.ci_low, tree_iv.ci_high,
                                 rank_iv.estimate, rank_iv.ci_low, rank_iv.ci_high,
                                 float(random_share(tree, prepared.cost) * benefit[rows].mean())))
    return points


def ranking_policy(prepared: Prepared, cate_benefit: np.ndarray, folds: np.ndarray, units: float) -> np.ndarray:
    """The CATE-ranked reference at the same budget: top of the out-of-fold ranking within each fold."""
    treat = np.zeros(prepared.n, dtype=int)
    for fold in np.unique(folds):
        rows = folds == fold
        treat[rows] = rank_policy(cate_benefit[rows], prepared.cost[rows], budget_for_subset(prepared, rows, units))
    return treat


def evaluate_policies(prepared: Prepared, nuis: Nuisances, targeted: np.ndarray, ranking: np.ndarray, *,
                      rows: np.ndarray) -> tuple[dict[str, PolicyValue], dict[str, Comparison]]:
    """Values of the drawn rule and every reference, and the rule minus each reference, on ``rows``.

    Parameters
    ----------
    targeted : ndarray
        0/1 decisions of the drawn rule for everyone.
    ranking : ndarray
        0/1 decisions of the out-of-fold CATE ranking at the same budget.
    rows : ndarray of bool
        The estimation people (outcomes that did not choose the rule).
    """
    everyone, no_one = np.ones(prepared.n), np.zeros(prepared.n)
    random = np.full(prepared.n, random_share(targeted, prepared.cost))
    references = {"treat_all": everyone, "treat_none": no_one, "random_at_budget": random, "ranking": ranking}
    values = {"targeted": policy_value(POLICY_LABELS["targeted"], targeted, nuis, prepared, rows)}
    values.update({key: policy_value(POLICY_LABELS[key], decisions, nuis, prepared, rows)
                   for key, decisions in references.items()})
    comparisons = {key: compare(key, targeted, decisions, nuis, prepared, rows)
                   for key, decisions in references.items()}
    return values, comparisons


def targeting_supported(calibration: Calibration, comparisons: dict[str, Comparison], *, unlimited: bool) -> bool:
    """Targeting is recommended only when effects demonstrably differ and the rule beats the simple
    alternatives on the estimation people: treating everyone and no one (no budget limit), or a
    random selection of the same size (under a budget)."""
    if not calibration.detected:
        return False
    if unlimited:
        return comparisons["treat_all"].ci_low > 0 and comparisons["treat_none"].ci_low > 0
    return comparisons["random_at_budget"].ci_low > 0
