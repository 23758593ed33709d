"""The pipeline: validated data in, ReportModel (and the per-person table) out.

Stages are pure functions; this module only wires them together in order and reports progress
through an optional callback (the CLI prints it; the library never does).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from importlib import metadata
from typing import Callable

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from targeting import __version__
from targeting.evaluate import diagnostics as diag
from targeting.estimate.cate import estimate_cate
from targeting.config import Config
from targeting.evaluate.values import POLICY_LABELS, budget_curve, compare, policy_value, random_share, ranking_policy
from targeting.model.findings import Code, Finding, Severity, finding
from targeting.model.report import SCHEMA_VERSION, Diagnostics, Policy, ReportModel, Rule, Subgroup
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.policy.learn import cross_fit_policy, default_min_leaf, describe_leaves, learn_tree, search_method, tree_as_dict
from targeting.data.prepare import Prepared, prepare
from targeting.data.read import RawInput
from targeting.evaluate.stats import mean_interval
from targeting.evaluate.subgroups import (FAMILY_LABELS, MIN_GROUP, assess_family, covariate_groups, harm_search_group,
                        prespecified_groups)

CURVE_SHARES = tuple(round(0.1 * k, 1) for k in range(1, 11))
PACKAGES = ("numpy", "pandas", "scikit-learn", "econml", "scipy", "openpyxl", "jinja2", "weasyprint", "matplotlib")


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


def run(raw: RawInput, config: Config, *, progress: Callable[[str, float], None] | None = None) -> RunResult:
    """Run every stage on one input.

    Parameters
    ----------
    raw : RawInput
        The file as read.
    config : Config
        Effective settings.
    progress : callable, optional
        Called as ``progress(stage_name, seconds_since_start)`` after each stage.
    """
    # One OpenMP thread per model fit: on two cores, gradient boosting gains little from threads,
    # and when anything else is running its spinning threads slow every fit down many times over.
    with threadpool_limits(limits=1, user_api="openmp"):
        return _run(raw, config, _Progress(progress))


def _run(raw: RawInput, config: Config, step: "_Progress") -> RunResult:
    prepared = prepare(raw.frame, config)
    step(f"validated {prepared.n:,} rows x {len(prepared.covariates)} covariates")
    seed = config.seed
    folds = make_folds(prepared, config.folds, seed)
    nuis = fit_nuisances(prepared, folds=folds, seed=seed)
    step("fitted cross-fitted outcome and propensity models")
    cate = estimate_cate(prepared, nuis, estimator=config.estimator, seed=seed)
    step(f"estimated individual effects ({cate.label})")

    sign = prepared.sign
    benefit = sign * nuis.gamma
    cate_benefit = sign * cate.cate
    min_leaf = config.min_leaf or default_min_leaf(prepared.n)
    units = prepared.budget_in_cost_units()
    final = learn_tree(prepared, benefit, np.ones(prepared.n, dtype=bool), budget_units=units,
                       depth=config.depth, min_leaf=min_leaf, max_bins=config.max_bins)
    treat, path = final.apply(prepared.x_codes)
    held_out = cross_fit_policy(prepared, benefit, folds, budget_units=units, depth=config.depth,
                                min_leaf=min_leaf, max_bins=config.max_bins)
    method = search_method(config.depth, len(prepared.covariates))
    step(f"learned the budgeted policy tree ({method}) and its held-out version")

    ranking = ranking_policy(prepared, cate_benefit, folds, units)
    q = random_share(held_out.treat, prepared.cost)
    ones, zeros = np.ones(prepared.n), np.zeros(prepared.n)
    values = {
        "targeted": policy_value(POLICY_LABELS["targeted"], held_out.treat, nuis, prepared),
        "treat_all": policy_value(POLICY_LABELS["treat_all"], ones, nuis, prepared),
        "treat_none": policy_value(POLICY_LABELS["treat_none"], zeros, nuis, prepared),
        "random_at_budget": policy_value(POLICY_LABELS["random_at_budget"], np.full(prepared.n, q), nuis, prepared),
        "ranking": policy_value(POLICY_LABELS["ranking"], ranking, nuis, prepared),
    }
    comparisons = {
        key: compare(key, held_out.treat, other, nuis, prepared)
        for key, other in (("treat_all", ones), ("treat_none", zeros),
                           ("random_at_budget", np.full(prepared.n, q)), ("ranking", ranking))
    }
    # The curve re-learns the tree 10 x K times: depth-3 look-ahead there would multiply run time
    # for little insight, so the curve uses exact depth-2 trees (the brief says so).
    curve = budget_curve(prepared, nuis, benefit, cate_benefit, shares=CURVE_SHARES, depth=min(config.depth, 2),
                         min_leaf=min_leaf, max_bins=config.max_bins)
    step("evaluated policies on held-out folds (values, comparisons, budget curve)")

    leaves = describe_leaves(final, prepared)
    rules = _rules(leaves, path, held_out.path, prepared, nuis)
    overall = float(nuis.gamma.mean())
    families = [("covariate", covariate_groups(prepared), False),
                ("policy_leaf", [(r.rule, r.query, held_out.path == r.leaf_path) for r in rules if r.leaf_path], True),
                ("baseline_risk", _risk_groups(nuis), True),
                ("harm_search", harm_search_group(prepared, benefit, folds, min_leaf=min_leaf,
                                                  max_bins=config.max_bins), True)]
    if config.subgroup:
        families.insert(0, ("prespecified", prespecified_groups(prepared, config.subgroup), False))
    families = [f for f in families if any(mask.sum() >= MIN_GROUP for _, _, mask in f[1])]
    subgroups: list[Subgroup] = []
    for family, groups, exploratory in families:
        subgroups += assess_family(family, groups, nuis, sign, config.harm_threshold, overall,
                                   exploratory=exploratory, n_families=len(families))
    step(f"assessed {len(subgroups)} subgroups for harm")

    calibration = diag.calibration(benefit, cate_benefit)
    diagnostics = Diagnostics(
        estimator=cate.estimator, estimator_label=cate.label,
        estimator_scores=[s.__dict__ for s in cate.scores], ate=diag.ate(nuis.gamma), calibration=calibration,
        gates=diag.gates(nuis.gamma, cate.cate, sign), rate=diag.rate(benefit, cate_benefit, seed=seed),
        overlap=diag.overlap_summary(nuis, prepared.t), balance=diag.balance_table(prepared),
        cate_summary=diag.cate_summary(cate.cate, sign, config.harm_threshold),
        individual_intervals=cate.cate_low is not None,
        truth=diag.truth_accuracy(cate, prepared.true_effect) if prepared.true_effect is not None else None,
    )
    stability = float(np.mean([r == final.root_feature for r in held_out.root_features]))
    policy = Policy(
        budget={"kind": prepared.budget.kind, "value": prepared.budget.value,
                "description": prepared.budget.describe(), "cost_units": units,
                "cost_source": prepared.cost_source},
        depth=config.depth, search=method, min_leaf=min_leaf,
        rules=[r.rule_model for r in rules], tree=tree_as_dict(final, {r.leaf_path: r.stats for r in rules}),
        treated_n=int(treat.sum()), treated_share=float(treat.mean()),
        total_cost=float((treat * prepared.cost).sum()), held_out_treated_share=float(held_out.treat.mean()),
        stability=stability, fold_root_features=list(held_out.root_features),
        headline_rule=_headline(leaves),
    )
    findings = list(prepared.findings) + list(nuis.findings)
    findings += _stage_findings(prepared, cate, calibration, policy, rules, subgroups, comparisons)
    supported = _targeting_supported(prepared, calibration, comparisons)
    findings += _design_findings(prepared, diagnostics.balance, supported)
    report = ReportModel(
        schema_version=SCHEMA_VERSION,
        title=f"Who should be treated? {raw.name}",
        summary=_summary(prepared, policy, comparisons, subgroups, supported, calibration, overall),
        targeting_supported=supported,
        config=config.to_dict(),
        provenance=_provenance(raw, config),
        data=_data_summary(raw, prepared),
        policy=policy, values=values, comparisons=comparisons, budget_curve=curve, subgroups=subgroups,
        risk_strata=diag.risk_strata(prepared, nuis, cate.cate), diagnostics=diagnostics,
        findings=[f.__dict__ for f in findings],
        harm_summary=_harm_summary(subgroups, diagnostics.cate_summary, len(families)),
    )
    step("built the report model")
    return RunResult(report, _individuals(prepared, cate, treat, path))


def _targeting_supported(prepared: Prepared, calibration: dict, comparisons: dict) -> bool:
    """Targeting is recommended only when effects demonstrably differ and the held-out rule beats
    the simple alternatives: treating everyone and no one (no budget limit), or a random selection
    of the same size (under a budget)."""
    if not calibration["detected"]:
        return False
    if prepared.budget.kind == "share" and prepared.budget.value >= 1:
        return comparisons["treat_all"].ci_low > 0 and comparisons["treat_none"].ci_low > 0
    return comparisons["random_at_budget"].ci_low > 0


@dataclass(frozen=True)
class _LeafRow:
    leaf_path: str
    rule: str
    query: str
    rule_model: Rule
    stats: dict


def _rules(leaves, path, held_out_path, prepared: Prepared, nuis) -> list[_LeafRow]:
    """Leaf statistics. Effects are estimated on held-out people placed in the same leaf position
    by trees learned without them, so the same outcomes never both shape and judge a leaf."""
    out = []
    for leaf in leaves:
        members = path == leaf["path"]
        honest = held_out_path == leaf["path"]
        effect = low = high = None
        if honest.sum() >= MIN_GROUP:
            iv = mean_interval(nuis.gamma[honest])
            effect, low, high = iv.estimate, iv.ci_low, iv.ci_high
        label = leaf["path"] or "root"
        rule = Rule(leaf=label, rule=leaf["rule"], query=leaf["query"], treat=leaf["treat"], n=int(members.sum()),
                    share=float(members.mean()), cost=float(prepared.cost[members].sum()), effect=effect,
                    ci_low=low, ci_high=high, n_held_out=int(honest.sum()))
        stats = {"treat": leaf["treat"], "n": rule.n, "effect": effect, "ci_low": low, "ci_high": high,
                 "rule": leaf["rule"]}
        out.append(_LeafRow(leaf["path"], leaf["rule"], leaf["query"], rule, stats))
    return out


def _risk_groups(nuis) -> list[tuple[str, str, np.ndarray]]:
    groups = []
    for k, idx in enumerate(diag.risk_quintiles(nuis.mu0)):
        mask = np.zeros(len(nuis.mu0), dtype=bool)
        mask[idx] = True
        groups.append((f"baseline risk Q{k + 1} (predicted untreated outcome {nuis.mu0[idx].min():.3g} to "
                       f"{nuis.mu0[idx].max():.3g})", "", mask))
    return groups


def _headline(leaves) -> str:
    treated = [l for l in leaves if l["treat"]]
    if not treated:
        return "Treat no one"
    if len(treated) == len(leaves):
        return "Treat everyone"
    return "Treat if " + " — or — ".join(l["rule"] for l in treated)


def _stage_findings(prepared, cate, calibration, policy, rules, subgroups, comparisons) -> list[Finding]:
    out = []
    if calibration["detected"]:
        out.append(finding(Code.HETEROGENEITY_DETECTED, Severity.INFO,
                           "Heterogeneity " + calibration["verdict"] + ".", slope=calibration["slope"]))
    else:
        out.append(finding(Code.NO_HETEROGENEITY, Severity.WARNING,
                           "Heterogeneity " + calibration["verdict"] + ". No reliable differences in effect were "
                           "found, so a targeting rule cannot be supported by this data.",
                           slope=calibration["slope"]))
    if cate.cate_low is None:
        out.append(finding(Code.NO_INTERVALS, Severity.INFO,
                           f"The chosen estimator ({cate.label}) gives no individual intervals; individual effects "
                           "are shown without them. Group effects always carry intervals."))
    if policy.stability < 0.6:
        out.append(finding(Code.UNSTABLE_TREE, Severity.WARNING,
                           f"Only {policy.stability:.0%} of the trees learned on subsets of the data split first on "
                           "the same covariate as the reported tree: the exact rule is fragile, although its held-out "
                           "value is estimated honestly.", stability=policy.stability))
    if policy.held_out_treated_share > policy.budget.get("value", 1) and prepared.budget.kind == "share":
        out.append(finding(Code.OUT_OF_FOLD_BUDGET, Severity.INFO,
                           f"Applied to new people, rules learned within the budget treated "
                           f"{policy.held_out_treated_share:.1%} (budget {prepared.budget.value:.0%}); expect small "
                           "overruns when the rule meets new data.", share=policy.held_out_treated_share))
    harmed = [s for s in subgroups if s.flag == "harmed"]
    if harmed:
        out.append(finding(Code.HARM_FOUND, Severity.SERIOUS,
                           f"{len(harmed)} group(s) are harmed by the treatment: "
                           + "; ".join(s.name for s in harmed[:6]) + ".", groups=[s.name for s in harmed]))
    return out


def _design_findings(prepared: Prepared, balance: list[dict], supported: bool) -> list[Finding]:
    out = []
    imbalanced = sorted({row["covariate"] for row in balance if abs(row["smd"]) > 0.1})
    if imbalanced:
        why = ("by chance (the design is randomised); the doubly robust scores adjust for it"
               if prepared.propensity is not None else
               "as expected without randomisation; the estimated propensity adjusts for these, not for unmeasured ones")
        out.append(finding(Code.IMBALANCE, Severity.INFO if prepared.propensity is not None else Severity.WARNING,
                           f"Treated and untreated people differ on {', '.join(imbalanced)} "
                           f"(standardised difference above 0.1), {why}.", covariates=imbalanced))
    if not supported:
        out.append(finding(Code.TARGETING_NOT_SUPPORTED, Severity.WARNING,
                           "The data do not support a targeting rule: the rule learned does not reliably beat the "
                           "simple alternatives on held-out people. It is shown for transparency only."))
    return out


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _summary(prepared, policy, comparisons, subgroups, supported, calibration, overall) -> list[str]:
    sentences = []
    verb = "lowers" if overall < 0 else "raises"
    ate_words = f"On average the treatment {verb} '{prepared.outcome}' by {_fmt(abs(overall))} per person"
    if not supported:
        everyone = policy.budget.get("value", 1) >= 1 and prepared.budget.kind == "share"
        good = prepared.sign * overall > 0
        if everyone:
            advice = ("treating everyone is as good as any rule we can learn" if good
                      else "treating no one is as good as any rule we can learn")
        else:
            advice = "a random selection within the budget is as good as any rule we can learn"
        if calibration["detected"]:
            sentences.append(f"Effects seem to differ between people, but no rule we can learn does reliably better "
                             f"than simpler choices: {advice}. {ate_words}.")
        else:
            sentences.append(f"No reliable differences in effect found; {advice}. {ate_words}.")
    else:
        sentences.append(f"{policy.headline_rule} ({policy.treated_share:.0%} of people; "
                         f"budget {policy.budget['description']}).")
        sentences.append(f"{ate_words}. " + comparisons["treat_all"].sentence)
        if policy.treated_share < 1:
            sentences.append(comparisons["random_at_budget"].sentence)
    harmed = [s for s in subgroups if s.flag == "harmed"]
    if harmed:
        sentences.append("Harm: the treatment makes things worse for " + "; ".join(s.name for s in harmed[:4])
                         + (" and others" if len(harmed) > 4 else "") + ".")
    else:
        sentences.append(f"No group was found to be harmed ({len(subgroups)} groups tested, with a 5% chance of "
                         "any false alarm in this report).")
    return sentences


def _harm_summary(subgroups, cate_summary, n_families: int) -> dict:
    return {
        "harmed": [s.name for s in subgroups if s.flag == "harmed"],
        "possibly_harmed": [s.name for s in subgroups if s.flag == "possibly_harmed"],
        "groups_tested": len(subgroups),
        "families": sorted({s.family for s in subgroups}),
        "family_labels": FAMILY_LABELS,
        "method": ("One-sided test of harm per group on doubly robust scores; Holm adjustment within each family, "
                   f"Bonferroni across the {n_families} families, so the chance of any false harm flag is at most 5%."),
        "share_individuals_harmed": cate_summary["share_harmed"],
        "share_individuals_harmed_low": cate_summary["share_harmed_low"],
        "share_individuals_harmed_high": cate_summary["share_harmed_high"],
    }


def _provenance(raw: RawInput, config: Config) -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"input_file": raw.name, "input_sha256": raw.sha256, "data_sheet": raw.data_sheet,
            "tool": "targeting", "tool_version": __version__, "packages": versions, "seed": config.seed,
            "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "config_from_sheet": sorted(raw.sheet_config)}


def _data_summary(raw: RawInput, prepared: Prepared) -> dict:
    y, t = prepared.y, prepared.t
    return {
        "n": prepared.n, "n_rows_in_file": len(raw.frame), "n_treated": int(t.sum()), "n_control": int((1 - t).sum()),
        "outcome": prepared.outcome, "outcome_type": "binary" if prepared.outcome_binary else "continuous",
        "outcome_mean": float(y.mean()), "outcome_sd": float(y.std(ddof=1)),
        "outcome_min": float(y.min()), "outcome_max": float(y.max()),
        "outcome_mean_treated": float(y[t == 1].mean()), "outcome_mean_control": float(y[t == 0].mean()),
        "treatment": prepared.treatment, "treated_label": prepared.treated_label,
        "control_label": prepared.control_label,
        "direction": "higher-is-better" if prepared.sign > 0 else "lower-is-better",
        "design": "randomised (known propensity)" if prepared.propensity is not None else "observational (estimated propensity)",
        "covariates": [{"name": c.name, "kind": c.kind, "levels": list(c.levels), "n_missing": c.n_missing}
                       for c in prepared.covariates],
        "cost_source": prepared.cost_source, "total_cost": float(prepared.cost.sum()),
    }


def _individuals(prepared: Prepared, cate, treat, path) -> pd.DataFrame:
    frame = pd.DataFrame({"row": prepared.rows})
    if prepared.ids is not None:
        frame["id"] = prepared.ids
    frame["cate"] = cate.cate
    frame["cate_low"] = cate.cate_low if cate.cate_low is not None else np.nan
    frame["cate_high"] = cate.cate_high if cate.cate_high is not None else np.nan
    frame["treat"] = treat.astype(int)
    frame["leaf"] = np.where(path == "", "root", path)
    return frame
