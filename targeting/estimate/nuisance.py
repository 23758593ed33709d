"""Cross-fitted nuisance models and the doubly robust (AIPW) scores every later stage uses.

mu(x, t) and e(x) are fitted out-of-fold: each person's predictions come from models that never
saw their outcome. The scores are computed once here and are the common currency of policy
learning, policy values, subgroup effects and calibration checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedKFold

from targeting.model.findings import Code, Finding, Severity, finding
from targeting.data.checks import content_order
from targeting.data.prepare import Prepared

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

    The split is drawn over the rows in `content_order` of the covariates, arm and id, so each
    person gets the same fold whatever the order of the rows in the file (people identical in all
    of these keep their file order among themselves).
    """
    strata = prepared.t * 2 + (prepared.y if prepared.outcome_binary else 0)
    _, counts = np.unique(strata, return_counts=True)
    if counts.min() < k:
        strata = prepared.t
    # Keyed on what does not change with the outcome's scale or direction: covariates, arm, id.
    keys = prepared.frame[[c.name for c in prepared.covariates]].assign(_arm=prepared.t)
    if prepared.ids is not None:
        keys = keys.assign(_id=prepared.ids)
    order = content_order(keys)
    folds = np.empty(prepared.n, dtype=int)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(splitter.split(np.zeros(prepared.n), strata[order])):
        folds[order[test]] = fold
    return folds


def outcome_model(binary: bool, categorical: np.ndarray, seed: int):
    """The default outcome learner: gradient boosting, regularised for modest samples."""
    common = dict(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                  l2_regularization=1.0, categorical_features=categorical, random_state=seed)
    return HistGradientBoostingClassifier(**common) if binary else HistGradientBoostingRegressor(**common)


def _predict(model, x, binary: bool) -> np.ndarray:
    return model.predict_proba(x)[:, 1] if binary else model.predict(x)


def fit_nuisances(prepared: Prepared, *, folds: np.ndarray, seed: int) -> Nuisances:
    """Fit mu0, mu1 and e out-of-fold and compute the DR scores.

    Parameters
    ----------
    prepared : Prepared
        Validated data.
    folds : ndarray of int
        Fold label per person (see `make_folds`).
    seed : int
        Seed for the learners.
    """
    x, y, t = prepared.x_codes, prepared.y, prepared.t
    categorical = np.array([c.kind == "categorical" for c in prepared.covariates])
    n = prepared.n
    mu0, mu1, e_hat = np.empty(n), np.empty(n), np.empty(n)
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        for arm, target in ((0, mu0), (1, mu1)):
            rows = train & (t == arm)
            if prepared.outcome_binary and np.unique(y[rows]).size < 2:
                target[test] = y[rows].mean()  # no events in this arm's training folds
                continue
            model = outcome_model(prepared.outcome_binary, categorical, seed).fit(x[rows], y[rows])
            target[test] = _predict(model, x[test], prepared.outcome_binary)
        if prepared.propensity is None:
            model = outcome_model(True, categorical, seed).fit(x[train], t[train])
            e_hat[test] = model.predict_proba(x[test])[:, 1]
    findings: list[Finding] = []
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
