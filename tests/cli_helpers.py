"""Helpers shared by the command-line test modules."""

from __future__ import annotations

import contextlib
import io

from threadpoolctl import threadpool_limits

from targeting.cli import main
from targeting.errors import EXIT_USAGE


def run_cli(argv: list[str], *, threads: int | None = None) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr); argparse's SystemExit becomes a code.

    ``threads`` caps the native thread pools (OpenMP, BLAS) for full report runs: on a busy
    machine, oversubscribed OpenMP spin-waiting can make a 10-second run take minutes.
    """
    out, err = io.StringIO(), io.StringIO()
    limit = threadpool_limits(threads) if threads else contextlib.nullcontext()
    with limit, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return code, out.getvalue(), err.getvalue()
