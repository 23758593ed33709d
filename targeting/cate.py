"""Conditional average treatment effects from EconML, predicted out-of-fold.

Every person's CATE comes from a model fitted on the other folds, so rankings and subgroups built
from it are never scored by a model that saw the person's outcome. With ``estimator = auto`` the
candidates are compared by their doubly robust loss on held-out folds and the best is used.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .errors import ConfigError
from .nuisance import Nuisances
from .prepare import Prepared

FOREST_SUBSAMPLE = 20_000
SELECTION_FROM = 5_000   # from this many people on, auto scores the candidates...
SELECTION_ROWS = 10_000  # ...on at most this many of them (a random subsample)...
SELECTION_FOLDS = 3      # ...split into this many folds, then refits only the winner

ESTIMATOR_LABELS = {
    "causal_forest": "Causal forest (EconML CausalForestDML)",
    "dr": "Doubly robust learner (EconML DRLearner)",
    "t": "T-learner, gradient boosting (EconML TLearner)",
    "s": "S-learner, gradient boosting (EconML SLearner)",
    "x": "X-learner, gradient boosting (EconML XLearner)",
    "logistic_t": "T-learner, regularised logistic regression (EconML TLearner)",
    "constant": "No heterogeneity (everyone gets the average effect)",
}


class ProbabilityRegressor(BaseEstimator, RegressorMixin):
    """Use a classifier where EconML's metalearners call ``predict``: return P(y = 1).

    Metalearners take differences of ``predict``; for a binary outcome those must be
    probabilities so that the effect is a risk difference.
    """

    def __init__(self, classifier=None):
        self.classifier = classifier

    def fit(self, X, y):
        y = np.asarray(y).ravel()
        self.constant_ = float(y.mean()) if np.unique(y).size < 2 else None
        if self.constant_ is None:
            self.model_ = clone(self.classifier).fit(X, y)
        return self

    def predict(self, X):
        if self.constant_ is not None:
            return np.full(len(X), self.constant_)
        return self.model_.predict_proba(X)[:, 1]


@dataclass(frozen=True)
class CandidateScore:
    """How one estimator did on held-out folds (lower loss is better)."""

    name: str
    label: str
    dr_loss: float
    loss_vs_constant: float
    loss_vs_constant_se: float
    correlation_with_truth: float | None
    selected: bool
    scored_on: int


@dataclass(frozen=True)
class CateResult:
    """Out-of-fold CATE per person, with intervals when the estimator provides them."""

    estimator: str
    label: str
    cate: np.ndarray
    cate_low: np.ndarray | None
    cate_high: np.ndarray | None
    scores: tuple[CandidateScore, ...]


def _gbm(binary: bool, seed: int):
    params = dict(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                  l2_regularization=1.0, random_state=seed)
    if binary:
        return ProbabilityRegressor(HistGradientBoostingClassifier(**params))
    return HistGradientBoostingRegressor(**params)


def build_estimator(name: str, *, binary: bool, seed: int, n_train: int = 10_000):
    """An unfitted EconML estimator for ``name`` with the tool's default learners.

    The causal forest draws at most ``FOREST_SUBSAMPLE`` people per tree: honest forests only need
    the subsample to grow slower than n, and this keeps its cost flat beyond ~45,000 rows.
    """
    from econml.dml import CausalForestDML
    from econml.dr import DRLearner
    from econml.metalearners import SLearner, TLearner, XLearner

    propensity = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_leaf_nodes=15,
                                                min_samples_leaf=20, random_state=seed)
    regression = HistGradientBoostingRegressor(max_iter=150, learning_rate=0.05, max_leaf_nodes=15,
                                               min_samples_leaf=20, l2_regularization=1.0, random_state=seed)
    if name == "causal_forest":
        return CausalForestDML(model_y=regression, model_t=propensity, discrete_treatment=True, cv=3,
                               n_estimators=200, min_samples_leaf=10, random_state=seed,
                               max_samples=min(0.45, FOREST_SUBSAMPLE / max(n_train, 1)))
    if name == "dr":
        return DRLearner(model_propensity=propensity, model_regression=regression, cv=3, random_state=seed)
    if name == "t":
        return TLearner(models=_gbm(binary, seed))
    if name == "s":
        return SLearner(overall_model=_gbm(binary, seed))
    if name == "x":
        # The second stage regresses imputed effects (continuous even for a 0/1 outcome).
        return XLearner(models=_gbm(binary, seed), cate_models=_gbm(False, seed), propensity_model=propensity)
    if name == "logistic_t":
        if not binary:
            raise ConfigError("Estimator 'logistic_t' needs a 0/1 outcome; choose another with --estimator.")
        logistic = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        return TLearner(models=ProbabilityRegressor(logistic))
    raise ConfigError(f"Unknown estimator '{name}'.")


def candidates_for(prepared: Prepared) -> tuple[str, ...]:
    """Estimators tried by ``auto``: the ones that suit this outcome type."""
    if prepared.outcome_binary:
        return ("logistic_t", "t", "dr", "causal_forest")
    return ("causal_forest", "dr", "t", "x")


def _fit_out_of_fold(name: str, x: np.ndarray, y: np.ndarray, t: np.ndarray, folds: np.ndarray, *,
                     binary: bool, seed: int):
    """CATE for every row from a model fitted on the other folds (plus intervals for the forest)."""
    cate = np.empty(len(y))
    low = np.empty(len(y)) if name == "causal_forest" else None
    high = np.empty(len(y)) if name == "causal_forest" else None
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        model = build_estimator(name, binary=binary, seed=seed, n_train=int(train.sum()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(y[train], t[train], X=x[train])
            cate[test] = np.ravel(model.effect(x[test]))
            if low is not None:
                lo, hi = model.effect_interval(x[test], alpha=0.05)
                low[test], high[test] = np.ravel(lo), np.ravel(hi)
    return cate, low, high


def _constant_out_of_fold(gamma: np.ndarray, folds: np.ndarray) -> np.ndarray:
    out = np.empty_like(gamma)
    for fold in np.unique(folds):
        out[folds == fold] = gamma[folds != fold].mean()
    return out


def estimate_cate(prepared: Prepared, nuisances: Nuisances, *, estimator: str, seed: int) -> CateResult:
    """Fit the chosen (or every candidate) estimator out-of-fold and pick by held-out DR loss.

    The DR loss of a CATE prediction tau is ``mean((gamma - tau)^2)``; its difference from the
    loss of a constant (the training folds' average effect) estimates how much better than
    "everyone gets the average effect" the estimator ranks people, up to noise that is the same
    for all estimators. From ``SELECTION_FROM`` people on, ``auto`` scores the candidates with
    ``SELECTION_FOLDS`` folds on at most ``SELECTION_ROWS`` of them and fits only the winner on
    everyone, out-of-fold with the usual folds.
    """
    gamma, folds = nuisances.gamma, nuisances.folds
    x, y, t, binary = prepared.x_dense, prepared.y, prepared.t, prepared.outcome_binary
    names = candidates_for(prepared) if estimator == "auto" else (estimator,)
    scoring = np.arange(prepared.n)
    g, f = gamma, folds
    if len(names) > 1 and prepared.n >= SELECTION_FROM:
        rng = np.random.default_rng(seed)
        size = min(prepared.n, SELECTION_ROWS)
        scoring = np.sort(rng.choice(prepared.n, size, replace=False))
        g, f = gamma[scoring], rng.permutation(size) % SELECTION_FOLDS
    constant_loss = (g - _constant_out_of_fold(g, f)) ** 2
    fits, rows = {}, []
    for name in names:
        fits[name] = _fit_out_of_fold(name, x[scoring], y[scoring], t[scoring], f, binary=binary, seed=seed)
        loss = (g - fits[name][0]) ** 2
        diff = loss - constant_loss
        truth = None
        if prepared.true_effect is not None and np.std(fits[name][0]) > 0 and np.std(prepared.true_effect) > 0:
            truth = float(np.corrcoef(fits[name][0], prepared.true_effect[scoring])[0, 1])
        rows.append((name, float(loss.mean()), float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))), truth))
    best = min(rows, key=lambda r: r[1])[0]
    scores = [CandidateScore(r[0], ESTIMATOR_LABELS[r[0]], r[1], r[2], r[3], r[4], r[0] == best, len(scoring))
              for r in rows]
    scores.append(CandidateScore("constant", ESTIMATOR_LABELS["constant"], float(constant_loss.mean()), 0.0, 0.0,
                                 None, False, len(scoring)))
    if f is folds:
        cate, low, high = fits[best]
    else:
        cate, low, high = _fit_out_of_fold(best, x, y, t, folds, binary=binary, seed=seed)
    return CateResult(best, ESTIMATOR_LABELS[best], cate, low, high, tuple(scores))
