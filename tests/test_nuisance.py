"""Cross-fitted nuisance models and DR scores on small simulated trials, and the thin-data refusals."""

import re
from dataclasses import replace

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cli_helpers import run_cli
from targeting.config import merge_sources
from targeting.data.prepare import prepare
from targeting.errors import EXIT_ESTIMATION, EstimationError
from targeting.estimate.nuisance import check_binary_outcome, fit_nuisances, make_folds
from targeting.sim.simulate import bleeding_trial, cate_lesson

LESSON = {"outcome": "y", "treatment": "treated", "true_effect": "true_effect", "folds": 3}
BLEEDING = {"outcome": "event", "treatment": "treatment", "direction": "lower-is-better", "folds": 5}


@pytest.fixture(autouse=True)
def one_openmp_thread():
    with threadpool_limits(limits=1, user_api="openmp"):  # as the pipeline runs them
        yield


def _prepared(frame, settings):
    config = merge_sources(("defaults", {}), ("test", settings))
    return prepare(frame, config), config


def _fit(prepared, k=3, seed=0):
    return fit_nuisances(prepared, folds=make_folds(prepared, k, seed), seed=seed)


def test_a_persons_predictions_do_not_see_their_own_outcome():
    prepared, _ = _prepared(cate_lesson(400, seed=1), LESSON)
    before = _fit(prepared)
    person = 17
    y = prepared.y.copy()
    y[person] += 50.0  # a wild outcome: every model that trains on it moves
    after = _fit(replace(prepared, y=y))
    same_fold = before.folds == before.folds[person]
    for name in ("mu0", "mu1", "propensity"):
        assert getattr(after, name)[same_fold] == pytest.approx(getattr(before, name)[same_fold], abs=0)
    arm_model = "mu1" if prepared.t[person] else "mu0"
    # The check has teeth: people in the other folds are predicted by models that saw the change.
    assert np.abs(getattr(after, arm_model)[~same_fold] - getattr(before, arm_model)[~same_fold]).max() > 0.1
    # The person's own score does use their outcome, through the residual only.
    assert after.gamma[person] != before.gamma[person]


def test_a_known_propensity_is_used_as_given():
    frame = bleeding_trial(400, seed=2)
    frame["p_treat"] = np.where(frame["age"] > 55, 0.6, 0.4)  # a stratified design's known probabilities
    prepared, _ = _prepared(frame, {**BLEEDING, "propensity": "p_treat", "exclude": ["subject_id", "true_effect"]})
    nuisances = _fit(prepared)
    e = frame["p_treat"].to_numpy()[prepared.rows - 1]  # the people in the analysis' order
    assert nuisances.propensity_known
    assert nuisances.propensity == pytest.approx(e, abs=0)
    t, y = prepared.t, prepared.y
    assert nuisances.gamma1 == pytest.approx(nuisances.mu1 + t * (y - nuisances.mu1) / e)
    assert nuisances.gamma0 == pytest.approx(nuisances.mu0 + (1 - t) * (y - nuisances.mu0) / (1 - e))
    assert "known_propensity" in [f.code for f in nuisances.findings]


@pytest.mark.parametrize("seed", [3, 4])
def test_mean_dr_score_recovers_the_average_effect(seed):
    """Within four standard errors (the simulation's own SE) of the sample's true average effect."""
    prepared, _ = _prepared(cate_lesson(1500, seed=seed), LESSON)
    gamma = _fit(prepared).gamma
    se = gamma.std(ddof=1) / np.sqrt(prepared.n)
    assert abs(gamma.mean() - prepared.true_effect.mean()) < 4 * se
    assert se < 0.1  # the tolerance is a real constraint: the true effects range over [-1, 2]


def _bleeding_with_events(treated_events, control_events, n=300, seed=5):
    """A bleeding trial whose events are exactly the given rows of each arm (positions within arm)."""
    frame = bleeding_trial(n, seed=seed)
    treated = np.nonzero((frame["treatment"] == "Treatment").to_numpy())[0]
    control = np.nonzero((frame["treatment"] == "Control").to_numpy())[0]
    frame["event"] = 0
    frame.loc[treated[list(treated_events)], "event"] = 1
    frame.loc[control[list(control_events)], "event"] = 1
    return frame.drop(columns=["true_effect", "subject_id"])


def test_an_arm_without_events_is_a_finding_not_an_error():
    prepared, config = _prepared(_bleeding_with_events(range(0, 120, 4), ()), BLEEDING)
    findings = check_binary_outcome(prepared, make_folds(prepared, config.folds, config.seed))
    assert [(f.code, f.values["arm"], f.values["events"]) for f in findings] == [("constant_outcome_in_arm", 0, 0)]


def test_a_single_event_in_an_arm_cannot_be_cross_fitted():
    prepared, config = _prepared(_bleeding_with_events([7], range(0, 120, 4)), BLEEDING)
    with pytest.raises(EstimationError, match=r"'Treatment' to estimate effects: it has 1 event among \d+ people.*add data"):
        check_binary_outcome(prepared, make_folds(prepared, config.folds, config.seed))


def _events_in_one_fold():
    """Two treated events that the default 5 folds both hold out together."""
    frame = _bleeding_with_events([0], range(0, 120, 4))
    prepared, config = _prepared(frame, BLEEDING)
    # With fewer treated events than folds, the folds are stratified by arm only, so they stay put
    # when a second treated event is added: pick one in the first event's fold.
    folds = make_folds(prepared, config.folds, config.seed)
    first = np.nonzero((prepared.t == 1) & (prepared.y == 1))[0][0]
    others = np.nonzero((prepared.t == 1) & (prepared.y == 0))[0]
    second = others[folds[others] == folds[first]][0]
    frame.loc[prepared.rows[second] - 1, "event"] = 1  # back to the file's row of that person
    return frame


def _report(tmp_path, frame, flags=()):
    path = tmp_path / "thin.csv"
    frame.to_csv(path, index=False)
    outdir = tmp_path / "out"
    code, out, err = run_cli(["report", str(path), "-o", str(outdir), "--quiet", "--outcome", "event",
                              "--treatment", "treatment", "--direction", "lower-is-better", *flags], threads=1)
    return code, out, err, outdir


@pytest.mark.parametrize("case, expected", [
    ("one event in all", r"in arm 'Treatment' to estimate effects: it has 1 event among \d+ people.* add data"),
    ("one treated event", r"in arm 'Treatment' to estimate effects: it has 1 event among \d+ people.* add data"),
    ("two treated events in one fold", r"it has 2 events among \d+ people, and in fold \d of 5 all \d+ people "
                                       r"used for training have outcome 0.*Use fewer folds"),
])
def test_thin_binary_outcomes_are_estimation_errors_through_the_cli(tmp_path, case, expected):
    frame = {"one event in all": lambda: _bleeding_with_events([3], ()),
             "one treated event": lambda: _bleeding_with_events([3], range(0, 120, 4)),
             "two treated events in one fold": _events_in_one_fold}[case]()
    code, out, err, outdir = _report(tmp_path, frame)
    assert code == EXIT_ESTIMATION
    assert err.startswith("targeting: error: The 0/1 outcome 'event' has too few of one value") and "Traceback" not in err
    assert out == "" and not outdir.exists()
    assert re.search(expected, err), err


def test_fewer_folds_fix_the_held_out_events(tmp_path):
    """The advice works: the same data with two folds runs (the two events are then stratified apart)."""
    frame = _events_in_one_fold()
    prepared, config = _prepared(frame, {**BLEEDING, "folds": 2})
    assert check_binary_outcome(prepared, make_folds(prepared, 2, config.seed)) == ()
