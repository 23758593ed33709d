"""Helpers for tests that run the command as a separate process and stop it mid-run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def start_report(source: Path, outdir: Path, *args: str, capture: bool = False) -> subprocess.Popen:
    """``targeting report SOURCE ARGS -o OUTDIR`` in a new process (one OpenMP thread)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "targeting.cli", "report", str(source), *args, "-o", str(outdir)],
                            stdout=output, stderr=output, text=True, env=env)


def wait_until_writing(process: subprocess.Popen, outdir: Path, timeout: float = 600) -> None:
    """Return as soon as a temporary output file appears in ``outdir``; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if outdir.exists() and any(p.name.endswith(".part") for p in outdir.iterdir()):
            break
        time.sleep(0.005)
    assert process.poll() is None, "the run ended before writing could be interrupted"
