"""Size of the heterogeneity verdicts and harm flags under the null, and coverage of individual
intervals (issue 14).

Null trials: the whole pipeline on bleeding-type trials whose drug does nothing for anyone
(`targeting.sim.null_study`), at 2,000 and 20,000 patients; the share of trials in which the
calibration test says "detected", the GATES top-minus-bottom difference is significant (two-sided
5%), the RATE (AUTOC) 95% interval excludes 0, or any group is flagged harmed; each with its
binomial standard error and a 95% Clopper-Pearson interval, against the nominal 5%. Calibration is
the primary test (only it lets the brief say effects differ); the table also shows whether the brief
said so, and Holm's adjustment across the three tests as the alternative family-wise rule.
Coverage: for the estimators that give individual intervals, the share of people whose true effect
lies inside their interval, on the project's simulations (mean over trials, SE across trials).

Power: the calibration test on bleeding-type trials whose effects differ, as reported (standard
errors widened for cross-fitting) and with the robust standard errors alone.

Usage: python bench/null_size.py [--trials 100] [--large-trials 40] [--estimator auto]
       [--coverage-trials 10] [--power-trials 0] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from scipy import stats
from threadpoolctl import threadpool_limits

from targeting.evaluate.stats import ALPHA
from targeting.sim.null_study import COVERAGE_SIZES, coverage_trial, null_trial, power_trial

VERDICTS = {
    "calibration_detected": "primary: calibration detects heterogeneity",
    "brief_claims_heterogeneity": "the brief says effects differ between people",
    "gates_significant": "supporting: GATES top minus bottom significant",
    "rate_excludes_zero": "supporting: RATE (AUTOC) 95% interval excludes 0",
    "holm_any": "Holm across calibration, GATES, RATE",
    "harm_flag": "any harm flag (its own family)",
}
UNADJUSTED = ("calibration_detected", "gates_significant", "rate_excludes_zero")
INTERVAL_ESTIMATORS = ("causal_forest", "dr")


def _share(hits: int, trials: int) -> str:
    rate = hits / trials
    low, high = stats.binomtest(hits, trials).proportion_ci(0.95)
    return f"{hits} | {rate:.3f} | {np.sqrt(rate * (1 - rate) / trials):.3f} | {low:.3f} to {high:.3f}"


def size_table(trials_by_size: dict[int, list], estimator: str) -> None:
    print(f"\n### Null trials (the drug does nothing), estimator {estimator}: share of reports with each verdict "
          f"(nominal {ALPHA:.0%})\n")
    print("| patients | trials | verdict | trials with it | share | binomial SE | 95% CI |")
    print("|---:|---:|---|---:|---:|---:|---|")
    for n, trials in trials_by_size.items():
        for key, label in VERDICTS.items():
            print(f"| {n:,} | {len(trials)} | {label} | {_share(sum(getattr(t, key) for t in trials), len(trials))} |")
        anything = sum(any(getattr(t, key) for key in UNADJUSTED) for t in trials)
        print(f"| {n:,} | {len(trials)} | any of calibration, GATES, RATE, unadjusted | "
              f"{_share(anything, len(trials))} |")
    print("\nBy the estimator auto chose (trials; calibration detected):\n")
    print("| patients | estimator | trials | calibration detected | GATES significant | RATE excludes 0 |")
    print("|---:|---|---:|---:|---:|---:|")
    for n, trials in trials_by_size.items():
        for name in sorted({t.estimator for t in trials}):
            chosen = [t for t in trials if t.estimator == name]
            print(f"| {n:,} | {name} | {len(chosen)} | {sum(t.calibration_detected for t in chosen)} | "
                  f"{sum(t.gates_significant for t in chosen)} | {sum(t.rate_excludes_zero for t in chosen)} |")


def power_table(trials: list) -> None:
    print("\n### Power: bleeding-type trials whose effects differ (`bleeding_trial`), share with calibration "
          "detected\n")
    print("| patients | trials | standard errors | detected | share | binomial SE | 95% CI |")
    print("|---:|---:|---|---:|---:|---:|---|")
    by_n: dict[int, list] = {}
    for trial in trials:
        by_n.setdefault(trial.n, []).append(trial)
    for n, rows in by_n.items():
        factors = sorted({round(t.se_factor, 3) for t in rows})
        for label, p in ((f"as reported (widened by {', '.join(map(str, factors))})", lambda t: t.calibration_p),
                         ("robust only (before)", lambda t: t.naive_p)):
            print(f"| {n:,} | {len(rows)} | {label} | {_share(sum(p(t) < ALPHA for t in rows), len(rows))} |")


def coverage_table(trials: list) -> None:
    print("\n### Individual 95% intervals: share of people whose true effect is inside their interval\n")
    print("| simulation | n | estimator | trials | mean coverage | SE across trials | lowest | highest | "
          "mean width |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    groups: dict[tuple[str, str], list] = {}
    for trial in trials:
        groups.setdefault((trial.simulation, trial.estimator), []).append(trial)
    for (simulation, estimator), rows in groups.items():
        coverage = np.array([r.coverage for r in rows])
        se = coverage.std(ddof=1) / np.sqrt(len(rows)) if len(rows) > 1 else float("nan")
        print(f"| {simulation} | {rows[0].n:,} | {estimator} | {len(rows)} | {coverage.mean():.3f} | {se:.3f} | "
              f"{coverage.min():.3f} | {coverage.max():.3f} | {np.mean([r.mean_width for r in rows]):.4g} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=100, help="null trials of 2,000 patients (seeds 1..N)")
    parser.add_argument("--large-trials", type=int, default=40, help="null trials of 20,000 patients")
    parser.add_argument("--estimator", default="auto")
    parser.add_argument("--coverage-trials", type=int, default=10, help="trials per simulation and estimator")
    parser.add_argument("--power-trials", type=int, default=0, help="bleeding trials of 2,000 whose effects differ")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    sizes = {2000: args.trials, 20000: args.large_trials}
    # One thread per process for every native pool, so that the processes share the cores.
    with ProcessPoolExecutor(args.jobs, initializer=threadpool_limits, initargs=(1,)) as pool:
        nulls = {n: [pool.submit(null_trial, n, seed, estimator=args.estimator, folds=args.folds)
                     for seed in range(1, count + 1)] for n, count in sizes.items() if count}
        powered = [pool.submit(power_trial, 2000, seed, estimator=args.estimator, folds=args.folds)
                   for seed in range(1, args.power_trials + 1)]
        covered = [pool.submit(coverage_trial, simulation, seed, estimator=estimator, folds=args.folds)
                   for simulation in COVERAGE_SIZES for estimator in INTERVAL_ESTIMATORS
                   for seed in range(1, args.coverage_trials + 1)]
        nulls = {n: [f.result() for f in futures] for n, futures in nulls.items()}
        covered = [f.result() for f in covered]
        powered = [f.result() for f in powered]
    print(f"## bench/null_size.py: {(time.perf_counter() - start) / 60:.1f} minutes with {args.jobs} processes")
    if nulls:
        size_table(nulls, args.estimator)
    if powered:
        power_table(powered)
    if covered:
        coverage_table(covered)
