"""End-to-end truths on simulated data with known effects (fast sizes, fixed seeds)."""

import numpy as np
import pandas as pd
import pytest

from targeting.config import merge_sources
from targeting.pipeline import run
from targeting.data.read import read_input
from targeting.sim.simulate import bleeding_trial, financial_literacy, null_effect

TRIAL = {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment", "id": "subject_id",
         "direction": "lower-is-better", "propensity": 0.5, "true_effect": "true_effect"}


def _run(frame, tmp_path, **settings):
    path = tmp_path / "input.csv"
    frame.to_csv(path, index=False)
    return run(read_input(path), merge_sources(("test", settings)))


@pytest.fixture(scope="module")
def trial_result(tmp_path_factory):
    frame = bleeding_trial(800, seed=11)
    return frame, _run(frame, tmp_path_factory.mktemp("trial"), **TRIAL, estimator="logistic_t", budget="30%",
                       folds=3, subgroup=["age > 65"])


def test_budget_is_never_exceeded(trial_result):
    _, result = trial_result
    policy = result.report.policy
    assert policy.treated_share <= 0.30 + 1e-12
    assert result.individuals["treat"].mean() <= 0.30 + 1e-12
    assert sum(r.n for r in policy.rules if r.treat) == result.individuals["treat"].sum()


def test_rule_queries_select_their_rows(trial_result):
    frame, result = trial_result
    for rule in result.report.policy.rules:
        assert len(frame.query(rule.query)) == rule.n, rule.query
    treated = result.individuals["treat"].to_numpy() == 1
    for rule in result.report.policy.rules:
        members = frame.query(rule.query).index.to_numpy()
        assert np.all(treated[members] == rule.treat)
    for group in result.report.subgroups:
        if group.family in ("covariate", "prespecified"):
            assert len(frame.query(group.query)) == group.n, group.query


def test_average_effect_interval_covers_the_true_average_effect(trial_result):
    frame, result = trial_result
    ate = result.report.diagnostics.ate
    assert ate.ci_low <= frame["true_effect"].mean() <= ate.ci_high


def test_report_contract(trial_result):
    report = trial_result[1].report.to_dict()
    for key in ("schema_version", "config", "data", "policy", "values", "comparisons", "subgroups", "findings"):
        assert key in report
    assert set(report["values"]) >= {"targeted", "treat_all", "treat_none", "random_at_budget"}
    for value in report["values"].values():
        assert {"treated_share", "total_cost"} <= set(value)
    for rule in report["policy"]["rules"]:
        assert {"rule", "query", "treat", "n", "effect", "ci_low", "ci_high"} <= set(rule)
    flags = {"harmed", "possibly_harmed", "benefits", "no_clear_effect"}
    for group in report["subgroups"]:
        assert group["flag"] in flags
        assert 0 <= group["p_value"] <= group["p_adjusted"] <= 1
    assert report["data"]["n"] == 800 and report["config"]["budget"] == "30%"
    assert {"prespecified", "covariate", "baseline_risk"} <= {g["family"] for g in report["subgroups"]}
    individuals = trial_result[1].individuals
    assert list(individuals.columns) == ["row", "id", "cate", "cate_low", "cate_high", "treat", "leaf",
                                         "baseline_risk_fifth"]
    assert individuals["row"].tolist() == list(range(1, 801))


def test_constant_effect_is_recovered_within_its_interval(tmp_path):
    rng = np.random.default_rng(4)
    n = 1500
    x = rng.normal(size=(n, 3))
    t = rng.integers(0, 2, n)
    y = x @ [1.0, -0.5, 0.2] + 2.0 * t + rng.normal(0, 1, n)
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "t": t, "y": y})
    report = _run(frame, tmp_path, outcome="y", treatment="t", propensity=0.5, estimator="t").report
    ate = report.diagnostics.ate
    assert ate.ci_low <= 2.0 <= ate.ci_high
    # The mean outcome if no one / everyone were treated is known for these very people.
    untreated_mean = float((x @ [1.0, -0.5, 0.2]).mean())
    # Values are estimated on the 20% who did not learn the rule; a 95% interval misses one time in
    # twenty, so with a fixed seed the check allows 3.29 standard errors (a miss 1 time in 1,000).
    for value, truth in ((report.values["treat_none"], untreated_mean),
                         (report.values["treat_all"], untreated_mean + 2.0)):
        se = (value.ci_high - value.ci_low) / (2 * 1.96)
        assert abs(value.mean_outcome - truth) <= 3.29 * se


def test_no_heterogeneity_is_reported_as_such(tmp_path):
    report = _run(null_effect(2000, seed=8), tmp_path, **TRIAL, estimator="logistic_t", folds=3).report
    assert report.diagnostics.calibration.detected is False
    assert report.diagnostics.rate.autoc_low <= 0 <= report.diagnostics.rate.autoc_high
    assert not [g for g in report.subgroups if g.flag == "harmed"]
    assert report.targeting_supported is False
    assert "No reliable differences in effect found" in report.summary[0]


def test_money_budget_with_per_person_costs(tmp_path):
    frame = financial_literacy(1500, seed=3)
    report = _run(frame, tmp_path, outcome="savings_rate_change", treatment="enrolled", cost="cost",
                  budget_total=100000, estimator="t", folds=3, exclude=["true_effect", "person_id"]).report
    assert report.policy.total_cost <= 100000
    assert report.diagnostics.calibration.detected is True


@pytest.mark.parametrize("estimator", ["causal_forest", "dr", "t", "s", "x", "logistic_t"])
def test_every_estimator_runs_on_a_binary_outcome(estimator):
    from targeting.estimate.cate import estimate_cate
    from targeting.estimate.nuisance import fit_nuisances, make_folds
    from targeting.data.prepare import prepare

    frame = bleeding_trial(400, seed=6)
    prepared = prepare(frame, merge_sources(("test", {**TRIAL, "folds": 2})))
    folds = make_folds(prepared, 2, 0)
    nuis = fit_nuisances(prepared, folds=folds, seed=0)
    cate = estimate_cate(prepared, nuis, estimator=estimator, seed=0)
    assert cate.cate.shape == (400,) and np.isfinite(cate.cate).all()
    assert np.all(np.abs(cate.cate) <= 1), "risk differences lie in [-1, 1]"
