"""Cells of the pack: number formats, styles, column widths, and text made safe for a cell.

Numbers are stored exactly; what the reader sees is set by number formats (percent for shares,
three significant digits for effects, ``0.0000`` for p-values). Every string is stored as text,
never as a formula: it is written with an explicit string type and, when it starts with a
character a spreadsheet could read as a formula, with Excel's quote prefix.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

import numpy as np
import pandas as pd
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill

from targeting.report.excel import xml_rows

MAX_WIDTH = 60
MIN_WIDTH = 8
TEXT_WIDTH = MAX_WIDTH  # the Summary's first column, where its sentences wrap

# Characters that make a spreadsheet read a typed-in string as a formula (or a DDE payload), plus
# leading whitespace controls that some tools strip before deciding.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

BOLD = Font(bold=True)
TITLE_FONT = Font(bold=True, size=14)
SECTION_FONT = Font(bold=True, size=12)
WRAP = Alignment(wrap_text=True, vertical="top")
#: Fill and font of a row, by the subgroup flag it carries.
FLAG_STYLES = {
    "harmed": (PatternFill(fill_type="solid", fgColor="FFC7CE"), Font(color="9C0006")),
    "possibly_harmed": (PatternFill(fill_type="solid", fgColor="FFEB9C"), Font(color="9C5700")),
    "benefits": (PatternFill(fill_type="solid", fgColor="C6EFCE"), Font(color="006100")),
}

_FMT_INT = "#,##0"
_FMT_SHARE = "0.0%"
_FMT_P = "0.0000"
_FMT_MONEY_WHOLE = "#,##0"
_FMT_MONEY = "#,##0.00"
_FMT_SMALL = "#,##0.000000"  # the most decimals shown: a smaller value reads as 0, never as 1E-05


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

def yes_no(v: Any) -> str | None:
    """``Yes``/``No`` for a truth value; None (an empty cell) when it is missing."""
    if is_missing(v):
        return None
    return "Yes" if bool(v) else "No"


def is_missing(v: Any) -> bool:
    """True for None, NaN, infinities and pandas' missing markers (an empty cell)."""
    if v is None:
        return True
    if isinstance(v, float) and not math.isfinite(v):
        return True
    try:
        return bool(pd.isna(v)) if not isinstance(v, (str, bytes, list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def plain(v: Any) -> Any:
    """Lists and dicts from the model shown as readable text; scalars unchanged."""
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, (list, tuple)):
        return "; ".join(str(plain(x)) for x in v)
    return v


def auto_kind(v: Any) -> str:
    """The display kind of a setting's value: ``bool``, ``text`` or ``general``."""
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (str, list, tuple, dict)):
        return "text"
    return "general"


