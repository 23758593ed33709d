"""Progress of a `targeting report` run on stderr: a live bar on a terminal, plain lines otherwise.

Every stage that ends prints ``[  12.3s] what was done`` (timed from the start of the command);
logs, CI and `bench/scale.py` read exactly these lines. On a terminal a bar below them shows the
stage under way, the time spent and an estimate of the time left, redrawn twice a second.

The estimate comes from a rough cost model of each stage (`expected_seconds`, calibrated on
bench/scale.py runs) scaled by how fast this run has been so far: a loaded machine or a slow disk
lengthens the estimate after the first stages. A few lines of our own instead of a progress-bar
library: the part that matters, the per-stage cost model, is ours in any case.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from typing import TextIO

from targeting.errors import printable

# Every stage of a report, in order: (words shown while it runs, start of the line that ends it).
STAGES = (
    ("reading the input", "read "),
    ("loading the models", "loaded the models"),
    ("validating the data", "validated"),
    ("fitting the outcome and propensity models", "fitted"),
    ("estimating individual effects", "estimated"),
    ("learning the policy tree", "learned"),
    ("evaluating the rule on the other people", "evaluated"),
    ("assessing subgroups for harm", "assessed"),
    ("checking the estimates, building the report", "built"),
    ("loading the renderers", "loaded the PDF"),
    ("writing report.json and individuals.csv", "wrote report.json"),
    ("writing the Excel pack", "wrote the Excel"),
    ("rendering the brief", "rendered"),
    ("replacing the outputs", None),
)
FIRST_MODELLED = 3  # `expected_seconds` starts at the nuisances
REFRESH_SECONDS = 0.5
PRIOR_SECONDS = 2.0
BAR_WIDTH = 20


def expected_seconds(rows: int, columns: int) -> list[float]:
    """Rough seconds of every stage on two idle cores, in `STAGES` order from the nuisances on
    (fitted by eye to bench/RESULTS.md; only their ratios and rough size matter)."""
    cells = rows * max(columns, 1)
    pairs = columns ** 2  # exact depth-2 searches look at every pair of covariates
    return [
        0.5 + 2e-6 * cells + 0.05 * columns,                                      # nuisances
        1.0 + 8e-6 * min(rows, 40_000) * columns + 1e-7 * cells + 0.1 * max(columns - 20, 0),  # CATE
        0.6 + 1.3e-6 * cells + 4e-4 * pairs,                                      # policy tree
        0.2 + 1.1e-6 * cells + 5e-4 * pairs,                                      # evaluation
        0.5 + 1.2e-6 * cells + 3e-4 * pairs,                                      # subgroups
        0.1 + 6e-7 * cells,                                                       # diagnostics, report
        0.6,                                                                      # renderers
        0.1 + 1e-7 * cells,                                                       # JSON and CSV
        0.2 + 2e-7 * cells,                                                       # Excel
        1.5 + 0.005 * columns,                                                    # brief
        0.0,
    ]


class PlainLines:
    """One line per finished stage: ``[  12.3s] text``. Callable as ``progress(text)``."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, text: str, _seconds: float | None = None) -> None:
        self.write_line(f"[{self.elapsed():6.1f}s] {text}")

    def write_line(self, line: str) -> None:
        print(printable(line), file=self.stream, flush=True)

    def data_size(self, rows: int, columns: int) -> None:
        """Told by the pipeline once the data are validated (the bar uses it to estimate time left)."""

    def close(self) -> None:
        """Nothing to clear."""


class Bar(PlainLines):
    """The plain lines, and below them a live bar for the stage under way."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.lock = threading.Lock()
        self.stage_index = 0        # index in STAGES of the stage under way
        self.stage_start = self.start
        self.expected: list[float] | None = None
        self.done_expected = 0.0    # expected seconds of the stages finished since the size was known
        self.done_actual = 0.0
        self.stop = threading.Event()
        self.ticker = threading.Thread(target=self._tick, daemon=True)
        self.ticker.start()

    def data_size(self, rows: int, columns: int) -> None:
        with self.lock:
            self.expected = expected_seconds(rows, columns)

    def __call__(self, text: str, _seconds: float | None = None) -> None:
        with self.lock:
            now = time.perf_counter()
            index = next((i for i, (_, prefix) in enumerate(STAGES) if prefix and text.startswith(prefix)), None)
            if index is not None:
                expected = self._expected_of(self.stage_index)
                if expected is not None:
                    self.done_expected += expected
                    self.done_actual += now - self.stage_start
                self.stage_index, self.stage_start = index + 1, now
            self._clear()
            self.write_line(f"[{self.elapsed():6.1f}s] {text}")
            self._draw()

    def _expected_of(self, index: int) -> float | None:
        position = index - FIRST_MODELLED
        if self.expected is None or not 0 <= position < len(self.expected):
            return None
        return self.expected[position]

    def time_left(self) -> float | None:
        """Seconds left: the cost model's remaining seconds, scaled by this run's pace so far."""
        if self.expected is None:
            return None
        position = max(self.stage_index - FIRST_MODELLED, 0)
        # This run's pace against the model, damped by PRIOR_SECONDS at the model's own pace so
        # that one quick or slow first stage does not swing the estimate.
        pace = (self.done_actual + PRIOR_SECONDS) / (self.done_expected + PRIOR_SECONDS)
        current = self.expected[position] if position < len(self.expected) else 0.0
        in_stage = time.perf_counter() - self.stage_start
        left_here = max(current * pace - in_stage, 0.1 * current * pace)
        return left_here + pace * sum(self.expected[position + 1:])

    def line(self) -> str:
        """The bar line: share of the expected total done, the stage, elapsed and time left."""
        label = STAGES[min(self.stage_index, len(STAGES) - 1)][0]
        left = self.time_left()
        elapsed = self.elapsed()
        if left is None:
            return f"  {elapsed:.0f} s  {label}"
        share = elapsed / (elapsed + left) if elapsed + left > 0 else 1.0
        filled = int(round(share * BAR_WIDTH))
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        # Times before the stage's words: a narrow terminal cuts the words, not the estimate.
        return f"  [{bar}] {share:4.0%}  {elapsed:.0f} s, about {_duration(left)} left  {label}"

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((80, 24)).columns
        self.stream.write(printable(self.line())[:max(columns - 1, 10)])
        self.stream.flush()

    def _clear(self) -> None:
        self.stream.write("\r\x1b[K")

    def _tick(self) -> None:
        while not self.stop.wait(REFRESH_SECONDS):
            with self.lock:
                self._clear()
                self._draw()

    def close(self) -> None:
        """Stop redrawing and remove the bar (the finished lines stay); closing twice is harmless."""
        if self.stop.is_set():
            return
        self.stop.set()
        self.ticker.join()
        with self.lock:
            self._clear()
            self.stream.flush()


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 1):.0f} s"
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def reporter(*, quiet: bool, stream: TextIO | None = None) -> PlainLines | None:
    """The progress reporter of one command: none when quiet, a bar on a terminal, else plain lines."""
    if quiet:
        return None
    stream = stream if stream is not None else sys.stderr
    interactive = getattr(stream, "isatty", lambda: False)()
    return Bar(stream) if interactive else PlainLines(stream)
