"""Progress on stderr: plain `[  12.3s] text` lines off a terminal, a bar with the time left on one."""

from __future__ import annotations

import io
import re

from cli_helpers import run_cli
from targeting.errors import EXIT_OK
from targeting.progress import FIRST_MODELLED, STAGES, Bar, PlainLines, expected_seconds, reporter
from targeting.sim.simulate import bleeding_trial

LINE = re.compile(r"^\[\s*\d+\.\ds\] (.+)$")
# Lines that report an event, not the end of a stage.
EVENTS = ("removed ", "replaced ")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_progress_line_of_a_run_ends_a_known_stage_in_order(tmp_path):
    source = tmp_path / "trial.csv"
    bleeding_trial(300, seed=2).to_csv(source, index=False)
    code, _, err = run_cli(["report", str(source), "--outcome", "event", "--treatment", "treatment",
                            "--treated-value", "Treatment", "--folds", "3", "--estimator", "t", "-o",
                            str(tmp_path / "out")], threads=1)
    assert code == EXIT_OK, err
    texts = [LINE.match(line).group(1) for line in err.splitlines() if LINE.match(line)]
    assert len(texts) == len(err.splitlines())  # nothing else was printed, and no bar off a terminal
    stages = [next(i for i, (_, prefix) in enumerate(STAGES) if prefix and text.startswith(prefix))
              for text in texts if not text.startswith(EVENTS)]
    assert stages == list(range(len(STAGES) - 1))  # every stage but the final renames, once, in order


def test_the_cost_model_covers_every_modelled_stage():
    assert len(expected_seconds(1000, 10)) == len(STAGES) - FIRST_MODELLED
    small, large = sum(expected_seconds(2_000, 20)), sum(expected_seconds(1_000_000, 20))
    assert 3 < small < 15 and 60 < large < 400  # the sizes bench/scale.py measures


def test_off_a_terminal_the_reporter_writes_plain_lines():
    stream = io.StringIO()
    progress = reporter(quiet=False, stream=stream)
    assert type(progress) is PlainLines
    progress("validated 10 rows x 2 covariates")
    progress.close()
    assert LINE.match(stream.getvalue().rstrip("\n"))
    assert reporter(quiet=True, stream=stream) is None


def test_on_a_terminal_the_bar_shows_the_stage_and_the_time_left():
    stream = Terminal()
    bar = reporter(quiet=False, stream=stream)
    assert isinstance(bar, Bar)
    try:
        bar("read trial.csv")
        bar("loaded the models")
        bar("validated 2,000 rows x 20 covariates")
        bar.data_size(2_000, 20)
        assert "fitting the outcome and propensity models" in bar.line()
        first = bar.time_left()
        assert 0.5 * sum(expected_seconds(2_000, 20)) < first <= sum(expected_seconds(2_000, 20))
        later = sum(expected_seconds(2_000, 20)[1:])
        bar("fitted cross-fitted outcome and propensity models")  # at once: faster than the model
        assert bar.time_left() < later
        assert "estimating individual effects" in bar.line() and "left" in bar.line()
        bar.stage_start -= 30  # as if estimating had taken 30 seconds: slower than the model
        bar("estimated individual effects (T-learner)")
        assert bar.time_left() > sum(expected_seconds(2_000, 20)[2:])
    finally:
        bar.close()
    text = stream.getvalue()
    finished = [line for line in text.replace("\r\x1b[K", "\n").splitlines() if LINE.match(line)]
    assert [LINE.match(line).group(1) for line in finished][-1] == "estimated individual effects (T-learner)"
    assert text.endswith("\r\x1b[K")  # the bar is cleared at the end; the finished lines stay
