"""Harm flags: no false alarms when nothing is there, and the real harm found when it is."""

import pytest
from scipy import stats

from targeting.sim.simulate import bleeding_trial
from targeting.sim.studies import TRIAL_SETTINGS, null_harm_study, run_frame


def test_null_trials_rarely_raise_a_harm_flag():
    # 12 do-nothing trials: with a true per-report false-alarm rate of 5%, P(3 or more flagged) = 2%.
    study = null_harm_study(12, n=800, folds=3)
    assert study.n_with_harm_flag <= 2, study
    assert study.groups_per_report > 20, "many groups are looked at, so multiplicity matters"


@pytest.mark.slow
def test_null_calibration_over_many_trials():
    study = null_harm_study(60, n=2000)
    # Upper one-sided 95% binomial bound must not exclude the 5% target.
    assert stats.binomtest(study.n_with_harm_flag, study.n_datasets, 0.05, alternative="greater").pvalue > 0.05


@pytest.mark.slow
def test_older_patients_are_flagged_harmed_and_flags_are_true():
    frame = bleeding_trial(20000, seed=77)
    result = run_frame(frame, **TRIAL_SETTINGS, estimator="logistic_t", subgroup=["age > 65"])
    truth = frame["true_effect"].to_numpy()
    harmed = [s for s in result.report.subgroups if s.flag == "harmed"]
    assert any(s.name == "age > 65" for s in harmed)
    for group in harmed:
        if group.query and group.family in ("prespecified", "covariate"):
            members = frame.query(group.query).index.to_numpy()
            assert truth[members].mean() > 0, f"{group.name} is flagged but truly benefits"
