"""Read the analyst's file: a workbook (.xlsx), a CSV or a Parquet file.

This module is one of the two places that touch files (the writers are the other). It returns
the data exactly as read plus the optional ``config`` sheet; judging the data is `prepare`'s job.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from targeting.config import config_sheet_to_dict
from targeting.data.csv_checks import read_decimal_commas, refuse_short_lines
from targeting.data.checks import external_link_findings
from targeting.data.xlsx_parts import cell_ref, column_letter, part_size_facts, unsaved_formulas_and_errors
from targeting.errors import InputError, rows_phrase

SUPPORTED = (".xlsx", ".csv", ".parquet")
#: Characters a cell may hold: Excel's own limit. Longer text is not a spreadsheet cell a person
#: typed, and would make every output that shows it huge.
MAX_CELL_CHARS = 32_767
#: Cells a workbook may span (A1 to its farthest cell): about 1 GB once read. Larger data are read
#: from .csv or .parquet, which hold no empty cells.
MAX_WORKBOOK_CELLS = 25_000_000
# A cell's text as stored in the XML: at most 6 bytes per character ("&quot;").
_MAX_CELL_BYTES = 6 * MAX_CELL_CHARS


@dataclass(frozen=True)
class RawInput:
    """A file as read: its data frame, config-sheet settings and identity."""

    frame: pd.DataFrame
    sheet_config: dict[str, Any]
    name: str
    sha256: str
    data_sheet: str | None


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (recorded in the provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_input(path: str | Path) -> RawInput:
    """Read an input file.

    Parameters
    ----------
    path : str or Path
        ``.xlsx`` (data = sheet ``data``, else the first sheet that is not ``config``; optional
        ``config`` sheet), ``.csv`` or ``.parquet``.

    Raises
    ------
    InputError
        When the file is missing, empty, of another type, damaged, or holds no usable data rows:
        the message says what is wrong, where (sheet, column, cells) and how to fix it.

    Notes
    -----
    In a workbook, blank rows and columns above and left of the header are skipped, and merged
    cells in the data take the value shown in the merged area (their top-left cell). Formulas
    whose results were never saved, and Excel error values (``#DIV/0!``, ``#N/A``), are refused:
    the file does not hold the numbers the analyst sees.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input file '{path}' does not exist. Check the path and try again.")
    if path.is_dir():
        raise InputError(f"Input '{path}' is a folder, not a file. Give the path of a .xlsx, .csv or .parquet file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        hint = {".xls": " (the old Excel format)", ".xlsb": " (Excel's binary format)",
                ".xlsm": " (an Excel workbook with macros)", ".ods": " (a LibreOffice spreadsheet)"}.get(suffix, "")
        raise InputError(
            f"Input '{path.name}' has type '{suffix or 'none'}'{hint}, which is not supported. "
            "Save it as .xlsx, .csv or .parquet."
        )
    try:
        if path.stat().st_size == 0:
            raise InputError(f"Input '{path.name}' is empty (0 bytes). Export the data again.")
        sheet_config: dict[str, Any] = {}
        data_sheet = None
        if suffix == ".xlsx":
            frame, sheet_config, data_sheet = _read_workbook(path)
        elif suffix == ".csv":
            frame = _read_csv(path)
        else:
            frame = _check_header(_read_parquet(path), f"'{path.name}'")
        if suffix != ".xlsx":  # the workbook's reader checks them, naming the sheet
            _refuse_long_cells(frame, f"'{path.name}'")
        # Notes on the file travel with its data (as plain dicts: pandas may write attrs as JSON);
        # `prepare` adds them to its findings.
        notes = external_link_findings(path, data_sheet) if suffix == ".xlsx" else []
        frame.attrs[READER_FINDINGS] = [asdict(note) for note in notes]
        return RawInput(frame, sheet_config, path.name, file_sha256(path), data_sheet)
    except OSError as exc:
        raise InputError(
            f"Input '{path.name}' could not be read ({exc.strerror or type(exc).__name__}). "
            "Check that the file is readable and not locked by another program, and try again."
        ) from None


def _is_binary(sample: bytes) -> bool:
    """True when a byte sample is not text (NUL bytes or many control characters)."""
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13)) + sample.count(127)
    return control > 0.01 * len(sample)


