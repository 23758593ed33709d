"""The selection study of issue 14: does ``auto`` pick the CATE model that is closest to the truth?

Shared by ``bench/selection.py`` and the slow tests. One *replication* simulates (or loads) a data
set with known individual effects, fits the shared nuisances once, then fits ``auto``'s candidates
and calls `estimate_cate` with ``auto`` on the same data, nuisances and folds, scoring on everyone
as `targeting.pipeline.run` does, and measures every fit against the truth on everyone.

Besides what ``auto`` gave, each replication applies every selection rule of
`targeting.sim.selection_rules` to the same candidate fits, so the rules are compared without
refitting anything.
"""

from __future__ import annotations

import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from targeting.config import merge_sources
from targeting.data.prepare import prepare
from targeting.estimate import cate as cate_module
from targeting.estimate.cate import candidates_for, estimate_cate
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.estimate.selection import choice_groups, cross_fitted_choice, recalibration, shrunk_stack_weights
from targeting.sim.nie_wager import nie_wager
from targeting.sim.selection_rules import RULES
from targeting.sim.simulate import EXAMPLES, bleeding_trial, cate_lesson, financial_literacy
from targeting.sim.studies import TRIAL_SETTINGS

CONTINUOUS = {"outcome": "y", "treatment": "treated", "true_effect": "true_effect"}
ACIC_INSTANCES = range(1, 11)  # the ten ACIC 2016 data sets causallib ships


@dataclass(frozen=True)
class Benchmark:
    """A data set with known effects: ``make(seed)`` gives the frame, ``settings`` how to read it."""

    name: str
    make: Callable[[int], pd.DataFrame]
    settings: dict
    description: str


def acic2016(instance: int) -> pd.DataFrame:
    """One of the ten ACIC 2016 data sets shipped with causallib, as the tool's input.

    The covariates are kept as given (three of them text categories, which the tool encodes), the
    outcome is the observed one and the true effect is ``mu1 - mu0``. The data are fixed: a seed
    changes only the folds and the honest split.

    Raises
    ------
    ImportError
        When causallib is not installed (it is not a dependency of the project).
    """
    from causallib.datasets import load_acic16

    covariates, outcomes = load_acic16(instance, raw=True)
    frame = covariates.copy()
    frame["treated"] = outcomes["z"].to_numpy()
    frame["y"] = np.where(frame["treated"] == 1, outcomes["y1"], outcomes["y0"])
    frame["true_effect"] = (outcomes["mu1"] - outcomes["mu0"]).to_numpy()
    return frame


def benchmarks(*, nie_wager_n: int = 2000, nie_wager_p: int = 6, nie_wager_sigma: float = 1.0,
               acic: bool = True) -> dict[str, Benchmark]:
    """Every data set of the study, by name (ACIC 2016 only when asked for)."""
    literacy = {k: v for k, v in EXAMPLES["financial_literacy"][1].items() if k != "budget_total"}
    out = {
        "bleeding_2000": Benchmark("bleeding_2000", lambda seed: bleeding_trial(2000, seed=seed), TRIAL_SETTINGS,
                                   "bleeding trial (0/1 outcome, randomised), 2,000 patients"),
        "bleeding_20000": Benchmark("bleeding_20000", lambda seed: bleeding_trial(20000, seed=seed), TRIAL_SETTINGS,
                                    "bleeding trial (0/1 outcome, randomised), 20,000 patients"),
        "financial_literacy": Benchmark("financial_literacy", lambda seed: financial_literacy(5000, seed=seed),
                                        literacy, "financial-literacy programme (observational), 5,000 people"),
        "cate_lesson": Benchmark("cate_lesson", lambda seed: cate_lesson(1000, seed=seed), CONTINUOUS,
                                 "CATE lesson, effect 2 x1 - x2, 1,000 people"),
    }
    for setup in "ABCD":
        settings = {**CONTINUOUS, "propensity": 0.5} if setup == "B" else CONTINUOUS
        out[f"nie_wager_{setup}"] = Benchmark(
            f"nie_wager_{setup}",
            lambda seed, setup=setup: nie_wager(setup, nie_wager_n, p=nie_wager_p, sigma=nie_wager_sigma, seed=seed),
            settings, f"Nie-Wager setup {setup}, n = {nie_wager_n:,}, p = {nie_wager_p}, sigma = {nie_wager_sigma:g}")
    if acic:
        for k in ACIC_INSTANCES:
            out[f"acic2016_{k}"] = Benchmark(f"acic2016_{k}", lambda seed, k=k: acic2016(k), CONTINUOUS,
                                             f"ACIC 2016 instance {k} (causallib), 4,802 people, 58 covariates")
    return out


@dataclass(frozen=True)
class Accuracy:
    """A CATE against the truth on everyone: correlation (None when either does not vary), RMSE."""

    correlation: float | None
    rmse: float

    @property
    def mse(self) -> float:
        return self.rmse ** 2


def accuracy(cate: np.ndarray, truth: np.ndarray) -> Accuracy:
    """Correlation and RMSE of estimated against true effects."""
    varies = np.std(cate) > 1e-12 and np.std(truth) > 1e-12
    return Accuracy(float(np.corrcoef(cate, truth)[0, 1]) if varies else None,
                    float(np.sqrt(np.mean((cate - truth) ** 2))))


