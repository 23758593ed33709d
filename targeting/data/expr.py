"""Subgroup expressions such as ``age > 65`` or ``sex == 'F' and 40 <= age < 65``.

Analysts type these on the command line and in config sheets, so they are untrusted text. They
are never handed to Python (no ``eval``, no ``DataFrame.query``): a small tokenizer and a
recursive-descent parser accept a deliberately tiny grammar, and :func:`evaluate_subgroup`
computes the mask with numpy. Anything outside the grammar (calls, attribute access, subscripts,
arithmetic, ``;``, Python keywords, dunder names) is rejected with a :class:`ConfigError`.

Grammar (keywords are case-insensitive; ``&``, ``|`` and ``~`` are synonyms of ``and``, ``or``
and ``not``, with the same precedence: ``not`` binds tightest, then ``and``, then ``or``)::

    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | condition
    condition  := value (compare value)+          # "40 <= age < 65": every link holds
                | column ["not"] "in" list
                | column "between" number "and" number      # inclusive
    list       := "[" literal ("," literal)* [","] "]"      # or ( ... )
    value      := column | literal
    column     := identifier | `any name in backticks`
    literal    := number | 'text' | "text" | True | False
    compare    := "<" | "<=" | ">" | ">=" | "==" | "=" | "!="

Each comparison links one column with one value; a column on its own is not a condition (write
``flag == True``). Unlike pandas, ``~ age > 65`` means ``not (age > 65)``.

Missing values: a comparison on a missing cell is False whatever the operator, including ``!=``
and ``not in`` (a missing sex is neither 'F' nor "not 'F'"). ``not`` is plain boolean logic on
that mask, so ``not (age > 65)`` selects people aged 65 or less *and* people with no age.

Types (checked by :func:`evaluate_subgroup`, which sees the data): numeric columns compare with
numbers (True/False count as 1/0); True/False columns with True/False or 1/0, using ``==``,
``!=`` and ``in`` only; text (and categorical) columns with quoted text using ``==``, ``!=`` and
``in`` only, both sides stripped of surrounding spaces, and the text must be a value that occurs
in the column (this catches typos that would silently select nobody).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from targeting.data import query as q
from targeting.data.expr_parser import ORDERING, Compare, Condition, Not, parse, render_column, render_name
from targeting.data.expr_tokens import expression_error
from targeting.errors import ConfigError, did_you_mean

__all__ = ["SubgroupExpression", "evaluate_subgroup", "parse_subgroup"]


# ---------------------------------------------------------------------------------------------
# The equivalent DataFrame.query string

def _query_compare(part: Compare, negated: bool) -> str:
    column = q.column(part.column)
    # Same conversion as the mask: text compared as stripped strings (missing stays missing).
    subject = q.stripped_text(column) if isinstance(part.values[0], str) else column
    if part.op in ("in", "not in"):
        core = q.membership(subject, part.op, part.values)
    else:
        core = q.compare(subject, part.op, part.values[0])
    # Missing cells must give False. pandas already does that for plain comparisons on numpy
    # columns, but '!=' and 'not in' are True there, and nullable columns give <NA>, which '~'
    # keeps as <NA> (not selected) instead of turning into True.
    if part.op in ("!=", "not in") or negated:
        return q.recorded_and(column, core)
    return f"({core})"


def _render_query(node: Any, negated: bool = False) -> str:
    """Every piece comes back parenthesised, so '&', '|' and '~' never meet pandas' precedence."""
    if isinstance(node, Condition):
        parts = [_query_compare(p, negated) for p in node.parts]
        return parts[0] if len(parts) == 1 else f"({' & '.join(parts)})"
    if isinstance(node, Not):
        return f"~{_render_query(node.operand, True)}"
    joiner = " & " if node.op == "and" else " | "
    return f"({joiner.join(_render_query(o, negated) for o in node.operands)})"


# ---------------------------------------------------------------------------------------------
# Public interface

