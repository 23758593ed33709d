"""The policy stage: every tree the report shows, from one settings object, learned honestly.

People are split once, within each arm, into a *learning* part and an *estimation* part. The
drawn tree is chosen from the learning part's outcomes only: the search sees the doubly robust
scores of learning people and zero for everyone else. The budget constraint, which depends on
covariates and costs but on no outcome, is counted over everyone, so the drawn rule applied to
the whole input never exceeds the budget. Everything said about the rule (its value, its leaves,
its comparisons) is then estimated on the estimation part, whose outcomes did not choose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from targeting.config import Config
from targeting.data.prepare import Prepared
from targeting.policy.learn import (LearnedTree, PolicySettings, cross_fit_policy, default_min_leaf,
                                    describe_leaves, learn_tree, learn_trees, search_method)

# Share of each arm that learns the rule. Measured by bench/honest.py (bench/RESULTS.md): on the
# 5,000-patient bleeding simulation at a 30% budget, learning on half cost 24% of the oracle value
# against a rule learned on everyone, 80% cost 9%, while the intervals on the remaining 20% still
# covered at 96-98% (57% wider than on half).
LEARN_SHARE = 0.8


@dataclass(frozen=True)
class PolicyFit:
    """The drawn tree, how it assigns everyone, and which people learned it."""

    settings: PolicySettings
    tree: LearnedTree
    treat: np.ndarray
    path: np.ndarray
    leaves: list[dict[str, Any]]
    learn: np.ndarray
    fold_root_features: tuple[str, ...]
    method: str

    @property
    def estimate(self) -> np.ndarray:
        """The people whose outcomes judge the rule (did not choose it)."""
        return ~self.learn

    @property
    def stability(self) -> float:
        """Share of fold trees whose first split is on the drawn tree's first covariate."""
        return float(np.mean([root == self.tree.root_feature for root in self.fold_root_features]))


def policy_settings(config: Config, prepared: Prepared) -> PolicySettings:
    """The search settings of a run: budget in cost units, depth, smallest leaf, bins."""
    return PolicySettings(budget_units=prepared.budget_in_cost_units(), depth=config.depth,
                          min_leaf=config.min_leaf or default_min_leaf(prepared.n), max_bins=config.max_bins)


def honest_split(t: np.ndarray, *, seed: int, learn_share: float = LEARN_SHARE) -> np.ndarray:
    """Boolean mask of the learning part: a random ``learn_share`` of each arm (at least one person
    of each arm on each side when the arm has two or more).

    Drawn over the people in the prepared order, which is fixed by their content
    (`targeting.data.order.canonical_order`), so shuffling the file does not change it.
    """
    rng = np.random.default_rng([seed, 13])  # a stream of its own: the folds keep theirs
    learn = np.zeros(len(t), dtype=bool)
    for arm in (0, 1):
        people = np.flatnonzero(t == arm)
        size = int(round(learn_share * len(people)))
        if len(people) >= 2:
            size = min(max(size, 1), len(people) - 1)
        learn[rng.permutation(people)[:size]] = True
    return learn


def learning_scores(benefit: np.ndarray, learn: np.ndarray) -> np.ndarray:
    """The scores a search may see: the learning people's, zero for everyone else."""
    return np.where(learn, benefit, 0.0)


def learn_policy(prepared: Prepared, benefit: np.ndarray, folds: np.ndarray, settings: PolicySettings, *,
                 learn: np.ndarray) -> PolicyFit:
    """Learn the drawn tree from the learning part, and fold trees for its stability.

    Parameters
    ----------
    prepared : Prepared
        The validated data.
    benefit : ndarray
        Doubly robust scores oriented so positive is good.
    folds : ndarray
        Fold label per person; a tree learned without each fold says how stable the first split is.
    settings : PolicySettings
        Budget (for everyone), depth, smallest leaf and bins.
    learn : ndarray of bool
        The learning part (see `honest_split`).
    """
    seen = learning_scores(benefit, learn)
    everyone = np.ones(prepared.n, dtype=bool)
    tree = learn_tree(prepared, seen, everyone, settings)
    treat, path = tree.apply(prepared.x_codes)
    roots = cross_fit_policy(prepared, seen, folds, settings).root_features
    return PolicyFit(settings, tree, treat, path, describe_leaves(tree, prepared), learn, roots,
                     search_method(settings.depth, len(prepared.covariates)))


def learn_rules_for_budgets(prepared: Prepared, benefit: np.ndarray, settings: PolicySettings, *, learn: np.ndarray,
                            budgets_units) -> list[np.ndarray]:
    """0/1 decisions for everyone of the tree learned from the learning part at each budget."""
    trees = learn_trees(prepared, learning_scores(benefit, learn), np.ones(prepared.n, dtype=bool), settings,
                        budgets_units=budgets_units)
    return [tree.apply(prepared.x_codes)[0] for tree in trees]
