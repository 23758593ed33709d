"""Selection study (issue 14): does ``auto`` pick the CATE model closest to the truth?

On data sets with known individual effects (the project's simulations, Nie and Wager's setups A-D,
and the ACIC 2016 data sets causallib ships, when it is installed), every candidate and ``auto`` are
fitted on the same data, nuisances and folds (`targeting.sim.selection_study`).
Prints, as Markdown: each candidate's and auto's correlation and RMSE against the truth, what auto
picked, auto's regret against the best single candidate, what every selection rule gives on the
same fits, and the selection-stability figure on the 20,000-patient bleeding trial.

Usage: python bench/selection.py [--datasets a,b] [--reps 5] [--first-seed 1] [--stability-seeds 20]
       [--acic 1,4] [--nie-wager-n 2000] [--jobs 2] [--save FILE.json] [--load A.json,B.json]
       [--fits-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
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


def run_one(name: str, seed: int, options: dict, folds: int, fits_dir: str) -> Replication:
    """One replication, in a worker process (data sets are rebuilt there: their makers do not pickle)."""
    return replicate(benchmarks(**options)[name], seed, folds=folds, fits_dir=fits_dir)


def _mean_se(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def _heterogeneous(reps: list[Replication]) -> bool:
    return all(fit.correlation is not None for rep in reps for fit in rep.candidates.values())


def _metric(fit: Accuracy, correlation: bool) -> float:
    return fit.correlation if correlation else fit.rmse


def _best_single(reps: list[Replication], correlation: bool) -> str:
    """The candidate with the best mean over the replications: highest correlation, or lowest RMSE."""
    means = {name: np.mean([_metric(r.candidates[name], correlation) for r in reps]) for name in reps[0].candidates}
    return (max if correlation else min)(means, key=means.get)


def _picks(names) -> str:
    return ", ".join(f"{name} x{k}" if k > 1 else name for name, k in Counter(names).most_common())


def accuracy_table(groups: dict[str, list[Replication]], metric: str) -> list[dict]:
    """Print the mean correlation (data sets whose true effect varies) or RMSE (every data set) of
    every candidate and of auto, what auto picked and its regret; return the regret per data set."""
    correlation = metric == "correlation"
    what = "correlation with the true effect (higher is better; data sets whose true effect varies)" \
        if correlation else "RMSE against the true effect (lower is better)"
    print(f"\n### Mean {what}\n")
    print("| data set | n | reps | " + " | ".join(ESTIMATORS) + " | auto | auto picked | best single | regret (SE) |"
          + (" within 0.02 |" if correlation else ""))
    print("|---|---:|---:|" + "---:|" * (len(ESTIMATORS) + 1) + "---|---|---:|" + ("---|" if correlation else ""))
    regrets = []
    for name, reps in groups.items():
        if correlation and not _heterogeneous(reps):
            continue
        cells = []
        for estimator in ESTIMATORS:
            values = [_metric(r.candidates[estimator], correlation) for r in reps if estimator in r.candidates]
            cells.append(f"{np.mean(values):.3f}" if values else "")
        best = _best_single(reps, correlation)
        sign = 1 if correlation else -1  # regret is positive when auto is worse
        regret, se = _mean_se([sign * (_metric(r.candidates[best], correlation) - _metric(r.auto, correlation))
                               for r in reps])
        auto = np.mean([_metric(r.auto, correlation) for r in reps])
        row = (f"| {name} | {reps[0].n:,} | {len(reps)} | " + " | ".join(cells) + f" | **{auto:.3f}** | "
               f"{_picks(r.picked for r in reps)} | {best} | {regret:+.3f} ({se:.3f}) |")
        if correlation:
            row += " yes |" if regret <= WITHIN else " **no** |"
        print(row)
        regrets.append({"dataset": name, "regret": regret, "auto": auto, "best": best})
    return regrets


def _correlation_or_zero(fit: Accuracy) -> float:
    """A CATE that does not vary ranks no one: correlation 0 for the regret of a rule."""
    return fit.correlation if fit.correlation is not None else 0.0


def rules_table(groups: dict[str, list[Replication]]) -> None:
    """Every selection rule on the same fits: mean correlation (RMSE where the true effect is
    constant) per data set, then each rule's regret against the best single candidate."""
    rules = list(next(iter(groups.values()))[0].rules)
    print("\n### Selection rules on the same fits (mean correlation; RMSE where the true effect is constant)\n")
    print("| data set | auto | " + " | ".join(rules) + " | best single on average |")
    print("|---|---:|" + "---:|" * (len(rules) + 1))
    regrets: dict[str, list[float]] = {rule: [] for rule in ["auto", *rules]}
    for name, reps in groups.items():
        correlation = _heterogeneous(reps)
        best = _best_single(reps, correlation)
        value = _correlation_or_zero if correlation else (lambda fit: fit.rmse)
        cells = []
        for rule in regrets:
            fits = [r.auto if rule == "auto" else r.rules[rule] for r in reps]
            mean = np.mean([value(fit) for fit in fits])
            cells.append(f"{mean:.3f}")
            if correlation:
                regrets[rule].append(np.mean([value(r.candidates[best]) for r in reps]) - mean)
        best_mean = np.mean([value(r.candidates[best]) for r in reps])
        print(f"| {name} | " + " | ".join(cells) + f" | {best_mean:.3f} ({best}) |")
    print("\n| rule | mean regret in correlation | worst regret | data sets more than 0.02 behind |")
    print("|---|---:|---:|---|")
    for rule, values in regrets.items():
        behind = [name for name, v in zip([n for n, reps in groups.items() if _heterogeneous(reps)], values)
                  if v > WITHIN]
        print(f"| {rule} | {np.mean(values):+.3f} | {max(values):+.3f} | {len(behind)}: {', '.join(behind) or '-'} |")


