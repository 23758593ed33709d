"""Exact search for the best budget-constrained treatment tree of depth 1 or 2.

The problem: choose a tree (a root split and at most one split in each child) and which of its
leaves to treat, so that the summed benefit of the treated people is as large as possible while
their summed cost stays within the budget. Leaves are treated whole.

Why it is exact and fast: for a fixed root split, each child contributes one of a small set of
(benefit, cost) *options*: treat nothing, treat the whole child, or split it on some feature and
threshold and treat one of the two halves (treating both halves equals treating the whole child).
Every child option comes from a 2-D histogram of (root feature bin, child feature bin), so all
options for all root thresholds of one root feature cost one pass over the data per child
feature. Combining the two children under the budget is a two-list knapsack: sort the right
options by cost, keep a running best benefit, and look up each left option's remaining budget.
Ties are broken towards lower cost, then towards simpler trees (options are listed simplest first).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

NONE, WHOLE = -1, -2  # child options that do not split the child
# Depth-2 search costs n x p^2: beyond this many covariates it runs on the strongest ones (see `screen`).
MAX_SEARCH_FEATURES = 50


@dataclass(frozen=True)
class ChildChoice:
    """What a root child does: nothing (``NONE``), treat whole (``WHOLE``), or split and treat one side."""

    option: int
    feature: int = -1
    threshold: int = -1
    treat_left: bool = False


@dataclass(frozen=True)
class TreeChoice:
    """The optimal tree in bin coordinates.

    ``feature == -1`` means no root split: treat everyone when ``treat_all`` else no one.
    Thresholds are bin indices: rows with ``bin < threshold`` go left.
    """

    benefit: float
    cost: float
    feature: int = -1
    threshold: int = -1
    treat_all: bool = False
    left: ChildChoice | None = None
    right: ChildChoice | None = None


def budget_slack(limit):
    """How far a sum of costs may exceed ``limit`` (a number or an array of them) and still count
    as within the budget.

    A relative tolerance keeps sums of many float costs from failing an exactly-met budget.
    """
    return 1e-9 * np.maximum(1.0, np.abs(limit))


def _within(costs, limit):
    return costs <= limit + budget_slack(limit)


def _child_options(columns, nbins, g, c, j1, depth, min_leaf, unit_cost):
    """All child options for every threshold of root feature ``j1``.

    Returns arrays of shape (n_thresholds, n_options) for the left and right child: benefit,
    cost per option column (layout described in `_decode`), plus the root children's sizes.
    """
    nb1 = int(nbins[j1])
    b1 = columns[j1]
    n_root = np.bincount(b1, minlength=nb1)
    g_root = np.bincount(b1, weights=g, minlength=nb1)
    c_root = n_root.astype(float) if unit_cost else np.bincount(b1, weights=c, minlength=nb1)
    n_left = np.cumsum(n_root)[:-1]
    g_left = np.cumsum(g_root)[:-1]
    c_left = np.cumsum(c_root)[:-1]
    totals = (n_root.sum(), g_root.sum(), c_root.sum())
    sides = {
        "left": ([np.zeros(nb1 - 1), g_left], [np.zeros(nb1 - 1), c_left]),
        "right": ([np.zeros(nb1 - 1), totals[1] - g_left], [np.zeros(nb1 - 1), totals[2] - c_left]),
    }
    if depth >= 2:
        for j2, b2 in enumerate(columns):
            nb2 = int(nbins[j2])
            if nb2 < 2:
                continue
            idx = b1 * nb2 + b2
            shape = (nb1, nb2)
            hist_n = np.bincount(idx, minlength=nb1 * nb2).reshape(shape)
            hist_g = np.bincount(idx, weights=g, minlength=nb1 * nb2).reshape(shape)
            hist_c = hist_n if unit_cost else np.bincount(idx, weights=c, minlength=nb1 * nb2).reshape(shape)
            for side in ("left", "right"):
                parts = []
                for hist in (hist_n, hist_g, hist_c):
                    upto = np.cumsum(hist, axis=0)[:-1]           # rows with b1 < t1
                    node = upto if side == "left" else hist.sum(axis=0) - upto
                    low = np.cumsum(node, axis=1)[:, :-1]          # child rows with b2 < t2
                    parts.append((low, node.sum(axis=1)[:, None] - low))
                (n_lo, n_hi), (g_lo, g_hi), (c_lo, c_hi) = parts
                ok = (n_lo >= min_leaf) & (n_hi >= min_leaf)
                sides[side][0].extend([np.where(ok, g_lo, -np.inf), np.where(ok, g_hi, -np.inf)])
                sides[side][1].extend([c_lo, c_hi])
    return sides, (n_left, totals[0] - n_left)


def search_tree(bins: np.ndarray, nbins: np.ndarray, benefit: np.ndarray, cost: np.ndarray, *,
                budget: float, min_leaf: int = 1, depth: int = 2, root_values: list | None = None,
                max_features: int | None = None) -> TreeChoice:
    """Find the exact best tree of the given depth under the budget.

    Parameters
    ----------
    bins : ndarray of int, shape (n, p)
        Bin index per person and feature; a split at threshold ``s`` sends ``bin < s`` left.
    nbins : ndarray of int, shape (p,)
        Number of bins per feature.
    benefit : ndarray, shape (n,)
        Benefit of treating each person (e.g. oriented doubly robust scores).
    cost : ndarray, shape (n,)
        Cost of treating each person (ones for head-count budgets).
    budget : float
        Largest total cost of the treated people.
    min_leaf : int
        Smallest number of people in any leaf.
    depth : {1, 2}
        Maximum depth of the tree.
    root_values : list, optional
        If given, receives ``(benefit, feature, threshold)`` of the best tree under each root split.
    max_features : int, optional
        With more features than this, search (exactly) only the features chosen by `screen`.

    Returns
    -------
    TreeChoice
        The tree with the largest treated benefit whose treated cost is within the budget.
    """
    return search_trees(bins, nbins, benefit, cost, budgets=[budget], min_leaf=min_leaf, depth=depth,
                        root_values=root_values, max_features=max_features)[0]


def screen(bins: np.ndarray, nbins: np.ndarray, benefit: np.ndarray, keep: int) -> np.ndarray:
    """Indices (ascending) of the ``keep`` features whose best single split is most valuable.

    A feature's strength is the largest benefit a depth-1 tree on it can reach without a budget:
    over thresholds, the positive parts of the two sides' summed benefits. It needs one pass over
    the data per feature, against p passes per feature for the depth-2 search.
    """
    strength = np.full(bins.shape[1], -np.inf)
    for j in range(bins.shape[1]):
        if nbins[j] < 2:
            continue
        by_bin = np.bincount(bins[:, j], weights=benefit, minlength=int(nbins[j]))
        left = np.cumsum(by_bin)[:-1]
        strength[j] = np.max(np.maximum(left, 0) + np.maximum(by_bin.sum() - left, 0))
    return np.sort(np.argsort(-strength, kind="stable")[:keep])


def search_trees(bins: np.ndarray, nbins: np.ndarray, benefit: np.ndarray, cost: np.ndarray, *,
                 budgets, min_leaf: int = 1, depth: int = 2, root_values: list | None = None,
                 max_features: int | None = None) -> list[TreeChoice]:
    """The exact best tree for each of several budgets, sharing the histograms between them.

    The child options do not depend on the budget; only the final knapsack does. A budget curve
    therefore costs one pass over the data per root feature, not one per budget. Parameters are
    those of `search_tree`, with ``budgets`` a sequence of budgets; ``root_values`` (if given)
    receives the root-split values for the first budget. With ``max_features`` and more features
    than that, the search is exact over the features chosen by `screen`. Returns one `TreeChoice`
    per budget.
    """
    bins = np.asarray(bins)
    benefit = np.asarray(benefit, dtype=float)
    n, p = bins.shape
    if depth >= 2 and max_features is not None and p > max_features:
        keep = screen(bins, nbins, benefit, max_features)
        inner: list = []
        choices = search_trees(bins[:, keep], np.asarray(nbins)[keep], benefit, cost, budgets=budgets,
                               min_leaf=min_leaf, depth=depth, root_values=inner)
        if root_values is not None:
            root_values.extend((value, int(keep[j]), t) for value, j, t in inner)
        return [_renumber(choice, keep) for choice in choices]
    cost = np.asarray(cost, dtype=float)
    budgets = [float(b) for b in budgets]
    budget_array = np.asarray(budgets)
    # One contiguous array per feature: the 2-D histograms read columns p times each.
    columns = [np.ascontiguousarray(bins[:, j], dtype=np.intp) for j in range(p)]
    unit_cost = bool(np.all(cost == 1.0))
    min_leaf = max(1, int(min_leaf))
    total_g, total_c = float(benefit.sum()), float(cost.sum())
    best = [TreeChoice(total_g, total_c, treat_all=True)
            if _within(total_c, budget) and total_g > 0 and n >= min_leaf else TreeChoice(0.0, 0.0)
            for budget in budgets]
    for j1 in range(p):
        if nbins[j1] < 2:
            continue
        sides, (n_left, n_right) = _child_options(columns, nbins, benefit, cost, j1, depth,
                                                    min_leaf, unit_cost)
        left_g, left_c = (np.column_stack(a) for a in sides["left"])
        right_g, right_c = (np.column_stack(a) for a in sides["right"])
        valid = np.nonzero((n_left >= min_leaf) & (n_right >= min_leaf))[0]
        if valid.size == 0:
            continue
        # Sort every root threshold's right options by cost at once; keep a running best benefit
        # (first index on ties, i.e. the cheaper and simpler option).
        small_counts = unit_cost and total_c < _MAX_TABLE
        order = _sort_by_cost(right_c[valid], small_counts)
        rc_sorted = np.take_along_axis(right_c[valid], order, axis=1)
        rg_sorted = np.take_along_axis(right_g[valid], order, axis=1)
        running = np.maximum.accumulate(rg_sorted, axis=1)
        previous = np.concatenate([np.full((len(valid), 1), -np.inf), running[:, :-1]], axis=1)
        first_best = np.maximum.accumulate(
            np.where(rg_sorted > previous, np.arange(rg_sorted.shape[1]), 0), axis=1)
        best_right = np.take_along_axis(order, first_best, axis=1)
        tables = _position_tables(rc_sorted, total_c) if small_counts else None
        fronts = _left_frontiers(left_g[valid], left_c[valid], small_counts)
        for k, row in enumerate(valid):
            choices = _combine(left_g[row], left_c[row], right_g[row], right_c[row], rc_sorted[k], best_right[k],
                               budget_array, fronts[k], None if tables is None else tables[k])
            for b, choice in enumerate(choices):
                if choice is None:
                    continue
                value, spent, li, ri = choice
                if root_values is not None and b == 0:
                    root_values.append((value, j1, int(row) + 1))
                if _better(value, spent, best[b]):
                    best[b] = TreeChoice(value, spent, feature=j1, threshold=int(row) + 1,
                                         left=_decode(li, nbins), right=_decode(ri, nbins))
    return best


def _renumber(choice: TreeChoice, features: np.ndarray) -> TreeChoice:
    """A choice found on a subset of features, in the numbering of all features."""
    def child(c: ChildChoice | None) -> ChildChoice | None:
        return c if c is None or c.feature < 0 else replace(c, feature=int(features[c.feature]))

    if choice.feature < 0:
        return choice
    return replace(choice, feature=int(features[choice.feature]), left=child(choice.left), right=child(choice.right))


def _renumber_node(node: "Leaf | Split", features: np.ndarray) -> "Leaf | Split":
    """A tree found on a subset of features, in the numbering of all features."""
    if isinstance(node, Leaf):
        return node
    return Split(int(features[node.feature]), node.threshold, _renumber_node(node.left, features),
                 _renumber_node(node.right, features))


def _better(value, spent, best: TreeChoice) -> bool:
    scale = 1e-12 * max(1.0, abs(value), abs(best.benefit))
    if value > best.benefit + scale:
        return True
    return abs(value - best.benefit) <= scale and spent < best.cost - 1e-12


# Head-count costs are whole numbers up to n: a table then finds, for every room left, how many
# right options fit, in place of a binary search per left option (the search's inner loop).
_MAX_TABLE = 20_000


def _sort_by_cost(costs: np.ndarray, small_counts: bool) -> np.ndarray:
    """Row-wise stable argsort; head counts below `_MAX_TABLE` sort as 16-bit integers, for which
    numpy's stable sort is a radix sort (over ten times faster than on floats)."""
    return np.argsort(costs.astype(np.int16) if small_counts else costs, axis=1, kind="stable")


