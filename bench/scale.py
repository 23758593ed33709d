"""Scale benchmark: the whole `targeting report` command stage by stage, and the plain EconML pipeline.

Every case runs in its own process (the command a user runs); peak memory is the most the process
and its workers (model-fitting processes, the spare process rendering the brief) held together,
counted as proportional set size (shared pages split between the processes that map them), sampled
every 0.2 s. Prints two Markdown tables:

1. stage times (read, start-up of the models, validate, nuisances, CATE, policy, evaluation,
   subgroups, diagnostics, renderers, JSON + CSV, Excel, PDF) and peak memory for each input, with
   the issue's targets; cases up to `REPEAT_CELLS` rows x covariates are run `--repeats` times
   and the median run (by total time) is shown;
2. the same data through the plain EconML pipeline (CausalForestDML + DRPolicyTree with defaults,
   `plain_econml.py`) against `targeting`, in the same run, as ratios of times and with each
   one's CATE correlation with the true effect (medians of `--repeats` runs where cheap).

Usage: python bench/scale.py [--sizes 2000,20000,100000,1000000] [--xlsx-at 100000]
                             [--wide 3000,100000] [--plain-sizes 2000,20000] [--repeats 3] [--workers N]
The defaults are the full issue-17 set (about 20 minutes on 2 cores); pass smaller lists to try it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from cate import wide_trial  # noqa: E402  (the same 20-covariate data as bench/cate.py)

from targeting.parallel import available_cores  # noqa: E402
from targeting.progress import STAGES as PROGRESS_STAGES  # noqa: E402

FLAGS = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--id", "subject_id",
         "--direction", "lower-is-better", "--propensity", "0.5", "--true-effect", "true_effect", "--budget", "30%"]
PROGRESS = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")
# Column of the stage table for each stage of `targeting.progress.STAGES` (each line ends the stage it names).
COLUMN_OF_STAGE = {"reading the input": "read", "loading the models": "start-up", "validating the data": "validate",
                   "fitting the outcome and propensity models": "nuisances", "estimating individual effects": "CATE",
                   "learning the policy tree": "policy", "evaluating the rule on the other people": "evaluation",
                   "assessing subgroups for harm": "subgroups",
                   "checking the estimates, building the report": "diagnostics",
                   "loading the renderers": "renderers", "writing report.json and individuals.csv": "JSON + CSV",
                   "writing the Excel pack": "Excel", "rendering the brief": "PDF"}
STAGES = tuple((prefix, COLUMN_OF_STAGE[words]) for words, prefix in PROGRESS_STAGES if prefix)
COLUMNS = [column for _, column in STAGES] + ["other"]
# (rows, covariates, input) -> seconds allowed by issue 17
TARGETS = {(2_000, 20, ".csv"): 8, (3_000, 200, ".csv"): 30, (100_000, 20, ".xlsx"): 30, (100_000, 20, ".csv"): 30,
           (1_000_000, 20, ".csv"): 120, (100_000, 200, ".csv"): 90}
MEMORY_LIMIT_GB = 6.0
REPEAT_CELLS = 400_000  # cases up to this many rows x covariates (20,000 x 20) are cheap enough to repeat


@dataclass
class Measured:
    """One process: wall time, peak memory, and what it printed."""

    seconds: float
    peak_gb: float
    stderr: str
    stdout: str
    stages: dict[str, float] = field(default_factory=dict)


def _tree(pid: int) -> list[int]:
    """The process and its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except OSError:
            continue
    return found


