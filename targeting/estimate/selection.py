"""Combining the CATE candidates: held-out doubly robust losses compared in pairs, and the stack
``auto`` delivers.

Every candidate is scored on the same rows with the same folds, so two candidates' losses can be
compared person by person: the paired difference has a far smaller standard error than each loss
against a constant. ``auto`` does not pick one candidate: it delivers a convex combination of them
(`shrunk_stack_weights`), whose weights for each group of people are learned on everyone else
(`cross_fitted_choice`), so no one's own score weighs their prediction and the heterogeneity tests
may use everyone.

Why this rule (the selection study, bench/RESULTS.md): picking the lowest loss, fold by fold,
trailed the best single candidate by 0.02 in correlation on average and by 0.14 at worst, because
at small samples the losses are within noise of each other and each fold may pick another model
(pooled over folds, different models' scales break the ranking). Stacking with a constant column
shrank some folds to no spread at all (non-negative least squares puts weight exactly 0 on every
candidate there); weights fitted on 5 folds varied from fold to fold. The rule below has none of
these: no constant, weights learned on 95% of the people for each twentieth, and the noisy
least-squares weights averaged with equal weights on the candidates the paired test cannot tell
from the best (half and half up to 5,000 people, less beyond, as the weights' noise falls).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

from targeting.evaluate.stats import Z95

# A row of this weight in the least-squares problem enforces "weights sum to one" to ~1e-6.
_SUM_TO_ONE_WEIGHT = 1e3


@dataclass(frozen=True)
class Score:
    """One candidate's held-out loss, and its paired difference from the CATE delivered."""

    name: str
    loss: float
    loss_vs_constant: float
    loss_vs_constant_se: float
    loss_vs_delivered: float
    loss_vs_delivered_se: float


