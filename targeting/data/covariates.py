"""Covariates as the models see them: which columns, their kind, and their encodings.

Each covariate has two encodings. ``codes`` is one column per covariate (the number, or the
index of the text level; NaN when missing) for the policy tree, which reads rules off it.
``dense`` is for the effect models, which need numbers everywhere: numbers with missing cells
filled by the median plus a "missing" indicator column, text levels as 0/1 indicator columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from targeting.data.columns import as_numbers, is_numeric_column, looks_like_dates, require_column
from targeting.data.csv_checks import decimal_comma_hint
from targeting.errors import ConfigError, InputError, rows_phrase
from targeting.model.findings import Code, Finding, Severity, finding

MAX_LEVELS = 50
# A text column with a different value in every row is an identifier once it has this many rows.
IDENTIFIER_ROWS = 20


@dataclass(frozen=True)
class Covariate:
    """One covariate as the models see it."""

    name: str
    kind: str  # "numeric" or "categorical"
    levels: tuple[str, ...] = ()
    n_missing: int = 0


@dataclass(frozen=True)
class EncodedCovariate:
    """One covariate with its two encodings (see the module notes)."""

    covariate: Covariate
    codes: np.ndarray
    dense: np.ndarray  # shape (n, number of dense columns)
    dense_names: tuple[str, ...]


def choose_covariates(frame: pd.DataFrame, requested: Sequence[str], roles: Mapping[str, str],
                      exclude: Iterable[str]) -> list[str]:
    """The covariate columns: those requested, else every column without a role or an exclusion.

    Parameters
    ----------
    frame : DataFrame
        The data.
    requested : sequence of str
        The ``covariates`` setting (empty for "all the others").
    roles : mapping
        Setting name to column for the columns with a role (outcome, treatment, cost, ...).
    exclude : iterable of str
        Columns left out when none are requested.

    Returns
    -------
    list of str

    Raises
    ------
    ConfigError
        When a requested column is missing or has a role, or no column is left.
    """
    if requested:
        names = list(requested)
        for name in names:
            require_column(frame, name, "covariates")
            if name in roles.values():
                role = [k for k, v in roles.items() if v == name][0]
                raise ConfigError(f"Column '{name}' is the {role} and cannot also be a covariate. Remove it from 'covariates'.")
    else:
        excluded = set(exclude)
        names = [c for c in frame.columns if c not in roles.values() and c not in excluded]
    if not names:
        raise ConfigError("No covariates are left to describe people. Name them with --covariates a,b,c.")
    return names


def encode_numeric(name: str, values: np.ndarray, rows: np.ndarray) -> EncodedCovariate | None:
    """Encode a numeric covariate (NaN for missing); None when it has one value for everyone.

    ``rows`` are the data row numbers of ``values``, for messages. Infinite values are refused.
    """
    if np.isinf(values).any():
        raise InputError(
            f"Covariate '{name}' has infinite values in {rows_phrase(rows[np.isinf(values)])}. "
            "Replace them with real numbers or leave the cells empty."
        )
    missing = np.isnan(values)
    present = values[~missing]
    if np.unique(present).size <= 1:
        return None
    n_missing = int(missing.sum())
    dense = [np.where(missing, np.median(present), values)]
    dense_names = [name]
    if n_missing:
        dense.append(missing.astype(float))
        dense_names.append(f"{name} missing")
    return EncodedCovariate(Covariate(name, "numeric", (), n_missing), values, np.column_stack(dense),
                            tuple(dense_names))


def encode_categorical(name: str, text: pd.Series, rows: np.ndarray) -> EncodedCovariate | None:
    """Encode a text covariate (stripped text, ``<NA>`` for missing); None when it has one level.

    Levels are sorted. Without missing values the first level is the reference and gets no
    indicator column; with them every level gets one, and missing is the all-zero reference.

    Raises
    ------
    InputError
        For an identifier-like column (a different value in every row), a column of numbers with
        stray text, or more than ``MAX_LEVELS`` levels.
    """
    n_missing = int(text.isna().sum())
    levels = sorted(pd.unique(text.dropna()).tolist(), key=str)
    if len(levels) <= 1:
        return None
    if len(levels) == len(text) - n_missing and len(levels) > IDENTIFIER_ROWS:
        raise InputError(
            f"Covariate '{name}' has a different text value in every row, like an identifier. "
            f"Name it with --id {name}, or leave it out with --exclude {name}."
        )
    if len(levels) > MAX_LEVELS:
        parsed = pd.to_numeric(text, errors="coerce")
        stray = text.notna().to_numpy() & parsed.isna().to_numpy()
        if parsed.notna().sum() >= 0.8 * (len(text) - n_missing):
            texts = pd.unique(text[stray])
            examples = ", ".join(repr(v) for v in texts[:3])
            raise InputError(
                f"Covariate '{name}' holds numbers except for text {examples} in "
                f"{rows_phrase(rows[stray])}. Leave those cells empty if the value is unknown (missing "
                f"values are handled), or correct them; or leave the column out with --exclude {name}."
                + decimal_comma_hint(texts)
            )
        raise InputError(
            f"Covariate '{name}' has {len(levels)} different text values (at most {MAX_LEVELS} are supported). "
            f"Group them into fewer categories in a new column, or leave it out with --exclude {name}."
        )
    code = pd.Categorical(text, categories=levels).codes.astype(float)
    code[code < 0] = np.nan  # pandas codes a missing value as -1
    first = 0 if n_missing else 1
    dense = np.column_stack([(code == i).astype(float) for i in range(first, len(levels))])
    return EncodedCovariate(Covariate(name, "categorical", tuple(str(l) for l in levels), n_missing), code, dense,
                            tuple(f"{name}={level}" for level in levels[first:]))


def encode_covariate(name: str, series: pd.Series, rows: np.ndarray) -> EncodedCovariate | None:
    """Encode one covariate column as numeric or categorical; None when it is constant.

    Raises
    ------
    InputError
        For dates, a column empty in every row, or what :func:`encode_numeric` and
        :func:`encode_categorical` refuse.
    """
    if pd.api.types.is_datetime64_any_dtype(series) or looks_like_dates(series):
        example = series.dropna().iloc[0] if series.notna().any() else ""
        example = example.date().isoformat() if hasattr(example, "date") and callable(example.date) else str(example)
        raise InputError(
            f"Covariate '{name}' holds dates (e.g. '{example}'). Turn it into a number that matters (e.g. age "
            f"in years or days since enrolment) in a new column, or leave it out with --exclude {name}."
        )
    if series.isna().all():
        raise InputError(f"Covariate '{name}' is empty in every row. Leave it out with --exclude {name}.")
    if is_numeric_column(series):
        return encode_numeric(name, as_numbers(series).to_numpy(), rows)
    return encode_categorical(name, series.astype("string").str.strip(), rows)


def encode_covariates(data: pd.DataFrame, names: Sequence[str], rows: np.ndarray):
    """Encode the covariates, leaving out constant ones, with the findings to report.

    Parameters
    ----------
    data : DataFrame
        The kept rows.
    names : sequence of str
        The covariate columns (see :func:`choose_covariates`).
    rows : numpy.ndarray
        The data row numbers of ``data``'s rows, for messages.

    Returns
    -------
    covariates : list of Covariate
    x_codes : numpy.ndarray, shape (n, len(covariates))
    x_dense : numpy.ndarray, shape (n, len(dense_names))
    dense_names : list of str
    findings : list of Finding
        A constant covariate left out, and which covariates have missing values.

    Raises
    ------
    InputError
        When every covariate is constant, or one cannot be used (see :func:`encode_covariate`).
    """
    findings: list[Finding] = []
    encoded: list[EncodedCovariate] = []
    for name in names:
        one = encode_covariate(name, data[name], rows)
        if one is None:
            findings.append(finding(
                Code.DROPPED_CONSTANT_COVARIATE, Severity.INFO,
                f"Covariate '{name}' has one value for everyone and was not used.", column=name,
            ))
        else:
            encoded.append(one)
    if not encoded:
        raise InputError("Every covariate is constant, so no differences between people can be studied. Add covariates.")
    covariates = [e.covariate for e in encoded]
    with_missing = [c for c in covariates if c.n_missing]
    if with_missing:
        findings.append(finding(
            Code.MISSING_COVARIATE_VALUES, Severity.INFO,
            "Missing covariate values were kept and handled as missing by the models (not imputed from the "
            f"outcome): {', '.join(f'{c.name} ({c.n_missing})' for c in with_missing)}.",
            columns=[c.name for c in with_missing],
        ))
    return (covariates, np.column_stack([e.codes for e in encoded]), np.hstack([e.dense for e in encoded]),
            [n for e in encoded for n in e.dense_names], findings)
