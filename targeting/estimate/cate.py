"""Conditional average treatment effects, predicted out-of-fold, on top of the shared nuisances.

Every person's CATE comes from a model fitted on the other folds, so rankings and subgroups built
from it are never scored by a model that saw the person's outcome. The expensive first stage is
fitted once (`nuisance.fit_nuisances`) and shared: the causal forest is EconML's GRF forest fitted
on the cross-fitted residuals (what CausalForestDML does after refitting its own nuisances), the
DR-learner regresses the shared doubly robust scores on the covariates with EconML's linear model
(DRLearner's default final stage), and the gradient-boosting T-learner *is* the pair of
cross-fitted outcome models. As in DML, a training fold's residuals come from nuisance models that
saw the other folds; the CATE model itself never sees the person it predicts.

With ``estimator = auto`` the candidates are compared by their doubly robust loss on held-out folds
and the best is used.
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

from targeting.errors import ConfigError
from targeting.estimate.nuisance import Nuisances, bounded_propensity
from targeting.data.prepare import Prepared

FOREST_TREES = 100          # EconML's default for CausalForestDML
FOREST_FEATURES = 1 / 3     # share of covariates tried per split (Breiman's p/3 for regression forests)
FOREST_MIN_LEAF = 20
FOREST_SUBSAMPLE = 20_000   # people drawn per tree at most (see `_forest_out_of_fold`)
SELECTION_FROM = 5_000      # from this many people on, auto scores the candidates...
SELECTION_ROWS = 10_000     # ...on at most this many of them (a random subsample)...
SELECTION_FOLDS = 3         # ...split into this many folds, then refits only the winner

ESTIMATOR_LABELS = {
    "causal_forest": "Causal forest (EconML GRF CausalForest on the cross-fitted residuals)",
    "dr": "Doubly robust learner (scores regressed on covariates with EconML's linear model)",
    "t": "T-learner, gradient boosting (the cross-fitted outcome models)",
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


@dataclass(frozen=True)
class _Stage:
    """What every second-stage learner may use, restricted to the rows being fitted."""

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    gamma: np.ndarray
    y_residual: np.ndarray
    t_residual: np.ndarray
    t_learner: np.ndarray
    binary: bool
    seed: int

    def rows(self, index: np.ndarray) -> "_Stage":
        return _Stage(self.x[index], self.y[index], self.t[index], self.gamma[index], self.y_residual[index],
                      self.t_residual[index], self.t_learner[index], self.binary, self.seed)


def _shared_stage(prepared: Prepared, nuisances: Nuisances, seed: int) -> _Stage:
    """Residuals and scores from the one cross-fitting pass.

    E[y | x] = e(x) mu1(x) + (1 - e(x)) mu0(x), so the outcome residual needs no extra model.
    """
    e = bounded_propensity(nuisances.propensity)
    expected_y = e * nuisances.mu1 + (1 - e) * nuisances.mu0
    return _Stage(prepared.x_dense, prepared.y, prepared.t.astype(float), nuisances.gamma, prepared.y - expected_y,
                  prepared.t - e, nuisances.mu1 - nuisances.mu0, prepared.outcome_binary, seed)


def _gbm(binary: bool, seed: int):
    params = dict(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=20,
                  l2_regularization=1.0, random_state=seed)
    if binary:
        return ProbabilityRegressor(HistGradientBoostingClassifier(**params))
    return HistGradientBoostingRegressor(**params)


def build_metalearner(name: str, *, binary: bool, seed: int):
    """An unfitted EconML metalearner (``s``, ``x`` or ``logistic_t``) with the tool's default learners.

    These fit their own outcome models on the training folds; the other estimators reuse the
    shared nuisances instead.
    """
    from econml.metalearners import SLearner, TLearner, XLearner

    if name == "s":
        return SLearner(overall_model=_gbm(binary, seed))
    if name == "x":
        propensity = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.05, max_leaf_nodes=15,
                                                    min_samples_leaf=20, random_state=seed)
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


def _forest_out_of_fold(stage: _Stage, train: np.ndarray, test: np.ndarray):
    """GRF causal forest on the residuals: the final stage of CausalForestDML without its refits.

    Each tree draws at most ``FOREST_SUBSAMPLE`` people: honest forests only need the subsample to
    grow slower than n, and this keeps the cost of a fit flat beyond ~45,000 training rows. Trying a
    third of the covariates per split made the forest three times faster than trying all of them,
    at equal accuracy on the bundled simulations (bench/RESULTS.md).
    """
    from econml.grf import CausalForest

    n_train = int(train.sum())
    forest = CausalForest(n_estimators=FOREST_TREES, max_features=FOREST_FEATURES, min_samples_leaf=FOREST_MIN_LEAF,
                          max_samples=min(0.45, FOREST_SUBSAMPLE / n_train), random_state=stage.seed, n_jobs=-1)
    forest.fit(stage.x[train], stage.t_residual[train], stage.y_residual[train])
    point, low, high = forest.predict(stage.x[test], interval=True, alpha=0.05)
    return np.ravel(point), np.ravel(low), np.ravel(high)


def _dr_out_of_fold(stage: _Stage, train: np.ndarray, test: np.ndarray):
    """Shared DR scores regressed linearly on the covariates, with heteroskedasticity-robust intervals."""
    from econml.sklearn_extensions.linear_model import StatsModelsLinearRegression

    model = StatsModelsLinearRegression(fit_intercept=True, cov_type="HC1").fit(stage.x[train], stage.gamma[train])
    low, high = model.predict_interval(stage.x[test], alpha=0.05)
    return np.ravel(model.predict(stage.x[test])), np.ravel(low), np.ravel(high)


# Estimators fitted per fold on the shared stage, which give individual intervals.
_FITS_WITH_INTERVALS = {"causal_forest": _forest_out_of_fold, "dr": _dr_out_of_fold}


def _metalearner_out_of_fold(name: str, stage: _Stage, train: np.ndarray, test: np.ndarray):
    model = build_metalearner(name, binary=stage.binary, seed=stage.seed)
    model.fit(stage.y[train], stage.t[train], X=stage.x[train])
    return np.ravel(model.effect(stage.x[test])), None, None


def _fit_out_of_fold(name: str, stage: _Stage, folds: np.ndarray):
    """CATE for every row from a model fitted on the other folds (plus intervals where available)."""
    if name == "t":
        return stage.t_learner.copy(), None, None  # already out-of-fold: the shared outcome models
    fit_fold = _FITS_WITH_INTERVALS.get(name)
    cate = np.empty(len(stage.y))
    low = np.empty(len(stage.y)) if fit_fold is not None else None
    high = np.empty(len(stage.y)) if fit_fold is not None else None
    for fold in np.unique(folds):
        test, train = folds == fold, folds != fold
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fit_fold is None:
                result = _metalearner_out_of_fold(name, stage, train, test)
            else:
                result = fit_fold(stage, train, test)
        cate[test] = result[0]
        if low is not None:
            low[test], high[test] = result[1], result[2]
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
    stage, folds = _shared_stage(prepared, nuisances, seed), nuisances.folds
    names = candidates_for(prepared) if estimator == "auto" else (estimator,)
    scoring = np.arange(prepared.n)
    scored, f = stage, folds
    if len(names) > 1 and prepared.n >= SELECTION_FROM:
        rng = np.random.default_rng(seed)
        size = min(prepared.n, SELECTION_ROWS)
        scoring = np.sort(rng.choice(prepared.n, size, replace=False))
        scored, f = stage.rows(scoring), rng.permutation(size) % SELECTION_FOLDS
    g = scored.gamma
    constant_loss = (g - _constant_out_of_fold(g, f)) ** 2
    fits, rows = {}, []
    for name in names:
        fits[name] = _fit_out_of_fold(name, scored, f)
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
        cate, low, high = _fit_out_of_fold(best, stage, folds)
    return CateResult(best, ESTIMATOR_LABELS[best], cate, low, high, tuple(scores))
