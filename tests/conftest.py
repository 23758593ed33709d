"""Shared fixtures: small simulated inputs written to temporary files."""

from pathlib import Path

import jsonschema
import pandas as pd
import pytest

from targeting.model.schema import shipped_schema
from targeting.sim.examples import write_example
from targeting.sim.simulate import bleeding_trial, cate_lesson


@pytest.fixture(scope="session")
def small_trial_xlsx(tmp_path_factory) -> Path:
    """A 600-patient bleeding trial workbook with a config sheet (fast to analyse)."""
    path = tmp_path_factory.mktemp("inputs") / "small_trial.xlsx"
    frame = bleeding_trial(600, seed=5)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="data", index=False)
        pd.DataFrame([("outcome", "event"), ("treatment", "treatment"), ("direction", "lower-is-better"),
                      ("id", "subject_id"), ("propensity", 0.5), ("true_effect", "true_effect"),
                      ("estimator", "logistic_t"), ("budget", "40%"), ("folds", 3)],
                     columns=["key", "value"]).to_excel(writer, sheet_name="config", index=False)
    return path


@pytest.fixture(scope="session")
def lesson_csv(tmp_path_factory) -> Path:
    """The CATE lesson's simulation as CSV (continuous outcome, 0/1 treatment)."""
    path = tmp_path_factory.mktemp("inputs") / "lesson.csv"
    cate_lesson(500, seed=3).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def bleeding_example(tmp_path_factory) -> Path:
    return write_example("bleeding_trial", tmp_path_factory.mktemp("examples") / "bleeding_trial.xlsx")


@pytest.fixture(scope="session", autouse=True)
def every_written_report_matches_the_schema(tmp_path_factory):
    """After the run, every report.json any test wrote validates against the shipped JSON Schema."""
    yield
    import json

    validator = jsonschema.Draft202012Validator(shipped_schema())
    written = sorted(tmp_path_factory.getbasetemp().rglob("report.json"))
    bad = {}
    for path in written:
        errors = list(validator.iter_errors(json.loads(path.read_text(encoding="utf-8"))))
        if errors:
            bad[str(path)] = errors[0].message
    assert not bad, f"{len(bad)} of {len(written)} written reports break the schema: {bad}"
