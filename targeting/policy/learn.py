"""Learn the budgeted treatment tree, describe it in words, and evaluate it honestly.

The deployed tree is learned on everyone. Its value is estimated by cross-fitting the *learning
procedure*: for each fold, a tree is learned on the other folds (same budget, scaled to their
size) and applied to the held-out fold, whose doubly robust scores then say what that decision
was worth. No one's outcome is used both to choose and to judge their treatment.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from targeting.policy.binning import Constraint, FeatureBins, make_bins, numeric_binning
from targeting.data import query
from targeting.policy.knapsack import budget_slack
from targeting.policy.lookahead import search_depth3
from targeting.policy.search import MAX_SEARCH_FEATURES, search_trees, to_node
from targeting.policy.tree import Leaf, Split, assign, renumber, simplify
from targeting.data.prepare import Prepared


SEARCH_METHODS = {
    1: "exact search over all depth-1 trees",
    2: "exact search over all depth-2 trees",
    3: ("look-ahead for depth 3 (exact depth-2 subtrees on each child's strongest covariates, under the best "
        "root splits; not exhaustive)"),
}


def search_method(depth: int, n_covariates: int) -> str:
    """How the tree was searched, in words (with the covariate screen when the data are wide)."""
    text = SEARCH_METHODS[depth]
    if depth >= 2 and n_covariates > MAX_SEARCH_FEATURES:
        text += (f", on the {MAX_SEARCH_FEATURES} of {n_covariates} covariates whose best single split is most "
                 "valuable (screened on the same training data)")
    return text


@dataclass(frozen=True)
class PolicySettings:
    """How every tree of a report is searched: the budget (cost units for everyone), depth,
    smallest leaf and thresholds per numeric covariate. One object travels to every search."""

    budget_units: float
    depth: int
    min_leaf: int
    max_bins: int


@dataclass(frozen=True)
class LearnedTree:
    """A tree in bin coordinates with the binning that gives those coordinates meaning."""

    node: Leaf | Split
    specs: tuple[FeatureBins, ...]

    def apply(self, x_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(treat 0/1, leaf path) for new rows (only the covariates the tree splits on are binned)."""
        used = sorted(_split_features(self.node))
        bins = np.column_stack([self.specs[j].to_bins(x_codes[:, j]) for j in used] or [np.zeros(len(x_codes), int)])
        position = np.zeros(len(self.specs), dtype=int)
        position[used] = np.arange(len(used))
        return assign(renumber(self.node, position), bins)

    @property
    def root_feature(self) -> str:
        """Name of the covariate of the first split ("" when the tree does not split)."""
        return self.specs[self.node.feature].covariate.name if isinstance(self.node, Split) else ""


def _split_features(node: Leaf | Split) -> set[int]:
    if isinstance(node, Leaf):
        return set()
    return {node.feature} | _split_features(node.left) | _split_features(node.right)


@dataclass(frozen=True)
class CrossFittedPolicy:
    """Held-out decisions: each person's treatment from a tree learned without them."""

    treat: np.ndarray
    path: np.ndarray
    root_features: tuple[str, ...]


