"""Fuzzing the command line: whatever the file and the settings, the answer is a result or a clean
user error — never exit 1 (a bug), never a traceback, never a file written by `validate`, never a
changed input.

The default suite runs a modest, derandomised number of examples; ``pytest -m slow`` runs many
more, and a few full reports on tiny-but-valid data.
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from cli_helpers import run_cli
from targeting.errors import EXIT_CONFIG, EXIT_ESTIMATION, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from targeting.report.outputs import OUTPUT_NAMES

USER_ERRORS = {EXIT_USAGE, EXIT_INPUT, EXIT_CONFIG, EXIT_ESTIMATION, EXIT_OUTPUT}
ODD = ["=1+1", "<b>x</b>", "@SUM(A1)", "+1", "-1", "  ", "", "nan", "NA", "n/a", "é", "性别", "🩺", "a,b", 'q"uote',
       "a;b", "#N/A", "#DIV/0!", "None", "True", "0", "1", "1e400", "inf", "-inf", "2023-01-01", "01/02/2023",
       "<script>alert(1)</script>", "Control", "Treatment", "x" * 300, "'", "`", "\\", "%s", "{0}"]
NAMES = ["x1", "x2", "age", "=1+1", "<b>n</b>", "性别", "a b", " age ", "Unnamed: 3", "cost", "p", "y", "treatment",
         "x" * 120, "é", "1", "1.5", "id"]

COMMON = dict(deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])


CELLS = {
    "binary": st.sampled_from([0, 1]),
    "int": st.integers(-5, 5),
    "float": st.floats(allow_nan=True, allow_infinity=True),
    "small_float": st.floats(-3, 3, allow_nan=False),
    "text": st.sampled_from(["A", "B", "C"]),
    "odd": st.sampled_from(ODD),
    "bool": st.booleans(),
    "date": st.dates(dt.date(2000, 1, 1), dt.date(2030, 1, 1)),
    "labels": st.sampled_from(["Control", "Treatment"]),
    "three": st.sampled_from(["A", "B", "C"]),
    "constant": st.just(1),
    "unique": st.uuids().map(str),
}
KINDS = sorted(CELLS)


@st.composite
def _column(draw, kind: str, n: int, rates=(0.0, 0.0, 0.0, 0.1, 0.5, 1.0)) -> list:
    """One column of ``n`` values of the given kind, with a random share of empty cells."""
    rate = draw(st.sampled_from(rates))
    return [None if draw(st.floats(0, 1)) < rate else draw(CELLS[kind]) for _ in range(n)]


@st.composite
def frames(draw) -> pd.DataFrame:
    """Half the time a usable outcome and treatment (so covariate and option checks are reached)."""
    if draw(st.booleans()):
        n = draw(st.integers(30, 45))
        arms = {"binary": [0, 1], "labels": ["Control", "Treatment"], "bool": [False, True]}[
            draw(st.sampled_from(["binary", "labels", "bool"]))]
        outcomes = [0, 1] if draw(st.booleans()) else [0.5, -1.25, 2.0, 3.5, 0.0]
        data = {"y": draw(st.permutations([outcomes[i % len(outcomes)] for i in range(n)])),
                "treatment": draw(st.permutations([arms[i % 2] for i in range(n)]))}
    else:
        n = draw(st.one_of(st.integers(0, 12), st.integers(20, 45)))
        outcome_kind = draw(st.sampled_from(["binary", "binary", "small_float", "odd", "constant", "float"]))
        treatment_kind = draw(st.sampled_from(["binary", "labels", "bool", "three", "odd", "constant"]))
        data = {"y": draw(_column(outcome_kind, n)), "treatment": draw(_column(treatment_kind, n))}
    for _ in range(draw(st.integers(1 if n >= 30 else 0, 4))):
        name = draw(st.sampled_from(NAMES))
        data[name] = draw(_column(draw(st.sampled_from(KINDS)), n))  # a repeated name replaces the column
    frame = pd.DataFrame(data)
    if draw(st.integers(0, 4)) == 0 and frame.shape[1] > 2:
        frame.columns = [c if i != 2 else draw(st.sampled_from(NAMES)) for i, c in enumerate(frame.columns)]
    return frame


OPTIONS = {
    "outcome": [None, "y", "nosuch", "treatment"],
    "treatment": [None, "treatment", "y"],
    "treated-value": [None, "1", "Treatment", "zzz", "=1+1", "True", "A"],
    "budget": [None, "30%", "0", "-5", "abc", "150%", "1e400", "nan", "", "2", "0.5", "100%", "5000", "=1+1"],
    "budget-total": [None, "100", "-1", "abc", "1e9"],
    "cost": [None, "1", "-3", "abc", "cost", "0", "nan", "x1"],
    "propensity": [None, "0.5", "0", "1", "abc", "p", "1e-300", "x1"],
    "direction": [None, "higher-is-better", "lower is better", "up", "", "<b>x</b>"],
    "folds": [None, "2", "3", "x", "0", "1e400", "-1", "2.5"],
    "seed": [None, "0", "-1", "abc", "4294967296", "1.5", "99"],
    "estimator": [None, "logistic_t", "auto", "foo", "T"],
    "covariates": [None, "x1", "x1,nosuch", "y"],
    "exclude": [None, "x2", "", "y"],
    "id": [None, "id", "x1", "nosuch"],
    "subgroup": [None, "x1 > 0", "=1+1", "x1 in ['A']", "`a b` == 'é'", "age > 65 and not (x1 == 'A')"],
    "depth": [None, "1", "3", "4"],
    "min-leaf": [None, "0", "5", "-1", "100000"],
    "harm-threshold": [None, "0", "0.1", "-1", "inf"],
}


GOOD = {
    "budget": ["30%", "0.5", "100%", "10"], "direction": ["higher-is-better", "lower-is-better"],
    "propensity": ["0.5"], "folds": ["2", "3"], "seed": ["0", "99"], "treated-value": ["1", "Treatment", "True"],
    "estimator": ["auto", "t"], "cost": ["1", "2.5"],
}


@st.composite
def option_sets(draw) -> dict[str, str]:
    """Half the time only sensible values (so the data checks are reached), else anything."""
    pool = GOOD if draw(st.booleans()) else OPTIONS
    chosen = draw(st.lists(st.sampled_from(sorted(pool)), max_size=5, unique=True))
    options = {key: draw(st.sampled_from(pool[key])) for key in chosen}
    return {k: v for k, v in options.items() if v is not None}


def _xlsx_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def write_input(folder: Path, frame: pd.DataFrame, options: dict[str, str], fmt: str, config_sheet: bool) -> tuple[Path, list[str]]:
    """Write the frame as CSV or a workbook; settings go to flags or to the workbook's config sheet."""
    flags = [f"--{key}={value}" for key, value in options.items()]
    if fmt == "csv":
        path = folder / "input.csv"
        frame.to_csv(path, index=False)
        return path, flags
    path = folder / "input.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "data"
    sheet.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        sheet.append([_xlsx_value(v) for v in row])  # text starting with '=' becomes a formula: also fuzzed
    if config_sheet and options:
        cfg = book.create_sheet("config")
        cfg.append(["key", "value"])
        for key, value in options.items():
            cfg.append([key.replace("-", "_"), value])
        flags = []
    book.save(path)
    return path, flags


