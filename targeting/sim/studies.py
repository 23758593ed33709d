"""Repeated-simulation studies shared by the slow tests and the benchmarks.

Kept in the package (not in tests/) so `bench/` and `tests/` run exactly the same study.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from targeting.config import merge_sources
from targeting.data.prepare import prepare
from targeting.data.read import RawInput, read_input
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.evaluate.rules import leaf_rules
from targeting.evaluate.stats import Z95
from targeting.evaluate.values import compare
from targeting.model.report import Comparison
from targeting.pipeline import run
from targeting.policy.stage import LEARN_SHARE, honest_split, learn_policy, policy_settings
from targeting.sim.simulate import bleeding_trial, cate_lesson, financial_literacy, null_effect

TRIAL_SETTINGS = {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment", "id": "subject_id",
                  "direction": "lower-is-better", "propensity": 0.5, "true_effect": "true_effect"}


def run_frame(frame: pd.DataFrame, **settings):
    """Run the whole pipeline on an in-memory frame (no files)."""
    raw = RawInput(frame, {}, "simulated", "", None)
    return run(raw, merge_sources(("study", settings)))


@dataclass(frozen=True)
class NullStudy:
    """How often a report on a do-nothing treatment raises any harm flag."""

    n_datasets: int
    n_with_harm_flag: int
    groups_per_report: float

    @property
    def rate(self) -> float:
        return self.n_with_harm_flag / self.n_datasets


def null_harm_study(n_datasets: int, *, n: int = 2000, first_seed: int = 1000, folds: int = 5) -> NullStudy:
    """Simulate ``n_datasets`` bleeding trials where the drug does nothing and count false harm flags."""
    flagged, groups = 0, 0
    for k in range(n_datasets):
        result = run_frame(null_effect(n, seed=first_seed + k), **TRIAL_SETTINGS, estimator="logistic_t",
                           folds=folds, seed=first_seed + k, subgroup=["age > 65"])
        subgroups = result.report.subgroups
        groups += len(subgroups)
        flagged += any(s.flag == "harmed" for s in subgroups)
    return NullStudy(n_datasets, flagged, groups / n_datasets)


# --- Issue 13: coverage of the displayed rule's intervals, and the value the honest split costs ---

BUDGET_SHARE = 0.3

HONEST_SIMULATIONS = {
    "bleeding_trial": (bleeding_trial, TRIAL_SETTINGS),
    # Without its cost column, so that a 30% share budget means 30% of people, as for the oracle.
    "financial_literacy": (lambda n, seed: financial_literacy(n, seed=seed).drop(columns="cost"),
                           {"outcome": "savings_rate_change", "treatment": "enrolled", "id": "person_id",
                            "direction": "higher-is-better", "true_effect": "true_effect"}),
    "cate_lesson": (cate_lesson, {"outcome": "y", "treatment": "treated", "direction": "higher-is-better",
                                  "true_effect": "true_effect"}),
}


@dataclass(frozen=True)
class Population:
    """A large simulated population: the truth every displayed rule is judged against."""

    frame: pd.DataFrame
    sign: int

    @property
    def benefit(self) -> np.ndarray:
        """True effect oriented so positive is good for people."""
        return self.sign * self.frame["true_effect"].to_numpy()

    def decisions(self, treated_queries) -> np.ndarray:
        """0/1 decisions of a rule: the union of its treated leaves' queries."""
        treat = np.zeros(len(self.frame))
        for query in treated_queries:
            treat[self.frame.query(query).index.to_numpy()] = 1
        return treat

    def gain(self, treat: np.ndarray) -> float:
        """True gain per person over treating no one."""
        return float(np.mean(self.benefit * treat))

    def oracle(self, share: float = BUDGET_SHARE) -> float:
        """Gain of treating the top ``share`` by true benefit, those who benefit only."""
        top = np.sort(self.benefit)[::-1][:int(share * len(self.frame))]
        return float(np.sum(top[top > 0]) / len(self.frame))


def population(name: str, size: int = 200_000, *, seed: int = 10**6) -> Population:
    """The big population of simulation ``name`` (a seed no trial uses)."""
    make, settings = HONEST_SIMULATIONS[name]
    return Population(make(size, seed=seed), -1 if settings["direction"] == "lower-is-better" else 1)


@dataclass(frozen=True)
class Shown:
    """What a report says about one rule: its two comparisons and its leaves (`Rule`)."""

    treat_none: Comparison
    treat_all: Comparison
    rules: list


@dataclass(frozen=True)
class HonestTrial:
    """One simulated data set: the rule shown at each learning share, and the treated leaves' queries
    of the tree learned on everyone.

    ``shown[LEARN_SHARE]`` is the pipeline's own report; ``query_mismatches`` counts displayed leaves
    whose query does not select ``n`` rows of the input, and ``rebuilt`` says whether the nuisances
    and split rebuilt here give the pipeline's decisions (they must, for the other numbers to pair).
    """

    shown: dict[float, Shown]
    everyone: list[str]
    query_mismatches: int
    rebuilt: bool


