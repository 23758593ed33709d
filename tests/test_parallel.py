"""Fits on several processes give the same numbers as fits in this process; the workers setting."""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import targeting.parallel as parallel
from cli_helpers import run_cli
from targeting.config import merge_sources, parse_workers
from targeting.data.prepare import prepare
from targeting.errors import EXIT_OK, EXIT_CONFIG, ConfigError
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.sim.simulate import bleeding_trial

FLAGS = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--id", "subject_id",
         "--direction", "lower-is-better", "--true-effect", "true_effect", "--budget", "30%", "--folds", "3"]


@pytest.fixture
def always_parallel(monkeypatch):
    """Even the small jobs of a test go to worker processes."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(parallel, "MIN_SHARED_SECONDS", 0.0)


def test_small_jobs_run_in_this_process():
    spare = object()  # never used: every job below is too small to share
    assert parallel.Workers(2, spare).map(abs, [(-1,), (-2,)], serial_seconds=parallel.MIN_SHARED_SECONDS / 2) == [1, 2]
    assert not parallel.worth_parallel(2, 10, serial_seconds=parallel.MIN_PARALLEL_SECONDS / 2)
    assert not parallel.worth_parallel(1, 10, serial_seconds=1e6)
    assert not parallel.worth_parallel(4, 1, serial_seconds=1e6)
    assert parallel.worth_parallel(2, 10, serial_seconds=parallel.MIN_PARALLEL_SECONDS)


def test_tasks_come_back_in_order_from_the_workers(always_parallel):
    tasks = [(np.arange(n, dtype=float),) for n in (5, 1, 3, 4_000_000)]  # the last one is memory-mapped
    assert parallel.map_tasks(np.sum, tasks, workers=2) == [10.0, 0.0, 3.0, float(3_999_999 * 4_000_000 // 2)]


def _warn_and_return(value: int) -> int:
    warnings.warn(f"task {value} warns", UserWarning)
    return value


def test_warnings_of_the_workers_are_raised_here_in_task_order(always_parallel):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert parallel.map_tasks(_warn_and_return, [(1,), (2,), (3,)], workers=2) == [1, 2, 3]
    assert [str(w.message) for w in caught] == ["task 1 warns", "task 2 warns", "task 3 warns"]


def test_nuisances_are_identical_on_one_and_two_workers(always_parallel):
    frame = bleeding_trial(600, seed=4)
    config = merge_sources(("test", {"outcome": "event", "treatment": "treatment", "folds": 3}))
    prepared = prepare(frame, config)  # propensity estimated: three models per fold
    folds = make_folds(prepared, 3, 0)
    with threadpool_limits(limits=1, user_api="openmp"):
        serial = fit_nuisances(prepared, folds=folds, seed=0, workers=1)
        two = fit_nuisances(prepared, folds=folds, seed=0, workers=2)
    for name in ("mu0", "mu1", "propensity", "gamma0", "gamma1"):
        np.testing.assert_array_equal(getattr(two, name), getattr(serial, name))


def test_fits_shared_with_the_spare_process_give_the_same_nuisances(always_parallel):
    frame = bleeding_trial(400, seed=6)
    config = merge_sources(("test", {"outcome": "event", "treatment": "treatment", "folds": 3}))
    prepared = prepare(frame, config)
    folds = make_folds(prepared, 3, 0)
    spare = parallel.SpareProcess(("targeting.estimate.learners",))
    while not spare.ready():  # it joins a job only once it has loaded its modules
        time.sleep(0.05)
    try:
        pids = parallel.Workers(2, spare).map(os.getpid, [()] * 4, serial_seconds=1.0)
        with threadpool_limits(limits=1, user_api="openmp"):
            serial = fit_nuisances(prepared, folds=folds, seed=0, workers=1)
            shared = fit_nuisances(prepared, folds=folds, seed=0, workers=parallel.Workers(2, spare))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = parallel.Workers(2, spare).map(_warn_and_return, [(k,) for k in range(6)], serial_seconds=1.0)
        big = np.arange(4_000_000, dtype=float)  # reaches the spare as a memory map
        sums = parallel.Workers(2, spare).map(np.sum, [(big,), (big[:10],), (big,), (big,)], serial_seconds=1.0)
    finally:
        spare.close()
    for name in ("mu0", "mu1", "propensity", "gamma0", "gamma1"):
        np.testing.assert_array_equal(getattr(shared, name), getattr(serial, name))
    assert os.getpid() in pids and len(set(pids)) == 2  # both processes computed
    assert values == list(range(6))
    assert [float(total) for total in sums] == [float(big.sum()), 45.0, float(big.sum()), float(big.sum())]
    assert [str(w.message) for w in caught] == [f"task {k} warns" for k in range(6)]


def _imported(module: str) -> bool:
    import sys

    return module in sys.modules


def test_the_spare_loads_its_later_modules_once_the_fits_are_done():
    spare = parallel.SpareProcess(("targeting.estimate.learners",), later=("targeting.format",))
    try:
        assert spare.submit(_imported, "targeting.estimate.learners").result()
        assert not spare.submit(_imported, "targeting.format").result()  # not before it is told
        workers = parallel.Workers(2, spare)
        workers.fitting_done()
        assert spare.submit(_imported, "targeting.format").result()
        imports = len(spare._imports)
        workers.fitting_done()  # a second call loads nothing again
        assert len(spare._imports) == imports
        deadline = time.monotonic() + 10  # done-callbacks run in the executor's thread, just after the results
        while spare._running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not spare._running, "done calls are dropped, with their results"
    finally:
        spare.close()


@dataclasses.dataclass(frozen=True)
class _Rows:
    values: np.ndarray
    label: str


def _labelled_sum(rows: _Rows) -> tuple[str, float, bool]:
    return rows.label, float(rows.values.sum()), isinstance(rows.values, np.memmap)


def test_arrays_in_a_dataclass_argument_reach_the_spare_as_memory_maps(always_parallel):
    spare = parallel.SpareProcess(())
    while not spare.ready():
        time.sleep(0.05)
    rows = _Rows(np.arange(1_000_000, dtype=float), "all")
    try:
        done = parallel.Workers(2, spare).map(_labelled_sum, [(rows,)] * 3, serial_seconds=1.0)
    finally:
        spare.close()
    assert {(label, total) for label, total, _ in done} == {("all", float(rows.values.sum()))}
    assert [mapped for _, _, mapped in done].count(True) >= 1  # the spare's share was mapped, not copied


def _numbers(value, path=""):
    """Every number of a report.json, keyed by where it is."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _numbers(item, f"{path}.{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _numbers(item, f"{path}[{i}]").items()}
    return {path: value}


