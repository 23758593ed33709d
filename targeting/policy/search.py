"""Exact search for the best budget-constrained treatment tree of depth 1 or 2.

The problem: choose a tree (a root split and at most one split in each child) and which of its
leaves to treat, so that the summed benefit of the treated people is as large as possible while
their summed cost stays within the budget. Leaves are treated whole.

Why it is exact and fast: for a fixed root split, each child contributes one of a small set of
(benefit, cost) *options*: treat nothing, treat the whole child, or split it on some feature and
threshold and treat one of the two halves (treating both halves equals treating the whole child).
Every child option comes from a 2-D histogram of (root feature bin, child feature bin), so all
options for all root thresholds of one root feature cost one pass over the data (one histogram
over every child feature at once). Combining the two children under the budget is a two-list
knapsack (`targeting.policy.knapsack`). Ties are broken towards lower cost, then towards simpler
trees (options are listed simplest first).

Why it is faster than trying every root split: options that a cheaper, earlier-listed option
beats are dropped before the knapsack, and a root split gets a knapsack only if an upper bound on
its value (each child's best option within the budget on its own, one child getting at most half)
reaches the best tree found so far; root features are visited strongest first, so that best is
soon good. Neither step can drop the optimum, so the trees are those of the full search.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from targeting.policy.bounds import child_bound, matters
from targeting.policy.knapsack import (MAX_TABLE, budget_slack, combine, left_frontiers, position_tables,
                                       sort_by_cost)
from targeting.policy.tree import Leaf, Split

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


def _within(costs, limit):
    return costs <= limit + budget_slack(limit)


@dataclass(frozen=True)
class _Grid:
    """The child features on a padded (feature, bin) grid, so one histogram pass per root feature
    serves every child feature.

    ``cells[i, f]`` is person i's cell ``f * width + bin`` for child feature ``features[f]``;
    ``option_id[f, side, t]`` is the column (in `_decode`'s layout) of the option "split on
    ``features[f]`` at threshold ``t + 1`` and treat the low (side 0) or high (side 1) half",
    or -1 where the feature has fewer bins than the grid.
    """

    features: np.ndarray
    width: int
    cells: np.ndarray
    option_id: np.ndarray
    by_width: tuple[tuple[int, np.ndarray], ...]  # (bins, positions in `features`) per bin count

    @classmethod
    def build(cls, columns: np.ndarray, nbins: np.ndarray, depth: int) -> "_Grid":
        features = np.nonzero(nbins >= 2)[0] if depth >= 2 else np.zeros(0, dtype=int)
        width = int(nbins[features].max()) if features.size else 1
        cells = columns[:, features] + np.arange(features.size) * width
        option_id = np.full((features.size, 2, width - 1), -1)
        offset = 2
        for f, j in enumerate(features):
            count = int(nbins[j]) - 1
            option_id[f, 0, :count] = offset + np.arange(count)
            option_id[f, 1, :count] = offset + count + np.arange(count)
            offset += 2 * count
        counts = nbins[features]
        by_width = tuple((int(k), np.nonzero(counts == k)[0]) for k in np.unique(counts))
        return cls(features, width, np.ascontiguousarray(cells), option_id, by_width)

    def feature_totals(self, node: np.ndarray) -> np.ndarray:
        """Sums over each child feature's own bins (rows, features), added up exactly as a sum over
        a histogram of that feature alone would be, so both halves of a split round alike."""
        out = np.empty(node.shape[:2])
        for count, positions in self.by_width:
            out[:, positions] = node[:, positions, :count].sum(axis=2)
        return out


# Rows per chunk of the joint histogram, so its index array stays near 32 MB whatever n and p.
_CHUNK_CELLS = 1 << 22


def _joint_histograms(root: np.ndarray, n_root_bins: int, grid: _Grid, weights) -> list[np.ndarray]:
    """Per weight (None = head count), the sums over people of each (root bin, child cell):
    arrays of shape (n_root_bins, n_child_features, width)."""
    q = grid.features.size
    size = q * grid.width
    out = [np.zeros(n_root_bins * size) for _ in weights]
    step = max(1, _CHUNK_CELLS // max(q, 1))
    for start in range(0, len(root), step):
        idx = (root[start:start + step, None] * size + grid.cells[start:start + step]).ravel()
        for k, w in enumerate(weights):
            out[k] += np.bincount(idx, weights=None if w is None else np.repeat(w[start:start + step], q),
                                  minlength=n_root_bins * size)
    return [h.reshape(n_root_bins, q, grid.width) for h in out]


def _child_options(total, node, grid: _Grid, min_leaf, unit_cost=False):
    """The options of one side of each root threshold (rows), compacted to those that can win.

    ``total`` holds the child's (count, benefit, cost) per row; ``node`` the same sums by child
    feature and bin, arrays of shape (rows, features, width). An option "treat one half" survives
    only if no option listed before it (in `_decode`'s order) and costing no more gives at least
    as much: treating nothing (benefit 0), or a lower threshold's low half (same feature,
    cheaper), or a higher threshold's high half giving strictly more. The knapsack never picks
    the others (see `left_frontiers` and the running best of the right side), so dropping them
    is exact and shrinks the sort that follows about tenfold.

    Returns (benefit, cost, option id) arrays of shape (rows, width): column 0 is NONE, column 1
    WHOLE, then the surviving options in `_decode` order, padded with benefit -inf. With
    ``unit_cost`` the costs are the counts.
    """
    rows = len(total[0])
    halves = []
    for a in node[:2] if unit_cost else node:
        low = np.cumsum(a, axis=2)[:, :, :-1]                 # child rows with bin < threshold
        high = grid.feature_totals(a)[:, :, None] - low
        halves.append(np.stack([low, high], axis=2))          # (rows, features, side, thresholds)
    n_half, g_half, c_half = halves if not unit_cost else (*halves, halves[0])
    ok = (n_half >= min_leaf).all(axis=2, keepdims=True) & (g_half > 0)
    g = np.where(ok, g_half, -np.inf)
    lo, hi = g[:, :, 0], g[:, :, 1]
    earlier = np.maximum.accumulate(lo, axis=2)
    keep_lo = lo > np.concatenate([np.full(lo.shape[:2] + (1,), -np.inf), earlier[:, :, :-1]], axis=2)
    later = np.maximum.accumulate(hi[:, :, ::-1], axis=2)[:, :, ::-1]
    keep_hi = hi >= np.concatenate([later[:, :, 1:], np.full(hi.shape[:2] + (1,), -np.inf)], axis=2)
    keep = np.stack([keep_lo, keep_hi & np.isfinite(hi)], axis=2)
    row, feature, side, threshold = np.nonzero(keep)
    counts = np.bincount(row, minlength=rows)
    width = 2 + int(counts.max(initial=0))
    slot = 2 + np.arange(row.size) - np.repeat(np.cumsum(counts) - counts, counts)
    benefit = np.full((rows, width), -np.inf)
    cost = np.zeros((rows, width))
    ids = np.zeros((rows, width), dtype=np.intp)
    benefit[:, 0], benefit[:, 1], cost[:, 1], ids[:, 1] = 0.0, total[1], total[2], 1
    cost[:, 2:] = total[2][:, None]  # padding sorts last and is never picked (benefit -inf)
    benefit[row, slot] = g_half[row, feature, side, threshold]
    cost[row, slot] = c_half[row, feature, side, threshold]
    ids[row, slot] = grid.option_id[feature, side, threshold]
    return benefit, cost, ids


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
        If given, receives ``(benefit, feature, threshold)`` of the six root splits with the most
        valuable trees (see `search_trees`).
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
    return np.sort(np.argsort(-_strengths(bins, nbins, benefit), kind="stable")[:keep])


def _strengths(bins: np.ndarray, nbins: np.ndarray, benefit: np.ndarray) -> np.ndarray:
    """Per feature, the largest benefit of a depth-1 tree on it without a budget (-inf: no split)."""
    strength = np.full(bins.shape[1], -np.inf)
    for j in range(bins.shape[1]):
        if nbins[j] < 2:
            continue
        by_bin = np.bincount(bins[:, j], weights=benefit, minlength=int(nbins[j]))
        left = np.cumsum(by_bin)[:-1]
        strength[j] = np.max(np.maximum(left, 0) + np.maximum(by_bin.sum() - left, 0))
    return strength


def search_trees(bins: np.ndarray, nbins: np.ndarray, benefit: np.ndarray, cost: np.ndarray, *,
                 budgets, min_leaf: int = 1, depth: int = 2, root_values: list | None = None,
                 n_root_values: int = 6, max_features: int | None = None) -> list[TreeChoice]:
    """The exact best tree for each of several budgets, sharing the histograms between them.

    The child options do not depend on the budget; only the final knapsack does. A budget curve
    therefore costs one pass over the data per root feature, not one per budget. Parameters are
    those of `search_tree`, with ``budgets`` a sequence of budgets; ``root_values`` (if given)
    receives ``(benefit, feature, threshold)`` of the ``n_root_values`` root splits with the most
    valuable trees under the first budget, best first (ties: lower feature, then threshold). With
    ``max_features`` and more features than that, the search is exact over the features chosen by
    `screen`. Returns one `TreeChoice` per budget.

    Root features are visited strongest first (`screen`'s strength), and the knapsack is solved
    only for root splits whose upper bound on their value (`targeting.policy.bounds`) reaches the best value found
    so far for some budget; the others cannot win (nor be among the ``n_root_values`` best), so the
    result is that of the full search. Ties between equally valuable trees are settled as if every
    root split had been visited in feature and threshold order.
    """
    bins = np.asarray(bins)
    benefit = np.asarray(benefit, dtype=float)
    n, p = bins.shape
    if depth >= 2 and max_features is not None and p > max_features:
        keep = screen(bins, nbins, benefit, max_features)
        inner: list = []
        choices = search_trees(bins[:, keep], np.asarray(nbins)[keep], benefit, cost, budgets=budgets,
                               min_leaf=min_leaf, depth=depth, root_values=inner, n_root_values=n_root_values)
        if root_values is not None:
            root_values.extend((value, int(keep[j]), t) for value, j, t in inner)
        return [_renumber(choice, keep) for choice in choices]
    problem = _Problem.build(bins, nbins, benefit, cost, min_leaf, depth)
    budget_array = np.asarray([float(b) for b in budgets])
    initial = [TreeChoice(problem.total_g, problem.total_c, treat_all=True)
               if _within(problem.total_c, budget) and problem.total_g > 0 and n >= problem.min_leaf
               else TreeChoice(0.0, 0.0) for budget in budget_array]
    floor = np.array([choice.benefit for choice in initial])
    top = np.empty(0)       # values of the best root splits so far, first budget
    found = []              # per root feature visited: (feature, thresholds, value, cost, left option, right option)
    n_top = n_root_values if root_values is not None else 0
    # The strongest root features first: the best value found so far then rules out most others.
    for j1 in np.argsort(-_strengths(problem.columns, problem.nbins, benefit), kind="stable"):
        if problem.nbins[j1] < 2:
            continue
        rows, left, right = problem.sides(int(j1), budget_array, lambda bound: matters(bound, floor, top, n_top))
        if rows.size == 0:
            continue
        value, spent, left_option, right_option = problem.knapsacks(left, right, budget_array)
        found.append((int(j1), rows + 1, value, spent, left_option, right_option))
        floor = np.maximum(floor, value.max(axis=0))
        if n_top:
            top = np.sort(np.concatenate([top, value[:, 0][np.isfinite(value[:, 0])]]))[-n_top:]
    found.sort(key=lambda f: f[0])  # ties are settled in feature and threshold order
    if root_values is not None:
        splits = [(float(v), j1, int(t)) for j1, thresholds, value, *_ in found
                  for v, t in zip(value[:, 0], thresholds) if np.isfinite(v)]
        root_values.extend(sorted(splits, key=lambda r: (-r[0], r[1], r[2]))[:n_root_values])
    best = list(initial)
    for b in range(len(budget_array)):
        # Only trees within a margin (far above rounding) of the best can win or settle a tie.
        level = floor[b] - 1e-9 * max(1.0, abs(floor[b]))
        for j1, thresholds, value, spent, left_option, right_option in found:
            for k in np.nonzero(value[:, b] >= level)[0]:
                if _better(value[k, b], spent[k, b], best[b]):
                    best[b] = TreeChoice(float(value[k, b]), float(spent[k, b]), feature=j1,
                                         threshold=int(thresholds[k]), left=_decode(left_option[k, b], problem.nbins),
                                         right=_decode(right_option[k, b], problem.nbins))
    return best


@dataclass(frozen=True)
class _Problem:
    """One search's data: bins on the child grid, weights, and the knapsack settings."""

    columns: np.ndarray
    nbins: np.ndarray
    grid: _Grid
    benefit: np.ndarray
    cost: np.ndarray
    unit_cost: bool
    min_leaf: int
    total_g: float
    total_c: float

    @classmethod
    def build(cls, bins, nbins, benefit, cost, min_leaf, depth) -> "_Problem":
        columns = np.asarray(bins, dtype=np.intp)
        nbins = np.asarray(nbins)
        cost = np.asarray(cost, dtype=float)
        return cls(columns, nbins, _Grid.build(columns, nbins, depth), benefit, cost, bool(np.all(cost == 1.0)),
                   max(1, int(min_leaf)), float(benefit.sum()), float(cost.sum()))

    def sides(self, j1: int, budgets: np.ndarray, matters) -> tuple[np.ndarray, list, list]:
        """The root thresholds of feature ``j1`` that can matter, and each child's sums there.

        Returns ``(rows, left, right)``: row r is the root threshold r + 1 (leaving at least
        ``min_leaf`` people on each side) and each side is ``(totals, cells)`` — the sums of
        (count, benefit, cost) over the child, in total and by child cell, for those rows. Rows
        are kept where ``matters(bound)`` says so, given per row and budget an upper bound on
        the value of any tree with that root split (`targeting.policy.bounds`, from 2-D running sums over the
        root and child bins; the sums handed on are computed in the search's own order).
        """
        nb1 = int(self.nbins[j1])
        root = np.ascontiguousarray(self.columns[:, j1])
        weights = [None, self.benefit] if self.unit_cost else [None, self.benefit, self.cost]
        sums = [np.bincount(root, weights=w, minlength=nb1).astype(float) for w in weights]
        n_left = np.cumsum(sums[0])[:-1]
        rows = np.nonzero((n_left >= self.min_leaf) & (sums[0].sum() - n_left >= self.min_leaf))[0]
        if rows.size == 0:
            return rows, [], []
        hists = _joint_histograms(root, nb1, self.grid, weights)
        if self.unit_cost:
            sums.append(sums[0])
            hists.append(hists[0])
        left_total = [np.cumsum(s)[rows] for s in sums]
        right_total = [s.sum() - t for s, t in zip(sums, left_total)]
        upto = [_running_sum(h) for h in hists[:len(weights)]]
        if self.unit_cost:
            upto.append(upto[0])
        if self.columns.shape[1] >= _BOUND_FROM_FEATURES:
            keep = matters(self._bound(budgets, rows, left_total, right_total, upto))
            rows, left_total, right_total = rows[keep], [t[keep] for t in left_total], [t[keep] for t in right_total]
        left = (left_total, [u[rows] for u in upto])
        right = (right_total, [h.sum(axis=0) - u[rows] for h, u in zip(hists, upto)])
        return rows, left, right

    def _bound(self, budgets, rows, left_total, right_total, upto) -> np.ndarray:
        """Per row and budget, an upper bound on the value of any tree with that root split."""
        corner = [np.cumsum(u, axis=2) for u in (upto[:2] if self.unit_cost else upto)]  # people below both thresholds
        if self.unit_cost:
            corner.append(corner[0])
        left_low = [c[rows, :, :-1] for c in corner]
        right_low = [c[-1, :, :-1] - low for c, low in zip(corner, left_low)]
        # A tree within budget B spends at most about B/2 on one of its children: its value is at
        # most the larger of (left's best within B/2 + right's best within B) and the reverse.
        full = budgets + budget_slack(budgets)
        limits = np.concatenate([full / 2, full])
        left_best = child_bound(left_total, left_low, self.min_leaf, limits, self.unit_cost)
        right_best = child_bound(right_total, right_low, self.min_leaf, limits, self.unit_cost)
        half = len(budgets)
        return np.maximum(left_best[:, :half] + right_best[:, half:], left_best[:, half:] + right_best[:, :half])

    def knapsacks(self, left, right, budgets: np.ndarray):
        """For each root threshold (row of the sums `sides` gives) and budget, the best tree:
        arrays (rows, budgets) of value (-inf when nothing fits), cost, left and right option id."""
        left_g, left_c, left_id = _child_options(*left, self.grid, self.min_leaf, self.unit_cost)
        right_g, right_c, right_id = _child_options(*right, self.grid, self.min_leaf, self.unit_cost)
        small_counts = self.unit_cost and self.total_c < MAX_TABLE
        # Sort every root threshold's right options by cost at once; keep a running best benefit
        # (first index on ties, i.e. the cheaper and simpler option).
        order = sort_by_cost(right_c, small_counts)
        rc_sorted = np.take_along_axis(right_c, order, axis=1)
        rg_sorted = np.take_along_axis(right_g, order, axis=1)
        running = np.maximum.accumulate(rg_sorted, axis=1)
        previous = np.concatenate([np.full((len(right_g), 1), -np.inf), running[:, :-1]], axis=1)
        first_best = np.maximum.accumulate(
            np.where(rg_sorted > previous, np.arange(rg_sorted.shape[1]), 0), axis=1)
        best_right = np.take_along_axis(order, first_best, axis=1)
        tables = position_tables(rc_sorted, self.total_c) if small_counts else None
        fronts = left_frontiers(left_g, left_c, small_counts)
        value, spent, left, right = combine(left_g, left_c, right_g, right_c, rc_sorted, best_right, budgets, fronts,
                                            tables)
        return (value, spent, np.take_along_axis(left_id, left, axis=1), np.take_along_axis(right_id, right, axis=1))


def _running_sum(hist: np.ndarray) -> np.ndarray:
    """``np.cumsum(hist, axis=0)`` (the same sums, added in the same order), a whole row at a time:
    numpy's cumsum along the first axis of a 3-D array walks memory column by column, many times
    slower."""
    out = np.empty_like(hist)
    out[0] = hist[0]
    for i in range(1, len(hist)):
        np.add(out[i - 1], hist[i], out=out[i])
    return out


# With fewer root features than this (e.g. the depth-3 look-ahead's subtrees), the strongest one's
# knapsacks are most of the work anyway, and bounding the rest costs about what it saves.
_BOUND_FROM_FEATURES = 9


def _renumber(choice: TreeChoice, features: np.ndarray) -> TreeChoice:
    """A choice found on a subset of features, in the numbering of all features."""
    def child(c: ChildChoice | None) -> ChildChoice | None:
        return c if c is None or c.feature < 0 else replace(c, feature=int(features[c.feature]))

    if choice.feature < 0:
        return choice
    return replace(choice, feature=int(features[choice.feature]), left=child(choice.left), right=child(choice.right))


def _better(value, spent, best: TreeChoice) -> bool:
    scale = 1e-12 * max(1.0, abs(value), abs(best.benefit))
    if value > best.benefit + scale:
        return True
    return abs(value - best.benefit) <= scale and spent < best.cost - 1e-12


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


def to_node(choice: TreeChoice) -> Leaf | Split:
    """The search result as a plain recursive tree."""
    if choice.feature < 0:
        return Leaf(bool(choice.treat_all))

    def child(c: ChildChoice) -> Leaf | Split:
        if c.option == 0:
            return Split(c.feature, c.threshold, Leaf(c.treat_left), Leaf(not c.treat_left))
        return Leaf(c.option == WHOLE)

    return Split(choice.feature, choice.threshold, child(choice.left), child(choice.right))
