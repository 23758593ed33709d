"""The command as a user runs it: every input format, all four outputs, and the contract."""

import json

import pandas as pd
import pytest

from targeting.cli import main
from targeting.errors import EXIT_OK
from targeting.report.outputs import OUTPUT_NAMES
from targeting.sim.simulate import bleeding_trial

FLAGS = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--id", "subject_id",
         "--direction", "lower-is-better", "--propensity", "0.5", "--true-effect", "true_effect",
         "--estimator", "logistic_t", "--folds", "3", "--budget", "30%", "--quiet"]


@pytest.fixture(scope="module")
def trial_frame():
    return bleeding_trial(500, seed=21)


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".xlsx"])
def test_each_input_format_gives_all_outputs(tmp_path, trial_frame, suffix, capsys):
    path = tmp_path / f"trial{suffix}"
    if suffix == ".csv":
        trial_frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        trial_frame.to_parquet(path)
    else:
        trial_frame.to_excel(path, index=False, sheet_name="data")
    before = path.read_bytes()
    assert main(["report", str(path), *FLAGS]) == EXIT_OK
    outdir = tmp_path / "trial_report"
    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(str(outdir / name) for name in OUTPUT_NAMES)
    for name in OUTPUT_NAMES:
        assert (outdir / name).stat().st_size > 0
    assert not [p for p in outdir.iterdir() if p.name.startswith(".")], "no temporary files left"
    assert path.read_bytes() == before
    report = json.loads((outdir / "report.json").read_text())
    individuals = pd.read_csv(outdir / "individuals.csv")
    assert len(individuals) == report["data"]["n"] == 500
    assert individuals["treat"].mean() <= 0.30
    assert report["policy"]["treated_share"] == pytest.approx(individuals["treat"].mean())
    assert report["provenance"]["input_file"] == path.name


def test_same_seed_same_numbers(tmp_path, trial_frame):
    path = tmp_path / "trial.csv"
    trial_frame.to_csv(path, index=False)
    reports = []
    for out in ("a", "b"):
        assert main(["report", str(path), *FLAGS, "-o", str(tmp_path / out)]) == EXIT_OK
        report = json.loads((tmp_path / out / "report.json").read_text())
        report["provenance"].pop("created")
        reports.append(report)
    assert reports[0] == reports[1]


def test_example_workbook_runs_from_its_config_sheet(bleeding_example, tmp_path):
    assert main(["report", str(bleeding_example), "-o", str(tmp_path / "out"), "--quiet", "--estimator", "logistic_t"]) == EXIT_OK
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["config"]["direction"] == "lower-is-better"       # from the config sheet
    assert report["config"]["estimator"] == "logistic_t"            # flag beats sheet
    assert report["diagnostics"]["truth"]["correlation"] is not None
    names = {g["name"] for g in report["subgroups"] if g["family"] == "prespecified"}
    assert names == {"age > 65", "anticoagulant == 'Yes'"}