def _left_frontiers(left_g: np.ndarray, left_c: np.ndarray, small_counts: bool) -> list[np.ndarray]:
    """Per row, the left options that can be chosen: by increasing cost, each giving more than
    every cheaper one. An option that costs more and gives no more than another never wins (it
    leaves less room for the right child), so the knapsack skips it."""
    order = _sort_by_cost(left_c, small_counts)
    ordered = np.take_along_axis(left_g, order, axis=1)
    best_before = np.concatenate([np.full((len(ordered), 1), -np.inf),
                                  np.maximum.accumulate(ordered, axis=1)[:, :-1]], axis=1)
    keep = ordered > best_before
    return [order[k][keep[k]] for k in range(len(order))]


def _position_tables(rc_sorted: np.ndarray, total_cost: float) -> np.ndarray:
    """For head counts: ``table[k, r]`` = (number of right options of row k costing <= r) - 1."""
    size = int(total_cost) + 1
    rows = rc_sorted.shape[0]
    offsets = (rc_sorted.astype(np.intp) + np.arange(rows)[:, None] * size).ravel()
    return np.bincount(offsets, minlength=rows * size).reshape(rows, size).cumsum(axis=1) - 1


def _combine(lg, lc, rg, rc, rc_sorted, best_right, budgets, front, table=None):
    """Best pair (left option, right option) with total cost within each budget.

    ``rc_sorted`` is the right options' costs in increasing order and ``best_right[k]`` the
    right option with the largest benefit among the first k + 1 of them; ``front`` the left
    options that can win (see `_left_frontiers`); ``table`` (integer costs) is this row of
    `_position_tables`. Returns, per budget, ``(benefit, cost, left option,
    right option)``, or None when nothing fits.
    """
    lg, lc = lg[front], lc[front]
    tolerance = budget_slack(budgets)[:, None]
    room = budgets[:, None] - lc[None, :] + tolerance
    if table is None:
        pos = np.searchsorted(rc_sorted, room, side="right") - 1
    else:
        whole = np.floor(room)
        pos = np.where(whole < 0, -1, table[np.clip(whole, 0, len(table) - 1).astype(np.intp)])
    feasible = (pos >= 0) & np.isfinite(lg)[None, :]
    right_pick = best_right[np.where(feasible, pos, 0)]
    totals = np.where(feasible, lg[None, :] + rg[right_pick], -np.inf)
    spent = lc[None, :] + rc[right_pick]
    top = totals.max(axis=1)
    near = totals >= (top - 1e-12 * np.maximum(1.0, np.abs(top)))[:, None]
    li = np.argmin(np.where(near, spent, np.inf), axis=1)  # the cheapest of the best, first on ties
    out = []
    for b in range(len(budgets)):
        if not np.isfinite(top[b]):
            out.append(None)
            continue
        i = int(li[b])
        out.append((float(totals[b, i]), float(spent[b, i]), int(front[i]), int(right_pick[b, i])))
    return out