def _read_workbook(path: Path):
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if not zipfile.is_zipfile(path):
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise InputError(
                f"'{path.name}' is an encrypted (password-protected) or old-style .xls workbook. "
                "Remove the password, or save it as an .xlsx workbook, and try again."
            )
        if head.startswith(b"PK"):
            raise InputError(
                f"'{path.name}' is not an Excel workbook that can be opened: it looks damaged or incomplete "
                "(its zip structure is broken; a copy or download may have been cut short). Copy the file again, "
                "or open it in Excel or LibreOffice and save it as .xlsx."
            )
        if not _is_binary(head):
            raise InputError(
                f"'{path.name}' is a text file with an .xlsx name, not an Excel workbook. If it holds "
                "comma- or semicolon-separated values, rename it to .csv; otherwise open it in Excel or "
                "LibreOffice and save it as .xlsx."
            )
        raise InputError(
            f"'{path.name}' is not an Excel workbook (it is not an .xlsx file inside). "
            "Open it in Excel or LibreOffice and save it as .xlsx, or save the data as .csv."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        names = set()
    if "xl/workbook.xml" not in names:
        raise InputError(
            f"'{path.name}' is a zip archive but not an Excel workbook. Save the data from Excel as .xlsx."
        )
    _refuse_oversized_parts(path, names)
    try:
        book = pd.ExcelFile(path, engine="calamine")
        sheets = book.sheet_names
        lowered = {s.strip().lower(): s for s in sheets}
        config_name = lowered.get("config")
        data_sheet = lowered.get("data")
        if data_sheet is None:
            others = [s for s in sheets if s != config_name]
            if not others:
                if config_name is not None:
                    raise InputError(
                        f"Workbook '{path.name}' has a 'config' sheet but no data sheet. Put the data on a sheet "
                        "named 'data' (one header row, then one row per person)."
                    )
                raise InputError(f"Workbook '{path.name}' has no sheets. Put the data on a sheet named 'data'.")
            data_sheet = others[0]
        where = f"Sheet '{data_sheet}' of '{path.name}'"
        sheet = book.book.get_sheet_by_name(data_sheet)
        top = sheet.to_python(skip_empty_area=False, nrows=LEADING_ROWS + 1)
        header_row = next((i for i, row in enumerate(top) if any(_filled(v) for v in row)), None)
        if header_row is None:
            if len(top) > LEADING_ROWS:
                raise InputError(
                    f"{where} has no header in its first {LEADING_ROWS} rows. Put the header row with column "
                    "names at the top of the sheet, with one row per person below it."
                )
            raise InputError(
                f"{where} is empty. Put the data on it: one header row with column names, then one row per person."
            )
        raw_header = [_header_text(v) for v in top[header_row]]
        merged = [tuple(map(tuple, r)) for r in (sheet.merged_cell_ranges or [])]
        frame = pd.read_excel(_parsed_once(book, data_sheet, sheet), sheet_name=data_sheet, header=header_row)
        config_rows: list = []
        if config_name is not None and config_name != data_sheet:
            _refuse_unsaved_formulas_and_errors(path, config_name, 0, ["key", "value"],
                                                f"Sheet '{config_name}' of '{path.name}'")
            cfg = pd.read_excel(book, sheet_name=config_name, header=None)
            if cfg.shape[1] >= 2:
                config_rows = list(cfg.iloc[:, :2].itertuples(index=False, name=None))
            elif cfg.shape[1] == 1:
                raise InputError(
                    f"Sheet 'config' of '{path.name}' has one column; it needs two: key in column A and value "
                    "in column B (e.g. 'budget' | '30%')."
                )
    except InputError:
        raise
    except Exception as exc:  # calamine raises its own types for damaged files
        raise InputError(
            f"Workbook '{path.name}' could not be read ({type(exc).__name__}: {str(exc)[:200]}). "
            "Open it in Excel or LibreOffice, save it again as .xlsx, and retry."
        ) from None
    _refuse_unsaved_formulas_and_errors(path, data_sheet, header_row, raw_header, where)
    frame = _fill_merged(frame, merged, header_row)
    header_merges = [r for r in merged if r[0][0] <= header_row <= r[1][0] and r[0][1] != r[1][1]]
    frame = _check_header(frame, where, raw_header=raw_header, header_row=header_row, header_merges=header_merges)
    _refuse_long_cells(frame, where)
    return frame, config_sheet_to_dict(config_rows), data_sheet


def _parsed_once(book: pd.ExcelFile, name: str, sheet) -> pd.ExcelFile:
    """``book``, whose reader hands pandas the sheet ``name`` already parsed as ``sheet``.

    calamine parses a whole sheet whenever it is asked for one (1.2 s for 100,000 rows x 24
    columns), and the header row and merged ranges needed it before ``read_excel`` asks again.
    pandas keeps its reader private: where it is not where this expects, the sheet is parsed twice.
    """
    reader = getattr(book, "_reader", None)
    original = getattr(reader, "get_sheet_by_name", None)
    if original is not None:
        reader.get_sheet_by_name = lambda asked: sheet if asked == name else original(asked)
    return book


LEADING_ROWS = 100
#: Key of ``DataFrame.attrs`` holding the findings the reader made about the file (as dicts).
READER_FINDINGS = "reader_findings"


def _refuse_oversized_parts(path: Path, names: set[str]) -> None:
    """Refuse, before reading, a workbook whose sheets hold over-long text or span too many cells."""
    parts = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    parts += [n for n in names if n == "xl/sharedStrings.xml"]
    with zipfile.ZipFile(path) as archive:
        for part in parts:
            cells, long_text, (rows, columns) = part_size_facts(archive, part, text_limit=_MAX_CELL_BYTES)
            if long_text:
                raise InputError(
                    f"Workbook '{path.name}' has a cell holding more than {MAX_CELL_CHARS:,} characters (Excel's limit "
                    f"for a cell), in its part '{part}'. Such a cell is not data a spreadsheet can show; remove it, "
                    "or save the data from Excel as .csv."
                )
            if rows * columns > MAX_WORKBOOK_CELLS:
                raise InputError(
                    f"Workbook '{path.name}' has cells as far as row {rows:,} and column {column_letter(columns - 1)} "
                    f"({rows * columns:,} cells to read, more than the {MAX_WORKBOOK_CELLS:,} this tool reads from a "
                    "workbook). Delete stray cells far from the data (Ctrl+End shows the last one), or save the data "
                    "as .csv or .parquet."
                )


def _holds_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def _refuse_long_cells(frame: pd.DataFrame, where: str) -> None:
    """Refuse text cells (or column names) longer than a spreadsheet cell can hold."""
    long_names = [c for c in frame.columns if len(str(c)) > MAX_CELL_CHARS]
    if long_names:
        raise InputError(f"{where} has a column name of {len(str(long_names[0])):,} characters, more than the "
                         f"{MAX_CELL_CHARS:,} a spreadsheet cell holds. Give the column a short name.")
    for column in frame.columns:
        values = frame[column]
        if not _holds_text(values):
            continue
        if values.dtype == object:
            lengths = values.map(lambda v: len(v) if isinstance(v, (str, bytes)) else 0).to_numpy()
        else:  # a string dtype: one vectorised pass
            lengths = values.str.len().fillna(0).to_numpy()
        if lengths.max(initial=0) > MAX_CELL_CHARS:
            rows = (lengths > MAX_CELL_CHARS).nonzero()[0] + 1
            raise InputError(
                f"{where}: column '{str(column)[:80]}' has text longer than {MAX_CELL_CHARS:,} characters (a "
                f"spreadsheet cell's limit) in {rows_phrase(rows)}. Such text is not a value to analyse; "
                "shorten or remove it, or leave the column out with --exclude."
            )


def _filled(value) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip()) and not (
        isinstance(value, float) and math.isnan(value))


