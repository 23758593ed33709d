"""Conditional average treatment effects, predicted out-of-fold, on top of the shared nuisances.

Every person's CATE comes from a model fitted on the other folds (``auto``'s causal forest: from
the trees that left the person out), so rankings and subgroups built from it are never scored by a
model that saw the person's outcome. The expensive first stage is
fitted once (`nuisance.fit_nuisances`) and shared: the causal forest is EconML's GRF forest fitted
on the cross-fitted residuals (what CausalForestDML does after refitting its own nuisances), the
DR-learner regresses the shared doubly robust scores on the covariates with EconML's linear model
(DRLearner's default final stage), and the gradient-boosting T-learner *is* the pair of
cross-fitted outcome models. As in DML, a training fold's residuals come from nuisance models that
saw the other folds; the CATE model itself never sees the person it predicts.

With ``estimator = auto`` every candidate is scored by its doubly robust loss on held-out folds, on
the same rows, in pairs, and their stacked ensemble is delivered (:mod:`targeting.estimate.selection`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from targeting.data.prepare import Prepared
from targeting.errors import ConfigError
from targeting.estimate.learners import effect_scale_learner, logistic_learner, x_propensity_learner
from targeting.estimate.nuisance import Nuisances, bounded_propensity, fit_seconds
from targeting.estimate.selection import (Score, choice_groups, compare, cross_fitted_choice, recalibration,
                                         shrunk_stack_weights)
from targeting.model.findings import Code, Finding, Severity, finding
from targeting.model.report import EstimatorScore
from targeting.parallel import Workers, map_tasks

FOREST_TREES = 100          # EconML's default for CausalForestDML
FOREST_FEATURES = 1 / 3     # share of covariates tried per split (Breiman's p/3 for regression forests)
FOREST_MIN_LEAF = 20
FOREST_SUBSAMPLE = 20_000   # people drawn per tree at most (see `_causal_forest`)
# Up to this many people every candidate is fitted out of fold on everyone. Beyond, the candidates
# are fitted out of fold on a random sample of them (`selection_rows`) only, and everyone else is
# predicted by the fold models (the forest: its one fit), which never saw them: no refit, and the
# tests of heterogeneity on those people are judged apart from every fit. 40,000 rows put the
# paired standard errors of the losses well below the gaps that matter on the bundled simulations
# (bench/RESULTS.md); with many covariates the sample shrinks to SELECTION_CELLS covariate values,
# not below SELECTION_ROWS_MIN.
SELECTION_FIT_MAX = 50_000
SELECTION_ROWS = 40_000
SELECTION_ROWS_MIN = 10_000
SELECTION_CELLS = 1_000_000

ESTIMATOR_LABELS = {
    "causal_forest": "Causal forest (EconML GRF CausalForest on the cross-fitted residuals)",
    "dr": "Doubly robust learner (scores regressed on covariates with EconML's linear model)",
    "t": "T-learner, gradient boosting (the cross-fitted outcome models)",
    "s": "S-learner, gradient boosting (EconML SLearner)",
    "x": "X-learner, gradient boosting (EconML XLearner)",
    "logistic_t": "T-learner, regularised logistic regression (EconML TLearner)",
    "constant": "No heterogeneity (everyone gets the average effect)",
    "stack": "Stacked ensemble of the candidates (non-negative weights summing to one, learned on other people's "
             "held-out scores; its differences shrunk by the slope of the scores on it, between 0.1 and 1)",
}


@dataclass(frozen=True)
class CateResult:
    """Out-of-fold CATE per person, with intervals when the estimator provides them.

    ``findings`` are the caveats of the fit that was used (e.g. an underdetermined linear model),
    for the report. ``within_noise`` is True when the lowest held-out loss was not clearly below
    the runner-up's. ``honest_rows`` marks the people whose CATE was chosen without their own
    scores: the tests of heterogeneity may use exactly them. ``judged_apart`` is True when no CATE
    model was fitted on any of those people (beyond `SELECTION_FIT_MAX`); otherwise their CATEs
    were cross-fitted among themselves, and the tests widen their standard errors for it
    (`targeting.evaluate.diagnostics.CROSS_FITTED_SE_FACTOR`). ``shrinkage`` is the factor by which
    ``auto``'s stack had its differences shrunk (`targeting.estimate.selection.recalibration`; 1 for
    a single estimator).
    """

    estimator: str
    label: str
    cate: np.ndarray
    cate_low: np.ndarray | None
    cate_high: np.ndarray | None
    scores: tuple[EstimatorScore, ...]
    findings: tuple[Finding, ...]
    within_noise: bool
    honest_rows: np.ndarray
    judged_apart: bool
    shrinkage: float


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



def _shared_stage(prepared: Prepared, nuisances: Nuisances, seed: int) -> _Stage:
    """Residuals and scores from the one cross-fitting pass.

    E[y | x] = e(x) mu1(x) + (1 - e(x)) mu0(x), so the outcome residual needs no extra model.
    """
    e = bounded_propensity(nuisances.propensity)
    expected_y = e * nuisances.mu1 + (1 - e) * nuisances.mu0
    return _Stage(prepared.x_dense, prepared.y, prepared.t.astype(float), nuisances.gamma, prepared.y - expected_y,
                  prepared.t - e, nuisances.mu1 - nuisances.mu0, prepared.outcome_binary, seed)


def build_metalearner(name: str, *, binary: bool, seed: int):
    """An unfitted EconML metalearner (``s``, ``x`` or ``logistic_t``) with the tool's default learners.

    These fit their own outcome models on the training folds; the other estimators reuse the
    shared nuisances instead.
    """
    from econml.metalearners import SLearner, TLearner, XLearner

    if name == "s":
        return SLearner(overall_model=effect_scale_learner(binary, seed))
    if name == "x":
        # The second stage regresses imputed effects (continuous even for a 0/1 outcome).
        return XLearner(models=effect_scale_learner(binary, seed), cate_models=effect_scale_learner(False, seed),
                        propensity_model=x_propensity_learner(seed))
    if name == "logistic_t":
        if not binary:
            raise ConfigError("Estimator 'logistic_t' needs a 0/1 outcome; choose another with --estimator.")
        return TLearner(models=logistic_learner())
    raise ConfigError(f"Unknown estimator '{name}'.")


def candidates_for(prepared: Prepared) -> tuple[str, ...]:
    """Estimators tried by ``auto``: the ones that suit this outcome type."""
    if prepared.outcome_binary:
        return ("logistic_t", "t", "s", "dr", "causal_forest")
    return ("causal_forest", "dr", "t", "s", "x")


def forest_features(p: int) -> int:
    """Covariates the causal forest tries per split: a third of them (`FOREST_FEATURES`), but no
    more than grf's default ``ceil(sqrt(p) + 20)``, which binds from about 90 covariates on.

    A third made the forest three times faster than trying all of them, at equal accuracy on the
    bundled simulations (bench/RESULTS.md); with 200 covariates grf's cap halves the forest's cost,
    which was most of the CATE stage's (bench/RESULTS.md, speed).
    """
    return max(1, min(int(p * FOREST_FEATURES), int(np.ceil(np.sqrt(p) + 20))))


def _causal_forest(stage: _Stage, n_train: int, inference: bool):
    """EconML's GRF causal forest with the tool's settings, unfitted.

    Each tree draws at most ``FOREST_SUBSAMPLE`` people: honest forests only need the subsample to
    grow slower than n, and this keeps the cost of a fit flat beyond ~45,000 training rows.
    """
    from econml.grf import CausalForest

    return CausalForest(n_estimators=FOREST_TREES, max_features=forest_features(stage.x.shape[1]),
                        min_samples_leaf=FOREST_MIN_LEAF, max_samples=min(0.45, FOREST_SUBSAMPLE / n_train),
                        inference=inference, random_state=stage.seed, n_jobs=-1)


def _forest_out_of_fold(stage: _Stage, train: np.ndarray, test: np.ndarray):
    """GRF causal forest on the residuals, with intervals: the final stage of CausalForestDML without its refits."""
    forest = _causal_forest(stage, int(train.sum()), inference=True)
    forest.fit(stage.x[train], stage.t_residual[train], stage.y_residual[train])
    point, low, high = forest.predict(stage.x[test], interval=True, alpha=0.05)
    return np.ravel(point), np.ravel(low), np.ravel(high)


def _forest_out_of_bag(stage: _Stage, trainable: np.ndarray):
    """One causal forest on the ``trainable`` people instead of one per fold, when no intervals are needed.

    Each trainable person is predicted by the trees whose subsample left them out (grf's
    out-of-bag prediction), everyone else by every tree: as out of sample as the fold fits, at a
    quarter of their cost (five fits of 100 trees on 80% of the people become one on all of them).
    In the selection study it was as accurate as the fold fits or more on 15 of 18 data sets
    (bench/RESULTS.md, "auto's causal forest out of bag"). A person is in every tree's subsample
    with probability at most 0.45^100, so every trainable person is predicted.
    """
    forest = _causal_forest(stage, int(trainable.sum()), inference=False)
    forest.fit(stage.x[trainable], stage.t_residual[trainable], stage.y_residual[trainable])
    cate = np.empty(len(stage.y))
    cate[trainable] = np.ravel(forest.oob_predict(stage.x[trainable]))
    if not trainable.all():
        cate[~trainable] = np.ravel(forest.predict(stage.x[~trainable]))
    return cate, None, None


def _dr_out_of_fold(stage: _Stage, train: np.ndarray, test: np.ndarray, intervals: bool):
    """Shared DR scores regressed linearly on the covariates, with heteroskedasticity-robust intervals."""
    from econml.sklearn_extensions.linear_model import StatsModelsLinearRegression

    model = StatsModelsLinearRegression(fit_intercept=True, cov_type="HC1").fit(stage.x[train], stage.gamma[train])
    if not intervals:
        return np.ravel(model.predict(stage.x[test])), None, None
    low, high = model.predict_interval(stage.x[test], alpha=0.05)
    return np.ravel(model.predict(stage.x[test])), np.ravel(low), np.ravel(high)


# Estimators that give individual intervals.
_WITH_INTERVALS = ("causal_forest", "dr")


def _metalearner_out_of_fold(name: str, stage: _Stage, train: np.ndarray, test: np.ndarray):
    model = build_metalearner(name, binary=stage.binary, seed=stage.seed)
    model.fit(stage.y[train], stage.t[train], X=stage.x[train])
    return np.ravel(model.effect(stage.x[test])), None, None


# What EconML's linear model (the DR learner's final stage) warns when a training fold has no more
# people than coefficients, or columns that are linearly dependent there: its effects overfit and
# its intervals are invalid. These are the warnings the CATE fits emit on valid data; they become a
# finding, and any other warning is passed on, not hidden.
UNDERDETERMINED_WARNINGS = ("Co-variance matrix is underdetermined",
                            "Number of observations <= than number of parameters")


@dataclass(frozen=True)
class _Fit:
    """One estimator's out-of-fold predictions and how many folds' fits were underdetermined."""

    cate: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    underdetermined_folds: int


def _fit_one_fold(fit, *args):
    """``fit(*args)``, and whether it warned that a linear model was underdetermined."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(*args)
    underdetermined = False
    for caught_warning in caught:
        if issubclass(caught_warning.category, UserWarning) and str(caught_warning.message).startswith(
                UNDERDETERMINED_WARNINGS):
            underdetermined = True
        else:
            warnings.warn_explicit(caught_warning.message, caught_warning.category, caught_warning.filename,
                                   caught_warning.lineno, source=caught_warning.source)
    return result, underdetermined