def honest_trial(name: str, seed: int, *, n: int = 5000, shares=(LEARN_SHARE,), estimator: str = "auto",
                 folds: int = 5) -> HonestTrial:
    """Simulate ``n`` people with ``seed``, run the pipeline from a CSV (30% budget), then learn the
    same tree on everyone and at each other learning share, from the same data, nuisances and settings.

    Parameters
    ----------
    name : str
        A key of `HONEST_SIMULATIONS`.
    seed : int
        Seed of the simulated data and of the run (folds, split).
    n : int
        People simulated.
    shares : iterable of float
        Learning shares to show the rule at; the pipeline's own (`LEARN_SHARE`) is always included.
    estimator : str
        CATE estimator of the run (the intervals use the doubly robust scores, not the CATE).
    folds : int
        Cross-fitting folds.
    """
    make, settings = HONEST_SIMULATIONS[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.csv"
        make(n, seed=seed).to_csv(path, index=False)
        raw = read_input(path)
    config = merge_sources(("study", {**settings, "budget": f"{BUDGET_SHARE:.0%}", "estimator": estimator,
                                      "folds": folds, "seed": seed}))
    result = run(raw, config)
    report = result.report
    shown = {LEARN_SHARE: Shown(report.comparisons["treat_none"], report.comparisons["treat_all"],
                                report.policy.rules)}
    mismatches = sum(len(raw.frame.query(rule.query)) != rule.n for rule in report.policy.rules)

    with threadpool_limits(limits=1, user_api="openmp"):  # as the pipeline fits them
        prepared = prepare(raw.frame, config)
        nuis = fit_nuisances(prepared, folds=make_folds(prepared, config.folds, config.seed), seed=config.seed)
    benefit, policy = prepared.sign * nuis.gamma, policy_settings(config, prepared)
    fits = {share: learn_policy(prepared, benefit, nuis.folds, policy,
                                learn=honest_split(prepared.t, seed=config.seed, learn_share=share))
            for share in {LEARN_SHARE, *shares}}
    # individuals.csv is in the file's row order; the fits are in the analysis' order of people
    rebuilt = bool(np.array_equal(fits[LEARN_SHARE].treat[prepared.input_order],
                                  result.individuals["treat"].to_numpy()))
    no_one, everyone = np.zeros(prepared.n), np.ones(prepared.n)
    for share, fit in fits.items():
        if share != LEARN_SHARE:
            rows = fit.estimate
            shown[share] = Shown(compare("treat_none", fit.treat, no_one, nuis, prepared, rows),
                                 compare("treat_all", fit.treat, everyone, nuis, prepared, rows),
                                 [row.rule for row in leaf_rules(fit.leaves, fit.path, rows, prepared, nuis)])
    on_everyone = learn_policy(prepared, benefit, nuis.folds, policy, learn=np.ones(prepared.n, dtype=bool))
    return HonestTrial(shown, [leaf["query"] for leaf in on_everyone.leaves if leaf["treat"]], mismatches, rebuilt)


@dataclass(frozen=True)
class ShareScore:
    """One trial's rule at one learning share, judged against the population.

    Coverage flags, widths and standardised errors ((estimate - truth) / its standard error, read
    off the interval) of the gain over treating no one and over treating everyone, coverage flags
    and widths for each leaf with an effect, and true gains over treating no one: the rule's (``value``),
    the tree learned on everyone's (``value_all``) and the oracle's.
    """

    none_covered: bool
    none_width: float
    none_z: float
    all_covered: bool
    all_width: float
    all_z: float
    leaf_covered: list
    leaf_width: list
    leaf_treated: list
    value: float
    value_all: float
    oracle: float


def _covers(low: float, high: float, truth: float) -> bool:
    return bool(low <= truth <= high)


def _standardised_error(comparison: Comparison, truth: float) -> float:
    """(estimate - truth) / standard error, the error read off the symmetric 95% interval: its mean
    over trials is the estimate's bias, its SD how well the standard error measures the noise."""
    return float((comparison.difference - truth) / ((comparison.ci_high - comparison.ci_low) / (2 * Z95)))


def score_trial(trial: HonestTrial, pop: Population, share: float = LEARN_SHARE) -> ShareScore:
    """Judge the rule a trial showed at ``share`` against the true effects of ``pop``."""
    shown = trial.shown[share]
    treat = pop.decisions([rule.query for rule in shown.rules if rule.treat])
    gain_none, gain_all = pop.gain(treat), pop.gain(treat - 1)
    leaves = []
    for rule in shown.rules:
        selected = pop.frame.query(rule.query)["true_effect"]
        if rule.effect is not None and len(selected):
            leaves.append((_covers(rule.ci_low, rule.ci_high, selected.mean()), rule.ci_high - rule.ci_low,
                           rule.treat))
    covered, width, treated = (list(column) for column in zip(*leaves)) if leaves else ([], [], [])
    return ShareScore(
        none_covered=_covers(shown.treat_none.ci_low, shown.treat_none.ci_high, gain_none),
        none_width=shown.treat_none.ci_high - shown.treat_none.ci_low,
        none_z=_standardised_error(shown.treat_none, gain_none),
        all_covered=_covers(shown.treat_all.ci_low, shown.treat_all.ci_high, gain_all),
        all_width=shown.treat_all.ci_high - shown.treat_all.ci_low,
        all_z=_standardised_error(shown.treat_all, gain_all),
        leaf_covered=covered, leaf_width=width, leaf_treated=treated,
        value=gain_none, value_all=pop.gain(pop.decisions(trial.everyone)), oracle=pop.oracle(),
    )


def coverage(flags) -> tuple[float, float]:
    """Share of intervals that covered the truth, and its binomial standard error."""
    flags = np.asarray(flags, dtype=float)
    rate = float(flags.mean())
    return rate, float(np.sqrt(rate * (1 - rate) / len(flags)))
