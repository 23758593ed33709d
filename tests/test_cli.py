"""The command line as (arguments, exit code, message) tables; every user error is clean."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from targeting.cli import main
from targeting.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from targeting.sim.simulate import bleeding_trial

BASE = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--exclude", "true_effect,subject_id"]


@pytest.fixture(scope="module")
def trial_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "trial.csv"
    bleeding_trial(300, seed=9).to_csv(path, index=False)
    return path


def _write(tmp_path, name, frame):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "targeting" in capsys.readouterr().out


@pytest.mark.parametrize("extra, code, fragment", [
    ([], EXIT_OK, "OK: the data can be used"),
    (["--budget", "30%"], EXIT_OK, "30% of people"),
    (["--budget", "150%"], EXIT_CONFIG, "more than 100%"),
    (["--budget", "0"], EXIT_CONFIG, "above zero"),
    (["--budget", "lots"], EXIT_CONFIG, "not a number"),
    (["--budget", "5000"], EXIT_CONFIG, "more than the 300 people"),
    (["--outcome", "evnt"], EXIT_CONFIG, "Did you mean 'event'"),
    (["--treated-value", "Drug"], EXIT_CONFIG, "does not occur"),
    (["--propensity", "1.5"], EXIT_CONFIG, "strictly between 0 and 1"),
    (["--cost", "-3"], EXIT_CONFIG, "positive"),
    (["--budget-total", "100"], EXIT_CONFIG, "needs per-person costs"),
    (["--cost", "10", "--budget-total", "99999"], EXIT_CONFIG, "more than the cost of treating everyone"),
    (["--direction", "up"], EXIT_CONFIG, "direction"),
    (["--estimator", "causal_forrest"], EXIT_CONFIG, "Did you mean 'causal_forest'"),
    (["--covariates", "age,weight"], EXIT_CONFIG, "'weight'"),
    (["--currency", "Swiss francs, paid quarterly"], EXIT_CONFIG, "at most 10 characters"),
])
def test_validate_table(trial_csv, capsys, extra, code, fragment):
    assert main(["validate", str(trial_csv), *BASE, *extra]) == code
    captured = capsys.readouterr()
    assert fragment in (captured.out + captured.err)
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("mutate, code, fragment", [
    (lambda f: f.assign(treatment="Control"), EXIT_INPUT, "only one value"),
    (lambda f: f.assign(treatment=["A", "B", "C"] * 100), EXIT_INPUT, "exactly two values"),
    (lambda f: f.assign(event="x"), EXIT_INPUT, "must be numeric"),
    (lambda f: f.assign(event=1), EXIT_INPUT, "same value"),
    (lambda f: f.assign(event=float("nan")), EXIT_INPUT, "empty in every row"),
    (lambda f: f.head(16).assign(event=[0, 1] * 8), EXIT_INPUT, "at least"),
    (lambda f: f.assign(age=float("nan")), EXIT_INPUT, "empty in every row"),
    (lambda f: f.assign(bmi=[float("inf")] + [25.0] * 299), EXIT_INPUT, "infinite"),
])
def test_bad_data_table(tmp_path, capsys, mutate, code, fragment):
    path = _write(tmp_path, "bad.csv", mutate(bleeding_trial(300, seed=9)))
    before = path.read_bytes()
    assert main(["report", str(path), *BASE, "-o", str(tmp_path / "out")]) == code
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert not (tmp_path / "out").exists(), "a refused run writes nothing"
    assert path.read_bytes() == before, "the input is never modified"


@pytest.mark.parametrize("content, suffix, fragment", [
    (b"", ".xlsx", "empty"),
    (b"\x00\x01\x02garbage", ".xlsx", "not an Excel workbook"),
    (b"a,b\n1,2\n", ".xlsx", "not an Excel workbook"),
    (b"PK\x03\x04notreallyazip", ".xlsx", "not an Excel workbook"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", ".xlsx", "password-protected"),
    (b"event,treatment\n", ".csv", "no data rows"),
    (b"x", ".txt", "not supported"),
])
def test_unreadable_files(tmp_path, capsys, content, suffix, fragment):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(content)
    assert main(["validate", str(path), *BASE]) == EXIT_INPUT
    assert fragment in capsys.readouterr().err


def test_missing_file(capsys):
    assert main(["validate", "no/such/file.xlsx"]) == EXIT_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_output_equal_to_input_is_refused(trial_csv, capsys):
    assert main(["report", str(trial_csv), *BASE, "-o", str(trial_csv)]) == EXIT_OUTPUT
    assert "input file" in capsys.readouterr().err


def test_unknown_flag_is_a_usage_error():
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "x.csv", "--budgte", "30%"])
    assert exit_info.value.code == EXIT_USAGE


def test_example_command_writes_a_workbook(tmp_path):
    out = tmp_path / "ex.xlsx"
    assert main(["example", "cate_lesson", "-o", str(out)]) == EXIT_OK
    sheets = pd.ExcelFile(out, engine="openpyxl").sheet_names
    assert sheets == ["data", "config"]
    assert main(["example", "nonsense", "-o", str(out)]) == EXIT_CONFIG


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "targeting.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "targeting" in done.stdout


def test_closed_stdout_is_not_an_internal_error(trial_csv):
    """`targeting validate x | head -1`: the reader leaves before the output ends (broken pipe)."""
    process = subprocess.Popen([sys.executable, "-m", "targeting.cli", "validate", str(trial_csv), *BASE],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # nobody reads: every write meets a closed pipe
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == EXIT_OK
    assert "internal error" not in stderr and "Traceback" not in stderr


def test_currency_flag_reaches_the_settings():
    from targeting.cli import build_parser, effective_config

    args = build_parser().parse_args(["report", "trial.csv", "--currency", "CHF"])
    assert effective_config(args, {"currency": "EUR"}).currency == "CHF"  # the flag beats the config sheet
