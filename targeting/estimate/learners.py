"""The tool's default learners, in one place: every model the estimate stage fits is built here.

Gradient boosting is regularised for modest samples (a few hundred people per arm): few, small,
well-populated leaves and a slow learning rate. The settings are shared by the cross-fitted
nuisance models and by EconML's metalearners, so that "gradient boosting" means one thing in the
methods section of the brief.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BOOSTING_ROUNDS = 150
BOOSTING_LEARNING_RATE = 0.05
BOOSTING_MAX_LEAF_NODES = 15
BOOSTING_MIN_SAMPLES_LEAF = 20
BOOSTING_L2 = 1.0
# The X-learner's own propensity model has always used fewer rounds and no L2 penalty; aligning
# it with the others would change the bundled examples' pinned candidate scores.
X_PROPENSITY_ROUNDS = 100
LOGISTIC_C = 1.0
LOGISTIC_MAX_ITER = 2000


class ProbabilityRegressor(BaseEstimator, RegressorMixin):
    """Use a classifier where EconML's metalearners call ``predict``: return P(y = 1).

    Metalearners take differences of ``predict``; for a binary outcome those must be
    probabilities so that the effect is a risk difference. A training set with one outcome value
    only (possible in ``auto``'s selection subsample) predicts that value's share.
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


def outcome_learner(binary: bool, seed: int, *, categorical: np.ndarray | None = None):
    """Gradient boosting for an outcome: a classifier for a 0/1 outcome, else a regressor.

    Parameters
    ----------
    binary : bool
        Whether the target is 0/1.
    seed : int
        Random state of the learner.
    categorical : ndarray of bool, optional
        Which columns hold category codes (the nuisance models see codes; metalearners see
        dummy columns and pass nothing).
    """
    settings = dict(max_iter=BOOSTING_ROUNDS, learning_rate=BOOSTING_LEARNING_RATE,
                    max_leaf_nodes=BOOSTING_MAX_LEAF_NODES, min_samples_leaf=BOOSTING_MIN_SAMPLES_LEAF,
                    l2_regularization=BOOSTING_L2, categorical_features=categorical, random_state=seed)
    return HistGradientBoostingClassifier(**settings) if binary else HistGradientBoostingRegressor(**settings)


def propensity_learner(seed: int, *, categorical: np.ndarray | None = None) -> HistGradientBoostingClassifier:
    """The cross-fitted propensity model: the outcome classifier's settings, fitted to treatment."""
    return outcome_learner(True, seed, categorical=categorical)


def effect_scale_learner(binary: bool, seed: int):
    """An outcome learner whose ``predict`` is on the effect's scale (P(y = 1) for a 0/1 outcome)."""
    return ProbabilityRegressor(outcome_learner(True, seed)) if binary else outcome_learner(False, seed)


def x_propensity_learner(seed: int) -> HistGradientBoostingClassifier:
    """The X-learner's propensity model (see `X_PROPENSITY_ROUNDS`)."""
    return HistGradientBoostingClassifier(max_iter=X_PROPENSITY_ROUNDS, learning_rate=BOOSTING_LEARNING_RATE,
                                          max_leaf_nodes=BOOSTING_MAX_LEAF_NODES,
                                          min_samples_leaf=BOOSTING_MIN_SAMPLES_LEAF, random_state=seed)


def logistic_learner() -> ProbabilityRegressor:
    """Ridge-penalised logistic regression on standardised covariates, predicting P(y = 1)."""
    return ProbabilityRegressor(make_pipeline(StandardScaler(), LogisticRegression(C=LOGISTIC_C,
                                                                                   max_iter=LOGISTIC_MAX_ITER)))


def fit_fold(x: np.ndarray, target: np.ndarray, folds: np.ndarray, t: np.ndarray, fold: int, arm: int | None,
             model, proba: bool) -> np.ndarray:
    """Fit ``model`` on the rows outside ``fold`` (of arm ``arm``; every arm when None) and predict
    the rows inside it: P(target = 1) when ``proba``, else the prediction.

    A module-level function of its arguments only, so that it can run in a worker process
    (`targeting.parallel.map_tasks`) and give the same numbers there.
    """
    test = folds == fold
    train = ~test if arm is None else ~test & (t == arm)
    model = model.fit(x[train], target[train])
    return model.predict_proba(x[test])[:, 1] if proba else model.predict(x[test])