def assert_result_or_clean_error(code: int, out: str, err: str) -> None:
    assert code != 1, f"internal error (a bug): {err}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert code == EXIT_OK or code in USER_ERRORS, f"unexpected exit code {code}: {err}"
    if code != EXIT_OK:
        assert err.startswith("targeting: error: "), err
        assert out == ""


def check_validate(frame: pd.DataFrame, options: dict[str, str], fmt: str, config_sheet: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            path, flags = write_input(folder, frame, options, fmt, config_sheet)
        except (openpyxl.utils.exceptions.IllegalCharacterError, ValueError, TypeError):
            return  # openpyxl cannot write this frame; nothing to test
        before = path.read_bytes()
        code, out, err = run_cli(["validate", str(path), *flags])
        event(f"exit {code}")
        assert_result_or_clean_error(code, out, err)
        if code == EXIT_OK:
            assert out.rstrip().endswith("OK: the data can be used.") and err == ""
        assert [p.name for p in folder.iterdir()] == [path.name], "validate writes nothing"
        assert path.read_bytes() == before


@settings(max_examples=60, **COMMON)
@given(frame=frames(), options=option_sets(), fmt=st.sampled_from(["csv", "xlsx"]), config_sheet=st.booleans())
def test_validate_never_crashes(frame, options, fmt, config_sheet):
    check_validate(frame, options, fmt, config_sheet)


@pytest.mark.slow
@settings(max_examples=1500, **{**COMMON, "derandomize": False})
@given(frame=frames(), options=option_sets(), fmt=st.sampled_from(["csv", "xlsx"]), config_sheet=st.booleans())
def test_validate_never_crashes_many(frame, options, fmt, config_sheet):
    check_validate(frame, options, fmt, config_sheet)


@st.composite
def valid_trials(draw) -> pd.DataFrame:
    """Small data a report can run on: both arms of 30, a 0/1 outcome with events in both, odd covariates."""
    n = 60
    treated = [1] * 30 + [0] * 30
    outcome = [int(v) for v in draw(st.lists(st.booleans(), min_size=n, max_size=n))]
    outcome[0], outcome[1], outcome[30], outcome[31] = 0, 1, 0, 1
    arm = draw(st.sampled_from(["binary", "labels"]))
    frame = pd.DataFrame({"y": outcome, "treatment": treated if arm == "binary" else
                          ["Treatment" if t else "Control" for t in treated]})
    frame["x1"] = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=n, max_size=n))
    for name in draw(st.lists(st.sampled_from(["x2", "=1+1", "<b>n</b>", "性别", "a b", "x" * 120]), max_size=3,
                              unique=True)):
        kind = draw(st.sampled_from(["int", "small_float", "text", "odd", "bool"]))
        frame[name] = draw(_column(kind, n))
    return frame


@pytest.mark.slow
@settings(max_examples=6, **COMMON)
@given(frame=valid_trials(), budget=st.sampled_from(["30%", "0.5", "100%", "10"]),
       direction=st.sampled_from(["higher-is-better", "lower-is-better"]),
       propensity=st.sampled_from([None, "0.5"]), estimator=st.sampled_from(["t", "logistic_t"]),
       fmt=st.sampled_from(["csv", "xlsx"]))
def test_report_never_crashes(frame, budget, direction, propensity, estimator, fmt):
    options = {"outcome": "y", "treatment": "treatment", "budget": budget, "direction": direction,
               "estimator": estimator, "folds": "2"}
    if propensity:
        options["propensity"] = propensity
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, flags = write_input(folder, frame, options, fmt, config_sheet=False)
        before = path.read_bytes()
        code, out, err = run_cli(["report", str(path), *flags, "--quiet", "-o", str(folder / "out")], threads=1)
        assert_result_or_clean_error(code, out, err)
        if code == EXIT_OK:
            assert sorted(p.name for p in (folder / "out").iterdir()) == sorted(OUTPUT_NAMES)
        else:
            assert not (folder / "out").exists()
        assert path.read_bytes() == before
