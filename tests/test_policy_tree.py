"""The exact tree search against brute force over every tree and every leaf assignment."""

import itertools

import numpy as np
import pytest

from targeting.policy.lookahead import search_depth3
from targeting.policy.search import screen, search_tree, search_trees, to_node
from targeting.policy.tree import assign


def _leaves_of_all_trees(bins, nbins, depth):
    """Every tree of depth <= `depth` as a list of leaf masks."""
    n, p = bins.shape
    everyone = np.ones(n, dtype=bool)
    yield [everyone]
    splits = [(j, s) for j in range(p) for s in range(1, nbins[j])]
    for j, s in splits:
        left, right = bins[:, j] < s, bins[:, j] >= s
        child_sets = []
        for node in (left, right):
            options = [[node]]
            if depth >= 2:
                for j2, s2 in splits:
                    low = bins[:, j2] < s2
                    options.append([node & low, node & ~low])
            child_sets.append(options)
        for left_leaves in child_sets[0]:
            for right_leaves in child_sets[1]:
                yield left_leaves + right_leaves


def brute_force(bins, nbins, g, c, budget, min_leaf, depth):
    best = 0.0
    for leaves in _leaves_of_all_trees(bins, nbins, depth):
        if any(leaf.sum() < min_leaf for leaf in leaves):
            continue
        for treat in itertools.product((0, 1), repeat=len(leaves)):
            mask = np.zeros(len(g), dtype=bool)
            for leaf, chosen in zip(leaves, treat):
                if chosen:
                    mask |= leaf
            if c[mask].sum() <= budget + 1e-9 and g[mask].sum() > best:
                best = g[mask].sum()
    return best


