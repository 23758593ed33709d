"""Scale benchmark: the whole `targeting report` command stage by stage, and the plain EconML pipeline.

Every case runs in its own process (the command a user runs); peak memory is that process's own
maximum resident set. Prints two Markdown tables:

1. stage times (read, validate, nuisances, CATE, policy, evaluation, subgroups, diagnostics, PDF,
   Excel, ...) and peak memory for each input size, with the issue's targets;
2. the same data through the plain EconML pipeline (CausalForestDML + DRPolicyTree with defaults,
   `plain_econml.py`) against `targeting`, in the same run, as ratios of times and with each
   one's CATE correlation with the true effect.

Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--xlsx-at 100000] [--wide-at 100000]
                             [--plain-sizes 10000,20000,100000]
The defaults are the full issue-8 set (about 35 minutes on 2 cores); pass smaller lists to try it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from cate import wide_trial  # noqa: E402  (the same 20-covariate data as bench/cate.py)

FLAGS = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--id", "subject_id",
         "--direction", "lower-is-better", "--propensity", "0.5", "--true-effect", "true_effect", "--budget", "30%"]
PROGRESS = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")
# Progress line prefix -> column of the stage table (each line ends the stage it names).
STAGES = (
    ("read ", "read"), ("validated", "validate"), ("fitted cross-fitted", "nuisances"),
    ("estimated individual effects", "CATE"), ("learned the budgeted", "policy"),
    ("evaluated policies", "evaluation"), ("assessed", "subgroups"), ("built the report model", "diagnostics"),
    ("loaded the PDF and Excel renderers", "start-up"), ("wrote report.json", "JSON + CSV"),
    ("wrote the Excel pack", "Excel"), ("rendered the PDF", "PDF"),
)
COLUMNS = [column for _, column in STAGES if column != "start-up"] + ["start-up"]
# (rows, covariates, input) -> seconds allowed by issue 8
TARGETS = {(100_000, 20, ".xlsx"): 90, (100_000, 20, ".csv"): 60, (1_000_000, 20, ".csv"): 600}
MEMORY_LIMIT_GB = 8.0


@dataclass
class Measured:
    """One process: wall time, peak memory, and what it printed."""

    seconds: float
    peak_gb: float
    stderr: str
    stdout: str
    stages: dict[str, float] = field(default_factory=dict)


def measure(command: list[str]) -> Measured:
    """Run a command in its own process; wall time and that process's own peak resident memory."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        measured = Measured(seconds, usage.ru_maxrss / 1024 ** 2, err.read(), out.read())
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed:\n{measured.stderr}")
    return measured


def run_report(path: Path, outdir: Path) -> Measured:
    """The `targeting report` command on one input, with its stage times parsed from the progress lines."""
    measured = measure([sys.executable, "-m", "targeting.cli", "report", str(path), *FLAGS, "-o", str(outdir)])
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
    # Interpreter and imports before the clock starts, loading the renderers, final renames.
    measured.stages["start-up"] = measured.stages.get("start-up", 0.0) + measured.seconds - last
    report = json.loads((outdir / "report.json").read_text())
    measured.stages["correlation"] = report["diagnostics"]["truth"]["correlation"]
    return measured


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


def stage_table(cases: list[tuple[int, int, str]], folder: Path) -> dict[int, Measured]:
    """Print the stage table; return the 20-covariate CSV runs by size (reused by the comparison)."""
    head = ["rows", "covariates", "input", *COLUMNS, "total (s)", "target (s)", "peak memory (GB)", "auto picked"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" if h not in ("input", "auto picked") else "---" for h in head) + "|")
    by_size = {}
    for n, width, suffix in cases:
        path = write_input(n, width, suffix, folder)
        run = run_report(path, folder / f"out_{n}_{width}_{suffix[1:]}")
        path.unlink()
        if width == 20 and suffix == ".csv":
            by_size[n] = run
        target = TARGETS.get((n, width, suffix))
        verdict = "" if target is None else f"{target} ({'met' if run.seconds <= target else 'MISSED'})"
        cells = [f"{n:,}", str(width), suffix, *(f"{run.stages.get(c, 0.0):.1f}" for c in COLUMNS),
                 f"**{run.seconds:.1f}**", verdict,
                 f"{run.peak_gb:.2f}" + ("" if run.peak_gb <= MEMORY_LIMIT_GB else " (over 8)"),
                 str(run.stages.get("estimator", ""))]
        print("| " + " | ".join(cells) + " |", flush=True)
    return by_size


def comparison_table(sizes: list[int], ours: dict[int, Measured], folder: Path) -> None:
    """Plain EconML pipeline against targeting on the same data, in the same run."""
    print()
    print("| rows | plain EconML: CATE + policy (s) | targeting: read to policy tree (s) | ratio | "
          "targeting: whole report (s) | ratio | corr. with truth, plain (in-sample) | "
          "corr. with truth, targeting (out-of-fold) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        if n not in ours:
            path = write_input(n, 20, ".csv", folder)
            ours[n] = run_report(path, folder / f"out_{n}_cmp")
        mine = ours[n]
        plain_run = measure([sys.executable, str(Path(__file__).parent / "plain_econml.py"), "--sizes", str(n),
                             "--json"])
        plain = json.loads(plain_run.stdout.strip().splitlines()[-1])
        to_policy = sum(mine.stages.get(c, 0.0) for c in ("read", "validate", "nuisances", "CATE", "policy"))
        print(f"| {n:,} | {plain['total_seconds']:.1f} | {to_policy:.1f} | {plain['total_seconds'] / to_policy:.1f}x | "
              f"{mine.seconds:.1f} | {plain['total_seconds'] / mine.seconds:.1f}x | {plain['correlation']:.3f} | "
              f"{mine.stages['correlation']:.3f} |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000", help="CSV inputs with 20 covariates")
    parser.add_argument("--xlsx-at", type=int, default=100_000, help="also run this size from .xlsx (0: skip)")
    parser.add_argument("--wide-at", type=int, default=100_000, help="also run this size with 200 covariates (0: skip)")
    parser.add_argument("--plain-sizes", default="10000,20000,100000",
                        help="sizes for the plain EconML comparison (empty: skip)")
    args = parser.parse_args()
    cases = [(int(s), 20, ".csv") for s in args.sizes.split(",") if s]
    if args.xlsx_at:
        cases.append((args.xlsx_at, 20, ".xlsx"))
    if args.wide_at:
        cases.append((args.wide_at, 200, ".csv"))
    with tempfile.TemporaryDirectory() as tmp:
        runs = stage_table(cases, Path(tmp))
        plain_sizes = [int(s) for s in args.plain_sizes.split(",") if s]
        if plain_sizes:
            comparison_table(plain_sizes, runs, Path(tmp))
