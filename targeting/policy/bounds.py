"""Upper bounds on the value of the trees under each root split, so the search can skip root
splits that cannot beat the best tree found (`targeting.policy.search`).

A tree within budget B spends at most about B/2 on one of its two children; each child's part is
bounded by its best single option (treat everyone, or one half of one split) within the cost limit
on its own. The bounds come from 2-D running sums, which round differently from the search's own
sums: every bound carries a margin far above that rounding.
"""

from __future__ import annotations

import numpy as np

# Up to this many cost limits, a pass over the thresholds per limit is cheaper than running maxima.
_FEW_LIMITS = 4


def _affordable_counts(c_low: np.ndarray, c: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For head counts (whole numbers): per (row, feature, limit), how many low halves cost at most
    the limit, and how many high halves (from the first threshold on) cost more. Each row and
    feature's costs are sorted, so shifting each to a range of its own sorts them all: one
    binary search per count instead of one pass over the thresholds per limit."""
    rows, features, thresholds = c_low.shape
    span = float(c.max(initial=0.0)) + 2.0
    shift = (np.arange(rows * features) * span).reshape(rows, features, 1)
    start = (np.arange(rows * features) * thresholds).reshape(rows, features, 1)
    flat = (c_low + shift).ravel()
    # Sorted queries (limits in increasing order within each row and feature) let the binary
    # search start where the last one ended.
    order = np.argsort(limits, kind="stable")
    back = np.argsort(order)
    low = np.clip(limits[order][None, None, :], -0.5, span - 1.5)
    # A high half costs more than the limit when its low half costs less than c - limit.
    high = np.clip(c[:, None, None] - limits[order[::-1]][None, None, :], -0.5, span - 1.5)
    first_low = np.searchsorted(flat, (shift + low).ravel(), side="right").reshape(rows, features, -1) - start
    first_high = np.searchsorted(flat, (shift + high).ravel(), side="left").reshape(rows, features, -1) - start
    return first_low[:, :, back], first_high[:, :, ::-1][:, :, back]


def child_bound(total, low, min_leaf, limits, counts: bool = False) -> np.ndarray:
    """Per row (root threshold) and cost limit, an upper bound on what one root child adds to a tree
    beyond treating no one in it, spending at most that limit on the child: the best of treating
    everyone or one half of a single split within the limit, or 0.

    ``total`` holds the child's (count, benefit, cost) per row, ``low`` the same sums over its
    people below each child threshold, arrays (rows, features, thresholds); ``counts`` says the
    costs are head counts.
    """
    (n, g, c), (n_low, g_low, c_low) = total, low
    best = np.where(c[:, None] <= limits, g[:, None], -np.inf)
    if n_low.shape[1] and len(limits) <= _FEW_LIMITS:
        ok = (n_low >= min_leaf) & (n[:, None, None] - n_low >= min_leaf)
        c_high = c[:, None, None] - c_low
        for b, room in enumerate(limits):
            low_best = np.where(ok & (c_low <= room), g_low, -np.inf).max(axis=(1, 2))
            high_best = g - np.where(ok & (c_high <= room), g_low, np.inf).min(axis=(1, 2))
            best[:, b] = np.maximum(best[:, b], np.maximum(low_best, high_best))
    elif n_low.shape[1]:
        ok = (n_low >= min_leaf) & (n[:, None, None] - n_low >= min_leaf)
        # Costs are non-negative, so along one feature's thresholds the low halves cost more and
        # more and the high halves less and less: the affordable ones are a prefix and a suffix.
        # low_run[..., k]: the best low half among the first k thresholds; high_run[..., k]: the
        # smallest low-half benefit (so the best high half) from threshold k on.
        edge = np.full(n_low.shape[:2] + (1,), np.inf)
        low_run = np.concatenate([-edge, np.maximum.accumulate(np.where(ok, g_low, -np.inf), axis=2)], axis=2)
        high_run = np.concatenate(
            [np.minimum.accumulate(np.where(ok, g_low, np.inf)[:, :, ::-1], axis=2)[:, :, ::-1], edge], axis=2)
        if counts:
            first_low, first_high = _affordable_counts(c_low, c, limits)
        else:
            c_high = c[:, None, None] - c_low
            first_low = np.stack([(c_low <= room).sum(axis=2) for room in limits], axis=2)
            first_high = np.stack([(c_high > room).sum(axis=2) for room in limits], axis=2)
        low_best = np.take_along_axis(low_run, first_low, axis=2).max(axis=1)
        high_best = g[:, None] - np.take_along_axis(high_run, first_high, axis=2).min(axis=1)
        best = np.maximum(best, np.maximum(low_best, high_best))
    # The 2-D running sums round differently from the search's own: a margin far above that.
    return np.where(best > 0, best + 1e-9 * (np.abs(g) + 1.0)[:, None], 0.0)


def matters(bound: np.ndarray, floor: np.ndarray, top: np.ndarray, n_top: int) -> np.ndarray:
    """Which rows (root thresholds) can still matter, given per row and budget a bound on the
    value beyond treating no one: a positive bound (treating no one never beats the best found,
    which is worth at least that) within a margin (far above rounding) of the best value found
    for some budget, or of the ``n_top``-th best root value."""
    def reach(level):
        return level - 1e-9 * np.maximum(1.0, np.abs(level))

    keep = ((bound > 0) & (bound >= reach(floor))).any(axis=1)
    if n_top:
        level = -np.inf if len(top) < n_top else top[-n_top]
        keep |= bound[:, 0] >= reach(level)
    return keep