@pytest.mark.parametrize("case", range(60))
def test_search_agrees_with_brute_force(case):
    rng = np.random.default_rng(case)
    n = int(rng.integers(5, 200))
    p = int(rng.integers(1, 4))
    nbins = rng.integers(1, 5, size=p)
    bins = np.column_stack([rng.integers(0, nb, n) for nb in nbins])
    g = rng.normal(rng.normal(0, 0.5), 1, n)
    c = np.ones(n) if case % 2 else rng.uniform(0.1, 3, n)
    budget = float(rng.uniform(0, 1.1) * c.sum())
    min_leaf = int(rng.integers(1, max(2, n // 4)))
    depth = 1 if case % 5 == 0 else 2
    choice = search_tree(bins, nbins, g, c, budget=budget, min_leaf=min_leaf, depth=depth)
    expected = brute_force(bins, nbins, g, c, budget, min_leaf, depth)
    assert choice.benefit == pytest.approx(expected, rel=1e-9, abs=1e-9)
    treat, path = assign(to_node(choice), bins)
    assert c[treat == 1].sum() <= budget + 1e-9
    assert g[treat == 1].sum() == pytest.approx(choice.benefit, rel=1e-9, abs=1e-9)
    for leaf in set(path):
        assert (path == leaf).sum() >= min_leaf
        assert len(set(treat[path == leaf])) == 1, "leaves are treated whole"


@pytest.mark.parametrize("case", range(20))
def test_shared_search_over_many_budgets_is_exact_for_each(case):
    """One histogram pass for a budget curve must give, per budget, the brute-force optimum."""
    rng = np.random.default_rng(500 + case)
    n, p = int(rng.integers(20, 150)), int(rng.integers(1, 4))
    nbins = rng.integers(2, 5, size=p)
    bins = np.column_stack([rng.integers(0, nb, n) for nb in nbins])
    g = rng.normal(0.2, 1, n)
    c = np.ones(n) if case % 2 else rng.uniform(0.1, 3, n)
    budgets = sorted(rng.uniform(0, 1.1, size=5) * c.sum())
    min_leaf = int(rng.integers(1, max(2, n // 5)))
    choices = search_trees(bins, nbins, g, c, budgets=budgets, min_leaf=min_leaf, depth=2)
    for budget, choice in zip(budgets, choices):
        assert choice.benefit == pytest.approx(brute_force(bins, nbins, g, c, budget, min_leaf, 2), rel=1e-9, abs=1e-9)
        assert choice == search_tree(bins, nbins, g, c, budget=budget, min_leaf=min_leaf, depth=2)
        treat, _ = assign(to_node(choice), bins)
        assert c[treat == 1].sum() <= budget + 1e-9


@pytest.mark.parametrize("case", range(6))
def test_wide_search_screens_then_searches_exactly_in_the_original_numbering(case):
    """With more features than max_features, the tree is the exact optimum over the screened
    features, reported with the original feature numbers; when the signal lies in the screened
    features it equals the full exact search."""
    rng = np.random.default_rng(900 + case)
    n, p = 400, 9
    nbins = np.full(p, 4)
    bins = rng.integers(0, 4, size=(n, p))
    signal = rng.choice(p, size=2, replace=False)
    g = np.where(bins[:, signal[0]] >= 2, 1.0, -1.0) + np.where(bins[:, signal[1]] >= 1, 0.8, -0.8) + rng.normal(0, 0.3, n)
    c = np.ones(n)
    kept = screen(bins, nbins, g, 3)
    assert set(signal) <= set(kept.tolist())
    screened = search_tree(bins, nbins, g, c, budget=0.4 * n, min_leaf=10, max_features=3)
    on_subset = search_tree(bins[:, kept], nbins[kept], g, c, budget=0.4 * n, min_leaf=10)
    assert screened.benefit == pytest.approx(on_subset.benefit)
    assert screened.feature == kept[on_subset.feature]
    for mine, theirs in ((screened.left, on_subset.left), (screened.right, on_subset.right)):
        assert mine.feature == (kept[theirs.feature] if theirs.feature >= 0 else theirs.feature)
    full = search_tree(bins, nbins, g, c, budget=0.4 * n, min_leaf=10)
    assert screened.benefit == pytest.approx(full.benefit)
    treat, _ = assign(to_node(screened), bins)
    assert g[treat == 1].sum() == pytest.approx(screened.benefit)
    node3 = search_depth3(bins, nbins, g, c, budget=0.4 * n, min_leaf=10, max_features=3)
    treat3, _ = assign(node3, bins)
    assert treat3.sum() <= 0.4 * n and g[treat3 == 1].sum() >= full.benefit - 1e-9


@pytest.mark.parametrize("case", range(12))
def test_depth3_lookahead_is_feasible_and_never_worse_than_depth2(case):
    rng = np.random.default_rng(100 + case)
    n, p = 150, 3
    nbins = np.full(p, 4)
    bins = rng.integers(0, 4, size=(n, p))
    g = rng.normal(0.1, 1, n)
    c = rng.uniform(0.5, 2, n)
    budget = 0.4 * c.sum()
    depth2 = search_tree(bins, nbins, g, c, budget=budget, min_leaf=5)
    treat, path = assign(search_depth3(bins, nbins, g, c, budget=budget, min_leaf=5), bins)
    assert c[treat == 1].sum() <= budget + 1e-9
    assert g[treat == 1].sum() >= depth2.benefit - 1e-9
    assert max(len(p) for p in path) <= 3
    for leaf in set(path):
        assert (path == leaf).sum() >= 5


@pytest.mark.parametrize("seed", range(200))
def test_rounded_thresholds_split_the_data_exactly_like_the_data_value(seed):
    from targeting.policy.binning import roundest_between

    rng = np.random.default_rng(seed)
    low = float(rng.normal(0, 10.0 ** rng.integers(-3, 6)))
    high = low + float(abs(rng.normal(0, 10.0 ** rng.integers(-6, 3)))) + 1e-9
    cut = roundest_between(low, high)
    assert low < cut <= high
    assert len(f"{cut:.12g}") <= len(f"{high:.12g}")


@pytest.mark.parametrize("case", range(12))
def test_skipping_root_splits_by_their_bound_changes_no_tree(case, monkeypatch):
    """The search solves the knapsack only where a root split's upper bound can reach the best
    tree found; with every root split solved it must return the very same trees (and root values)."""
    from targeting.policy import search

    rng = np.random.default_rng(700 + case)
    n, p = int(rng.integers(150, 600)), int(rng.integers(9, 14))
    nbins = rng.integers(2, 12, size=p)
    bins = np.column_stack([rng.integers(0, nb, n) for nb in nbins])
    g = rng.normal(rng.normal(0, 0.3), 1, n) + 0.5 * (bins[:, 0] > 2)
    if case % 3 == 0:
        g = np.round(g)  # many ties
    c = np.ones(n) if case % 2 else rng.uniform(0.1, 3, n)
    budgets = sorted(rng.uniform(0, 1.1, size=1 if case % 4 < 2 else 7) * c.sum())
    min_leaf = int(rng.integers(1, max(2, n // 6)))
    bounded_roots: list = []
    bounded = search_trees(bins, nbins, g, c, budgets=budgets, min_leaf=min_leaf, root_values=bounded_roots)
    monkeypatch.setattr(search, "_BOUND_FROM_FEATURES", 10 ** 9)
    full_roots: list = []
    assert search_trees(bins, nbins, g, c, budgets=budgets, min_leaf=min_leaf, root_values=full_roots) == bounded
    assert full_roots == bounded_roots
