"""The depth-3 look-ahead shares one child search across budget shares: it must find the same
tree value as searching each share on its own (the plain form of the documented procedure)."""

import numpy as np
import pytest

from targeting.policy.lookahead import search_depth3
from targeting.policy.search import search_tree


def plain_look_ahead(bins, nbins, benefit, cost, budget, min_leaf, n_roots=6, grid=11):
    """The look-ahead written out: one exact depth-2 search per child and budget share."""
    roots: list = []
    best = search_tree(bins, nbins, benefit, cost, budget=budget, min_leaf=min_leaf, depth=2, root_values=roots)
    best_value = best.benefit
    roots.sort(key=lambda r: (-r[0], r[1], r[2]))
    for _, feature, threshold in roots[:n_roots]:
        left, right = bins[:, feature] < threshold, bins[:, feature] >= threshold
        for share in np.linspace(0, 1, grid):
            a = search_tree(bins[left], nbins, benefit[left], cost[left], budget=min(budget, share * cost[left].sum()),
                            min_leaf=min_leaf, depth=2)
            b = search_tree(bins[right], nbins, benefit[right], cost[right], budget=budget - a.cost,
                            min_leaf=min_leaf, depth=2)
            best_value = max(best_value, a.benefit + b.benefit)
    return best_value


def tree_value(node, bins, benefit):
    from targeting.policy.tree import assign
    treat, _ = assign(node, bins)
    return float(benefit[treat.astype(bool)].sum()), treat.astype(bool)


@pytest.mark.parametrize("seed, unit_cost", [(0, True), (1, True), (2, False), (3, False)])
def test_shared_search_finds_the_plain_look_ahead_value(seed, unit_cost):
    rng = np.random.default_rng(seed)
    n, p = 400, 4
    nbins = np.array([8, 6, 5, 7])
    bins = np.column_stack([rng.integers(0, k, n) for k in nbins])
    benefit = rng.normal(size=n) + 0.8 * (bins[:, 0] > 4) - 0.6 * (bins[:, 2] < 2)
    cost = np.ones(n) if unit_cost else rng.uniform(0.5, 3.0, n).round(2)
    budget = 0.35 * cost.sum()
    node = search_depth3(bins, nbins, benefit, cost, budget=budget, min_leaf=15)
    value, treated = tree_value(node, bins, benefit)
    assert cost[treated].sum() <= budget + 1e-9
    assert value == pytest.approx(plain_look_ahead(bins, nbins, benefit, cost, budget, 15), rel=1e-12, abs=1e-9)