@dataclass(frozen=True)
class SubgroupExpression:
    """A parsed subgroup expression.

    Attributes
    ----------
    text : str
        The expression as typed.
    name : str
        Tidy readable form, e.g. ``age > 65`` or ``not (sex == 'F')``; parses to the same subgroup.
    query : str
        An equivalent :meth:`pandas.DataFrame.query` string (backticked column names, ``repr`` of
        values): ``frame.query(query)`` selects the rows where :func:`evaluate_subgroup` is True.
        Provided for reproducibility outside this tool; it is never evaluated here.
    columns : tuple of str
        The columns referenced, in order of first use.
    """

    text: str
    name: str
    query: str
    columns: tuple[str, ...]


def parse_subgroup(text: str, columns: Sequence[str]) -> SubgroupExpression:
    """Parse a subgroup expression typed by an analyst, without evaluating it.

    Only the syntax and the column names are checked here; value types and text levels need the
    data and are checked by :func:`evaluate_subgroup`.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"age > 65"``, ``"40 <= age < 65 and sex == 'F'"`` or
        ``"`monthly income` > 1000"``. At most 500 characters.
    columns : sequence of str
        The column names of the data.

    Returns
    -------
    SubgroupExpression
        The expression with its tidy name, an equivalent pandas query string and the columns used.

    Raises
    ------
    ConfigError
        If the text is not a valid expression (including anything resembling code: calls,
        attribute access, subscripts, arithmetic, ``;``), is nested more than 20 levels deep,
        or names a column that is not in ``columns`` (with a "did you mean" suggestion).
    """
    tree, used = parse(text, columns)
    return SubgroupExpression(text=text, name=render_name(tree), query=q.strip_outer(_render_query(tree)),
                              columns=tuple(used))


