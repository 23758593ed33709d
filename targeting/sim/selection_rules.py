"""The selection rules the study compares with ``auto``'s (issue 14; bench/selection.py).

Each rule maps the candidates' held-out CATEs and the doubly robust scores of some people to
weights over the candidates (a single pick is a one-hot vector). The study applies every rule with
`targeting.estimate.selection.cross_fitted_choice`, as ``auto`` applies its own, on the same fits.
Rules that may use "no heterogeneity" get a last column holding the mean score.
"""

from __future__ import annotations

import numpy as np

from targeting.estimate.selection import lowest_loss_column, shrunk_stack_weights, stack_weights


def _one_hot(k: int, j: int) -> np.ndarray:
    out = np.zeros(k)
    out[j] = 1.0
    return out


def lowest_loss(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The single candidate with the lowest DR loss."""
    return _one_hot(predictions.shape[1], lowest_loss_column(predictions, target))


def _with_constant(rule):
    """``rule`` on the candidates plus a constant column (the mean score); the constant's weight is
    returned last."""
    def with_constant(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
        return rule(np.column_stack([predictions, np.full(len(target), target.mean())]), target)
    return with_constant


def lowest_loss_or_constant(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The lowest DR loss among the candidates and "no heterogeneity"."""
    return _with_constant(lowest_loss)(predictions, target)


def stack_with_constant(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The least-squares stack of the candidates and a constant (shrinks towards the average)."""
    return _with_constant(stack_weights)(predictions, target)


# name -> (rule, whether its weights include a last "constant" entry)
RULES = {
    "lowest loss": (lowest_loss, False),
    "lowest loss or constant": (lowest_loss_or_constant, True),
    "stack with constant": (stack_with_constant, True),
    "stack": (stack_weights, False),
    "shrunk stack (auto before recalibration)": (shrunk_stack_weights, False),
}
