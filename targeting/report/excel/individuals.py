"""The Individuals sheet: one row per person, built as XML in vectorised blocks.

openpyxl writes the sheet's widths, frozen header, filter and header row; up to a million data
rows are built in blocks with ``xml_rows`` (a cell object per value takes minutes for a million
people) and spliced into the saved workbook. Cells follow the per-value rules of the other sheets
(``cells``): effects to three significant digits, Yes/No for truth values, strings as text.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl.utils import get_column_letter

from targeting.model import glossary
from targeting.report.excel import cells, layout, xml_rows
from targeting.report.excel.layout import Col

__all__ = ["DEFLATE_LEVEL", "columns_of", "start_sheet"]

_CHUNK = 50_000  # people per block of rows built at once
#: Fastest deflate for the sheet: 4x faster than the default level for a 20% larger file.
DEFLATE_LEVEL = 1


def columns_of(frame: pd.DataFrame) -> list[Col]:
    """The sheet's columns: one per column of ``frame``, with its display kind and definition."""
    cols = []
    for j, name in enumerate(frame.columns):
        key = str(name)
        dtype = frame.iloc[:, j].dtype
        if key == "treat" or pd.api.types.is_bool_dtype(dtype):
            kind = "bool"
        elif key in ("row", "id") and pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            kind = "general"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "effect"
        else:
            kind = "text"
        definition = glossary.INDIVIDUAL_COLUMNS.get(key, glossary.OTHER_INDIVIDUAL_COLUMN)
        cols.append(Col(key, kind, header=key, definition=definition))
    return cols


def start_sheet(ws, frame: pd.DataFrame, columns: list[Col], max_people: int) -> Iterator[memoryview]:
    """Lay out the Individuals sheet and return the XML of its data rows, block by block.

    Parameters
    ----------
    ws : openpyxl write-only worksheet
        The empty sheet; it receives the widths, frozen header, filter and header row.
    frame : pandas.DataFrame
        One row per person.
    columns : list of Col
        ``columns_of(frame)``.
    max_people : int
        Rows written at most (the sheet is cut there).

    Returns
    -------
    iterator of memoryview
        Row XML for ``xml_rows.insert_rows``. The styles its cells use are registered here,
        before the workbook is saved.
    """
    n = min(len(frame), max_people)
    head = frame.head(2000)
    for j, col in enumerate(columns):
        w = len(col.title) + 3
        if col.kind == "text":
            lens = head.iloc[:, j].astype(str).str.len()
            w = max(w, int(lens.max()) + 1 if len(lens) else w)
        elif col.kind == "effect":
            w = max(w, 11)
        elif col.kind == "general":
            w = max(w, len(str(n)) + 2)
        ws.column_dimensions[get_column_letter(j + 1)].width = cells.clamp_width(w)
    ws.freeze_panes = "A2"
    ref = f"A1:{get_column_letter(max(1, len(columns)))}{max(n, 1) + 1}"  # a table holds a row at least
    # before the first row, as it is part of the sheet's head; upright, since the list is long and narrow
    layout.print_setup(ws, ref, header_row=1, orientation="portrait")
    ws.append([cells.text_cell(ws, c.title, font=cells.BOLD) for c in columns])
    if columns:
        layout.add_table(ws, "Individuals", ref, [c.title for c in columns])
    # one number format per column of effects, for its typical (median) size, as on the other sheets
    effect_styles = {col.key: cells.style_id(ws, number_format=_column_effect_format(frame.iloc[:n, j]))
                     for j, col in enumerate(columns) if col.kind == "effect"}
    quote_style = cells.style_id(ws, quotePrefix=True)  # the style text_cell gives formula-like text
    return _rows(frame, columns, n, effect_styles, quote_style)


def _column_effect_format(values: pd.Series) -> str:
    v = np.abs(values.to_numpy(dtype=np.float64, na_value=np.nan))
    v = v[np.isfinite(v) & (v != 0)]
    return cells.effect_format(float(np.median(v))) if len(v) else "0"


def _rows(frame: pd.DataFrame, columns: list[Col], n: int, effect_styles: dict[str, int],
          quote_style: int) -> Iterator[memoryview]:
    letters = [get_column_letter(j) for j in range(1, len(columns) + 1)]
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        rows = xml_rows.int_text(np.arange(start + 2, stop + 2))  # row 1 is the header
        block = [_cells(frame.iloc[start:stop, j], col.kind, letter, rows, effect_styles.get(col.key), quote_style)
                 for j, (col, letter) in enumerate(zip(columns, letters))]
        yield xml_rows.rows_xml(rows, block)


def _cells(values: pd.Series, kind: str, letter: str, rows: pa.Array, effect_style: int | None,
           quote_style: int) -> pa.Array:
    """Cell XML of one column of a block of people, by the per-value rules of the other sheets.

    Floats (kind ``effect``) are numbers in the column's one format (``effect_style``); ``bool`` columns are
    Yes/No text; ``general`` numbers are plain numbers; strings are text (quote-prefixed when they
    look like a formula). Missing and non-finite values are empty cells.
    """
    dtype = values.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    if kind == "effect":
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return xml_rows.number_cells(letter, rows, xml_rows.float_text(v), effect_style)
    if kind == "bool" and numeric:
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        yes = pa.array(v != 0, mask=~np.isfinite(v))
        return xml_rows.text_cells(letter, rows, pc.if_else(yes, "Yes", "No"))
    if kind == "general" and numeric:
        if pd.api.types.is_integer_dtype(dtype):
            numbers = xml_rows.int_text(_arrow(values))
        else:
            numbers = xml_rows.float_text(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return xml_rows.number_cells(letter, rows, numbers)
    text = _arrow_text(values) if kind == "text" else None
    if text is not None:
        return xml_rows.text_cells(letter, rows, text, quote_style=quote_style, quote_starts=cells.FORMULA_START)
    # Mixed or unusual types: the value-by-value rules, a Python loop over this column only.
    convert = cells.yes_no if kind == "bool" else _loose_value
    loose = [convert(v) for v in values.tolist()]
    numbers = pa.array([None if x is None or isinstance(x, str) else repr(x) for x in loose], pa.large_string())
    text = pa.array([x if isinstance(x, str) else None for x in loose], pa.large_string())
    return pc.coalesce(xml_rows.number_cells(letter, rows, numbers),
                       xml_rows.text_cells(letter, rows, text, quote_style=quote_style,
                                           quote_starts=cells.FORMULA_START))


def _arrow_text(values: pd.Series) -> pa.Array | None:
    """The column as Arrow strings (missing values null) if it holds only strings, else None."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if isinstance(values.dtype, pd.StringDtype):
        return _arrow(values.array, pa.large_string())
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return _arrow(values.to_numpy(), pa.large_string())
    return None


def _arrow(values: Any, type: pa.DataType | None = None) -> pa.Array:
    """Values as one contiguous Arrow array (missing values null); Arrow-backed columns may come in chunks."""
    arr = pa.array(values, type=type, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _loose_value(v: Any) -> Any:
    """A value of a mixed-type column as its cell holds it: None (empty), a number or text."""
    if isinstance(v, (bool, np.bool_)) or cells.is_missing(v):
        return cells.yes_no(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return str(v)