@dataclass(frozen=True)
class Replication:
    """One data set, one seed: every candidate's accuracy, auto's choice and its accuracy.

    ``rules`` is the accuracy of the CATE each selection rule of `apply_rules` gives from the same
    candidate fits; ``weights`` the stack's weights (``constant`` included) as
    auto's score table reports them.
    """

    dataset: str
    seed: int
    n: int
    candidates: dict[str, Accuracy]
    picked: str
    auto: Accuracy
    within_noise: bool
    weights: dict[str, float]
    rules: dict[str, Accuracy]
    seconds: float

    def best(self, metric: str = "mse") -> str:
        """The single candidate closest to the truth in this replication (lowest MSE, or highest correlation)."""
        if metric == "correlation":
            return max(self.candidates, key=lambda name: _correlation_or_minus_one(self.candidates[name]))
        return min(self.candidates, key=lambda name: self.candidates[name].mse)

    def mse_ratio(self, fit: Accuracy | None = None) -> float:
        """True MSE of ``fit`` (auto's by default) over the best single candidate's."""
        return (self.auto if fit is None else fit).mse / self.candidates[self.best()].mse


def _correlation_or_minus_one(fit: Accuracy) -> float:
    return fit.correlation if fit.correlation is not None else -1.0


@contextmanager
def _each_candidate_fitted_once():
    """Keep every out-of-fold candidate fit of one replication for reuse.

    ``auto`` refits exactly the models the study's candidate fits fitted (same data, folds and seed;
    every fit is deterministic), so the study reuses them instead of paying for every fit twice. A
    fit is keyed by estimator, rows and whether it gave intervals: beyond ``cate.SELECTION_FIT_MAX``
    rows auto's subsample fits differ from the fits on everyone, and the forest with intervals is
    fitted per fold, not out of bag.
    """
    original, kept = cate_module._fit_all_out_of_fold, {}

    def fit_once(names, stage, folds, workers, trainable=None, *, intervals):
        key = (len(stage.y) if trainable is None else int(trainable.sum()), intervals)
        missing = [name for name in names if (name, key) not in kept]
        if missing:
            for name, fit in original(missing, stage, folds, workers, trainable, intervals=intervals).items():
                kept[(name, key)] = fit
        return {name: kept[(name, key)] for name in names}

    cate_module._fit_all_out_of_fold = fit_once
    try:
        yield
    finally:
        cate_module._fit_all_out_of_fold = original


def replicate(benchmark: Benchmark, seed: int, *, folds: int = 5, reuse_fits: bool = True,
              fits_dir: str = "") -> Replication:
    """Run every candidate and ``auto`` on one draw of ``benchmark``, as the pipeline would.

    Parameters
    ----------
    benchmark : Benchmark
    seed : int
        Seed of the simulated data, the folds, the honest split and the learners.
    folds : int
    reuse_fits : bool
        Fit each candidate once and let ``auto`` reuse the fits (see `_each_candidate_fitted_once`).
    fits_dir : str
        When given, write the candidates' out-of-fold CATEs, the scores, folds and truth there
        (``NAME_SEED.npz``), so that further selection rules can be tried without refitting.
    """
    with _each_candidate_fitted_once() if reuse_fits else nullcontext():
        return _replicate(benchmark, seed, folds, fits_dir)


def apply_rules(predictions: np.ndarray, gamma: np.ndarray, folds: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """The CATE every rule of `targeting.sim.selection_rules.RULES` gives, each group's weights
    learned on the other groups as ``auto`` does; ``auto``'s rule also on the CATE folds as groups."""
    groups = choice_groups(len(gamma), seed)
    with_constant = np.column_stack([predictions, np.full(len(gamma), gamma.mean())])
    out = {}
    for name, (rule, constant) in RULES.items():
        out[name] = cross_fitted_choice(rule, predictions, gamma, groups)[0] if not constant else \
            cross_fitted_choice(_dropping_constant(rule), with_constant, gamma, groups)[0]
    out["auto's rule, the 5 CATE folds as groups"] = cross_fitted_choice(shrunk_stack_weights, predictions, gamma,
                                                                         folds)[0]
    stacked = out["shrunk stack (auto before recalibration)"]
    out["auto: shrunk stack, recalibrated"] = recalibration(stacked, gamma).apply(stacked)
    return out


def _dropping_constant(rule):
    """``rule`` for a basis whose last column is already the constant (the rule adds its own)."""
    return lambda basis, target: rule(basis[:, :-1], target)


def _replicate(benchmark: Benchmark, seed: int, folds: int, fits_dir: str) -> Replication:
    start = time.perf_counter()
    prepared = prepare(benchmark.make(seed), merge_sources(("selection study", benchmark.settings)))
    nuisances = fit_nuisances(prepared, folds=make_folds(prepared, folds, seed), seed=seed)
    truth, gamma = prepared.true_effect, nuisances.gamma
    names = candidates_for(prepared)
    # auto's own candidate fits (no intervals: the causal forest is its out-of-bag fit), which
    # `--estimator NAME` gives too except for the forest, fitted per fold there for its intervals
    stage = cate_module._shared_stage(prepared, nuisances, seed)
    fits = cate_module._fit_all_out_of_fold(names, stage, nuisances.folds, 1, intervals=False)
    cates = {name: fits[name].cate for name in names}
    auto = estimate_cate(prepared, nuisances, estimator="auto", seed=seed)
    weights = {score.name: score.stack_weight for score in auto.scores if score.stack_weight is not None}
    predictions = np.column_stack([cates[name] for name in names])
    if fits_dir:
        np.savez(f"{fits_dir}/{benchmark.name}_{seed}.npz", predictions=predictions, gamma=gamma,
                 folds=nuisances.folds, truth=truth, names=np.array(names))
    rules = {name: accuracy(cate, truth) for name, cate in apply_rules(predictions, gamma, nuisances.folds,
                                                                       seed).items()}
    return Replication(benchmark.name, seed, prepared.n, {name: accuracy(cates[name], truth) for name in names},
                       auto.estimator, accuracy(auto.cate, truth), auto.within_noise, weights, rules,
                       time.perf_counter() - start)
