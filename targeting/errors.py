"""The one family of user-facing errors and the exit codes the command line returns.

Anything raised from this module's classes is a problem with the user's input, settings or
environment: the CLI prints its message without a traceback. Any other exception is a bug.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

# Exit codes (documented in the README). Stable: scripts depend on them.
EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_CONFIG = 4
EXIT_ESTIMATION = 5
EXIT_OUTPUT = 6
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C): 128 + 2, the shell's convention
EXIT_TERMINATED = 143   # SIGTERM (timeout, CI, containers): 128 + 15


class TargetingError(Exception):
    """Base class for problems the user can fix.

    Parameters
    ----------
    message : str
        What is wrong, where (column, rows, cell), and how to fix it.
    """

    exit_code = EXIT_USAGE
    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class InputError(TargetingError):
    """The input file or its data cannot be used as given."""

    exit_code = EXIT_INPUT
    code = "input"


class ConfigError(TargetingError):
    """A setting (flag, TOML file or config sheet) is missing, unknown or invalid."""

    exit_code = EXIT_CONFIG
    code = "config"


class EstimationError(TargetingError):
    """The data are valid but too thin for the requested estimate."""

    exit_code = EXIT_ESTIMATION
    code = "estimation"


class OutputError(TargetingError):
    """An output cannot be written where asked."""

    exit_code = EXIT_OUTPUT
    code = "output"


def format_rows(rows, limit: int = 5) -> str:
    """Describe 1-based data row numbers compactly: ``4, 17, 20 and 3 more``."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" and {len(rows) - limit} more"
    return shown


def rows_phrase(rows, limit: int = 5) -> str:
    """``row 4`` or ``rows 4, 17 and 3 more``: the word agrees with the number of rows."""
    rows = list(rows)
    return ("row " if len(rows) == 1 else "rows ") + format_rows(rows, limit)


def did_you_mean(value: str, options: Iterable[Any], *, cutoff: float) -> str | None:
    """The option someone most likely meant when they typed ``value``, or None.

    Parameters
    ----------
    value : str
        What was typed (a setting, column or value that does not exist).
    options : iterable
        What exists (compared as text).
    cutoff : float
        Least similarity (0 to 1, as in :func:`difflib.get_close_matches`) for a suggestion.

    Returns
    -------
    str or None
        An option equal to ``value`` but for letter case (the commonest slip) if there is one,
        else the closest option at least ``cutoff`` similar, else None.
    """
    options = [str(option) for option in options]
    same_but_case = [option for option in options if option.lower() == value.lower()]
    close = same_but_case[:1] or difflib.get_close_matches(value, options, n=1, cutoff=cutoff)
    return close[0] if close else None


# C0 and C1 control characters (ESC starts terminal commands that retitle or clear the screen) and
# the Unicode bidirectional overrides, which reorder what a terminal shows.
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: control characters shown as escapes (``\\x1b``).

    Line breaks are kept; everything else a terminal would act on instead of showing (escape
    sequences, bell, carriage return, backspace, bidirectional overrides) is written out as its
    Python escape, so a hostile column name cannot rewrite the screen.
    """
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
