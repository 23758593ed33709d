"""The effect explained: the best linear projection recovers a known linear effect, and the
effect-by-covariate bins are the doubly robust means of exactly their members."""

import pytest
from threadpoolctl import threadpool_limits

from targeting.config import merge_sources
from targeting.data.prepare import prepare
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.evaluate.explain import best_linear_projection, effect_by_covariate
from targeting.evaluate.stats import mean_interval
from targeting.sim.simulate import bleeding_trial, cate_lesson


def _stage(frame, settings):
    prepared = prepare(frame, merge_sources(("defaults", {}), ("test", settings)))
    with threadpool_limits(limits=1, user_api="openmp"):
        nuisances = fit_nuisances(prepared, folds=make_folds(prepared, 3, 0), seed=0)
    return prepared, nuisances


def test_projection_recovers_the_lesson_effect_2x1_minus_x2():
    frame = cate_lesson(4000, seed=2)
    prepared, nuisances = _stage(frame, {"outcome": "y", "treatment": "treated", "true_effect": "true_effect"})
    terms = {t.term: t for t in best_linear_projection(prepared, nuisances.gamma)}
    for name, slope in (("x1", 2.0), ("x2", -1.0), ("x3", 0.0), ("x4", 0.0), ("x5", 0.0)):
        term = terms[name]
        truth = slope * frame[name].std(ddof=1)  # coefficients are per standard deviation
        assert term.per == pytest.approx(frame[name].std(ddof=1))
        # 3.5 standard errors: five terms checked at once, each within its own interval's scale
        half = (term.ci_high - term.ci_low) / 2
        assert abs(term.coefficient - truth) < 3.5 * half / 1.96, name
    assert terms["x1"].p_value < 1e-6


def test_bins_are_the_mean_score_of_their_members():
    frame = bleeding_trial(1500, seed=4)
    prepared, nuisances = _stage(frame, {"outcome": "event", "treatment": "treatment", "propensity": 0.5,
                                         "direction": "lower-is-better", "id": "subject_id",
                                         "true_effect": "true_effect"})
    curves = {c.covariate: c for c in effect_by_covariate(prepared, nuisances.gamma, nuisances.mu1 - nuisances.mu0)}
    anticoagulant = curves["anticoagulant"]
    assert [b.label for b in anticoagulant.bins] == ["No", "Yes"]
    for b in anticoagulant.bins:
        members = frame["anticoagulant"].to_numpy()[prepared.rows - 1] == b.label  # in the analysis' order
        assert b.n == members.sum()
        assert b.effect == pytest.approx(mean_interval(nuisances.gamma[members]).estimate)
    age = curves["age"]
    assert len(age.bins) == 5 and sum(b.n for b in age.bins) == len(frame)
