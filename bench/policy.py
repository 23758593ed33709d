"""Policy-search benchmark (issues 16, 17): the stages that run tree searches, timed alone.

The policy, evaluation and subgroup stages of the pipeline (the drawn rule and its fold trees, the
values and the budget curve, the subgroup families, the harm search and the safer rule) are run
exactly as `targeting.pipeline` runs them, on nuisances fitted once per data set (not timed), so
the figures are the search's own. Times are CPU seconds of the process (the searches run on one
thread), steadier than wall-clock on a shared machine. Prints Markdown tables:

1. depth 3 against depth 2, as a ratio of the three stages' time, at 2,000 rows x 15 and x 60
   covariates (issue 16's target: at most 3x);
2. with ``--baseline REV``: the same stages at depth 2 on wide data (3,000 and 100,000 rows x 200
   covariates by default) for the code of git revision REV against the working tree, each in its
   own process on the same nuisances (fitted once, by the working tree), in the same run; and
   whether the two found the same rule, fold roots, budget curve, subgroups and safer rule.

Usage: python bench/policy.py [--baseline main] [--wide 3000,100000] [--repeat 3] [--wide-repeat 1]
                              [--depth-widths 15,60]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

# Same data and flags as bench/scale.py: the bleeding trial plus pure-noise covariates.
SETTINGS = {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment", "id": "subject_id",
            "direction": "lower-is-better", "propensity": 0.5, "true_effect": "true_effect", "budget": "30%"}
ROOT = Path(__file__).resolve().parent.parent


def trial(n: int, width: int, seed: int = 0) -> pd.DataFrame:
    """The bleeding trial (10 covariates) plus ``width - 10`` pure-noise covariates."""
    from targeting.sim.simulate import bleeding_trial

    frame = bleeding_trial(n, seed=seed)
    rng = np.random.default_rng(seed + 1)
    noise = pd.DataFrame(np.round(rng.normal(size=(n, width - 10)), 3), index=frame.index,
                         columns=[f"noise_{k + 1}" for k in range(width - 10)])
    return pd.concat([frame, noise], axis=1)


def prepared_case(n: int, width: int):
    """Validated data, nuisances and the settings of a run (what the search stages receive)."""
    from targeting.config import merge_sources
    from targeting.data.prepare import prepare
    from targeting.estimate.nuisance import fit_nuisances, make_folds
    from targeting.policy.stage import honest_split

    config = merge_sources(("bench", SETTINGS))
    prepared = prepare(trial(n, width), config)
    nuis = fit_nuisances(prepared, folds=make_folds(prepared, config.folds, config.seed), seed=config.seed)
    learn = honest_split(prepared.t, seed=config.seed)
    return config, prepared, nuis, learn


def search_stages(config, prepared, nuis, learn, depth: int) -> tuple[dict[str, float], dict]:
    """The pipeline's policy, evaluation and subgroup stages at ``depth``: seconds per stage and
    what they found (the rule's leaves, the curve, the subgroups), for comparing revisions."""
    from targeting.evaluate.families import assess_families, harmed_members, subgroup_families
    from targeting.evaluate.rules import leaf_groups, leaf_rules, safer_rule
    from targeting.evaluate.values import budget_curve, evaluate_policies, ranking_policy
    from targeting.policy.stage import learn_policy, policy_settings

    config = replace(config, depth=depth)
    benefit = prepared.sign * nuis.gamma
    cate_benefit = prepared.sign * (nuis.mu1 - nuis.mu0)  # a stand-in CATE: only the ranking reads it
    settings = policy_settings(config, prepared)
    times = {}
    start = time.process_time()
    fit = learn_policy(prepared, benefit, nuis.folds, settings, learn=learn)
    times["policy"] = time.process_time() - start
    start = time.process_time()
    ranking = ranking_policy(prepared, cate_benefit, nuis.folds, settings.budget_units)
    evaluate_policies(prepared, nuis, fit.treat, ranking, rows=fit.estimate)
    curve = budget_curve(prepared, nuis, benefit, cate_benefit, replace(settings, depth=min(depth, 2)), learn=learn)
    times["evaluation"] = time.process_time() - start
    start = time.process_time()
    rules = leaf_rules(fit.leaves, fit.path, fit.estimate, prepared, nuis)
    families = subgroup_families(prepared, nuis, benefit, settings, leaf_groups=leaf_groups(rules, fit),
                                 prespecified=[], learn=learn)
    subgroups = assess_families(families, nuis, sign=prepared.sign, harm_threshold=config.harm_threshold)
    harmed = harmed_members(families, subgroups, prepared.n)
    safer = safer_rule(fit, prepared, nuis, benefit, harmed)
    times["subgroups"] = time.process_time() - start
    found = {"rule": [leaf["rule"] + (" (treat)" if leaf["treat"] else "") for leaf in fit.leaves],
             "roots": list(fit.fold_root_features), "curve": [round(p.tree_gain, 12) for p in curve],
             "subgroups": [(s.name, round(s.effect, 12)) for s in subgroups],
             "safer": None if safer is None else safer.headline_rule}
    return times, found


def median_times(case, depths, repeat: int) -> dict[int, tuple[dict[str, float], dict]]:
    """Per depth, the median seconds per stage over ``repeat`` runs (depths alternate, so a change
    in the machine's load falls on both) and what the first run found."""
    runs = {depth: [] for depth in depths}
    for _ in range(repeat):
        for depth in depths:
            runs[depth].append(search_stages(*case, depth))
    return {depth: ({stage: float(np.median([t[stage] for t, _ in found])) for stage in found[0][0]}, found[0][1])
            for depth, found in runs.items()}


def depth_table(widths, n: int, repeat: int) -> None:
    print(f"\n## Depth 3 against depth 2: policy + evaluation + subgroup stages, {n:,} rows "
          f"(CPU seconds, median of {repeat})\n")
    print("| covariates | depth 2 (s) | depth 3 (s) | depth 3 policy stage (s) | ratio (target <= 3) |")
    print("|---:|---:|---:|---:|---:|")
    for width in widths:
        by_depth = median_times(prepared_case(n, width), (2, 3), repeat)
        two, three = by_depth[2][0], by_depth[3][0]
        total2, total3 = sum(two.values()), sum(three.values())
        print(f"| {width} | {total2:.2f} | {total3:.2f} | {three['policy']:.2f} | {total3 / total2:.2f} |", flush=True)


def worker(case_file: str, repeat: int) -> None:
    """The wide case at depth 2 in this process (the code on sys.path): JSON on stdout."""
    with open(case_file, "rb") as handle:
        case = pickle.load(handle)
    times, found = median_times(case, (2,), repeat)[2]
    print(json.dumps({"times": times, "found": found}))


def run_worker(code_dir: Path, case_file: Path, repeat: int) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", f"{case_file},{repeat}"]
    env = {**os.environ, "PYTHONPATH": str(code_dir), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"worker failed for {code_dir}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def wide_table(baseline: str, sizes, width: int, repeat: int) -> None:
    print(f"\n## Wide data at depth 2: {baseline} against this working tree (CPU seconds, median of {repeat})\n")
    print("| rows | covariates | stage | before | after | after / before |")
    print("|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline, "targeting"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        notes = []
        for n in sizes:
            case_file = Path(tmp) / f"case_{n}.pkl"
            with open(case_file, "wb") as handle:
                pickle.dump(prepared_case(n, width), handle)
            before = run_worker(Path(tmp), case_file, repeat)
            after = run_worker(ROOT, case_file, repeat)
            for stage in (*before["times"], "total"):
                b = sum(before["times"].values()) if stage == "total" else before["times"][stage]
                a = sum(after["times"].values()) if stage == "total" else after["times"][stage]
                print(f"| {n:,} | {width} | {stage} | {b:.1f} | {a:.1f} | {a / b:.2f} |", flush=True)
            same = {key: before["found"][key] == after["found"][key] for key in before["found"]}
            notes.append(f"Same results at {n:,} rows: "
                         + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in same.items()))
        print("\n" + "\n".join(notes))


if __name__ == "__main__":
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")  # as the pipeline does
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", help="git revision to compare the wide case against (e.g. main)")
    parser.add_argument("--wide", default="3000,100000", help="row counts of the 200-covariate case")
    parser.add_argument("--repeat", type=int, default=3, help="runs per depth case (median)")
    parser.add_argument("--wide-repeat", type=int, default=1, help="runs per wide case (median)")
    parser.add_argument("--depth-widths", default="15,60", help="covariate counts of the depth table ('' skips it)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        case_file, repeat = args.worker.split(",")
        worker(case_file, int(repeat))
        sys.exit(0)
    if args.depth_widths:
        depth_table([int(w) for w in args.depth_widths.split(",")], 2000, args.repeat)
    if args.baseline:
        wide_table(args.baseline, [int(v) for v in args.wide.split(",")], 200, args.wide_repeat)
