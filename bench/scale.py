"""Scale benchmark: the whole `targeting report` command at growing sizes, stage by stage.

Each size runs as its own process (the command a user runs), so peak memory is that process's own.
Usage: python bench/scale.py [--sizes 10000,100000,1000000] [--xlsx-at 100000] [--wide]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from cate import wide_trial  # noqa: E402  (the same 20-covariate data as bench/cate.py)

FLAGS = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--id", "subject_id",
         "--direction", "lower-is-better", "--propensity", "0.5", "--true-effect", "true_effect", "--budget", "30%"]
STAGE = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")


def extra_columns(frame, count: int, seed: int = 5):
    """Add pure-noise covariates (for the wide case)."""
    rng = np.random.default_rng(seed)
    for k in range(count):
        frame[f"extra_{k + 1}"] = np.round(rng.normal(size=len(frame)), 3)
    return frame


def run_one(path: Path, outdir: Path) -> tuple[list[tuple[str, float]], float, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "targeting.cli", "report", str(path), *FLAGS, "-o", str(outdir)],
                          capture_output=True, text=True)
    total = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    stages, last = [], 0.0
    for line in done.stderr.splitlines():
        match = STAGE.match(line)
        if match:
            seconds = float(match.group(1))
            stages.append((match.group(2), seconds - last))
            last = seconds
    stages.append(("start-up, read, and writing PDF + workbook + JSON + CSV", total - last))
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    return stages, total, peak_gb


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--xlsx-at", type=int, default=0, help="also run this size from an .xlsx input")
    parser.add_argument("--wide", action="store_true", help="also run 100,000 x 200 covariates")
    args = parser.parse_args()
    cases = [(int(s), 20, ".csv") for s in args.sizes.split(",")]
    if args.xlsx_at:
        cases.append((args.xlsx_at, 20, ".xlsx"))
    if args.wide:
        cases.append((100_000, 200, ".csv"))
    print("| rows | covariates | input | total (s) | peak memory so far (GB) | slowest stages (s) |")
    print("|---:|---:|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n, width, suffix in cases:
            frame = wide_trial(n)
            if width > 20:
                frame = extra_columns(frame, width - 20)
            path = Path(tmp) / f"input_{n}_{width}{suffix}"
            if suffix == ".csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_excel(path, index=False, sheet_name="data")
            stages, total, peak = run_one(path, Path(tmp) / f"out_{n}_{width}{suffix[1:]}")
            slowest = sorted(stages, key=lambda s: -s[1])[:3]
            summary = "; ".join(f"{name}: {sec:.0f}" for name, sec in slowest)
            print(f"| {n:,} | {width} | {suffix} | {total:.0f} | {peak:.2f} | {summary} |", flush=True)
