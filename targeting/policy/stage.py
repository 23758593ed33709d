"""The policy stage: every tree the report shows, from one settings object.

The drawn tree is learned on everyone; its held-out twin (a tree learned on the other folds for
each fold) gives the decisions whose value is estimated honestly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from targeting.config import Config
from targeting.data.prepare import Prepared
from targeting.policy.learn import (CrossFittedPolicy, LearnedTree, PolicySettings, cross_fit_policy,
                                    default_min_leaf, describe_leaves, learn_tree, search_method)


@dataclass(frozen=True)
class PolicyFit:
    """The drawn tree (learned on everyone), how it assigns people, and its held-out twin."""

    settings: PolicySettings
    tree: LearnedTree
    treat: np.ndarray
    path: np.ndarray
    leaves: list[dict[str, Any]]
    held_out: CrossFittedPolicy
    method: str

    @property
    def stability(self) -> float:
        """Share of fold trees whose first split is on the drawn tree's first covariate."""
        return float(np.mean([root == self.tree.root_feature for root in self.held_out.root_features]))


def policy_settings(config: Config, prepared: Prepared) -> PolicySettings:
    """The search settings of a run: budget in cost units, depth, smallest leaf, bins."""
    return PolicySettings(budget_units=prepared.budget_in_cost_units(), depth=config.depth,
                          min_leaf=config.min_leaf or default_min_leaf(prepared.n), max_bins=config.max_bins)


def learn_policy(prepared: Prepared, benefit: np.ndarray, folds: np.ndarray, settings: PolicySettings) -> PolicyFit:
    """Learn the drawn tree on everyone and the cross-fitted trees on the folds.

    Parameters
    ----------
    prepared : Prepared
        The validated data.
    benefit : ndarray
        Doubly robust scores oriented so positive is good.
    folds : ndarray
        Fold label per person (the nuisances' folds).
    settings : PolicySettings
        Budget, depth, smallest leaf and bins.
    """
    tree = learn_tree(prepared, benefit, np.ones(prepared.n, dtype=bool), settings)
    treat, path = tree.apply(prepared.x_codes)
    held_out = cross_fit_policy(prepared, benefit, folds, settings)
    return PolicyFit(settings, tree, treat, path, describe_leaves(tree, prepared), held_out,
                     search_method(settings.depth, len(prepared.covariates)))