def rules_rmse_table(groups: dict[str, list[Replication]]) -> None:
    """Every selection rule's mean RMSE against the truth per data set, and its mean ratio to the
    lowest single candidate's (the candidate with the lowest mean RMSE on that data set)."""
    rules = ["auto", *next(iter(groups.values()))[0].rules]
    print("\n### Selection rules on the same fits: mean RMSE against the true effect (lower is better)\n")
    print("| data set | " + " | ".join(rules) + " | best single on average |")
    print("|---|" + "---:|" * (len(rules) + 1))
    ratios: dict[str, list[float]] = {rule: [] for rule in rules}
    for name, reps in groups.items():
        best = min(reps[0].candidates, key=lambda c: np.mean([r.candidates[c].rmse for r in reps]))
        best_mean = np.mean([r.candidates[best].rmse for r in reps])
        cells = []
        for rule in rules:
            mean = np.mean([(r.auto if rule == "auto" else r.rules[rule]).rmse for r in reps])
            ratios[rule].append(mean / best_mean)
            cells.append(f"{mean:.3f}")
        print(f"| {name} | " + " | ".join(cells) + f" | {best_mean:.3f} ({best}) |")
    print("\n| rule | mean RMSE / best single's | worst | data sets above 1.25 |")
    print("|---|---:|---:|---|")
    names = list(groups)
    for rule, values in ratios.items():
        above = [n for n, v in zip(names, values) if v > 1.25]
        print(f"| {rule} | {np.mean(values):.3f} | {max(values):.3f} | {len(above)}: {', '.join(above) or '-'} |")


