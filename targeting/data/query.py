"""The text of pandas ``DataFrame.query`` strings: the one place the outputs' queries are written.

Every ``query`` in the outputs is a contract: ``pd.read_excel(f, sheet_name="data").query(q)``
selects exactly the rows counted. So column names are quoted the way pandas reads them back,
literals are written exactly (numbers with every digit they need), and missing cells are tested
in ways that hold on the columns pandas reads from a file. Nothing here evaluates anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["column", "literal", "compare", "membership", "stripped_text", "is_missing", "is_recorded",
           "recorded_and", "everyone", "all_of", "any_of", "strip_outer"]


def column(name: Any) -> str:
    """A column name quoted for ``query``.

    Parameters
    ----------
    name : object
        The column label (non-text labels, e.g. ``2024``, are written as their text).

    Returns
    -------
    str
        The name in backticks, with a backtick inside doubled (how pandas escapes it).
    """
    return "`" + str(name).replace("`", "``") + "`"


def literal(value: Any) -> str:
    """A value written so that ``query`` reads back exactly the same value.

    Parameters
    ----------
    value : bool, int, float or str
        NumPy scalars are taken as the Python value they hold.

    Returns
    -------
    str
        ``True``/``False``; integers in full; floats in their shortest round-trip form (``0.1``,
        ``50.0``, ``1e-07``); text as a Python string literal.

    Raises
    ------
    ValueError
        For NaN or infinity, which no comparison selects.
    TypeError
        For any other type.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} cannot be written as a query literal")
        return repr(value)
    if isinstance(value, str):
        if not value.endswith("\\"):
            return repr(value)
        # pandas finds the end of quoted text by a quote not preceded by a backslash, so text
        # ending in an (escaped) backslash would run on; the last one is written as \x5c instead.
        text = repr(value[:-1])
        return text[:-1] + "\\x5c" + text[-1]
    raise TypeError(f"{type(value).__name__} cannot be written as a query literal")


def compare(subject: str, op: str, value: Any) -> str:
    """``subject op value``, e.g. ``compare(column("age"), ">=", 65)`` gives ``\\`age\\` >= 65``."""
    return f"{subject} {op} {literal(value)}"


def membership(subject: str, op: str, values: Iterable[Any]) -> str:
    """``subject in [...]`` (``op`` is ``"in"`` or ``"not in"``)."""
    return f"{subject} {op} [{', '.join(literal(v) for v in values)}]"


def stripped_text(subject: str) -> str:
    """The column as text stripped of surrounding spaces (missing cells stay missing)."""
    return f"{subject}.astype('string').str.strip()"


def is_missing(subject: str) -> str:
    """True where the cell is missing: a missing value is the one value not equal to itself.

    Holds for the columns pandas reads from a file (numpy floats, objects, categoricals); on a
    nullable column the comparison is ``<NA>`` instead, which selects nothing.
    """
    return f"{subject} != {subject}"


def is_recorded(subject: str) -> str:
    """True where the cell holds a value (the negation of :func:`is_missing`)."""
    return f"{subject} == {subject}"


def recorded_and(subject: str, condition: str) -> str:
    """``condition`` pinned to False where ``subject`` is missing, also under ``~``.

    ``is_recorded`` gives ``<NA>`` rather than False on nullable columns, and ``~`` keeps
    ``<NA>``; ``.notna()`` is a plain boolean, so the negation of the whole stays exact.
    """
    return f"({subject}.notna() & ({condition}))"


def everyone(subject: str) -> str:
    """True in every row, missing cells included.

    Written on a real column: ``index == index`` would read a column named ``index`` (whose
    blanks it drops) before the frame's index.
    """
    return f"({subject}.isna() | {subject}.notna())"


def all_of(conditions: Sequence[str]) -> str:
    """Conditions joined with ``and`` (each a comparison or parenthesised)."""
    return " and ".join(conditions)


def any_of(conditions: Sequence[str]) -> str:
    """Conditions joined with ``or``, in parentheses so that it can be joined with ``and``."""
    return f"({' or '.join(conditions)})"


def strip_outer(query: str) -> str:
    """Drop one pair of parentheses wrapping the whole query, for readability."""
    if not (query.startswith("(") and query.endswith(")")):
        return query
    depth, quote = 0, None
    i = 0
    while i < len(query):
        ch = query[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i < len(query) - 1:
                return query  # the first '(' closes before the end: not an outer pair
        i += 1
    return query[1:-1]
