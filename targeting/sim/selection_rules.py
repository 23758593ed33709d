"""The selection rules the study compares with ``auto``'s (issue 14; bench/selection.py).

Each rule maps the candidates' held-out CATEs and the doubly robust scores of some people to
weights over the candidates (a single pick is a one-hot vector). The study applies every rule with
`targeting.estimate.selection.cross_fitted_choice`, as ``auto`` applies its own, on the same fits.
Rules that may use "no heterogeneity" get a last column holding the mean score.
"""

from __future__ import annotations

import numpy as np

from targeting.estimate.selection import lowest_loss_column, not_clearly_worse, shrunk_stack_weights, stack_weights


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


def noise_shrunk_stack(predictions: np.ndarray, target: np.ndarray, resamples: int = 20) -> np.ndarray:
    """The least-squares stack shrunk towards equal weights on the candidates not clearly worse by
    an intensity estimated from the data (positive-part James-Stein): the bootstrap variance of
    the least-squares weights over their squared distance from the equal weights, at most 1.
    Where the weights are noisy (small samples, 0/1 outcomes) it gives nearly equal weights, where
    they are well determined nearly the least-squares stack; ``auto`` uses a fixed half."""
    keep = not_clearly_worse(predictions, target)
    equal = keep / keep.sum()
    fitted = stack_weights(predictions, target)
    rng = np.random.default_rng(0)
    n = len(target)
    boots = np.array([stack_weights(predictions[idx], target[idx])
                      for idx in (rng.integers(0, n, n) for _ in range(resamples))])
    distance = float(((fitted - equal) ** 2).sum())
    intensity = 1.0 if distance == 0 else min(1.0, float(boots.var(axis=0, ddof=1).sum()) / distance)
    return intensity * equal + (1 - intensity) * fitted


# name -> (rule, whether its weights include a last "constant" entry)
RULES = {
    "lowest loss": (lowest_loss, False),
    "lowest loss or constant": (lowest_loss_or_constant, True),
    "stack with constant": (stack_with_constant, True),
    "stack": (stack_weights, False),
    "shrunk stack (auto before recalibration)": (shrunk_stack_weights, False),
    "stack shrunk by its noise": (noise_shrunk_stack, False),
}
