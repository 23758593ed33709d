"""The selection study of issue 14: does ``auto`` pick the CATE model that is closest to the truth?

Shared by ``bench/selection.py`` and the slow tests. One *replication* simulates (or loads) a data
set with known individual effects, fits the shared nuisances once, then calls `estimate_cate` with
every candidate alone and with ``auto`` on the same data, nuisances, folds and scoring rows (the
learning part of the pipeline's honest split, as `targeting.pipeline.run` passes them), and measures
every fit against the truth on everyone.

Besides what ``auto`` picked, each replication keeps every single candidate's held-out doubly
robust loss and R-loss on the scoring rows, so other selection rules can be judged on the same fits
without refitting (`pick_by`).
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
from targeting.estimate.nuisance import bounded_propensity, fit_nuisances, make_folds
from targeting.policy.stage import honest_split
from targeting.sim.nie_wager import nie_wager
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

    ``dr_loss`` and ``r_loss`` are each single candidate's mean held-out loss on the scoring rows,
    ``ranking_score`` its held-out ``cov(gamma, cate) / sd(cate)``: since the scores are unbiased for
    the effect, this estimates ``sd(true effect) * corr(cate, true effect)``, so ranking candidates
    by it ranks them by their correlation with the truth, where the DR loss ranks them by MSE;
    ``weights`` the stack's weights (``constant`` included) as auto's score table reports them, fitted
    on all scoring rows. ``stack_one_weights`` is the stack with those weights for everyone, where
    auto's stack uses, for each fold of the scoring rows, weights fitted on the other folds.
    """

    dataset: str
    seed: int
    n: int
    candidates: dict[str, Accuracy]
    picked: str
    auto: Accuracy
    within_noise: bool
    weights: dict[str, float]
    dr_loss: dict[str, float]
    r_loss: dict[str, float]
    seconds: float
    stack_one_weights: Accuracy | None = None
    ranking_score: dict[str, float] | None = None

    def best(self, metric: str = "mse") -> str:
        """The single candidate closest to the truth in this replication (lowest MSE, or highest correlation)."""
        if metric == "correlation":
            return max(self.candidates, key=lambda name: _correlation_or_minus_one(self.candidates[name]))
        return min(self.candidates, key=lambda name: self.candidates[name].mse)

    def pick_by(self, loss: str) -> str:
        """The single candidate a rule "lowest held-out ``loss``" (``dr_loss`` or ``r_loss``) or "highest
        ``ranking_score``" would pick."""
        losses = getattr(self, loss)
        return (max if loss == "ranking_score" else min)(losses, key=losses.get)

    @property
    def mse_ratio(self) -> float:
        """Auto's true MSE over the best single candidate's."""
        return self.auto.mse / self.candidates[self.best()].mse


def _correlation_or_minus_one(fit: Accuracy) -> float:
    return fit.correlation if fit.correlation is not None else -1.0


@contextmanager
def _each_candidate_fitted_once():
    """Keep every out-of-fold candidate fit of one replication for reuse.

    ``auto`` refits exactly the models the single-candidate calls fitted (same data, folds and seed;
    every fit is deterministic), so the study reuses them instead of paying for every fit twice. A
    fit is keyed by estimator and rows: beyond ``cate.SELECTION_FIT_MAX`` rows auto's subsample fits differ
    from the fits on everyone and are kept apart.
    """
    original, kept = cate_module._fit_out_of_fold, {}

    def fit_once(name, stage, folds):
        key = (name, len(stage.y))
        if key not in kept:
            kept[key] = original(name, stage, folds)
        return kept[key]

    cate_module._fit_out_of_fold = fit_once
    try:
        yield
    finally:
        cate_module._fit_out_of_fold = original


def replicate(benchmark: Benchmark, seed: int, *, folds: int = 5, reuse_fits: bool = True) -> Replication:
    """Run every candidate and ``auto`` on one draw of ``benchmark``, as the pipeline would.

    Parameters
    ----------
    benchmark : Benchmark
    seed : int
        Seed of the simulated data, the folds, the honest split and the learners.
    folds : int
    reuse_fits : bool
        Fit each candidate once and let ``auto`` reuse the fits (see `_each_candidate_fitted_once`).
    """
    with _each_candidate_fitted_once() if reuse_fits else nullcontext():
        return _replicate(benchmark, seed, folds)


def _replicate(benchmark: Benchmark, seed: int, folds: int) -> Replication:
    start = time.perf_counter()
    prepared = prepare(benchmark.make(seed), merge_sources(("selection study", benchmark.settings)))
    nuisances = fit_nuisances(prepared, folds=make_folds(prepared, folds, seed), seed=seed)
    learn = honest_split(prepared.t, seed=seed)
    truth = prepared.true_effect
    e = bounded_propensity(nuisances.propensity)
    y_residual = (prepared.y - (e * nuisances.mu1 + (1 - e) * nuisances.mu0))[learn]
    t_residual = (prepared.t - e)[learn]
    candidates, dr_loss, r_loss, ranking, cates = {}, {}, {}, {}, {}
    for name in candidates_for(prepared):
        cate = cates[name] = estimate_cate(prepared, nuisances, estimator=name, seed=seed, score_on=learn).cate
        candidates[name] = accuracy(cate, truth)
        dr_loss[name] = float(np.mean((nuisances.gamma[learn] - cate[learn]) ** 2))
        r_loss[name] = float(np.mean((y_residual - cate[learn] * t_residual) ** 2))
        spread = np.std(cate[learn])
        ranking[name] = float(np.cov(nuisances.gamma[learn], cate[learn])[0, 1] / spread) if spread > 1e-12 else 0.0
    auto = estimate_cate(prepared, nuisances, estimator="auto", seed=seed, score_on=learn)
    weights = {score.name: score.stack_weight for score in auto.scores if score.stack_weight is not None}
    one_set = sum(weights[name] * cates[name] for name in cates) + weights["constant"] * \
        cate_module._constant_out_of_fold(nuisances.gamma, nuisances.folds)
    return Replication(benchmark.name, seed, prepared.n, candidates, auto.estimator, accuracy(auto.cate, truth),
                       auto.within_noise, weights, dr_loss, r_loss, time.perf_counter() - start,
                       accuracy(one_set, truth), ranking)