def _decode(index, nbins) -> ChildChoice:
    """Turn an option column back into a child description.

    Column layout: [NONE, WHOLE, then per child feature j2: its 'treat low side' options for
    thresholds 1..nb2-1, then its 'treat high side' options].
    """
    if index == 0:
        return ChildChoice(NONE)
    if index == 1:
        return ChildChoice(WHOLE)
    offset = 2
    for j2, nb2 in enumerate(nbins):
        if nb2 < 2:
            continue
        width = int(nb2) - 1
        if index < offset + width:
            return ChildChoice(0, j2, index - offset + 1, True)
        if index < offset + 2 * width:
            return ChildChoice(0, j2, index - offset - width + 1, False)
        offset += 2 * width
    raise IndexError(index)


@dataclass(frozen=True)
class Leaf:
    """A leaf: everyone in it is treated or no one is."""

    treat: bool


@dataclass(frozen=True)
class Split:
    """An inner node in bin coordinates: rows with ``bin < threshold`` go left."""

    feature: int
    threshold: int
    left: "Leaf | Split"
    right: "Leaf | Split"


def to_node(choice: TreeChoice) -> Leaf | Split:
    """The search result as a plain recursive tree."""
    if choice.feature < 0:
        return Leaf(bool(choice.treat_all))

    def child(c: ChildChoice) -> Leaf | Split:
        if c.option == 0:
            return Split(c.feature, c.threshold, Leaf(c.treat_left), Leaf(not c.treat_left))
        return Leaf(c.option == WHOLE)

    return Split(choice.feature, choice.threshold, child(choice.left), child(choice.right))