def stability_table(reps: list[Replication]) -> None:
    """Per seed: auto's pick and its true MSE against the best single candidate's; then every rule's
    count of bad picks and mean correlation."""
    bad = [r for r in reps if r.mse_ratio() > MSE_RATIO_LIMIT]
    print(f"\n### Selection stability: {STABILITY_SET}, {len(reps)} seeds\n")
    print("| seed | auto picked | stack weights | best single (true MSE) | auto's true MSE / best's | "
          "auto corr. | best single corr. |")
    print("|---:|---|---|---|---:|---:|---:|")
    for r in sorted(reps, key=lambda r: r.seed):
        weights = ", ".join(f"{k} {w:.2f}" for k, w in sorted(r.weights.items(), key=lambda kv: -kv[1]) if w >= 0.005)
        best = r.best()
        print(f"| {r.seed} | {r.picked} | {weights} | {best} ({r.candidates[best].mse:.2e}) | {r.mse_ratio():.2f} | "
              f"{r.auto.correlation:.3f} | {r.candidates[best].correlation:.3f} |")
    print(f"\nPicks with a true MSE more than {MSE_RATIO_LIMIT:g} times the best candidate's: {len(bad)} of "
          f"{len(reps)} (target: at most 1 in 20). Mean auto correlation {np.mean([r.auto.correlation for r in reps]):.3f} "
          f"(target {LARGE_BLEEDING_TARGET}).")
    print("\n| rule | picks with a true MSE more than twice the best's | mean correlation | lowest |")
    print("|---|---:|---:|---:|")
    for rule in reps[0].rules:
        fits = [r.rules[rule] for r in reps]
        worse = sum(r.mse_ratio(fit) > MSE_RATIO_LIMIT for r, fit in zip(reps, fits))
        correlations = [_correlation_or_zero(fit) for fit in fits]
        print(f"| {rule} | {worse} of {len(reps)} | {np.mean(correlations):.3f} | {min(correlations):.3f} |")


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


def load(paths: str) -> list[Replication]:
    """The replications saved in one or more files (comma-separated), e.g. runs over different seeds."""
    rows = []
    for path in paths.split(","):
        with open(path, encoding="utf-8") as source:
            rows += json.load(source)
    out = []
    for row in rows:
        row["candidates"] = {k: Accuracy(**v) for k, v in row["candidates"].items()}
        row["auto"] = Accuracy(**row["auto"])
        row["rules"] = {k: Accuracy(**v) for k, v in row["rules"].items()}
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
        count = args.stability_seeds if name == STABILITY_SET else args.acic_reps if name.startswith("acic") else args.reps
        seeds = range(args.first_seed, args.first_seed + count)
        jobs += [(name, seed) for seed in seeds]
    order = {STABILITY_SET: 0, "financial_literacy": 2}  # the longest first, so the processes finish together
    jobs.sort(key=lambda job: order.get(job[0], 1 if job[0].startswith("acic") else 3))
    replications = []
    with ProcessPoolExecutor(args.jobs, initializer=threadpool_limits, initargs=(1,)) as pool:
        futures = {pool.submit(run_one, name, seed, options, args.folds, args.fits_dir): (name, seed) for name, seed in jobs}
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
    regrets = accuracy_table(groups, "correlation")
    accuracy_table(groups, "rmse")
    rules_table(groups)
    rules_rmse_table(groups)
    if STABILITY_SET in groups:
        stability_table(groups[STABILITY_SET])
    summary(regrets)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", default="", help="comma-separated names (default: all)")
    parser.add_argument("--reps", type=int, default=5, help="replications per simulated data set")
    parser.add_argument("--first-seed", type=int, default=1, help="replications use seeds first, first + 1, ...")
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
    parser.add_argument("--fits-dir", default="", help="keep every replication's candidate fits there (.npz)")
    parser.add_argument("--load", default="", help="print the tables of saved runs (comma-separated files) instead")
    args = parser.parse_args()
    args.acic = [int(k) for k in args.acic.split(",") if k]
    start = time.perf_counter()
    replications = load(args.load) if args.load else run(args)
    print(f"## bench/selection.py: {len(replications)} replications, {(time.perf_counter() - start) / 60:.1f} minutes")
    report(replications)