def default_min_leaf(n: int) -> int:
    """Smallest leaf: 5% of people, at least 20 (fewer only for tiny data)."""
    return int(min(max(20, round(0.05 * n)), max(1, n // 4)))


def budget_for_subset(prepared: Prepared, rows: np.ndarray, budget_units: float) -> float:
    """Scale a budget (in cost units for everyone) to a subset, in proportion to its cost."""
    return budget_units * prepared.cost[rows].sum() / prepared.cost.sum()


def learn_tree(prepared: Prepared, benefit: np.ndarray, rows: np.ndarray, settings: PolicySettings) -> LearnedTree:
    """Learn the exact best tree on ``rows`` (boolean mask) under ``settings``."""
    return learn_trees(prepared, benefit, rows, settings, budgets_units=[settings.budget_units])[0]


def learn_trees(prepared: Prepared, benefit: np.ndarray, rows: np.ndarray, settings: PolicySettings, *,
                budgets_units) -> list[LearnedTree]:
    """`learn_tree` for several budgets at once: one binning and, up to depth 2, one histogram pass."""
    x = prepared.x_codes[rows]
    bins, n_bins, specs = make_bins(x, prepared.covariates, benefit[rows], settings.max_bins,
                                    numeric=_numeric_binning(prepared, rows, settings.max_bins))
    if settings.depth == 3:
        nodes = [search_depth3(bins, n_bins, benefit[rows], prepared.cost[rows], budget=units,
                               min_leaf=settings.min_leaf, max_features=MAX_SEARCH_FEATURES)
                 for units in budgets_units]
    else:
        choices = search_trees(bins, n_bins, benefit[rows], prepared.cost[rows], budgets=budgets_units,
                               min_leaf=settings.min_leaf, depth=settings.depth, max_features=MAX_SEARCH_FEATURES)
        nodes = [simplify(to_node(choice)) for choice in choices]
    return [LearnedTree(node, tuple(specs)) for node in nodes]


# Numeric cuts and bins depend on the rows only, not on the scores: the drawn rule, the budget curve,
# the harm search and the safer rule all bin everyone, so they share that binning (kept for the
# last few data sets, held weakly; fold trees each bin their own rows once).
_EVERYONE_BINNINGS: OrderedDict = OrderedDict()
_KEEP_BINNINGS = 2


def _numeric_binning(prepared: Prepared, rows: np.ndarray, max_bins: int):
    if not rows.all():
        return numeric_binning(prepared.x_codes[rows], prepared.covariates, max_bins)
    key = (id(prepared), max_bins)
    held = _EVERYONE_BINNINGS.get(key)
    if held is not None and held[0]() is prepared:
        return held[1]
    binning = numeric_binning(prepared.x_codes, prepared.covariates, max_bins)
    _EVERYONE_BINNINGS[key] = (weakref.ref(prepared), binning)
    while len(_EVERYONE_BINNINGS) > _KEEP_BINNINGS:
        _EVERYONE_BINNINGS.popitem(last=False)
    return binning


def cross_fit_policy(prepared: Prepared, benefit: np.ndarray, folds: np.ndarray,
                     settings: PolicySettings) -> CrossFittedPolicy:
    """Learn a tree on each fold's complement and apply it to the fold."""
    return cross_fit_policies(prepared, benefit, folds, settings, budgets_units=[settings.budget_units])[0]


def cross_fit_policies(prepared: Prepared, benefit: np.ndarray, folds: np.ndarray, settings: PolicySettings, *,
                       budgets_units) -> list[CrossFittedPolicy]:
    """`cross_fit_policy` for several budgets (in cost units for everyone), one per entry.

    Each fold's complement gets the budget and smallest leaf scaled to its size.
    """
    count = len(budgets_units)
    treat = [np.zeros(prepared.n, dtype=int) for _ in range(count)]
    path = [np.empty(prepared.n, dtype=object) for _ in range(count)]
    roots: list[list[str]] = [[] for _ in range(count)]
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        scale = train.sum() / prepared.n
        fold_settings = replace(settings, min_leaf=max(1, int(round(settings.min_leaf * scale))))
        trees = learn_trees(prepared, benefit, train, fold_settings,
                            budgets_units=[budget_for_subset(prepared, train, units) for units in budgets_units])
        for b, tree in enumerate(trees):
            treat[b][test], path[b][test] = tree.apply(prepared.x_codes[test])
            roots[b].append(tree.root_feature)
    return [CrossFittedPolicy(treat[b], path[b], tuple(roots[b])) for b in range(count)]


def describe_leaves(tree: LearnedTree, prepared: Prepared) -> list[dict[str, Any]]:
    """One entry per leaf, left to right: path, treat flag, plain-words rule and pandas query.

    Conditions on the same covariate along a path are merged ("age from 40 to under 65"), so each
    rule names each covariate once, in the order the tree first splits on it.
    """
    has_missing = {c.name: c.n_missing > 0 for c in prepared.covariates}
    everyone = query.everyone(query.column(prepared.treatment))
    leaves: list[dict[str, Any]] = []

    def walk(node, path, constraints: dict[int, Constraint]):
        if isinstance(node, Leaf):
            parts = [c.render(has_missing[c.spec.covariate.name]) for c in constraints.values()]
            leaves.append({
                "path": path, "treat": bool(node.treat),
                "rule": " and ".join(text for text, _ in parts) or "everyone",
                "query": " and ".join(q for _, q in parts if q) or everyone,
                "conditions": [text for text, _ in parts],
            })
            return
        for side, child in (("L", node.left), ("R", node.right)):
            narrowed = {k: v.copy() for k, v in constraints.items()}
            narrowed.setdefault(node.feature, Constraint(tree.specs[node.feature])).narrow(node.threshold, side == "L")
            walk(child, path + side, narrowed)

    walk(tree.node, "", {})
    return leaves


def tree_as_dict(tree: LearnedTree, leaf_stats: dict[str, dict]) -> dict[str, Any]:
    """The tree as nested plain dicts (the shape of EconML's tree interpreter output)."""

    def walk(node, path) -> dict[str, Any]:
        if isinstance(node, Leaf):
            return {"leaf": path or "root", **leaf_stats.get(path, {"treat": bool(node.treat)})}
        spec = tree.specs[node.feature]
        out: dict[str, Any] = {"feature": spec.covariate.name, "kind": spec.covariate.kind}
        if spec.covariate.kind == "numeric":
            if node.threshold > len(spec.cuts):
                out["left_if"] = "recorded"
            else:
                out["threshold"] = spec.cuts[node.threshold - 1]
                out["left_if"] = "below threshold"
        else:
            out["left_levels"] = spec.left_levels(node.threshold)
            out["left_if"] = "level in left_levels"
        out["left"], out["right"] = walk(node.left, path + "L"), walk(node.right, path + "R")
        return out

    return walk(tree.node, "")


def rank_policy(score: np.ndarray, cost: np.ndarray, budget_units: float) -> np.ndarray:
    """Treat people in order of predicted benefit per unit cost, while positive and affordable."""
    ratio = np.where(cost > 0, score / np.where(cost > 0, cost, 1), np.where(score > 0, np.inf, -np.inf))
    order = np.argsort(-ratio, kind="stable")
    positive = score[order] > 0
    affordable = np.cumsum(cost[order]) <= budget_units + budget_slack(budget_units)
    chosen = order[positive & affordable]
    treat = np.zeros(len(score), dtype=int)
    treat[chosen] = 1
    return treat