def _fold_fit(name: str, stage: _Stage, folds: np.ndarray, fold: int | None, trainable: np.ndarray | None,
              intervals: bool):
    """One candidate on one fold, as a task of `targeting.parallel.map_tasks` (module-level, pure):
    fitted on the ``trainable`` people (everyone when None) outside ``fold``, predicting everyone in it.
    ``fold`` None is the forest's one out-of-bag fit (`_forest_out_of_bag`)."""
    if fold is None:
        return _fit_one_fold(_forest_out_of_bag, stage, np.ones(len(stage.y), dtype=bool) if trainable is None
                             else trainable)
    test, train = folds == fold, folds != fold
    if trainable is not None:
        train &= trainable
    if name == "causal_forest":
        return _fit_one_fold(_forest_out_of_fold, stage, train, test)
    if name == "dr":
        return _fit_one_fold(_dr_out_of_fold, stage, train, test, intervals)
    return _fit_one_fold(_metalearner_out_of_fold, name, stage, train, test)


def _fit_all_out_of_fold(names, stage: _Stage, folds: np.ndarray, workers: int | Workers,
                         trainable: np.ndarray | None = None, *, intervals: bool) -> dict[str, _Fit]:
    """Every candidate's out-of-fold CATE, plus individual intervals where available when ``intervals``.

    Each fold's model is fitted on the ``trainable`` people of the other folds (everyone when None)
    and predicts everyone in its fold, so no one is predicted by a model that saw them; without
    intervals the causal forest is one out-of-bag fit instead (`_forest_out_of_bag`). The tasks are
    independent, run on the pipeline's workers and gathered in task order, so the result does not
    depend on how many workers ran them.
    """
    fold_ids = np.unique(folds)

    def task_folds(name):
        return (None,) if name == "causal_forest" and not intervals else fold_ids

    tasks = [(name, stage, folds, fold, trainable, intervals) for name in names if name != "t"
             for fold in task_folds(name)]
    fitted = len(stage.y) if trainable is None else int(trainable.sum())
    rows_per_fit = fitted * (len(fold_ids) - 1) // len(fold_ids)
    # a candidate fits about three boosting-sized models per fold (its own arms and a final stage)
    serial = len(tasks) * 3 * fit_seconds(rows_per_fit, stage.x.shape[1])
    results = iter(map_tasks(_fold_fit, tasks, workers=workers, serial_seconds=serial))
    fits = {}
    for name in names:
        if name == "t":  # already out-of-fold: the shared outcome models
            fits[name] = _Fit(stage.t_learner.copy(), None, None, 0)
            continue
        with_intervals = intervals and name in _WITH_INTERVALS
        cate = np.empty(len(stage.y))
        low = np.empty(len(stage.y)) if with_intervals else None
        high = np.empty(len(stage.y)) if with_intervals else None
        underdetermined = 0
        for fold in task_folds(name):
            result, thin = next(results)
            test = slice(None) if fold is None else folds == fold
            underdetermined += thin
            cate[test] = result[0]
            if with_intervals:
                low[test], high[test] = result[1], result[2]
        fits[name] = _Fit(cate, low, high, underdetermined)
    return fits