def evaluate_subgroup(expr: SubgroupExpression, frame: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` belong to the subgroup.

    The expression is read again from ``expr.text`` (cheap), so the mask always follows the text
    and a hand-built ``SubgroupExpression`` cannot carry a different meaning.

    Parameters
    ----------
    expr : SubgroupExpression
        From :func:`parse_subgroup`.
    frame : pandas.DataFrame
        The data; must contain every column in ``expr.columns``.

    Returns
    -------
    numpy.ndarray
        Boolean mask of length ``len(frame)``. A comparison on a missing cell is False (also for
        ``!=`` and ``not in``); ``not`` negates the mask, so it is True there.

    Raises
    ------
    ConfigError
        If a column is missing from ``frame``, a value has the wrong type for its column (text
        against a numeric column, a number against a text column, ``<`` on text), or quoted text
        is not one of the column's values (the message lists the known values and the closest).
    """
    labels: dict[str, Any] = {}
    for label in frame.columns:
        labels.setdefault(str(label), label)
    tree, _ = parse(expr.text, list(labels))
    columns: dict[str, _Column] = {}

    def column(name: str) -> _Column:
        if name not in columns:
            series = frame[labels[name]]
            if isinstance(series, pd.DataFrame):
                raise ConfigError(f"Column '{name}' appears more than once in the data, so subgroup "
                                  f"'{expr.text}' is ambiguous. Rename the duplicate columns.")
            columns[name] = _Column(name, series)
        return columns[name]

    def mask(node: Any) -> np.ndarray:
        if isinstance(node, Condition):
            out = np.ones(len(frame), dtype=bool)
            for part in node.parts:
                out &= column(part.column).compare(part, expr.text)
            return out
        if isinstance(node, Not):
            return ~mask(node.operand)
        masks = [mask(o) for o in node.operands]
        return np.logical_and.reduce(masks) if node.op == "and" else np.logical_or.reduce(masks)

    return np.asarray(mask(tree), dtype=bool)


# ---------------------------------------------------------------------------------------------
# Column comparisons with numpy

class _Column:
    """One column prepared once per evaluation: its kind, and values numpy can compare."""

    def __init__(self, name: str, series: pd.Series):
        self.name = name
        dtype = series.dtype
        self.present = series.notna().to_numpy(dtype=bool)
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) == "boolean"
        ):
            # Spreadsheets with blanks give object columns of True/False/NaN: still True/False.
            self.kind = "bool"
            self.values = series.astype("boolean").fillna(False).to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
            self.kind = "number"
            self.values = series.to_numpy(dtype=float, na_value=np.nan)
        elif (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
              or isinstance(dtype, pd.CategoricalDtype)):
            self.kind = "text"
            text = series.astype("string").str.strip()
            self.present = text.notna().to_numpy(dtype=bool)
            self.values = text
            self.levels = sorted(set(text.dropna()))
        else:
            self.kind = str(dtype)

    def compare(self, part: Compare, text: str) -> np.ndarray:
        values = [self.check(value, pos, part.op, text) for value, pos in zip(part.values, part.positions)]
        # '!=' and 'not in' are computed as the negation of '==' / 'in' *before* masking with
        # `present`, so that a missing cell is False for them too.
        positive = _POSITIVE.get(part.op, part.op)
        if positive in ("==", "in"):
            if self.kind == "text":
                hit = self.values.isin(values).fillna(False).to_numpy(dtype=bool)
            else:
                hit = np.isin(self.values, values)
        else:
            with np.errstate(invalid="ignore"):  # NaN compares False; `present` masks it anyway
                hit = _ORDER_OPS[positive](self.values, values[0])
        if positive != part.op:
            hit = ~hit
        return self.present & hit

    def check(self, value: Any, pos: int, op: str, text: str) -> Any:
        """The literal converted for this column, or a ConfigError saying why it does not fit."""
        col = render_column(self.name)
        if self.kind == "number":
            if isinstance(value, str):
                raise _data_error(text, pos, f"column {self.name!r} holds numbers but {value!r} is quoted text",
                                  f"Write the number without quotes, e.g. {col} > 65.")
            return float(value)
        if self.kind == "bool":
            if op in ORDERING:
                raise _data_error(text, pos, f"column {self.name!r} holds True/False and cannot be ordered "
                                  f"with {op!r}", f"Use == or !=, e.g. {col} == True.")
            if isinstance(value, str) or value not in (0, 1):
                raise _data_error(text, pos, f"column {self.name!r} holds True/False, not {value!r}",
                                  f"Compare it with True or False (or 1 / 0), e.g. {col} == True.")
            return bool(value)
        if self.kind == "text":
            if not isinstance(value, str):
                fix = (f"Put the value in quotes, e.g. {col} == '{value!r}'." if op not in ORDERING else
                       f"Only numeric columns can be compared with {op!r}; for text use == or 'in [...]'. "
                       "If the column should be numeric, fix its non-numeric cells in the data.")
                raise _data_error(text, pos, f"column {self.name!r} holds text but {value!r} is not quoted", fix)
            if self.levels and value not in self.levels:
                raise _data_error(text, pos, f"{value!r} is not a value of column {self.name!r}",
                                  _suggest_level(value, self.levels))
            return value
        raise _data_error(text, pos, f"column {self.name!r} has type {self.kind}, which subgroups cannot compare",
                          "Use a numeric, True/False or text column (e.g. add a column derived from this one).")


_POSITIVE = {"!=": "==", "not in": "in"}
_ORDER_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _data_error(text: str, pos: int, what: str, fix: str) -> ConfigError:
    return expression_error(text, pos, what, fix, headline="does not fit the data")


def _suggest_level(value: str, levels: list[str]) -> str:
    close = did_you_mean(value, levels, cutoff=0.5)
    shown = ", ".join(repr(lvl) for lvl in levels[:20])
    more = f" and {len(levels) - 20} more" if len(levels) > 20 else ""
    hint = f"Did you mean {close!r}? " if close else ""
    return f"{hint}Known values are: {shown}{more} (compared case-sensitively, ignoring surrounding spaces)."