def stack_weights(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one that best fit ``target`` by ``predictions @ w`` (least squares).

    Parameters
    ----------
    predictions : ndarray, shape (n, k)
        Each column one candidate's held-out CATE.
    target : ndarray, shape (n,)
        Doubly robust scores (unbiased for each person's effect).
    """
    scale = max(float(np.sqrt(np.mean(predictions ** 2))), 1e-12)  # keeps the constraint row's weight meaningful
    k = predictions.shape[1]
    a = np.vstack([predictions / scale, np.full((1, k), _SUM_TO_ONE_WEIGHT * np.sqrt(len(target)))])
    b = np.concatenate([target / scale, [_SUM_TO_ONE_WEIGHT * np.sqrt(len(target))]])
    weights, _ = nnls(a, b)
    total = weights.sum()
    return weights / total if total > 0 else np.full(k, 1.0 / k)


# The people are split at random into this many groups; each group's weights are learned on the
# others. More groups make the weights of different groups nearly equal (each is learned on 95% of
# the people), so pooling the groups does not mix scales; 20 and 50 gave the same accuracy.
CHOICE_GROUPS = 20


def lowest_loss_column(predictions: np.ndarray, target: np.ndarray) -> int:
    """The column of ``predictions`` (one candidate's held-out CATE each) with the lowest DR loss
    ``mean((target - prediction)^2)``."""
    return int(np.argmin(((target[:, None] - predictions) ** 2).mean(axis=0)))


def not_clearly_worse(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Which candidates' DR loss is not clearly (one-sided 95%, paired) above the lowest one's.

    Parameters
    ----------
    predictions : ndarray, shape (n, k)
        Each column one candidate's held-out CATE.
    target : ndarray, shape (n,)
        Doubly robust scores.
    """
    losses = (target[:, None] - predictions) ** 2
    best = int(np.argmin(losses.mean(axis=0)))
    keep = np.zeros(losses.shape[1], dtype=bool)
    for j in range(losses.shape[1]):
        diff, se = _paired(losses[:, j], losses[:, best])
        keep[j] = j == best or diff - Z95 * se <= 0
    return keep


# Share of the equal weights in `shrunk_stack_weights`: a half up to this many scoring people (the
# size of most data sets in the selection study), then falling like the least-squares weights'
# noise, 1 / sqrt(n). With a fixed half the 20,000-patient trial gave 2 of 20 stacks above twice
# the best candidate's true MSE, with this share 1 of 20, and the other data sets the same
# correlations (bench/RESULTS.md, session 4).
EQUAL_SHARE = 0.5
EQUAL_SHARE_UP_TO = 5_000


def equal_share(n: int) -> float:
    """The weight of the equal-weights part of `shrunk_stack_weights` for ``n`` scoring people."""
    return EQUAL_SHARE * min(1.0, float(np.sqrt(EQUAL_SHARE_UP_TO / n)))


def shrunk_stack_weights(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``auto``'s weights: the least-squares stack (`stack_weights`) averaged with equal weights on
    the candidates not clearly worse than the best (`not_clearly_worse`), the latter with weight
    `equal_share` (a half up to 5,000 people). Non-negative, summing to one.

    Averaging with equal weights damps the noise of weights fitted to noisy scores (0/1 outcomes,
    small samples) and keeps every candidate that the data cannot rule out.
    """
    keep = not_clearly_worse(predictions, target)
    share = equal_share(len(target))
    return (1 - share) * stack_weights(predictions, target) + share * keep / keep.sum()


@dataclass(frozen=True)
class Recalibration:
    """``centre + slope * (cate - centre)``: a CATE's differences from its mean ``centre`` shrunk by
    ``slope`` (`recalibration`)."""

    centre: float
    slope: float

    def apply(self, cate: np.ndarray) -> np.ndarray:
        return self.centre + self.slope * (cate - self.centre)


# The recalibration's slope is kept at least this: where the scores cannot confirm the differences
# (a slope at or below 0, which noise gives often at a few thousand people with a 0/1 outcome) the
# spread shrinks to a tenth but the order of the people, which carried most of the accuracy on
# such data sets, survives (bench/RESULTS.md, selection rules).
RECALIBRATION_FLOOR = 0.1


def recalibration(cate: np.ndarray, target: np.ndarray) -> Recalibration:
    """A CATE's spread shrunk to what the scores support, around its own mean: regress the DR
    scores on the centred CATE (the calibration test's regression) and keep the slope between
    `RECALIBRATION_FLOOR` and 1.

    ``auto`` applies it to its stack. A convex combination of candidates cannot shrink towards "no
    differences", so where effects barely vary the stack kept the candidates' noise: on data sets
    with a constant true effect its RMSE was 2-3 times the best candidate's (bench/RESULTS.md). The
    least-squares slope is the linear recalibration with the smallest mean squared error; clipped
    it only shrinks, and being positive it leaves every ranking (so GATES and RATE, and the
    correlation with the truth) unchanged. One number learned from everyone: nobody's own score
    weighs their CATE by more than about 1/n.
    """
    centre = float(cate.mean())
    spread = float(np.var(cate))
    slope = float(np.cov(cate, target, bias=True)[0, 1] / spread) if spread > 0 else 1.0
    return Recalibration(centre, float(np.clip(slope, RECALIBRATION_FLOOR, 1.0)))


def choice_groups(n: int, seed: int) -> np.ndarray:
    """A random split of ``n`` people into `CHOICE_GROUPS` groups of (nearly) equal size."""
    return np.random.default_rng(seed).permutation(np.arange(n) % CHOICE_GROUPS)


def cross_fitted_choice(rule, predictions: np.ndarray, target: np.ndarray,
                        groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each group's CATE from the weights ``rule(predictions, target)`` gives on the other groups' rows.

    Returns
    -------
    cate : ndarray, shape (n,)
    weights : ndarray, shape (groups, k)
        The weights used for each group, in the order of ``np.unique(groups)``.
    """
    cate = np.empty(len(target))
    used = []
    for group in np.unique(groups):
        inside = groups == group
        weights = rule(predictions[~inside], target[~inside])
        cate[inside] = predictions[inside] @ weights
        used.append(weights)
    return cate, np.array(used)


def _paired(loss_a: np.ndarray, loss_b: np.ndarray) -> tuple[float, float]:
    diff = loss_a - loss_b
    return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")


def compare(losses: dict[str, np.ndarray], *, constant: np.ndarray,
            delivered: str) -> tuple[list[Score], bool]:
    """Every candidate's score against the constant and against the ``delivered`` CATE, and whether
    the lowest loss is within noise of the runner-up's.

    Parameters
    ----------
    losses : dict of str to ndarray
        Per-person held-out loss of each candidate (same rows, same folds).
    constant : ndarray
        Per-person loss of "everyone gets the average effect".
    delivered : str
        The key of ``losses`` whose CATE is used.

    Returns
    -------
    scores : list of Score
        In the order of ``losses``.
    within_noise : bool
        True when the lowest loss is not clearly (95%) below the runner-up's.
    """
    ranked = sorted(losses, key=lambda name: losses[name].mean())
    within_noise = False
    if len(ranked) > 1:
        diff, se = _paired(losses[ranked[1]], losses[ranked[0]])
        within_noise = bool(diff - Z95 * se <= 0)
    scores = []
    for name, loss in losses.items():
        vs_delivered = _paired(loss, losses[delivered]) if name != delivered else (0.0, 0.0)
        scores.append(Score(name, float(loss.mean()), *_paired(loss, constant), *vs_delivered))
    return scores, within_noise
