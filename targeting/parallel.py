"""Independent model fits on several cores, with results identical to running them one by one.

Tasks run in joblib's loky worker processes (not threads: most of a boosting fit holds the GIL).
Arrays above a megabyte reach the workers as read-only memory maps of one shared file instead of
one pickled copy per task, which keeps a million-row run's memory bounded. Every worker fits on one
OpenMP/BLAS thread, so that two processes on two cores never oversubscribe them (and a busy shared
machine is not slowed further by spinning threads). Results come back in task order; since each
task is a pure function of its arguments and its own seed, the report does not depend on the
number of workers. Warnings raised in a worker are raised again here, in task order.

Starting the workers costs about a second of one core (each imports scikit-learn) on top of
dispatching: jobs smaller than `MIN_PARALLEL_SECONDS` of estimated serial work do not start them.
They run in this process, shared with the `SpareProcess` the command started at its beginning
when there is one (once it has imported the learners). With two processes in all, every job
is shared that way: this process computes too, and nothing new has to start.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

# More workers than this rarely pays for their memory (each holds its own copy of a fold's rows).
MAX_DEFAULT_WORKERS = 4
# Below this much estimated serial work (seconds on one core) no new workers are started: the cold
# start of two loky workers took 1.5-2 s of wall time on this project's 2-core machine (bench/RESULTS.md).
MIN_PARALLEL_SECONDS = 4.0
# Jobs from this much estimated serial work on are shared with the spare process. With the spare
# started as soon as the input is read and loading only the learners first, it is warm by the
# first fits: sharing the 2,000-row benchmark's nuisances (2.2 s estimated) took 1.0 s to 0.6 s
# (bench/RESULTS.md, session 5); at 500 rows it made no difference. Below a second of work the
# round trips to the spare would be most of it.
MIN_SHARED_SECONDS = 1.0
# Arrays at least this large reach the spare process as memory maps rather than pickled copies.
MAPPED_BYTES = 1_000_000
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not every platform has sched_getaffinity (macOS)
        return max(1, os.cpu_count() or 1)


def idle_cores() -> int:
    """The available cores, or 1 when other programs already keep them (nearly) all busy: a
    one-minute load average of at least the number of cores less a half.

    On a busy machine a second process of ours slows this one down: its start-up competes for the
    same core (bench/RESULTS.md). Only (near) saturation counts: a run of ours just finished
    leaves a load of about one behind it for a minute, which must not halve the next run's processes.
    """
    cores = available_cores()
    try:
        saturated = os.getloadavg()[0] >= cores - 0.5
    except OSError:  # no load average on this platform
        saturated = False
    return 1 if saturated else cores


def default_workers() -> int:
    """The number of processes when none is set: `idle_cores`, at most `MAX_DEFAULT_WORKERS`."""
    return min(idle_cores(), MAX_DEFAULT_WORKERS)


def worth_parallel(workers: int, tasks: int, serial_seconds: float) -> bool:
    """Whether ``tasks`` tasks estimated at ``serial_seconds`` in all gain from ``workers`` new processes."""
    return workers > 1 and tasks > 1 and serial_seconds >= MIN_PARALLEL_SECONDS


class Workers:
    """Where independent tasks may run: this process, a `SpareProcess` started early, worker processes.

    Parameters
    ----------
    count : int
        Most processes computing at once (this one included); 1 runs everything here.
    spare : SpareProcess, optional
        A process already running: jobs too small for new workers share it with this process.
    """

    def __init__(self, count: int, spare: "SpareProcess | None" = None) -> None:
        self.count = count
        self.spare = spare if count > 1 else None

    def fitting_done(self) -> None:
        """No more fits will come: the spare process may load what its next work needs."""
        if self.spare is not None:
            self.spare.load_later()

    def map(self, function: Callable[..., Any], tasks: Sequence[tuple], *,
            serial_seconds: float = float("inf")) -> list[Any]:
        """``[function(*task) for task in tasks]`` (see `map_tasks`)."""
        # With two processes in all, this one and the spare (started long ago) beat two new workers.
        if self.spare is not None and len(tasks) > 1 and serial_seconds >= MIN_SHARED_SECONDS and (
                self.count == 2 or not worth_parallel(self.count, len(tasks), serial_seconds)):
            return _shared_with_spare(function, tasks, self.spare)
        if worth_parallel(self.count, len(tasks), serial_seconds):
            return _on_new_workers(function, tasks, self.count)
        return [function(*task) for task in tasks]


def map_tasks(function: Callable[..., Any], tasks: Sequence[tuple], *, workers: "int | Workers",
              serial_seconds: float = float("inf")) -> list[Any]:
    """``[function(*task) for task in tasks]``, on several processes when that pays.

    Jobs of at least `MIN_PARALLEL_SECONDS` go to new worker processes; smaller ones of at least
    `MIN_SHARED_SECONDS` are shared between this process and the spare one, when there is one;
    the rest run here.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled by reference); it must depend only on its arguments.
    tasks : sequence of tuple
        The positional arguments of each call.
    workers : int or Workers
        Most processes to use (1: everything here), or where to run.
    serial_seconds : float, optional
        Estimated time of all tasks run one by one.

    Returns
    -------
    list
        The results, in the order of ``tasks``.
    """
    return (workers if isinstance(workers, Workers) else Workers(workers)).map(function, tasks,
                                                                                serial_seconds=serial_seconds)


def _on_new_workers(function: Callable[..., Any], tasks: Sequence[tuple], count: int) -> list[Any]:
    from joblib import Parallel, delayed, parallel_config

    # inner_max_num_threads: loky limits OpenMP and BLAS to one thread before the worker imports them.
    with parallel_config(backend="loky", inner_max_num_threads=1, max_nbytes="1M", mmap_mode="r"):
        done = Parallel(n_jobs=min(count, len(tasks)))(delayed(_recording_warnings)(function, task)
                                                       for task in tasks)
    return _raise_warnings(done)


def _shared_with_spare(function: Callable[..., Any], tasks: Sequence[tuple], spare: "SpareProcess") -> list[Any]:
    """This process takes tasks from the front, the spare one from the back, each as soon as it is
    free (the spare may still be loading its modules); results in task order. Large arrays among
    the tasks' arguments reach the spare as a memory map of one file each."""
    with tempfile.TemporaryDirectory(prefix="targeting-", dir=_shared_folder(tasks)) as folder:
        return _share_tasks(function, tasks, spare, _MappedArguments(Path(folder)))


