"""Questions about one column of the data: is it there, is it numbers, is it dates.

Shared by the validation of the roles (outcome, treatment, cost, ...) and the covariate encoding.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from targeting.errors import ConfigError, did_you_mean, rows_phrase


def suggest_column(name: str, columns) -> str:
    """`` Did you mean 'x'?`` for a mistyped column name, else the list of columns."""
    close = did_you_mean(name, columns, cutoff=0.6)
    return f" Did you mean '{close}'?" if close else f" Columns are: {', '.join(map(repr, list(columns)[:30]))}."


def require_column(frame: pd.DataFrame, name: str, setting: str) -> None:
    """Refuse a setting that names a column the data does not have."""
    if name not in frame.columns:
        raise ConfigError(
            f"Column '{name}' (setting '{setting}') is not in the data.{suggest_column(name, frame.columns)}"
        )


def as_numbers(series: pd.Series) -> pd.Series:
    """Numbers as float; text that is not a number becomes NaN (callers report those rows)."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    return pd.to_numeric(series, errors="coerce").astype(float)


def is_numeric_column(series: pd.Series) -> bool:
    """True for numbers and True/False, including text columns whose every value is a number."""
    if pd.api.types.is_bool_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series):
        return True
    present = series.dropna()
    if len(present) == 0:
        return False
    # Parse each distinct value once: text columns of a million rows hold a handful of labels.
    return bool(pd.to_numeric(pd.Series(pd.unique(present)), errors="coerce").notna().all())


def rows_where(mask: np.ndarray) -> str:
    """The 1-based rows where ``mask`` holds, for messages: ``row 4`` or ``rows 4, 17``."""
    return rows_phrase(np.nonzero(mask)[0] + 1)


_DATE_PATTERNS = (
    re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"),
    re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?"),
    re.compile(r"\d{1,2}[ -][A-Za-z]{3,9}\.?[ -]\d{2,4}"),
    re.compile(r"[A-Za-z]{3,9}\.? \d{1,2},? \d{4}"),
)


def looks_like_dates(series: pd.Series) -> bool:
    """True when every non-empty text value of a column is written as a date."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    present = pd.unique(series.dropna().astype(str).str.strip())
    present = [v for v in present[:500] if v]
    if not present:
        return False
    return all(any(p.fullmatch(v) for p in _DATE_PATTERNS) for v in present)
