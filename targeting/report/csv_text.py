"""Write CSV files that are safe to open in a spreadsheet.

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as
a formula (or a DDE command), so a hostile label in the input could run when an analyst opens a
CSV the tool wrote (CSV injection). Following the OWASP guidance, such text is written with a
leading single quote, which spreadsheets show as text; numbers (``-2.5``) are left as they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

#: Starts that make a spreadsheet evaluate a cell (OWASP CSV injection), LF for good measure.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def neutralise(value: object) -> object:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot be read as formulas."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(neutralise)
    frame.columns = [neutralise(str(c)) for c in frame.columns]
    return frame


def write_csv(frame: pd.DataFrame, path: str | Path, **kwargs) -> None:
    """Write ``frame`` to ``path`` as a spreadsheet-safe CSV.

    Lines end in CRLF (RFC 4180): the writer then quotes any field holding a carriage return, so
    a CR inside an identifier cannot split a row in two.
    """
    safe_frame(frame).to_csv(path, index=False, lineterminator="\r\n", **kwargs)


__all__ = ["FORMULA_START", "neutralise", "safe_frame", "write_csv"]
