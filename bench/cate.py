"""Estimation benchmark: time of nuisances + CATE at scale, and each estimator's accuracy on the
bundled simulations (correlation of out-of-fold CATE with the true effect).

Usage: python bench/cate.py [--sizes 10000,100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from targeting.estimate.cate import ESTIMATOR_LABELS, estimate_cate
from targeting.config import merge_sources
from targeting.estimate.nuisance import fit_nuisances, make_folds
from targeting.data.prepare import prepare
from targeting.sim.simulate import EXAMPLES, bleeding_trial


def wide_trial(n: int, seed: int = 0) -> pd.DataFrame:
    """The bleeding trial plus ten pure-noise covariates: 20 covariates in all."""
    frame = bleeding_trial(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for k in range(10):
        frame[f"noise_{k + 1}"] = np.round(rng.normal(size=n), 3)
    return frame


def time_estimation(n: int) -> tuple[float, float, str, float]:
    frame = wide_trial(n)
    settings = dict(EXAMPLES["bleeding_trial"][1])
    settings.pop("subgroup")
    prepared = prepare(frame, merge_sources(("bench", settings)))
    folds = make_folds(prepared, 5, 0)
    start = time.perf_counter()
    nuis = fit_nuisances(prepared, folds=folds, seed=0)
    middle = time.perf_counter()
    cate = estimate_cate(prepared, nuis, estimator="auto", seed=0)
    end = time.perf_counter()
    return middle - start, end - middle, cate.estimator, float(np.corrcoef(cate.cate, prepared.true_effect)[0, 1])


def accuracy_table() -> None:
    print("\n## Correlation of out-of-fold CATE with the true effect, bundled simulations\n")
    names = [k for k in ESTIMATOR_LABELS if k != "constant"]
    print("| example | " + " | ".join(names) + " | auto picks |")
    print("|---|" + "---:|" * len(names) + "---|")
    for example, (make, settings, _) in EXAMPLES.items():
        settings = {k: v for k, v in settings.items() if k != "subgroup"}
        prepared = prepare(make(), merge_sources(("bench", settings)))
        folds = make_folds(prepared, 5, 0)
        nuis = fit_nuisances(prepared, folds=folds, seed=0)
        cells = []
        for name in names:
            if name == "logistic_t" and not prepared.outcome_binary:
                cells.append("n/a")
                continue
            cate = estimate_cate(prepared, nuis, estimator=name, seed=0).cate
            cells.append(f"{np.corrcoef(cate, prepared.true_effect)[0, 1]:.2f}")
        chosen = estimate_cate(prepared, nuis, estimator="auto", seed=0).estimator
        print(f"| {example} (n = {prepared.n:,}) | " + " | ".join(cells) + f" | {chosen} |", flush=True)


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")  # as the pipeline does
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    print("## Nuisances + CATE (estimator auto), bleeding trial + 10 noise covariates = 20 covariates\n")
    print("| rows | nuisances (s) | CATE (s) | total (s) | auto picks | corr. with truth |")
    print("|---:|---:|---:|---:|---|---:|")
    for n in (int(s) for s in args.sizes.split(",")):
        nuis_s, cate_s, chosen, corr = time_estimation(n)
        print(f"| {n:,} | {nuis_s:.1f} | {cate_s:.1f} | {nuis_s + cate_s:.1f} | {chosen} | {corr:.2f} |", flush=True)
    if not args.skip_accuracy:
        accuracy_table()