def number(v: Any) -> float | int | None:
    """``v`` as a finite number a cell can hold (booleans as 0/1), or None if it is not one."""
    if v is None or isinstance(v, (str, bytes)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def clean_text(s: str) -> str:
    """``s`` without the characters XML cannot hold, cut to the length a cell holds."""
    s = xml_rows.ILLEGAL_XML_CHARACTERS.sub("", s)
    return s[:xml_rows.MAX_CELL_TEXT]


# --------------------------------------------------------------------------------------------
# Number formats
# --------------------------------------------------------------------------------------------

def effect_format(v: float) -> str:
    """A number format showing ``v`` to three significant digits (the stored value stays exact)."""
    a = abs(v)
    if a == 0:
        return "0"
    if a < 1e-4:
        return _FMT_SMALL
    if a >= 1e12:
        return "#,##0"
    decimals = max(0, 2 - math.floor(math.log10(a)))
    if decimals and round(a, decimals) >= 10 ** (3 - decimals):  # e.g. 0.09996 shows as 0.100
        decimals -= 1
    return "#,##0." + "0" * decimals if decimals else "#,##0"


def column_format(values: list[Any], kind: str) -> str | None:
    """The one number format of a column of effects: three significant digits for its typical
    (median) size, so every cell of the column shows the same decimals; ``None`` for other kinds,
    whose format depends on the kind alone."""
    if kind != "effect":
        return None
    sizes = sorted(abs(x) for x in map(number, values) if x is not None and x != 0)
    return effect_format(sizes[len(sizes) // 2]) if sizes else None


def _number_format(num: float | int, kind: str) -> str | None:
    """The number format of a number of display kind ``kind``; None for General."""
    whole = float(num).is_integer()
    if kind == "int":
        return _FMT_INT if whole else effect_format(num)
    if kind == "share":
        return _FMT_SHARE
    if kind == "effect":
        return effect_format(num)
    if kind == "p":
        return _FMT_P
    if kind == "money":
        return _FMT_MONEY_WHOLE if whole else _FMT_MONEY
    return None


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------

def text_cell(ws, s: Any, *, font=None, fill=None, alignment=None) -> WriteOnlyCell:
    """A cell that always holds ``s`` as text (never a formula, error code or number)."""
    text = clean_text(str(s))
    cell = WriteOnlyCell(ws)
    cell.value = text          # openpyxl would infer a formula for "=..." or an error for "#N/A" ...
    cell.data_type = "s"       # ... so the type is forced back to a plain string
    if text.startswith(FORMULA_START):
        cell.quotePrefix = True  # and Excel keeps it as text even when the cell is edited
    return _styled(cell, font=font, fill=fill, alignment=alignment)


def value_cell(ws, value: Any, kind: str, *, font=None, fill=None,
               number_format: str | None = None) -> WriteOnlyCell | None:
    """One data cell, styled by ``kind``; ``None`` for an empty unstyled cell.

    ``kind`` is one of text, int, share, effect, p, bool, money or general; ``number_format``, when
    given, is the column's format and replaces the one the value alone would get.
    """
    if kind == "bool" or isinstance(value, (bool, np.bool_)):
        value = yes_no(value)
    if isinstance(value, (list, tuple, dict)):
        value = plain(value)
    if is_missing(value):
        return None if fill is None else _styled(WriteOnlyCell(ws), fill=fill)
    num = None if isinstance(value, str) or kind == "text" else number(value)
    if num is None:
        alignment = WRAP if len(str(value)) > MAX_WIDTH else None
        return text_cell(ws, value, font=font, fill=fill, alignment=alignment)
    return _styled(WriteOnlyCell(ws, num), number_format=number_format or _number_format(num, kind), font=font,
                   fill=fill)


def style_id(ws, **style: Any) -> int:
    """Register a cell style in the workbook (as openpyxl does for a styled cell) and return its id."""
    return _styled(WriteOnlyCell(ws), **style).style_id


def _styled(cell: WriteOnlyCell, **style: Any) -> WriteOnlyCell:
    """``cell`` with each style attribute given (not None) set."""
    for name, value in style.items():
        if value is not None:
            setattr(cell, name, value)
    return cell


# --------------------------------------------------------------------------------------------
# Widths
# --------------------------------------------------------------------------------------------

def display_len(value: Any, kind: str) -> int:
    """Rough width, in characters, of a value as its number format displays it."""
    if kind == "bool":
        return 3
    if value is None:
        return 0
    if isinstance(value, (list, tuple, dict)):
        value = plain(value)
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    num = number(value)
    if num is None:
        return len(str(value))
    if kind == "share":
        return len(f"{num:.1%}")
    if kind == "p":
        return len(f"{num:.4f}")
    if kind in ("int", "money"):
        return len(f"{num:,.2f}") if not float(num).is_integer() else len(f"{num:,.0f}")
    if kind == "effect":
        return min(12, len(f"{num:,.3g}") + 2)
    return min(15, len(str(value)))


def clamp_width(width: int) -> int:
    """A column width within the pack's bounds."""
    return min(MAX_WIDTH, max(MIN_WIDTH, width))
