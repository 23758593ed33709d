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


def left_frontiers(left_g: np.ndarray, left_c: np.ndarray, small_counts: bool) -> list[np.ndarray]:
    """Per row, the left options that can be chosen: by increasing cost, each giving more than
    every cheaper one. An option that costs more and gives no more than another never wins (it
    leaves less room for the right child), so the knapsack skips it."""
    order = sort_by_cost(left_c, small_counts)
    ordered = np.take_along_axis(left_g, order, axis=1)
    best_before = np.concatenate([np.full((len(ordered), 1), -np.inf),
                                  np.maximum.accumulate(ordered, axis=1)[:, :-1]], axis=1)
    keep = ordered > best_before
    return [order[k][keep[k]] for k in range(len(order))]


def position_tables(rc_sorted: np.ndarray, total_cost: float) -> np.ndarray:
    """For head counts: ``table[k, r]`` = (number of right options of row k costing <= r) - 1."""
    size = int(total_cost) + 1
    rows = rc_sorted.shape[0]
    offsets = (rc_sorted.astype(np.intp) + np.arange(rows)[:, None] * size).ravel()
    return np.bincount(offsets, minlength=rows * size).reshape(rows, size).cumsum(axis=1) - 1


def combine(lg, lc, rg, rc, rc_sorted, best_right, budgets, front, table=None):
    """Best pair (left option, right option) with total cost within each budget.

    ``rc_sorted`` is the right options' costs in increasing order and ``best_right[k]`` the
    right option with the largest benefit among the first k + 1 of them; ``front`` the left
    options that can win (see `left_frontiers`); ``table`` (integer costs) is this row of
    `position_tables`. Returns, per budget, ``(benefit, cost, left option,
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