def simplify(node: Leaf | Split) -> Leaf | Split:
    """Merge splits whose two sides make the same decision (they change nothing for anyone)."""
    if isinstance(node, Leaf):
        return node
    left, right = simplify(node.left), simplify(node.right)
    if isinstance(left, Leaf) and isinstance(right, Leaf) and left.treat == right.treat:
        return left
    return Split(node.feature, node.threshold, left, right)


def assign(node: Leaf | Split, bins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a tree in bin coordinates: (treat 0/1, leaf path) per row.

    Leaf paths spell the way down: ``""`` (no split), ``"L"``, ``"RL"``, ``"LRR"``, ...
    """
    n = bins.shape[0]
    treat = np.zeros(n, dtype=int)
    path = np.full(n, "", dtype=object)

    def walk(current, rows, prefix):
        if isinstance(current, Leaf):
            treat[rows] = int(current.treat)
            path[rows] = prefix
            return
        low = bins[rows, current.feature] < current.threshold
        walk(current.left, rows[low], prefix + "L")
        walk(current.right, rows[~low], prefix + "R")

    walk(node, np.arange(n), "")
    return treat, path


def search_depth3(bins: np.ndarray, nbins: np.ndarray, benefit: np.ndarray, cost: np.ndarray, *,
                  budget: float, min_leaf: int = 1, n_roots: int = 6, grid: int = 11,
                  max_features: int | None = None) -> Leaf | Split:
    """Depth-3 trees by look-ahead (not exhaustive): documented approximation.

    The ``n_roots`` root splits whose best depth-2 trees are most valuable are each given an exact
    depth-2 subtree in both children; the budget is shared between the children on a grid of
    ``grid`` shares of the left child's spending, and the right child gets the exact best tree for
    what is left. The exact depth-2 optimum is always a candidate, so the result is never worse.
    With ``max_features`` and more features than that, everything runs on the features chosen by
    `screen`.
    """
    if max_features is not None and bins.shape[1] > max_features:
        keep = screen(bins, nbins, np.asarray(benefit, dtype=float), max_features)
        node = search_depth3(bins[:, keep], np.asarray(nbins)[keep], benefit, cost, budget=budget,
                             min_leaf=min_leaf, n_roots=n_roots, grid=grid)
        return _renumber_node(node, keep)
    roots: list = []
    best_value = -np.inf
    best_node: Leaf | Split = Leaf(False)
    depth2 = search_tree(bins, nbins, benefit, cost, budget=budget, min_leaf=min_leaf, depth=2, root_values=roots)
    best_value, best_cost, best_node = depth2.benefit, depth2.cost, to_node(depth2)
    roots.sort(key=lambda r: (-r[0], r[1], r[2]))
    for _, feature, threshold in roots[:n_roots]:
        go_left = bins[:, feature] < threshold
        left_rows, right_rows = np.nonzero(go_left)[0], np.nonzero(~go_left)[0]
        left_cost_total = cost[left_rows].sum()
        # The child options do not depend on the budget: one search per child serves every share.
        shares = [min(budget, share * left_cost_total) for share in np.linspace(0, 1, grid)]
        lefts = search_trees(bins[left_rows], nbins, benefit[left_rows], cost[left_rows], budgets=shares,
                             min_leaf=min_leaf, depth=2)
        first_of_cost: dict[float, TreeChoice] = {}
        for left in lefts:
            first_of_cost.setdefault(left.cost, left)
        lefts = list(first_of_cost.values())
        rights = search_trees(bins[right_rows], nbins, benefit[right_rows], cost[right_rows],
                              budgets=[budget - left.cost for left in lefts], min_leaf=min_leaf, depth=2)
        for left, right in zip(lefts, rights):
            value, spent = left.benefit + right.benefit, left.cost + right.cost
            if value > best_value + 1e-12 * max(1.0, abs(value)) or (
                    abs(value - best_value) <= 1e-12 * max(1.0, abs(value)) and spent < best_cost):
                best_value, best_cost = value, spent
                best_node = Split(feature, threshold, to_node(left), to_node(right))
    return simplify(best_node)