def test_the_report_is_the_same_on_one_and_two_workers(tmp_path, always_parallel):
    source = tmp_path / "trial.csv"
    bleeding_trial(500, seed=8).to_csv(source, index=False)
    outputs = {}
    for workers in ("1", "2"):
        code, _, err = run_cli(["report", str(source), *FLAGS, "--workers", workers, "-o", str(tmp_path / workers)],
                               threads=1)
        assert code == EXIT_OK, err
        report = json.loads((tmp_path / workers / "report.json").read_text())
        report["provenance"].pop("created")
        outputs[workers] = report
    one, two = _numbers(outputs["1"]), _numbers(outputs["2"])
    assert one.keys() == two.keys()
    # Floating-point sums in the estimators' threaded parts may differ in the last bit between any
    # two runs; every number agrees to far below what the report shows.
    differing = {key for key in one if one[key] != two[key] and not (
        isinstance(one[key], float) and two[key] == pytest.approx(one[key], rel=1e-12, abs=1e-15))}
    assert not differing
    assert (tmp_path / "1" / "individuals.csv").read_bytes() == (tmp_path / "2" / "individuals.csv").read_bytes()
    # brief.pdf and brief.html were rendered in the spare process for the two-worker run.
    for name in ("brief.pdf", "brief.html"):
        assert (tmp_path / "2" / name).stat().st_size > 10_000


def test_workers_setting():
    assert parse_workers(None) == parse_workers("auto") == parallel.default_workers()
    assert parse_workers("3") == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(ConfigError, match="at least 1"):
            parse_workers(bad)
    assert 1 <= parallel.default_workers() <= min(len(os.sched_getaffinity(0)), parallel.MAX_DEFAULT_WORKERS)


def test_a_saturated_machine_gets_one_process(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 4)
    for load, idle in ((0.3, 4), (1.9, 4), (3.4, 4), (3.5, 1), (9.0, 1)):
        monkeypatch.setattr(os, "getloadavg", lambda load=load: (load, load, load))
        assert parallel.idle_cores() == idle


def test_a_bad_workers_flag_is_refused_before_anything_runs(tmp_path):
    code, _, err = run_cli(["report", str(tmp_path / "missing.csv"), "--workers", "none", "-o", str(tmp_path / "o")])
    assert code == EXIT_CONFIG
    assert "--workers 1" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()
