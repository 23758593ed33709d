"""Benchmarks (not tests): policy-search speed and value against EconML, and pipeline stage times.

Usage: python bench/run.py [--quick]
Prints Markdown tables. Times are wall-clock on this machine; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np

from targeting.config import merge_sources
from targeting.pipeline import run
from targeting.policy.learn import PolicySettings, learn_tree
from targeting.policy.search import search_tree
from targeting.data.read import read_input
from targeting.sim.simulate import bleeding_trial


def bench_search(sizes) -> None:
    print("\n## Exact depth-2 policy search (30% budget, 64 bins)\n")
    print("| rows | covariates | seconds |")
    print("|---:|---:|---:|")
    rng = np.random.default_rng(0)
    for n, p in sizes:
        bins = rng.integers(0, 65, size=(n, p), dtype=np.int16)
        benefit = rng.normal(size=n) + 0.5 * (bins[:, 0] < 20)
        start = time.perf_counter()
        search_tree(bins, np.full(p, 65), benefit, np.ones(n), budget=0.3 * n, min_leaf=max(20, n // 200))
        print(f"| {n:,} | {p} | {time.perf_counter() - start:.2f} |", flush=True)


def bench_against_econml(n: int) -> None:
    """Same data, same DR scores: our exact budgeted tree vs EconML's greedy DRPolicyTree (no budget)."""
    from econml.policy import DRPolicyTree
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from targeting.estimate.nuisance import fit_nuisances, make_folds
    from targeting.data.prepare import prepare

    frame = bleeding_trial(n, seed=31)
    config = merge_sources(("bench", {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment",
                                      "direction": "lower-is-better", "propensity": 0.5, "exclude": ["true_effect", "subject_id"]}))
    prepared = prepare(frame, config)
    truth = -frame["true_effect"].to_numpy()  # benefit = fewer bleeds
    folds = make_folds(prepared, 2, 0)
    start = time.perf_counter()
    nuis = fit_nuisances(prepared, folds=folds, seed=0)
    nuisance_time = time.perf_counter() - start
    train, test = folds == 0, folds == 1
    start = time.perf_counter()
    tree = learn_tree(prepared, -nuis.gamma, train,
                      PolicySettings(budget_units=float(train.sum()), depth=2, min_leaf=max(20, n // 20), max_bins=64))
    ours_time = time.perf_counter() - start
    ours = tree.apply(prepared.x_codes[test])[0]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        econml_tree = DRPolicyTree(model_regression=HistGradientBoostingRegressor(), model_propensity=HistGradientBoostingClassifier(),
                                   max_depth=2, min_samples_leaf=max(20, n // 20), random_state=0)
        econml_tree.fit(-prepared.y[train], prepared.t[train], X=prepared.x_dense[train])
    econml_time = time.perf_counter() - start
    theirs = econml_tree.predict(prepared.x_dense[test])
    oracle = np.clip(truth[test], 0, None).sum()
    print(f"\n## Policy trees on the bleeding trial, n = {n:,} (learn on half, true value on the other half)\n")
    print("| method | seconds | true value / oracle |")
    print("|---|---:|---:|")
    print(f"| targeting exact tree (+ {nuisance_time:.1f} s shared nuisances) | {ours_time:.2f} | {(truth[test] * ours).sum() / oracle:.2f} |")
    print(f"| EconML DRPolicyTree (fits own nuisances) | {econml_time:.2f} | {(truth[test] * theirs).sum() / oracle:.2f} |")
    print(f"\nRatio of times (EconML / targeting incl. nuisances): {econml_time / (ours_time + nuisance_time):.1f}x")


def bench_pipeline(n: int, tmp) -> None:
    frame = bleeding_trial(n, seed=13)
    path = tmp / f"trial_{n}.csv"
    frame.to_csv(path, index=False)
    stages = []
    config = merge_sources(("bench", {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment",
                                      "direction": "lower-is-better", "propensity": 0.5, "true_effect": "true_effect",
                                      "id": "subject_id", "budget": "30%"}))
    start = time.perf_counter()
    raw = read_input(path)
    stages.append(("read", time.perf_counter() - start))
    last = [0.0]

    def progress(stage, seconds):
        stages.append((stage, seconds - last[0]))
        last[0] = seconds

    run(raw, config, progress=progress)
    print(f"\n## Pipeline stages, bleeding trial n = {n:,} (estimator auto)\n")
    print("| stage | seconds |")
    print("|---|---:|")
    for stage, seconds in stages:
        print(f"| {stage} | {seconds:.1f} |")


if __name__ == "__main__":
    import tempfile

    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")  # as the pipeline does
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    sizes = [(10_000, 20), (100_000, 20)] if args.quick else [(10_000, 20), (100_000, 20), (100_000, 50), (1_000_000, 20)]
    bench_search(sizes)
    for n in ((10_000,) if args.quick else (20_000, 100_000)):
        bench_against_econml(n)
    with tempfile.TemporaryDirectory() as tmp:
        bench_pipeline(10_000, Path(tmp))
    sys.exit(0)
