"""Cross-fitted nuisance models and the doubly robust (AIPW) scores every later stage uses.

mu(x, t) and e(x) are fitted out-of-fold: each person's predictions come from models that never
saw their outcome. The scores are computed once here and are the common currency of policy
learning, policy values, subgroup effects and calibration checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from targeting.data.prepare import Prepared
from targeting.errors import EstimationError
from targeting.estimate.learners import fit_fold, outcome_learner, propensity_learner
from targeting.model.findings import Code, Finding, Severity, finding
from targeting.parallel import Workers, map_tasks

OVERLAP_BOUNDS = (0.05, 0.95)
PROPENSITY_FLOOR = 0.01


@dataclass(frozen=True)
class Nuisances:
    """Out-of-fold nuisance predictions and the doubly robust scores built from them.

    ``gamma`` is the per-person DR score of the effect on the outcome's own scale (treated minus
    untreated); ``gamma0``/``gamma1`` are the DR scores of each potential outcome, so that the
    value of any policy pi is ``mean(pi * gamma1 + (1 - pi) * gamma0)``.
    """

    folds: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    propensity: np.ndarray
    propensity_known: bool
    gamma0: np.ndarray
    gamma1: np.ndarray
    share_outside_overlap: float
    n_trimmed: int
    findings: tuple[Finding, ...]

    @property
    def gamma(self) -> np.ndarray:
        return self.gamma1 - self.gamma0


def bounded_propensity(propensity: np.ndarray) -> np.ndarray:
    """The propensity as the scores use it: bounded to [PROPENSITY_FLOOR, 1 - PROPENSITY_FLOOR]."""
    return np.clip(propensity, PROPENSITY_FLOOR, 1 - PROPENSITY_FLOOR)


def make_folds(prepared: Prepared, k: int, seed: int) -> np.ndarray:
    """Fold label per person, stratified by arm (and by outcome when it is binary).

    The split is drawn over the people in the prepared order, which is fixed by their content
    (`targeting.data.order.canonical_order`), so each person gets the same fold whatever the order
    of the rows in the file.
    """
    strata = prepared.t * 2 + (prepared.y if prepared.outcome_binary else 0)
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() < k:
        strata = prepared.t
    folds = np.empty(prepared.n, dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(prepared.n), strata)):
        folds[test] = fold
    return folds


def _arm_label(prepared: Prepared, arm: int) -> str:
    return f"'{prepared.treated_label if arm else prepared.control_label}'"


def check_binary_outcome(prepared: Prepared, folds: np.ndarray) -> tuple[Finding, ...]:
    """Refuse a 0/1 outcome too rare (or too common) in an arm to learn that arm's outcome model.

    Each arm's outcome model is fitted on the other folds. When an arm has both outcome values but
    its training people in some fold have only one (its few events all sit in the held-out fold),
    that model cannot be learned and the arm's risk would be guessed as 0 or 1 for the held-out
    people: an `EstimationError`. An arm with a single outcome value overall (e.g. no untreated
    person had the event) is data, not a fold artefact: its risk is that value for everyone, and a
    finding says so.

    Raises
    ------
    EstimationError
        Naming the arm, its counts, the fold, and what to change.
    """
    if not prepared.outcome_binary:
        return ()
    y, t, k = prepared.y, prepared.t, int(folds.max()) + 1
    findings = []
    for arm in (0, 1):
        in_arm = t == arm
        events, people = int(y[in_arm].sum()), int(in_arm.sum())
        rarer = min(events, people - events)
        if rarer == 0:
            findings.append(finding(
                Code.CONSTANT_OUTCOME_IN_ARM, Severity.WARNING,
                f"Every one of the {people} people in arm {_arm_label(prepared, arm)} had outcome {y[in_arm][0]:g}, "
                "so that arm's risk is taken to be the same for everyone and differences between people "
                "come from the other arm alone.",
                arm=int(arm), people=people, events=events,
            ))
            continue
        for fold in range(k):
            training = in_arm & (folds != fold)
            if np.unique(y[training]).size < 2:
                value = f"{y[training][0]:g}"
                fix = ("One outcome cannot be both learned from and predicted out-of-fold: add data with more "
                       "outcomes of both kinds in this arm." if rarer == 1 else
                       "Use fewer folds (e.g. --folds 2) so that each training part keeps some of them, or add data.")
                raise EstimationError(
                    f"The 0/1 outcome '{prepared.outcome}' has too few of one value in arm {_arm_label(prepared, arm)} "
                    f"to estimate effects: it has {events} event{'' if events == 1 else 's'} among {people} people, "
                    f"and in fold {fold + 1} of {k} all {int(training.sum())} people used for training have outcome "
                    f"{value}, so that arm's outcome model cannot be fitted. {fix}"
                )
    return tuple(findings)


def fit_seconds(rows: int, columns: int) -> float:
    """Rough time of one gradient-boosting fit on one core (for `parallel.map_tasks` to decide): a
    part per row and covariate, and one per covariate (the split search over its bins, every round)."""
    return 0.1 + 1e-6 * rows * columns + 5e-3 * columns


def _fold_tasks(prepared: Prepared, folds: np.ndarray, seed: int, categorical: np.ndarray):
    """One task per model: (target array, fold, arm or None, model, whether it predicts a probability),
    with the constant predictions of an arm that has one outcome value in its training folds."""
    y, t = prepared.y, prepared.t
    tasks, constants = [], []
    for fold in np.unique(folds):
        train = folds != fold
        for arm in (0, 1):
            rows = train & (t == arm)
            if prepared.outcome_binary and np.unique(y[rows]).size < 2:
                constants.append((fold, arm, y[rows][0]))  # the arm's only value (see check_binary_outcome)
                continue
            tasks.append((y, fold, arm, outcome_learner(prepared.outcome_binary, seed, categorical=categorical),
                          prepared.outcome_binary))
        if prepared.propensity is None:
            tasks.append((t, fold, None, propensity_learner(seed, categorical=categorical), True))
    return tasks, constants


def fit_nuisances(prepared: Prepared, *, folds: np.ndarray, seed: int, workers: int | Workers = 1) -> Nuisances:
    """Fit mu0, mu1 and e out-of-fold and compute the DR scores.

    Parameters
    ----------
    prepared : Prepared
        Validated data.
    folds : ndarray of int
        Fold label per person (see `make_folds`).
    seed : int
        Seed for the learners.
    workers : int or Workers, optional
        Processes the fits may use (`targeting.parallel.map_tasks`); the result does not depend on it.

    Raises
    ------
    EstimationError
        When a 0/1 outcome is too rare in an arm to cross-fit (see `check_binary_outcome`).
    """
    x, y, t = prepared.x_codes, prepared.y, prepared.t
    categorical = np.array([c.kind == "categorical" for c in prepared.covariates])
    findings: list[Finding] = list(check_binary_outcome(prepared, folds))
    n = prepared.n
    mu0, mu1, e_hat = np.empty(n), np.empty(n), np.empty(n)
    targets = {0: mu0, 1: mu1, None: e_hat}
    tasks, constants = _fold_tasks(prepared, folds, seed, categorical)
    for fold, arm, value in constants:
        targets[arm][folds == fold] = value
    k = len(np.unique(folds))
    serial = len(tasks) * fit_seconds(n * (k - 1) // (2 * k), x.shape[1])
    predictions = map_tasks(fit_fold, [(x, target, folds, t, fold, arm, model, proba)
                                       for target, fold, arm, model, proba in tasks],
                            workers=workers, serial_seconds=serial)
    for (_, fold, arm, _, _), predicted in zip(tasks, predictions):
        targets[arm][folds == fold] = predicted
    known = prepared.propensity is not None
    if known:
        e_hat = prepared.propensity.astype(float)
        findings.append(finding(
            Code.KNOWN_PROPENSITY, Severity.INFO,
            "The probability of treatment was given (a randomised design), so it was used as known "
            "rather than estimated.", value=float(np.mean(e_hat)),
        ))
    else:
        findings.append(finding(
            Code.ESTIMATED_PROPENSITY, Severity.INFO,
            "The probability of treatment was estimated from the covariates (an observational design): "
            "results assume that no unmeasured factor drove both treatment and outcome.",
        ))
    low, high = OVERLAP_BOUNDS
    outside = float(np.mean((e_hat < low) | (e_hat > high)))
    trimmed = (e_hat < PROPENSITY_FLOOR) | (e_hat > 1 - PROPENSITY_FLOOR)
    trimmed_any = bool(trimmed.any())
    if outside > 0.02 or trimmed_any:  # bounding the scores is never silent
        findings.append(finding(
            Code.WEAK_OVERLAP, Severity.SERIOUS if outside > 0.10 else Severity.WARNING,
            f"{outside:.1%} of people have an estimated probability of treatment outside "
            f"[{low}, {high}]: for them the data hold few comparable people in the other arm, and "
            "estimates lean on the models. "
            + (f"{int(trimmed.sum())} extreme probabilities were bounded at {PROPENSITY_FLOOR} / "
               f"{1 - PROPENSITY_FLOOR} in the scores." if trimmed.any() else ""),
            share_outside=outside, n_bounded=int(trimmed.sum()),
        ))
    e = bounded_propensity(e_hat)
    gamma1 = mu1 + t * (y - mu1) / e
    gamma0 = mu0 + (1 - t) * (y - mu0) / (1 - e)
    return Nuisances(folds, mu0, mu1, e_hat, known, gamma0, gamma1, outside, int(trimmed.sum()), tuple(findings))