def _fit_findings(name: str, fit: _Fit, stage: _Stage, folds: np.ndarray,
                  trainable: np.ndarray | None = None) -> tuple[Finding, ...]:
    if not fit.underdetermined_folds:
        return ()
    k = len(np.unique(folds))
    fitted = folds if trainable is None else folds[trainable]
    smallest = int(min(np.sum(fitted != fold) for fold in np.unique(folds)))
    coefficients = stage.x.shape[1] + 1
    return (finding(
        Code.UNDERDETERMINED_DR, Severity.WARNING,
        f"{ESTIMATOR_LABELS[name]}: in {fit.underdetermined_folds} of {k} folds its linear model was "
        f"underdetermined, with {coefficients} coefficients (an intercept and one per covariate column) for as few as "
        f"{smallest} training people, or columns that are linearly dependent among a fold's training people "
        "(e.g. a rare category). Its effects overfit and its individual intervals are not valid. Use fewer "
        "covariates or categories, more data, or another estimator (e.g. --estimator causal_forest).",
        folds=fit.underdetermined_folds, coefficients=coefficients, smallest_training_fold=smallest,
    ),)


def _constant_out_of_fold(gamma: np.ndarray, folds: np.ndarray) -> np.ndarray:
    out = np.empty_like(gamma)
    for fold in np.unique(folds):
        out[folds == fold] = gamma[folds != fold].mean()
    return out


