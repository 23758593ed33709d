"""The pipeline: validated data in, ReportModel (and the per-person table) out.

Stages are pure functions; this module only wires them together in order and reports progress
through an optional callback (the CLI prints it; the library never does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import pandas as pd
from threadpoolctl import threadpool_limits

from targeting.config import Config
from targeting.data.prepare import prepare
from targeting.data.read import RawInput
from targeting.data.summary import data_summary
from targeting.estimate.cate import estimate_cate
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.evaluate.diagnostics import diagnose, risk_fifths, risk_strata
from targeting.evaluate.families import assess_families, harm_summary, harmed_members, subgroup_families
from targeting.evaluate.rules import leaf_groups, leaf_rules, policy_summary, safer_rule
from targeting.evaluate.values import budget_curve, evaluate_policies, ranking_policy, targeting_supported
from targeting.model import narrative
from targeting.model.individuals import individuals_table
from targeting.model.provenance import provenance
from targeting.model.report import SCHEMA_VERSION, ReportModel
from targeting.parallel import Workers
from targeting.policy.stage import honest_split, learn_policy, policy_settings


@dataclass(frozen=True)
class RunResult:
    """What one run produces before anything is written."""

    report: ReportModel
    individuals: pd.DataFrame


class _Progress:
    def __init__(self, callback: Callable[[str, float], None] | None):
        self.callback = callback
        self.start = time.perf_counter()

    def __call__(self, stage: str) -> None:
        if self.callback is not None:
            self.callback(stage, time.perf_counter() - self.start)

    def data_size(self, rows: int, columns: int) -> None:
        """Pass the size on to a callback that estimates the time left (`targeting.progress.Bar`)."""
        if hasattr(self.callback, "data_size"):
            self.callback.data_size(rows, columns)


def run(raw: RawInput, config: Config, *, progress: Callable[[str, float], None] | None = None,
        workers: int | Workers = 1) -> RunResult:
    """Run every stage on one input.

    Parameters
    ----------
    raw : RawInput
        The file as read.
    config : Config
        Effective settings.
    progress : callable, optional
        Called as ``progress(stage_name, seconds_since_start)`` after each stage; if it has a
        ``data_size(rows, covariates)`` method, that is called once the data are validated.
    workers : int or Workers, optional
        Processes the model fits may use (`targeting.parallel`); the report does not depend on it.
    """
    # One OpenMP thread per model fit: on two cores, gradient boosting gains little from threads,
    # and when anything else is running its spinning threads slow every fit down many times over.
    with threadpool_limits(limits=1, user_api="openmp"):
        return _run(raw, config, _Progress(progress), workers)


def _run(raw: RawInput, config: Config, step: _Progress, workers: int | Workers) -> RunResult:
    prepared = prepare(raw.frame, config)
    step(f"validated {prepared.n:,} rows x {len(prepared.covariates)} covariates")
    step.data_size(prepared.n, len(prepared.covariates))
    nuis = fit_nuisances(prepared, folds=make_folds(prepared, config.folds, config.seed), seed=config.seed,
                         workers=workers)
    step("fitted cross-fitted outcome and propensity models")
    cate = estimate_cate(prepared, nuis, estimator=config.estimator, seed=config.seed, workers=workers)
    if isinstance(workers, Workers):
        workers.fitting_done()
    step(f"estimated individual effects ({cate.label})")

    benefit, cate_benefit = prepared.sign * nuis.gamma, prepared.sign * cate.cate
    settings = policy_settings(config, prepared)
    # The learning part chooses the rule; the other people judge it.
    learn = honest_split(prepared.t, seed=config.seed)
    fit = learn_policy(prepared, benefit, nuis.folds, settings, learn=learn)
    step(f"learned the budgeted policy tree ({fit.method}) on {fit.learn.mean():.0%} of the people")

    ranking = ranking_policy(prepared, cate_benefit, nuis.folds, settings.budget_units)
    values, comparisons = evaluate_policies(prepared, nuis, fit.treat, ranking, rows=fit.estimate)
    # Depth-3 look-ahead on every budget of the curve would multiply run time for little insight,
    # so the curve uses exact depth-2 trees (the brief says so).
    curve = budget_curve(prepared, nuis, benefit, cate_benefit, replace(settings, depth=min(settings.depth, 2)),
                         learn=learn)
    step("evaluated the rule on the other people (values, comparisons, budget curve)")

    rules = leaf_rules(fit.leaves, fit.path, fit.estimate, prepared, nuis)
    families = subgroup_families(prepared, nuis, benefit, settings, leaf_groups=leaf_groups(rules, fit),
                                 prespecified=config.subgroup, learn=learn)
    subgroups = assess_families(families, nuis, sign=prepared.sign, harm_threshold=config.harm_threshold)
    harmed = harmed_members(families, subgroups, prepared.n)
    safer = safer_rule(fit, prepared, nuis, benefit, harmed)
    step(f"assessed {len(subgroups)} subgroups for harm")

    diagnostics = diagnose(prepared, nuis, cate, harm_threshold=config.harm_threshold, seed=config.seed,
                           judged_on=cate.honest_rows)
    policy = policy_summary(fit, prepared, rules, harmed=harmed, safer=safer)
    unlimited = prepared.budget.kind == "share" and prepared.budget.value >= 1
    supported = targeting_supported(diagnostics.calibration, comparisons, unlimited=unlimited)
    findings = [*prepared.findings, *nuis.findings, *cate.findings,
                *narrative.result_findings(calibration=diagnostics.calibration, estimator_label=cate.label,
                                           has_intervals=diagnostics.individual_intervals, policy=policy,
                                           subgroups=subgroups, binary=prepared.outcome_binary),
                *narrative.design_findings(randomised=prepared.propensity is not None,
                                           balance=diagnostics.balance, supported=supported)]
    summary = narrative.summary(outcome=prepared.outcome, sign=prepared.sign, ate=diagnostics.ate,
                                budget_kind=prepared.budget.kind, policy=policy, comparisons=comparisons,
                                subgroups=subgroups, supported=supported, calibration=diagnostics.calibration,
                                binary=prepared.outcome_binary)
    report = ReportModel(
        schema_version=SCHEMA_VERSION, title=f"Who should be treated? {raw.name}", summary=summary,
        targeting_supported=supported,
        recommendation=narrative.recommendation(supported=supported, policy=policy, calibration=diagnostics.calibration),
        config=config.to_dict(), provenance=provenance(raw, config),
        data=data_summary(prepared, rows_in_file=len(raw.frame)), policy=policy, values=values,
        comparisons=comparisons, budget_curve=curve, subgroups=subgroups,
        risk_strata=risk_strata(prepared, nuis, cate.cate), diagnostics=diagnostics, findings=findings,
        harm_summary=harm_summary(subgroups, diagnostics.cate_summary, len(families)),
    )
    step("built the report model")
    return RunResult(report, individuals_table(prepared, cate, fit.treat, fit.path, risk_fifths(nuis.mu0)))
