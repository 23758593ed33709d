"""Reproducibility: the seed is recorded, and the same seed gives the same workbook, cell for cell.

(tests/test_end_to_end.py already checks that the same seed gives the same report.json.)
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import openpyxl
import pytest
from threadpoolctl import threadpool_limits

from targeting.cli import main
from targeting.config import Config
from targeting.errors import EXIT_OK
from targeting.sim.simulate import bleeding_trial

FLAGS = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--exclude", "true_effect",
         "--id", "subject_id", "--direction", "lower-is-better", "--estimator", "logistic_t", "--folds", "3",
         "--budget", "30%", "--quiet"]
SEED = 7
assert SEED != Config().seed


def _report(source: Path, outdir: Path, seed: int) -> Path:
    err = io.StringIO()
    with threadpool_limits(1), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["report", str(source), *FLAGS, "--seed", str(seed), "-o", str(outdir)])
    assert code == EXIT_OK, err.getvalue()
    return outdir


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("repro")
    source = folder / "trial.csv"
    bleeding_trial(200, seed=21).to_csv(source, index=False)
    return _report(source, folder / "a", SEED), _report(source, folder / "b", SEED)


def _cell_values(path: Path) -> dict[str, list[list]]:
    """Every sheet's cell values, with the provenance 'created' timestamp blanked."""
    book = openpyxl.load_workbook(path, read_only=True)
    sheets = {}
    for sheet in book.worksheets:
        rows = [list(row) for row in sheet.iter_rows(values_only=True)]
        for row in rows:
            if "created" in row:
                at = row.index("created")
                row[at + 1:] = [None] * (len(row) - at - 1)
        sheets[sheet.title] = rows
    book.close()
    return sheets


def test_seed_is_recorded_in_the_provenance(two_runs):
    for outdir in two_runs:
        report = json.loads((outdir / "report.json").read_text(encoding="utf-8"))
        assert report["provenance"]["seed"] == SEED
        assert report["config"]["seed"] == SEED


def test_same_seed_gives_identical_workbook_values(two_runs):
    first, second = (_cell_values(outdir / "pack.xlsx") for outdir in two_runs)
    assert list(first) == list(second)
    created = [row for rows in first.values() for row in rows if "created" in row]
    assert created, "the provenance 'created' row is where the test expects it"
    for name in first:
        assert first[name] == second[name], f"sheet {name!r} differs between two runs with the same seed"


def test_same_seed_gives_identical_individuals_and_report(two_runs):
    a, b = two_runs
    assert (a / "individuals.csv").read_bytes() == (b / "individuals.csv").read_bytes()
    reports = []
    for outdir in two_runs:
        report = json.loads((outdir / "report.json").read_text(encoding="utf-8"))
        report["provenance"].pop("created")
        reports.append(report)
    assert reports[0] == reports[1]
