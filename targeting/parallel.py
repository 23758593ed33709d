"""Independent model fits on several cores, with results identical to running them one by one.

Tasks run in joblib's loky worker processes (not threads: most of a boosting fit holds the GIL).
Arrays above a megabyte reach the workers as read-only memory maps of one shared file instead of
one pickled copy per task, which keeps a million-row run's memory bounded. Every worker fits on one
OpenMP/BLAS thread, so that two processes on two cores never oversubscribe them (and a busy shared
machine is not slowed further by spinning threads). Results come back in task order; since each
task is a pure function of its arguments and its own seed, the report does not depend on the
number of workers.

Starting the workers costs about a second of one core (each imports scikit-learn) on top of
dispatching: jobs smaller than `MIN_PARALLEL_SECONDS` of estimated serial work run in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

# More workers than this rarely pays for their memory (each holds its own copy of a fold's rows).
MAX_DEFAULT_WORKERS = 4
# Below this much estimated serial work (seconds on one core) a job runs serially: bench/scale.py
# measured the cold start of two workers at 1.5-2 s of wall time on this project's 2-core machine.
MIN_PARALLEL_SECONDS = 4.0


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not every platform has sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """The number of worker processes when none is set: the available cores, at most `MAX_DEFAULT_WORKERS`."""
    return min(available_cores(), MAX_DEFAULT_WORKERS)


def worth_parallel(workers: int, tasks: int, serial_seconds: float) -> bool:
    """Whether ``tasks`` tasks estimated at ``serial_seconds`` in all gain from ``workers`` processes."""
    return workers > 1 and tasks > 1 and serial_seconds >= MIN_PARALLEL_SECONDS


def map_tasks(function: Callable[..., Any], tasks: Sequence[tuple], *, workers: int,
              serial_seconds: float = float("inf")) -> list[Any]:
    """``[function(*task) for task in tasks]``, on ``workers`` processes when that pays.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled by reference); it must depend only on its arguments.
    tasks : sequence of tuple
        The positional arguments of each call.
    workers : int
        Most processes to use; 1 runs everything in this process.
    serial_seconds : float, optional
        Estimated time of all tasks run one by one; below `MIN_PARALLEL_SECONDS` they run serially.

    Returns
    -------
    list
        The results, in the order of ``tasks``.
    """
    if not worth_parallel(workers, len(tasks), serial_seconds):
        return [function(*task) for task in tasks]
    from joblib import Parallel, delayed, parallel_config

    # inner_max_num_threads: loky limits OpenMP and BLAS to one thread before the worker imports them.
    with parallel_config(backend="loky", inner_max_num_threads=1, max_nbytes="1M", mmap_mode="r"):
        return Parallel(n_jobs=min(workers, len(tasks)))(delayed(function)(*task) for task in tasks)


def _quiet_worker(modules: tuple[str, ...], ignored_warnings: tuple[str, ...]) -> None:
    """Start of the spare process: leave Ctrl-C to the parent (which stops it), keep the parent's
    warning filters, and import what its call will need while the parent computes."""
    import importlib
    import signal
    import warnings

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for message in ignored_warnings:
        warnings.filterwarnings("ignore", message=message)
    for module in modules:
        importlib.import_module(module)


class SpareProcess:
    """One process, started now, that imports ``modules`` in the background and later runs calls.

    On two cores the imports cost no wall time while this process computes on the other core; a
    later call (rendering the brief) then overlaps with this process's own work (the workbook).
    ``submit`` returns a `concurrent.futures.Future`; `close` stops the process.

    Parameters
    ----------
    modules : tuple of str
        Modules to import on start.
    ignored_warnings : tuple of str
        Message patterns of warnings to ignore there, as this process does.
    """

    def __init__(self, modules: tuple[str, ...], ignored_warnings: tuple[str, ...] = ()) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn: a fresh interpreter (forking a process that has started OpenMP threads is unsafe).
        self.executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_quiet_worker, initargs=(modules, ignored_warnings))
        self.warm = self.executor.submit(int)  # starts the process now, not at the first real call

    def submit(self, function: Callable[..., Any], *args: Any):
        """Run ``function(*args)`` there; returns its future."""
        return self.executor.submit(function, *args)

    def close(self) -> None:
        """Stop the process; a call still running (after an interruption) is abandoned, not awaited."""
        processes = list(getattr(self.executor, "_processes", {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # it ignores Ctrl-C, and the interpreter's exit would wait for it
            if process.is_alive():
                process.terminate()
