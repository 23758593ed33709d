"""Bulk worksheet rows for ``.xlsx`` files: cells built as XML text, column by column.

openpyxl builds one Python object per cell, which takes minutes for a million-row sheet. Here a
block of rows is built with Arrow's vectorised string kernels (one array of cell XML per column,
one array of row XML per block) and spliced into the sheet that openpyxl already wrote with its
header, panes, column widths and filter.

Cells are written the way openpyxl writes them: numbers as ``<v>`` text, strings as inline
strings, missing values as absent cells. Style ids (``s="N"``) must already be registered in the
workbook's styles, e.g. through openpyxl's ``cell.style_id``.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from pathlib import Path
from typing import IO, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from targeting.data.xlsx_parts import sheet_part

__all__ = ["ILLEGAL_XML_CHARACTERS", "MAX_CELL_TEXT", "float_text", "int_text", "number_cells", "text_cells", "rows_xml", "insert_rows"]

#: Characters an Excel cell holds at most.
MAX_CELL_TEXT = 32_767

# Large strings (64-bit offsets): a block of long texts may pass 2 GiB of XML.
_STR = pa.large_string()
# Characters XML 1.0 cannot hold: openpyxl's ILLEGAL_CHARACTERS_RE (C0 controls other than tab,
# LF and CR) plus the non-characters U+FFFE and U+FFFF, which would make the part unreadable.
_ILLEGAL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"
#: The same characters (and lone surrogates, which no UTF-8 part can hold) for Python strings.
ILLEGAL_XML_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
# Leading or trailing XML whitespace, which a reader may drop unless xml:space="preserve".
_EDGE_SPACE = r"^[ \t\n\r]|[ \t\n\r]$"
# CR is written as a reference: a literal one would be read back as LF.
_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\r", "&#13;"))


def float_text(values: np.ndarray) -> pa.Array:
    """Text of each float that reads back as exactly the same double.

    Parameters
    ----------
    values : numpy.ndarray
        Floats (converted to float64).

    Returns
    -------
    pyarrow.Array
        Large strings, shortest round-trip form (e.g. ``0.1``, ``1e-7``); null where the value is
        NaN or infinite, which a cell cannot hold.
    """
    values = np.asarray(values, dtype=np.float64)
    return pc.cast(pa.array(values, mask=~np.isfinite(values)), _STR)


def int_text(values: np.ndarray) -> pa.Array:
    """Decimal text of each integer, as large strings.

    Parameters
    ----------
    values : numpy.ndarray or pyarrow.Array
        Integers; nulls of an Arrow array stay null.

    Returns
    -------
    pyarrow.Array
    """
    return pc.cast(values if isinstance(values, pa.Array) else pa.array(values), _STR)


def number_cells(column: str, rows: pa.Array, numbers: pa.Array, style: int | np.ndarray | None = None) -> pa.Array:
    """XML of numeric cells.

    Parameters
    ----------
    column : str
        Column letters, e.g. ``"C"``.
    rows : pyarrow.Array
        Row numbers as large strings (see ``int_text``), one per cell.
    numbers : pyarrow.Array
        Number text per cell (see ``float_text``, ``int_text``); null for no number.
    style : int, numpy.ndarray of int or None
        Style id of every cell, of each cell, or none (General).

    Returns
    -------
    pyarrow.Array
        One ``<c>`` element per row as large strings; null where ``numbers`` is null.
    """
    if style is None:
        attr: str | pa.Array = ""
    elif np.ndim(style) == 0:
        attr = f' s="{int(style)}"'
    else:
        ids, index = np.unique(np.asarray(style), return_inverse=True)
        attr = pa.array([f' s="{i}"' for i in ids], _STR).take(pa.array(index.ravel()))
    return _join(f'<c r="{column}', rows, '"', attr, "><v>", pc.cast(numbers, _STR), "</v></c>")


def text_cells(column: str, rows: pa.Array, text: pa.Array, *, quote_style: int | None = None,
               quote_starts: Sequence[str] = ()) -> pa.Array:
    """XML of text cells (inline strings), safe for any input string.

    Characters XML cannot hold are dropped, text is cut at ``MAX_CELL_TEXT`` characters, and
    markup characters are escaped. A string that is empty after this is an empty cell.

    Parameters
    ----------
    column : str
        Column letters, e.g. ``"B"``.
    rows : pyarrow.Array
        Row numbers as large strings, one per cell.
    text : pyarrow.Array
        Strings; null for no text.
    quote_style : int, optional
        Style id (one with Excel's quote prefix) for strings that start with one of
        ``quote_starts``, so a spreadsheet keeps them as text even when the cell is edited.
    quote_starts : sequence of str
        Single characters, e.g. ``"="``.

    Returns
    -------
    pyarrow.Array
        One ``<c>`` element per row as large strings; null where there is no text.
    """
    text = pc.cast(text, _STR)
    if pc.any(pc.match_substring_regex(text, _ILLEGAL)).as_py():
        text = pc.replace_substring_regex(text, _ILLEGAL, "")
    if pc.any(pc.greater(pc.utf8_length(text), MAX_CELL_TEXT)).as_py():
        text = pc.utf8_slice_codeunits(text, 0, MAX_CELL_TEXT)  # code points, like str slicing
    text = pc.if_else(pc.equal(pc.binary_length(text), 0), pa.scalar(None, _STR), text)
    attr: str | pa.Array = ' t="inlineStr"><is><t'
    if quote_style is not None and quote_starts:
        starts = "".join(f"\\x{{{ord(c):x}}}" for c in quote_starts)
        quoted = pc.match_substring_regex(text, f"^[{starts}]")
        attr = pc.if_else(quoted, pa.scalar(f' s="{int(quote_style)}"{attr}', _STR), pa.scalar(attr, _STR))
    space = pc.if_else(pc.match_substring_regex(text, _EDGE_SPACE),
                       pa.scalar(' xml:space="preserve">', _STR), pa.scalar(">", _STR))
    for char, entity in _ESCAPES:
        text = pc.replace_substring(text, char, entity)
    return _join(f'<c r="{column}', rows, '"', attr, space, text, "</t></is></c>")


def rows_xml(rows: pa.Array, cells: Sequence[pa.Array]) -> memoryview:
    """XML of a block of rows, ready to write into ``<sheetData>``.

    Parameters
    ----------
    rows : pyarrow.Array
        Row numbers as large strings.
    cells : sequence of pyarrow.Array
        Cell XML per column, in column order (see ``number_cells``, ``text_cells``); nulls are
        empty cells.

    Returns
    -------
    memoryview
        UTF-8 bytes of the ``<row>`` elements.
    """
    xml = _join('<row r="', rows, '">', *(pc.fill_null(c, "") for c in cells), "</row>")
    # Arrow stores an array's strings back to back, so the rows' XML is one slice of its data.
    offsets = np.frombuffer(xml.buffers()[1], dtype=np.int64)[xml.offset:xml.offset + len(xml) + 1]
    return memoryview(xml.buffers()[2])[offsets[0]:offsets[-1]]


def insert_rows(src: str | Path | IO[bytes], dest: str | Path, sheet: str, blocks: Iterable[bytes | memoryview],
                *, compresslevel: int | None = None) -> None:
    """Copy an ``.xlsx`` package, adding rows at the end of one sheet's data.

    Parameters
    ----------
    src : str, pathlib.Path or binary file
        The workbook as written (e.g. by openpyxl), with the sheet's first rows, if any.
    dest : str or pathlib.Path
        Where to write the completed workbook (overwritten if it exists).
    sheet : str
        Title of the sheet that receives the rows.
    blocks : iterable of bytes-like
        Row XML (see ``rows_xml``), consumed one block at a time. Row numbers must continue those
        already in the sheet, and any autofilter or dimension must already cover them.
    compresslevel : int, optional
        Deflate level (0-9) of the sheet's part; the zlib default if not given.

    Returns
    -------
    None
    """
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zout, \
            tempfile.TemporaryDirectory(prefix="xlsx_stream.") as tmp:
        part = sheet_part(zin, sheet)
        if part is None:
            raise KeyError(f"no sheet titled {sheet!r}")
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename != part:
                zout.writestr(info, data)
                continue
            end = data.rfind(b"</sheetData>")
            if end < 0:
                raise ValueError(f"sheet {sheet!r} has no <sheetData> element to add rows to")
            # Spooled to disk so the zip entry knows its size, and uses ZIP64 only when it must.
            staged = Path(tmp) / "sheet.xml"
            with open(staged, "wb") as out:
                out.write(data[:end])
                for block in blocks:
                    out.write(block)
                out.write(data[end:])
            zout.write(staged, part, compresslevel=compresslevel)


def _join(*parts: str | pa.Array) -> pa.Array:
    """Element-wise concatenation of string arrays and constants (null if any part is null)."""
    args = [pa.scalar(p, _STR) if isinstance(p, str) else p for p in parts]
    return pc.binary_join_element_wise(*args, pa.scalar("", _STR))