def _share_tasks(function, tasks, spare, mapped: "_MappedArguments") -> list[Any]:
    lock = threading.Lock()
    queue = collections.deque(range(len(tasks)))
    sent: dict[int, Any] = {}

    def feed(_done=None) -> None:
        with lock:  # taking a task and recording it happen together, so none is lost at the end
            if not queue:
                return
            index = queue.pop()
            try:
                sent[index] = future = spare.submit(_recording_warnings, function, mapped(tasks[index]))
            except BrokenProcessPool:  # the spare is gone: this process does the rest
                queue.append(index)
                return
        future.add_done_callback(feed)

    # The spare joins once it has loaded its modules: a task sent earlier would wait behind them,
    # and this process could end up waiting for it.
    joined = spare.ready()
    if joined:
        feed()
    done: dict[int, tuple[Any, list]] = {}
    while True:
        with lock:
            if not queue:
                break
            index = queue.popleft()
        done[index] = (function(*tasks[index]), [])
        if not joined and spare.ready():
            joined = True
            feed()
    for index, future in list(sent.items()):
        try:
            done[index] = future.result()
        except BrokenProcessPool:  # the spare died (killed, out of memory): compute its share here
            done[index] = (function(*tasks[index]), [])
    return _raise_warnings([done[index] for index in range(len(tasks))])


