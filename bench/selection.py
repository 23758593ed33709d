"""Selection study (issue 14): does ``auto`` pick the CATE model closest to the truth?

On data sets with known individual effects (the project's simulations, Nie and Wager's setups A-D,
and the ACIC 2016 data sets causallib ships, when it is installed), every candidate and ``auto`` are
fitted on the same data, nuisances, folds and scoring rows (`targeting.sim.selection_study`).
Prints, as Markdown: each candidate's and auto's correlation and RMSE against the truth, what auto
picked, auto's regret against the best single candidate, what other selection rules would have
given on the same fits, and the selection-stability figure on the 20,000-patient bleeding trial.

Usage: python bench/selection.py [--datasets a,b] [--reps 5] [--stability-seeds 20] [--acic 1,4]
       [--nie-wager-n 2000] [--jobs 2] [--save FILE.json] [--load FILE.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict

import numpy as np
from threadpoolctl import threadpool_limits

from targeting.sim.selection_study import ACIC_INSTANCES, Accuracy, Replication, benchmarks, replicate

ESTIMATORS = ("causal_forest", "dr", "t", "s", "x", "logistic_t")
STABILITY_SET = "bleeding_20000"
WITHIN = 0.02          # auto's correlation may trail the best single candidate's by at most this
MSE_RATIO_LIMIT = 2.0  # a pick whose true MSE is more than twice the best candidate's is a bad pick
LARGE_BLEEDING_TARGET = 0.90


def run_one(name: str, seed: int, options: dict, folds: int) -> Replication:
    """One replication, in a worker process (data sets are rebuilt there: their makers do not pickle)."""
    return replicate(benchmarks(**options)[name], seed, folds=folds)


def _mean_se(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def _heterogeneous(reps: list[Replication]) -> bool:
    return all(fit.correlation is not None for rep in reps for fit in rep.candidates.values())


def _metric(fit: Accuracy, heterogeneous: bool) -> float:
    return fit.correlation if heterogeneous else fit.rmse


def _best_single(reps: list[Replication], heterogeneous: bool) -> str:
    """The candidate with the best mean metric over the replications (highest correlation, else lowest RMSE)."""
    means = {name: np.mean([_metric(r.candidates[name], heterogeneous) for r in reps]) for name in reps[0].candidates}
    return (max if heterogeneous else min)(means, key=means.get)


def _picks(names) -> str:
    counts = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{name} x{k}" if k > 1 else name for name, k in sorted(counts.items(), key=lambda kv: -kv[1]))


def accuracy_table(groups: dict[str, list[Replication]], heterogeneous: bool) -> list[dict]:
    """Print mean correlation (or RMSE, for data sets whose true effect is constant) of every
    candidate and of auto; return auto's regret per data set."""
    what = "correlation with the true effect (higher is better)" if heterogeneous else \
        "RMSE against the true effect (lower is better; the true effect is the same for everyone)"
    print(f"\n### Mean {what}\n")
    print("| data set | n | reps | " + " | ".join(ESTIMATORS) + " | auto | auto picked | best single | "
          "regret (SE) | within 0.02 |" if heterogeneous else
          "| data set | n | reps | " + " | ".join(ESTIMATORS) + " | auto | auto picked | best single | regret (SE) |")
    print("|---|---:|---:|" + "---:|" * (len(ESTIMATORS) + 1) + "---|---|---:|" + ("---|" if heterogeneous else ""))
    regrets = []
    for name, reps in groups.items():
        if _heterogeneous(reps) != heterogeneous:
            continue
        cells = []
        for estimator in ESTIMATORS:
            values = [_metric(r.candidates[estimator], heterogeneous) for r in reps if estimator in r.candidates]
            cells.append(f"{np.mean(values):.3f}" if values else "")
        best = _best_single(reps, heterogeneous)
        sign = 1 if heterogeneous else -1  # regret is positive when auto is worse
        regret, se = _mean_se([sign * (_metric(r.candidates[best], heterogeneous) - _metric(r.auto, heterogeneous))
                               for r in reps])
        auto = np.mean([_metric(r.auto, heterogeneous) for r in reps])
        row = (f"| {name} | {reps[0].n:,} | {len(reps)} | " + " | ".join(cells) + f" | **{auto:.3f}** | "
               f"{_picks(r.picked for r in reps)} | {best} | {regret:+.3f} ({se:.3f}) |")
        if heterogeneous:
            row += " yes |" if regret <= WITHIN else " **no** |"
        print(row)
        regrets.append({"dataset": name, "regret": regret, "auto": auto, "best": best})
    return regrets


def rules_table(groups: dict[str, list[Replication]]) -> None:
    """Mean accuracy of what other selection rules would have picked from the same fits."""
    print("\n### Selection rules on the same fits (mean correlation; RMSE where the true effect is constant)\n")
    print("| data set | auto (as built) | lowest DR loss, single candidates only | lowest R-loss, single "
          "candidates only | best single on average | best single per replication (oracle) | "
          "auto picked the stack | auto's choice within noise |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, reps in groups.items():
        het = _heterogeneous(reps)
        best = _best_single(reps, het)
        metric = "correlation" if het else "mse"
        cells = [np.mean([_metric(r.auto, het) for r in reps]),
                 np.mean([_metric(r.candidates[r.pick_by("dr_loss")], het) for r in reps]),
                 np.mean([_metric(r.candidates[r.pick_by("r_loss")], het) for r in reps]),
                 np.mean([_metric(r.candidates[best], het) for r in reps]),
                 np.mean([_metric(r.candidates[r.best(metric)], het) for r in reps])]
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) +
              f" | {sum(r.picked == 'stack' for r in reps)}/{len(reps)} | {sum(r.within_noise for r in reps)}/{len(reps)} |")