def _header_text(value) -> str:
    """A header cell as the column name pandas would give it ('' when empty)."""
    if not _filled(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _fill_merged(frame: pd.DataFrame, merged, header_row: int) -> pd.DataFrame:
    """Give every cell of a merged area in the data the value shown there (its top-left cell)."""
    ranges = [((r0, c0), (r1, c1)) for (r0, c0), (r1, c1) in merged if r0 > header_row]
    if not ranges:
        return frame
    columns = {}
    for (r0, c0), (r1, c1) in ranges:
        top_row = r0 - header_row - 1
        if top_row >= len(frame) or c0 >= frame.shape[1]:
            continue
        value = frame.iat[top_row, c0]
        for c in range(c0, min(c1, frame.shape[1] - 1) + 1):
            values = columns.setdefault(c, frame.iloc[:, c].astype(object).tolist())
            for r in range(top_row, min(r1 - header_row - 1, len(frame) - 1) + 1):
                values[r] = value
    frame = frame.copy()
    for c, values in columns.items():
        frame.isetitem(c, pd.Series(values, index=frame.index))
    return frame


def _refuse_unsaved_formulas_and_errors(path: Path, sheet_name: str, header_row: int, raw_header: list[str],
                                        where: str) -> None:
    cells = [c for c in unsaved_formulas_and_errors(path, sheet_name) if c[0] >= header_row]
    if not cells:
        return

    def by_column(items) -> str:
        groups: dict[int, list] = {}
        for row, col, _, text in items:
            groups.setdefault(col, []).append((row, text))
        parts = []
        for col, members in list(groups.items())[:3]:
            name = raw_header[col] if col < len(raw_header) and raw_header[col] else None
            label = f"column '{name}'" if name else f"column {column_letter(col)}"
            shown = ", ".join(cell_ref(r, col) for r, _ in members[:5])
            if len(members) > 5:
                shown += f" and {len(members) - 5} more"
            codes = sorted({t for _, t in members if t})
            parts.append(f"{label}: {len(members)} cell{'s' if len(members) > 1 else ''} ({shown})"
                         + (f", showing {', '.join(codes[:3])}" if codes else ""))
        if len(groups) > 3:
            parts.append(f"and {len(groups) - 3} more columns")
        return "; ".join(parts)

    formulas = [c for c in cells if c[2] == "formula"]
    errors = [c for c in cells if c[2] == "error"]
    if formulas:
        raise InputError(
            f"{where} has formulas whose results were never saved in the file, so their values are unknown "
            f"({by_column(formulas)}). This happens when a program that cannot calculate wrote the workbook. "
            "Open the file in Excel or LibreOffice and save it (that stores the results), or replace the "
            "formulas by their values (Copy, then Paste Special > Values)."
        )
    raise InputError(
        f"{where} has Excel error values, which are failed calculations rather than data "
        f"({by_column(errors)}). Fix the formulas that produce them, or clear those cells if the values are "
        "unknown (empty cells are handled as missing)."
    )


def _read_csv(path: Path) -> pd.DataFrame:
    where = f"'{path.name}'"
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export: UTF-16, tab-separated
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            pass
    if _is_binary(data[:65536]):
        raise InputError(
            f"CSV file '{path.name}' is not text (it contains binary data). Export the data again as CSV "
            "(comma-separated text), or as .xlsx."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # every byte decodes; accented names from older exports survive
    declared = re.match(r"sep=(.)\r?\n", text)  # Excel's hint line naming the separator
    if declared:
        text = text[declared.end():]
    try:
        # Sniff the separator from the header line (what pandas' python engine does with sep=None),
        # then parse with the C engine: about ten times faster on large files.
        sep = declared.group(1) if declared else csv.Sniffer().sniff(text[:text.find("\n")] if "\n" in text else text).delimiter
        frame = pd.read_csv(io.StringIO(text), sep=sep)
        header = pd.read_csv(io.StringIO(text), sep=sep, header=None, nrows=1, dtype=str,
                             keep_default_na=False, index_col=False)
    except pd.errors.EmptyDataError:
        raise InputError(f"CSV file '{path.name}' has no header row. Add a header line with column names.") from None
    except (pd.errors.ParserError, csv.Error, ValueError, TypeError, IndexError) as exc:
        raise InputError(
            f"CSV file '{path.name}' could not be parsed ({str(exc)[:200]}). Check that every row has the same "
            "number of fields (quote text that contains the separator), or save the data as .xlsx."
        ) from None
    if not isinstance(frame.index, pd.RangeIndex):
        raise InputError(
            f"CSV file '{path.name}' has more fields in its data rows than names in its header line "
            f"({frame.shape[1]} names), so the columns would not line up. Add the missing column names to the "
            "header line, or remove the extra separators at the ends of the rows."
        )
    refuse_short_lines(text, sep, path.name, first_line=2 if declared else 1)
    raw_header = [_header_text(v) for v in header.iloc[0].tolist()] if len(header) else None
    frame = _check_header(frame, where, raw_header=raw_header)
    _refuse_long_cells(frame, where)
    return read_decimal_commas(frame)


# Values Parquet can hold that are not one number or text per cell (list, struct and binary columns).
_NESTED = (list, tuple, dict, np.ndarray, bytes, bytearray)


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise InputError(
            f"Parquet file '{path.name}' could not be read ({type(exc).__name__}). Write it again, or save as .csv."
        ) from None
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object:
            continue
        nested = [i for i, v in enumerate(values) if isinstance(v, _NESTED)]
        if nested:
            kinds = {type(values.iloc[i]).__name__ for i in nested}
            rows = [i + 1 for i in nested]
            what = "raw bytes" if kinds <= {"bytes", "bytearray"} else "lists or records"
            raise InputError(
                f"Parquet file '{path.name}': column '{column}' holds {what} ({', '.join(sorted(kinds))}), not one "
                f"number or text per person ({rows_phrase(rows)}). Flatten it into plain columns (or decode the "
                f"bytes as text), or drop it, and write the file again."
            )
    return frame


def _check_header(frame: pd.DataFrame, where: str, *, raw_header: list[str] | None = None,
                  header_row: int | None = None, header_merges=()) -> pd.DataFrame:
    """Name the columns from the header row as written, refusing empty or repeated names.

    ``header_row`` (0-based) is given for workbooks: places are then named as cells (``D1``);
    otherwise as column numbers.
    """
    if frame.shape[1] == 0:
        raise InputError(f"{where} has no columns. Put a header row with column names above the data.")
    width = frame.shape[1]
    if raw_header is not None and len(raw_header) >= width:
        columns = list(raw_header[:width])
    else:
        columns = [str(c).strip() for c in frame.columns]
        columns = ["" if c.startswith("Unnamed:") else c for c in columns]

    def place(i: int) -> str:
        return f"cell {cell_ref(header_row, i)}" if header_row is not None else f"column {i + 1}"

    unnamed = [i for i, c in enumerate(columns) if not c]
    with_data = [i for i in unnamed if frame.iloc[:, i].notna().any()]
    if with_data:
        merged_note = ""
        covering = [((r0, c0), (r1, c1)) for (r0, c0), (r1, c1) in header_merges
                    if any(c0 <= i <= c1 for i in with_data)]
        if covering:
            (r0, c0), (r1, c1) = covering[0]
            merged_note = (f" Header cells {cell_ref(r0, c0)}:{cell_ref(r1, c1)} are merged, so only the first "
                           "column under them has a name; unmerge them and type a name in each.")
        shown = ", ".join(place(i) for i in with_data[:5]) + (f" and {len(with_data) - 5} more" if len(with_data) > 5 else "")
        raise InputError(
            f"{where} has data under an empty header ({shown}).{merged_note} Give every data column a name "
            "in the header row, or delete the column."
        )
    keep = [i for i, c in enumerate(columns) if c]
    positions: dict[str, list[int]] = {}
    for i in keep:
        positions.setdefault(columns[i], []).append(i)
    duplicated = {c: p for c, p in positions.items() if len(p) > 1}
    if duplicated:
        shown = "; ".join(f"{c!r} ({' and '.join(place(i) for i in p)})" for c, p in list(duplicated.items())[:5])
        raise InputError(
            f"{where} has duplicate column names: {shown}. Rename them so each column has its own name "
            "(names are compared without surrounding spaces)."
        )
    frame = frame.iloc[:, keep].copy()
    frame.columns = [columns[i] for i in keep]
    # Trailing blank rows are spreadsheet padding; blank rows in the middle keep their place so
    # that row numbers in messages and outputs match what the analyst sees.
    filled = frame.notna().any(axis=1).to_numpy()
    last = int(filled.nonzero()[0].max()) + 1 if filled.any() else 0
    frame = frame.iloc[:last].reset_index(drop=True)
    if len(frame) == 0:
        raise InputError(f"{where} has a header but no data rows. Add one row per person below the header.")
    return frame