def _pss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(command: list[str]) -> Measured:
    """Run a command in its own process; wall time and the peak memory of its process tree."""
    peak = [0]
    done = threading.Event()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)

        def sample():
            while not done.wait(0.2):
                peak[0] = max(peak[0], sum(_pss_bytes(pid) for pid in _tree(process.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        # The main process's own maximum resident set is a floor (the sampler may miss a short peak).
        peak_bytes = max(peak[0], usage.ru_maxrss * 1024)
        measured = Measured(seconds, peak_bytes / 1024 ** 3, err.read(), out.read())
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{measured.stderr}")
    return measured


def run_report(path: Path, outdir: Path, workers: str | None) -> Measured:
    """The `targeting report` command on one input, with its stage times parsed from the progress lines."""
    extra = ["--workers", workers] if workers else []
    measured = measure([sys.executable, "-m", "targeting.cli", "report", str(path), *FLAGS, *extra, "-o", str(outdir)])
    last = 0.0
    for line in measured.stderr.splitlines():
        match = PROGRESS.match(line)
        if not match:
            continue
        seconds, text = float(match.group(1)), match.group(2)
        column = next((c for prefix, c in STAGES if text.startswith(prefix)), None)
        if column is not None:
            measured.stages[column] = measured.stages.get(column, 0.0) + seconds - last
            if column == "CATE":
                measured.stages["estimator"] = text.split("(", 1)[1].split(" (")[0]
        last = seconds
    # The interpreter before the clock starts, and the final renames.
    measured.stages["other"] = measured.seconds - last
    report = json.loads((outdir / "report.json").read_text())
    measured.stages["correlation"] = report["diagnostics"]["truth"]["correlation"]
    return measured


def median_run(runs: list[Measured]) -> Measured:
    """The run with the median total time (its stages and memory are shown as they were)."""
    ordered = sorted(runs, key=lambda run: run.seconds)
    return ordered[(len(ordered) - 1) // 2]


def extra_columns(frame, count: int, seed: int = 5):
    """Add pure-noise covariates (for the wide case)."""
    rng = np.random.default_rng(seed)
    extra = pd.DataFrame(np.round(rng.normal(size=(len(frame), count)), 3), index=frame.index,
                         columns=[f"extra_{k + 1}" for k in range(count)])
    return pd.concat([frame, extra], axis=1)


def write_input(n: int, width: int, suffix: str, folder: Path) -> Path:
    frame = wide_trial(n)
    if width > 20:
        frame = extra_columns(frame, width - 20)
    path = folder / f"input_{n}_{width}{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_excel(path, index=False, sheet_name="data")
    return path


def stage_table(cases: list[tuple[int, int, str]], folder: Path, repeats: int, workers: str | None
                ) -> dict[int, Measured]:
    """Print the stage table; return the 20-covariate CSV runs by size (reused by the comparison)."""
    head = ["rows", "covariates", "input", "runs", *COLUMNS, "total (s)", "target (s)", "peak memory (GB)",
            "auto picked"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" if h not in ("input", "auto picked") else "---" for h in head) + "|")
    by_size = {}
    for n, width, suffix in cases:
        path = write_input(n, width, suffix, folder)
        count = repeats if n * width <= REPEAT_CELLS else 1
        run = median_run([run_report(path, folder / f"out_{n}_{width}_{suffix[1:]}", workers) for _ in range(count)])
        path.unlink()
        if width == 20 and suffix == ".csv":
            by_size[n] = run
        target = TARGETS.get((n, width, suffix))
        verdict = "" if target is None else f"{target} ({'met' if run.seconds <= target else 'MISSED'})"
        cells = [f"{n:,}", str(width), suffix, str(count), *(f"{run.stages.get(c, 0.0):.1f}" for c in COLUMNS),
                 f"**{run.seconds:.1f}**", verdict,
                 f"{run.peak_gb:.2f}" + ("" if run.peak_gb <= MEMORY_LIMIT_GB else f" (over {MEMORY_LIMIT_GB:g})"),
                 str(run.stages.get("estimator", ""))]
        print("| " + " | ".join(cells) + " |", flush=True)
    return by_size


def plain_run(n: int) -> dict:
    """One run of the plain EconML pipeline in its own process (its JSON line)."""
    measured = measure([sys.executable, str(Path(__file__).parent / "plain_econml.py"), "--sizes", str(n), "--json"])
    return json.loads(measured.stdout.strip().splitlines()[-1])


def comparison_table(sizes: list[int], ours: dict[int, Measured], folder: Path, repeats: int,
                     workers: str | None) -> None:
    """Plain EconML pipeline against targeting on the same data, in the same run."""
    print()
    print("| rows | runs | plain EconML: CATE + policy (s) | targeting: read to policy tree (s) | ratio | "
          "targeting: whole report (s) | ratio | corr. with truth, plain (in-sample) | "
          "corr. with truth, targeting (out-of-fold) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        count = repeats if n * 20 <= REPEAT_CELLS else 1
        if n not in ours:
            path = write_input(n, 20, ".csv", folder)
            ours[n] = median_run([run_report(path, folder / f"out_{n}_cmp", workers) for _ in range(count)])
        mine = ours[n]
        plains = sorted((plain_run(n) for _ in range(count)), key=lambda run: run["total_seconds"])
        plain = plains[(len(plains) - 1) // 2]
        to_policy = sum(mine.stages.get(c, 0.0) for c in ("read", "start-up", "validate", "nuisances", "CATE",
                                                           "policy"))
        print(f"| {n:,} | {count} | {plain['total_seconds']:.1f} | {to_policy:.1f} | "
              f"{plain['total_seconds'] / to_policy:.1f}x | {mine.seconds:.1f} | "
              f"{plain['total_seconds'] / mine.seconds:.1f}x | {plain['correlation']:.3f} | "
              f"{mine.stages['correlation']:.3f} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="2000,20000,100000,1000000", help="CSV inputs with 20 covariates")
    parser.add_argument("--xlsx-at", type=int, default=100_000, help="also run this size from .xlsx (0: skip)")
    parser.add_argument("--wide", default="3000,100000", help="sizes to run with 200 covariates (empty: skip)")
    parser.add_argument("--plain-sizes", default="2000,20000",
                        help="sizes for the plain EconML comparison (empty: skip)")
    parser.add_argument("--repeats", type=int, default=3,
                        help=f"runs of each case up to {REPEAT_CELLS:,} rows x covariates")
    # Explicit, not the command's default: that falls to 1 on a saturated machine, and the load the
    # benchmark's own previous case leaves behind must not change the next case's processes.
    parser.add_argument("--workers", default=str(available_cores()),
                        help="passed to targeting report --workers (default: the available cores)")
    args = parser.parse_args()
    cases = [(int(s), 20, ".csv") for s in args.sizes.split(",") if s]
    if args.xlsx_at:
        cases.append((args.xlsx_at, 20, ".xlsx"))
    cases += [(int(s), 200, ".csv") for s in args.wide.split(",") if s]
    with tempfile.TemporaryDirectory() as tmp:
        runs = stage_table(cases, Path(tmp), args.repeats, args.workers)
        plain_sizes = [int(s) for s in args.plain_sizes.split(",") if s]
        if plain_sizes:
            comparison_table(plain_sizes, runs, Path(tmp), args.repeats, args.workers)