def stability_table(reps: list[Replication]) -> None:
    """Per seed: auto's pick and its true MSE against the best single candidate's."""
    bad = [r for r in reps if r.mse_ratio > MSE_RATIO_LIMIT]
    print(f"\n### Selection stability: {STABILITY_SET}, {len(reps)} seeds\n")
    print("| seed | auto picked | stack weights | best single (true MSE) | auto's true MSE / best's | "
          "auto corr. | best single corr. |")
    print("|---:|---|---|---|---:|---:|---:|")
    for r in sorted(reps, key=lambda r: r.seed):
        weights = ", ".join(f"{k} {w:.2f}" for k, w in sorted(r.weights.items(), key=lambda kv: -kv[1]) if w >= 0.005)
        best = r.best()
        print(f"| {r.seed} | {r.picked} | {weights} | {best} ({r.candidates[best].mse:.2e}) | {r.mse_ratio:.2f} | "
              f"{r.auto.correlation:.3f} | {r.candidates[best].correlation:.3f} |")
    print(f"\nPicks with a true MSE more than {MSE_RATIO_LIMIT:g} times the best candidate's: {len(bad)} of "
          f"{len(reps)} (target: at most 1 in 20). Mean auto correlation {np.mean([r.auto.correlation for r in reps]):.3f} "
          f"(target {LARGE_BLEEDING_TARGET}).")


def summary(regrets: list[dict]) -> None:
    """The issue's targets over every data set whose true effect varies."""
    if not regrets:
        return
    mean, se = _mean_se([r["regret"] for r in regrets])
    missed = [r["dataset"] for r in regrets if r["regret"] > WITHIN]
    print(f"\nOver {len(regrets)} data sets whose true effect varies: auto's mean regret against the best single "
          f"candidate {mean:+.3f} (SE {se:.3f} across data sets; target: at most 0); more than {WITHIN} behind on "
          f"{len(missed)}: {', '.join(missed) or 'none'}.")


def save(replications: list[Replication], path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump([asdict(r) for r in replications], out)


def load(path: str) -> list[Replication]:
    with open(path, encoding="utf-8") as source:
        rows = json.load(source)
    out = []
    for row in rows:
        row["candidates"] = {k: Accuracy(**v) for k, v in row["candidates"].items()}
        row["auto"] = Accuracy(**row["auto"])
        out.append(Replication(**row))
    return out


def _causallib_installed() -> bool:
    try:
        import causallib  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace) -> list[Replication]:
    if args.acic and not _causallib_installed():
        print("ACIC 2016 data sets skipped: causallib is not installed.\n")
        args.acic = []
    options = dict(nie_wager_n=args.nie_wager_n, nie_wager_p=args.nie_wager_p, nie_wager_sigma=args.nie_wager_sigma,
                   acic=bool(args.acic))
    available = benchmarks(**options)
    acic = {f"acic2016_{k}" for k in args.acic}
    names = [n for n in (args.datasets.split(",") if args.datasets else available)
             if not n.startswith("acic2016_") or n in acic]
    jobs = []
    for name in names:
        seeds = range(1, (args.stability_seeds if name == STABILITY_SET else
                          args.acic_reps if name.startswith("acic") else args.reps) + 1)
        jobs += [(name, seed) for seed in seeds]
    order = {STABILITY_SET: 0, "financial_literacy": 2}  # the longest first, so the processes finish together
    jobs.sort(key=lambda job: order.get(job[0], 1 if job[0].startswith("acic") else 3))
    replications = []
    with ProcessPoolExecutor(args.jobs, initializer=threadpool_limits, initargs=(1,)) as pool:
        futures = {pool.submit(run_one, name, seed, options, args.folds): (name, seed) for name, seed in jobs}
        for future in as_completed(futures):
            rep = future.result()
            replications.append(rep)
            print(f"{rep.dataset} seed {rep.seed}: auto picked {rep.picked}, {rep.seconds:.0f} s", file=sys.stderr,
                  flush=True)
            if args.save:
                save(replications, args.save)
    return replications


def report(replications: list[Replication]) -> None:
    groups: dict[str, list[Replication]] = {}
    for rep in sorted(replications, key=lambda r: (r.dataset, r.seed)):
        groups.setdefault(rep.dataset, []).append(rep)
    regrets = accuracy_table(groups, heterogeneous=True)
    accuracy_table(groups, heterogeneous=False)
    rules_table(groups)
    if STABILITY_SET in groups:
        stability_table(groups[STABILITY_SET])
    summary(regrets)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--reps", type=int, default=5, help="replications (seeds 1..R) per simulated data set")
    parser.add_argument("--stability-seeds", type=int, default=20, help=f"replications of {STABILITY_SET}")
    parser.add_argument("--acic", default=",".join(map(str, ACIC_INSTANCES)),
                        help="ACIC 2016 instances (needs causallib); empty for none")
    parser.add_argument("--acic-reps", type=int, default=1, help="fold/split seeds per ACIC instance (data are fixed)")
    parser.add_argument("--nie-wager-n", type=int, default=2000)
    parser.add_argument("--nie-wager-p", type=int, default=6)
    parser.add_argument("--nie-wager-sigma", type=float, default=1.0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--save", default="", help="write the replications to this JSON file as they finish")
    parser.add_argument("--load", default="", help="print the tables of a saved run instead of running")
    args = parser.parse_args()
    args.acic = [int(k) for k in args.acic.split(",") if k]
    start = time.perf_counter()
    replications = load(args.load) if args.load else run(args)
    print(f"## bench/selection.py: {len(replications)} replications, {(time.perf_counter() - start) / 60:.1f} minutes")
    report(replications)
