"""The two-list knapsack that combines a root split's two children under each budget.

Each child offers a small set of (benefit, cost) options; the best pair within a budget comes from
sorting one child's options by cost with a running best benefit, and looking up, for each of the
other child's undominated options, the best affordable partner. Ties go to the cheaper pair, then
to the option listed first (the simpler tree).
"""

from __future__ import annotations

import numpy as np


def budget_slack(limit):
    """How far a sum of costs may exceed ``limit`` (a number or an array of them) and still count
    as within the budget.

    A relative tolerance keeps sums of many float costs from failing an exactly-met budget.
    """
    return 1e-9 * np.maximum(1.0, np.abs(limit))


# Head-count costs are whole numbers up to n: a table then finds, for every room left, how many
# right options fit, in place of a binary search per left option (the search's inner loop).
MAX_TABLE = 20_000


def sort_by_cost(costs: np.ndarray, small_counts: bool) -> np.ndarray:
    """Row-wise stable argsort; head counts below `MAX_TABLE` sort as 16-bit integers, for which
    numpy's stable sort is a radix sort (over ten times faster than on floats)."""
    return np.argsort(costs.astype(np.int16) if small_counts else costs, axis=1, kind="stable")


def left_frontiers(left_g: np.ndarray, left_c: np.ndarray, small_counts: bool) -> np.ndarray:
    """Per row, the left options that can be chosen: by increasing cost, each giving more than
    every cheaper one. An option that costs more and gives no more than another never wins (it
    leaves less room for the right child), so the knapsack skips it.

    Returns an index array (rows, longest frontier), padded with option 0 (treat no one, the
    cheapest option and first on every frontier, so a padded copy never wins a tie)."""
    order = sort_by_cost(left_c, small_counts)
    ordered = np.take_along_axis(left_g, order, axis=1)
    best_before = np.concatenate([np.full((len(ordered), 1), -np.inf),
                                  np.maximum.accumulate(ordered, axis=1)[:, :-1]], axis=1)
    keep = ordered > best_before
    # Stable partition: the kept options first, in cost order.
    slots = np.argsort(~keep, axis=1, kind="stable")[:, :max(1, int(keep.sum(axis=1).max()))]
    chosen = np.take_along_axis(order, slots, axis=1)
    return np.where(np.take_along_axis(keep, slots, axis=1), chosen, 0)


def position_tables(rc_sorted: np.ndarray, total_cost: float) -> np.ndarray:
    """For head counts: ``table[k, r]`` = (number of right options of row k costing <= r) - 1."""
    size = int(total_cost) + 1
    rows = rc_sorted.shape[0]
    offsets = (rc_sorted.astype(np.intp) + np.arange(rows)[:, None] * size).ravel()
    return np.bincount(offsets, minlength=rows * size).reshape(rows, size).cumsum(axis=1) - 1


def combine(left_g, left_c, right_g, right_c, rc_sorted, best_right, budgets, fronts, tables=None):
    """Per row and budget, the best pair (left option, right option) with total cost within the budget.

    ``rc_sorted`` holds each row's right option costs in increasing order and ``best_right[:, k]``
    the right option with the largest benefit among the first k + 1 of them; ``fronts`` the left
    options that can win (`left_frontiers`); ``tables`` (integer costs) are `position_tables`.
    Returns arrays (rows, budgets): benefit (-inf when nothing fits), cost, left option, right
    option. Ties go to the cheaper pair, then to the left option listed first.
    """
    rows = np.arange(len(left_g))[:, None, None]
    lg = np.take_along_axis(left_g, fronts, axis=1)[:, None, :]          # (rows, 1, front)
    lc = np.take_along_axis(left_c, fronts, axis=1)[:, None, :]
    room = budgets[None, :, None] - lc + budget_slack(budgets)[None, :, None]
    if tables is None:
        pos = np.stack([np.searchsorted(rc_sorted[k], room[k], side="right") - 1 for k in range(len(left_g))])
    else:
        whole = np.floor(room)
        pos = np.where(whole < 0, -1, tables[rows, np.clip(whole, 0, tables.shape[1] - 1).astype(np.intp)])
    feasible = (pos >= 0) & np.isfinite(lg)
    right_pick = best_right[rows, np.where(feasible, pos, 0)]
    totals = np.where(feasible, lg + right_g[rows, right_pick], -np.inf)
    spent = lc + right_c[rows, right_pick]
    top = totals.max(axis=2)
    near = totals >= (top - 1e-12 * np.maximum(1.0, np.abs(top)))[:, :, None]
    pick = np.argmin(np.where(near, spent, np.inf), axis=2)[:, :, None]   # the cheapest of the best, first on ties
    left = np.take_along_axis(np.broadcast_to(fronts[:, None, :], totals.shape), pick, axis=2)[:, :, 0]
    return (top, np.take_along_axis(spent, pick, axis=2)[:, :, 0], left,
            np.take_along_axis(right_pick, pick, axis=2)[:, :, 0])