class MappedArray:
    """A large array written once to a file, opened read-only as a memory map where it is used."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self):
        import numpy as np

        return np.load(self.path, mmap_mode="r")


def _opened(argument):
    """An argument with its `MappedArray` parts (itself, or fields of a dataclass) opened."""
    if isinstance(argument, MappedArray):
        return argument.open()
    if _is_instance_of_dataclass(argument):
        opened = {f.name: getattr(argument, f.name).open() for f in dataclasses.fields(argument)
                  if isinstance(getattr(argument, f.name), MappedArray)}
        return _with_fields(argument, opened) if opened else argument
    return argument


def _is_instance_of_dataclass(value) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


class _MappedArguments:
    """Replaces arrays above `MAPPED_BYTES` in a task, or in the fields of a dataclass argument (such
    as the CATE stage's arrays), by `MappedArray` files in ``folder``, each array written once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: dict[int, tuple[Any, MappedArray]] = {}  # id -> (the array, kept alive; its file)

    def __call__(self, task: tuple) -> tuple:
        return tuple(self._in_fields(argument) for argument in task)

    def _in_fields(self, argument):
        if _is_instance_of_dataclass(argument):
            fields = {f.name: self._mapped(getattr(argument, f.name)) for f in dataclasses.fields(argument)}
            changed = {name: value for name, value in fields.items() if isinstance(value, MappedArray)}
            return _with_fields(argument, changed) if changed else argument
        return self._mapped(argument)

    def _mapped(self, argument):
        import numpy as np

        if not isinstance(argument, np.ndarray) or argument.nbytes < MAPPED_BYTES or argument.dtype.hasobject:
            return argument
        if id(argument) not in self.files:
            path = self.folder / f"{len(self.files)}.npy"
            np.save(path, argument)
            self.files[id(argument)] = (argument, MappedArray(path))
        return self.files[id(argument)][1]


def _with_fields(instance, values: dict[str, Any]):
    """A copy of a (frozen) dataclass with some fields replaced, without calling its ``__init__``
    checks or ``__post_init__`` on values of another type."""
    copy = object.__new__(type(instance))
    for field in dataclasses.fields(instance):
        object.__setattr__(copy, field.name, values.get(field.name, getattr(instance, field.name)))
    return copy


def _shared_folder(tasks: Sequence[tuple]) -> str | None:
    """RAM-backed /dev/shm when it has room for the tasks' arrays twice over, else the temporary folder."""
    import numpy as np

    parts = [value for task in tasks for argument in task
             for value in ([getattr(argument, f.name) for f in dataclasses.fields(argument)]
                           if _is_instance_of_dataclass(argument) else [argument])]
    size = sum({id(a): a.nbytes for a in parts if isinstance(a, np.ndarray)}.values())
    try:
        if shutil.disk_usage("/dev/shm").free > 2 * size:
            return "/dev/shm"
    except OSError:
        pass
    return None


def _raise_warnings(done: list[tuple[Any, list]]) -> list[Any]:
    """The results; the workers' warnings raised here in task order, as a serial run would."""
    results = []
    for result, caught in done:
        for message, category, filename, lineno in caught:
            warnings.warn_explicit(message, category, filename, lineno)
        results.append(result)
    return results


def _recording_warnings(function: Callable[..., Any], task: tuple) -> tuple[Any, list[tuple]]:
    """``function(*task)`` in a worker, with the warnings it raised (a worker's own would be lost)."""
    task = tuple(_opened(argument) for argument in task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = function(*task)
    return result, [(w.message, w.category, w.filename, w.lineno) for w in caught]


def _quiet_worker(ignored_warnings: tuple[str, ...]) -> None:
    """Start of the spare process: leave Ctrl-C to the parent (which stops it) and keep the
    parent's warning filters."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for message in ignored_warnings:
        warnings.filterwarnings("ignore", message=message)


def _load(module: str) -> None:
    import importlib

    importlib.import_module(module)


class SpareProcess:
    """One process, started now, that imports ``modules`` in the background and later runs calls.

    On two cores the imports cost no wall time while this process computes on the other core; a
    later call (rendering the brief) then overlaps with this process's own work (the workbook).
    ``submit`` returns a `concurrent.futures.Future`; `close` stops the process.

    Parameters
    ----------
    modules : tuple of str
        Modules to import on start: those its first tasks need, since it shares tasks once it has
        imported them (`ready`).
    later : tuple of str
        Modules to import once `load_later` is called (when its first kind of task is over): imported
        on start they would delay its first tasks.
    ignored_warnings : tuple of str
        Message patterns of warnings to ignore there, as this process does.
    """

    def __init__(self, modules: tuple[str, ...], later: tuple[str, ...] = (),
                 ignored_warnings: tuple[str, ...] = ()) -> None:
        from joblib.externals.loky import ProcessPoolExecutor

        # loky starts a fresh interpreter (forking a process that may have started OpenMP threads is
        # unsafe) and, unlike multiprocessing's spawn, does not re-run the caller's main script there.
        self.executor = ProcessPoolExecutor(max_workers=1, initializer=_quiet_worker, initargs=(ignored_warnings,),
                                            env=ONE_THREAD)
        # Submitting starts the process now, not at the first real call.
        # The calls sent and not yet done: a done one drops out, and its result with it (a list of
        # every future sent kept each fit's predictions alive until the end of the run).
        self._running: set = set()
        self.loading = [self.submit(_load, module) for module in modules]
        self._imports = set(self.loading)  # every module import sent, these and `load_later`'s
        self._later = later

    def ready(self) -> bool:
        """Whether it has loaded its modules (and so would start a task at once)."""
        return all(future.done() for future in self.loading)

    def load_later(self) -> None:
        """Import the ``later`` modules there now (once)."""
        for module in self._later:
            self._imports.add(self.submit(_load, module))
        self._later = ()

    def submit(self, function: Callable[..., Any], *args: Any):
        """Run ``function(*args)`` there; returns its future."""
        future = self.executor.submit(function, *args)
        self._running.add(future)
        future.add_done_callback(self._running.discard)  # run at once if it is already done
        return future

    def close(self, *, interrupted: bool = False) -> None:
        """Stop the process. When nothing but module imports is left running there (always so at the
        end of a run, and after an error found in the data), let them finish and the process exit by
        itself; after an ``interrupted`` run, or an error while it computes, kill it.

        Killed, it may leave a semaphore that loky's resource tracker reports on stderr at exit: at
        the end of a normal run in about one run in eight; after a data error (it was still loading
        the learners) in 2 of 12 runs, and still once in a CI run when killed and then waited for.
        After an interruption waiting could raise in place of the interruption, so it is not
        waited for.
        """
        running = list(self._running)  # the done-callbacks of the executor's thread may shrink the set
        if interrupted or any(future not in self._imports for future in running):
            self.executor.shutdown(wait=not interrupted, kill_workers=True)
            return
        # Its interpreter's last garbage collections over everything the renderers and learners
        # left took about 0.5 s of the wait; frozen objects are skipped (gc.freeze).
        self.executor.submit(gc.freeze).result()
        self.executor.shutdown(wait=True)
