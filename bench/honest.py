"""Repeated-simulation study of the honest split (issue 13): do the displayed rule's 95% intervals
cover the truth, and how much of the oracle's value does learning on part of the people cost?

For each trial r, simulate n people with seed r and run the pipeline (30% budget); judge the
rule it shows against a large population from the same generator (one per simulation, a seed no
trial uses). Learning shares other than the pipeline's are rebuilt from the same data, nuisances
and settings.

Usage: python bench/honest.py [--sims bleeding_trial,financial_literacy] [--trials 100] [--n 5000]
       [--population 200000] [--shares 0.5] [--estimator auto] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from targeting.policy.stage import LEARN_SHARE
from targeting.sim.studies import HONEST_SIMULATIONS, coverage, honest_trial, population, score_trial


def coverage_table(scores: dict[float, list]) -> None:
    """Coverage with its binomial SE and mean width, per learning share and quantity."""
    print("| learning share | interval | intervals | coverage | SE | mean width |")
    print("|---:|---|---:|---:|---:|---:|")
    for share, rows in scores.items():
        leaves = [(c, w, t) for s in rows for c, w, t in zip(s.leaf_covered, s.leaf_width, s.leaf_treated)]
        quantities = {
            "gain over treat-none": [(s.none_covered, s.none_width) for s in rows],
            "gain over treat-all": [(s.all_covered, s.all_width) for s in rows],
            "leaf effect, all leaves": [(c, w) for c, w, _ in leaves],
            "leaf effect, treated leaves": [(c, w) for c, w, t in leaves if t],
            "leaf effect, untreated leaves": [(c, w) for c, w, t in leaves if not t],
        }
        for label, pairs in quantities.items():
            rate, se = coverage([c for c, _ in pairs])
            print(f"| {share:.1f} | {label} | {len(pairs)} | {rate:.3f} | {se:.3f} | "
                  f"{np.mean([w for _, w in pairs]):.4g} |")


def error_table(scores: dict[float, list]) -> None:
    """Mean and SD of the standardised errors of the two gains: a mean away from 0 is a bias of the
    estimate, an SD above 1 a standard error too small for its noise."""
    print("| learning share | interval | trials | mean of (estimate - truth) / SE | SE of that mean | SD |")
    print("|---:|---|---:|---:|---:|---:|")
    for share, rows in scores.items():
        for label, values in (("gain over treat-none", [s.none_z for s in rows]),
                              ("gain over treat-all", [s.all_z for s in rows])):
            z = np.asarray(values)
            print(f"| {share:.1f} | {label} | {len(z)} | {z.mean():+.3f} | {z.std(ddof=1) / np.sqrt(len(z)):.3f} | "
                  f"{z.std(ddof=1):.3f} |")


def value_table(scores: dict[float, list]) -> None:
    """Mean true value of the rule learned on each share and on everyone, as shares of the oracle's."""
    print("| learning share | V_share / V_oracle | V_all / V_oracle | (V_all - V_share) / V_oracle | SE |")
    print("|---:|---:|---:|---:|---:|")
    for share, rows in scores.items():
        lost = np.array([(s.value_all - s.value) / s.oracle for s in rows])
        print(f"| {share:.1f} | {np.mean([s.value / s.oracle for s in rows]):.3f} | "
              f"{np.mean([s.value_all / s.oracle for s in rows]):.3f} | {lost.mean():.3f} | "
              f"{lost.std(ddof=1) / np.sqrt(len(lost)):.3f} |")


def study(name: str, args: argparse.Namespace) -> None:
    """Run and print the study of one simulation."""
    start = time.perf_counter()
    shares = tuple(float(s) for s in args.shares.split(","))
    # One thread per process for every native pool (BLAS too), so that the processes share the cores.
    with ProcessPoolExecutor(args.jobs, initializer=threadpool_limits, initargs=(1,)) as pool:
        futures = [pool.submit(honest_trial, name, seed, n=args.n, shares=shares, estimator=args.estimator)
                   for seed in range(1, args.trials + 1)]
        crashed = {seed: repr(f.exception()) for seed, f in enumerate(futures, 1) if f.exception() is not None}
        trials = [f.result() for f in futures if f.exception() is None]
    pop = population(name, args.population)
    scores = {share: [score_trial(trial, pop, share) for trial in trials] for share in sorted({LEARN_SHARE, *shares})}
    minutes = (time.perf_counter() - start) / 60
    print(f"\n### {name}: n = {args.n:,}, {len(trials)} trials, budget 30%, estimator {args.estimator}, "
          f"population {args.population:,} (oracle gain {pop.oracle():.4g} per person)\n")
    coverage_table(scores)
    print("\nStandardised errors of the gains (bias: the mean; the standard error's calibration: the SD):\n")
    error_table(scores)
    print(f"\nTrue gain over treating no one in the population (pipeline's share {LEARN_SHARE}; "
          "V_all: the same tree learned on everyone):\n")
    value_table(scores)
    print(f"\n{minutes:.1f} minutes with {args.jobs} processes; leaves whose query did not select n rows: "
          f"{sum(t.query_mismatches for t in trials)}; trials whose rebuilt decisions differ from the "
          f"pipeline's: {sum(not t.rebuilt for t in trials)}; crashed trials: {crashed or 'none'}.", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", default="bleeding_trial,financial_literacy",
                        help=f"comma list of {', '.join(HONEST_SIMULATIONS)}")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--population", type=int, default=200_000)
    parser.add_argument("--shares", default="0.5", help="learning shares besides the pipeline's own (LEARN_SHARE)")
    parser.add_argument("--estimator", default="auto")
    parser.add_argument("--jobs", type=int, default=2, help="processes (the pipeline uses one thread each)")
    arguments = parser.parse_args()
    print(f"## bench/honest.py (issue 13)\n\n`python bench/honest.py --sims {arguments.sims} --trials "
          f"{arguments.trials} --n {arguments.n} --population {arguments.population} --shares {arguments.shares} "
          f"--estimator {arguments.estimator} --jobs {arguments.jobs}`")
    for simulation in arguments.sims.split(","):
        study(simulation, arguments)
