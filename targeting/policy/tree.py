"""Policy trees in bin coordinates: leaves and splits, applying a tree, tidying it.

Thresholds are bin indices: rows with ``bin < threshold`` go left.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


def renumber(node: Leaf | Split, features: np.ndarray) -> Leaf | Split:
    """A tree found on a subset of features, in the numbering of all features."""
    if isinstance(node, Leaf):
        return node
    return Split(int(features[node.feature]), node.threshold, renumber(node.left, features),
                 renumber(node.right, features))