def selection_rows(n: int, covariates: int) -> int:
    """How many people ``auto`` fits its candidates on: everyone up to `SELECTION_FIT_MAX`, beyond it
    `SELECTION_ROWS`, fewer with many covariates (`SELECTION_CELLS`), never fewer than `SELECTION_ROWS_MIN`."""
    if n <= SELECTION_FIT_MAX:
        return n
    return int(min(SELECTION_ROWS, max(SELECTION_ROWS_MIN, SELECTION_CELLS // max(covariates, 1))))


def estimate_cate(prepared: Prepared, nuisances: Nuisances, *, estimator: str, seed: int,
                  workers: int | Workers = 1) -> CateResult:
    """Fit the chosen estimator out of fold, or with ``auto`` every candidate and their stack.

    The DR loss of a CATE prediction tau is ``mean((gamma - tau)^2)``: up to a term that is the same
    for every candidate, it estimates the candidate's mean squared error. Every candidate is fitted
    out of fold with the nuisances' folds (the forest out of bag, `_forest_out_of_bag`) and scored on
    the same rows. ``auto`` delivers the stack of
    `targeting.estimate.selection.shrunk_stack_weights`, each group's weights learned on the other
    groups (`cross_fitted_choice`), so the verdicts computed later on everyone (calibration, GATES,
    RATE) are not flattered by the weighting, and then shrinks its differences to what the scores
    support (`targeting.estimate.selection.recalibration`). Beyond ``SELECTION_FIT_MAX`` people the candidates are
    fitted and scored on a random sample of them (`selection_rows`); everyone else gets the stack, with
    the weights learned on the sample, of the fold models' (the forest's) predictions, and the
    verdicts use only them (``honest_rows``).

    Parameters
    ----------
    prepared : Prepared
    nuisances : Nuisances
    estimator : str
        ``auto`` or one estimator name.
    seed : int
    workers : int or Workers, optional
        Where the candidates' fold fits run (`targeting.parallel`); the result is the same for any number.
    """
    stage, folds = _shared_stage(prepared, nuisances, seed), nuisances.folds
    if estimator != "auto":
        return _single_estimator(estimator, stage, folds, prepared.true_effect, workers)
    names = candidates_for(prepared)
    m = selection_rows(prepared.n, prepared.x_dense.shape[1])
    trainable = None  # everyone
    if m < prepared.n:
        trainable = np.zeros(prepared.n, dtype=bool)
        trainable[np.random.default_rng(seed).choice(prepared.n, m, replace=False)] = True
    fit_rows = np.arange(prepared.n) if trainable is None else np.flatnonzero(trainable)
    fits = _fit_all_out_of_fold(names, stage, folds, workers, trainable, intervals=False)
    predictions = np.column_stack([fits[name].cate for name in names])
    scored, gamma = predictions[fit_rows], stage.gamma[fit_rows]
    weights = shrunk_stack_weights(scored, gamma)  # on every scoring row: shown, and used beyond the cap
    stacked, _ = cross_fitted_choice(shrunk_stack_weights, scored, gamma, choice_groups(m, seed))
    calibrated = recalibration(stacked, gamma)
    weight_of = dict(zip(names, weights.tolist()))
    if trainable is None:
        delivered, honest, judged_apart = stacked, np.ones(prepared.n, dtype=bool), False
    else:
        delivered, honest = predictions @ weights, ~trainable
        delivered[fit_rows] = stacked
        # The T-learner's CATE is the shared nuisance models' difference, fitted out of fold on
        # everyone: with weight on it, the judged people's CATEs were partly fitted among themselves.
        judged_apart = weight_of.get("t", 0.0) == 0.0
    delivered = calibrated.apply(delivered)
    label = _stack_label(weight_of, calibrated.slope)
    predicted = {**{name: fits[name].cate[fit_rows] for name in names}, "stack": delivered[fit_rows]}
    truth = prepared.true_effect[fit_rows] if prepared.true_effect is not None else None
    folds_scored = folds[fit_rows]
    table, within_noise = _score_table(predicted, gamma, _constant_out_of_fold(gamma, folds_scored), truth,
                                       weight_of, delivered="stack", stack_label=label)
    findings = tuple(f for name in names if weight_of[name] > 0
                     for f in _fit_findings(name, fits[name], stage, folds, trainable))
    return CateResult("stack", label, delivered, None, None, table, findings, within_noise, honest, judged_apart,
                      calibrated.slope)


def _single_estimator(name: str, stage: _Stage, folds: np.ndarray, truth: np.ndarray | None,
                      workers: int | Workers) -> CateResult:
    fit = _fit_all_out_of_fold((name,), stage, folds, workers, intervals=True)[name]
    table, _ = _score_table({name: fit.cate}, stage.gamma, _constant_out_of_fold(stage.gamma, folds), truth, {},
                            delivered=name)
    return CateResult(name, ESTIMATOR_LABELS[name], fit.cate, fit.low, fit.high, table,
                      _fit_findings(name, fit, stage, folds), False, np.ones(len(stage.y), dtype=bool), False, 1.0)


def _score_table(predicted: dict[str, np.ndarray], gamma: np.ndarray, constant: np.ndarray,
                 truth: np.ndarray | None, weights: dict[str, float], delivered: str,
                 stack_label: str = "") -> tuple[tuple[EstimatorScore, ...], bool]:
    """The report's score rows, compared with the ``delivered`` CATE, and whether the lowest loss is
    within noise of the runner-up's."""
    losses = {name: (gamma - values) ** 2 for name, values in predicted.items()}
    constant_loss = (gamma - constant) ** 2
    scores, within_noise = compare(losses, constant=constant_loss, delivered=delivered)
    table = tuple(_score_row(score, delivered, predicted[score.name], weights, truth, stack_label) for score in scores)
    table += (EstimatorScore("constant", ESTIMATOR_LABELS["constant"], float(constant_loss.mean()), 0.0, 0.0, None,
                             False, len(gamma), None, None, None),)
    return table, within_noise


def _score_row(score: Score, delivered: str, predicted: np.ndarray, weights: dict[str, float],
               truth: np.ndarray | None, stack_label: str) -> EstimatorScore:
    """The report's row for one candidate (correlation with the truth only in simulations)."""
    correlation = None
    if truth is not None and np.std(predicted) > 0 and np.std(truth) > 0:
        correlation = float(np.corrcoef(predicted, truth)[0, 1])
    label = stack_label if score.name == "stack" else ESTIMATOR_LABELS[score.name]
    return EstimatorScore(score.name, label, score.loss, score.loss_vs_constant, score.loss_vs_constant_se,
                          correlation, score.name == delivered, len(predicted), score.loss_vs_delivered,
                          score.loss_vs_delivered_se, weights.get(score.name))


def _stack_label(weights: dict[str, float], shrinkage: float) -> str:
    parts = [f"{name} {w:.0%}" for name, w in sorted(weights.items(), key=lambda item: -item[1]) if w >= 0.005]
    shrunk = f"; differences shrunk to {shrinkage:.0%}" if shrinkage < 0.995 else ""
    return "Stacked ensemble (" + ", ".join(parts) + shrunk + ")"
