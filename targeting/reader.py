"""Read the analyst's file: a workbook (.xlsx), a CSV or a Parquet file.

This module is one of the two places that touch files (the writers are the other). It returns
the data exactly as read plus the optional ``config`` sheet; judging the data is `prepare`'s job.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .config import config_sheet_to_dict
from .errors import InputError

SUPPORTED = (".xlsx", ".csv", ".parquet")


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
        ``.xlsx`` (data = sheet ``data``, else the first sheet; optional ``config`` sheet),
        ``.csv`` or ``.parquet``.

    Raises
    ------
    InputError
        When the file is missing, empty, of another type, or holds no data rows.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input file '{path}' does not exist. Check the path and try again.")
    if path.is_dir():
        raise InputError(f"Input '{path}' is a folder, not a file. Give the path of a .xlsx, .csv or .parquet file.")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(
            f"Input '{path.name}' has type '{suffix or 'none'}', which is not supported. "
            "Save it as .xlsx, .csv or .parquet."
        )
    if path.stat().st_size == 0:
        raise InputError(f"Input '{path.name}' is empty (0 bytes). Export the data again.")
    sheet_config: dict[str, Any] = {}
    data_sheet = None
    if suffix == ".xlsx":
        frame, sheet_config, data_sheet = _read_workbook(path)
    elif suffix == ".csv":
        frame = _read_csv(path)
    else:
        frame = _read_parquet(path)
    frame = _check_header(frame, path.name)
    return RawInput(frame, sheet_config, path.name, file_sha256(path), data_sheet)


def _read_workbook(path: Path):
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head.startswith(b"\xd0\xcf\x11\xe0"):
            raise InputError(
                f"'{path.name}' is an encrypted (password-protected) or old-style .xls workbook. "
                "Remove the password, or save it as an .xlsx workbook, and try again."
            )
        raise InputError(
            f"'{path.name}' is not an Excel workbook (it is not an .xlsx file inside). "
            "Open it in Excel or LibreOffice and save it as .xlsx, or save the data as .csv."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        names = set()
    if "xl/workbook.xml" not in names:
        raise InputError(
            f"'{path.name}' is a zip archive but not an Excel workbook. Save the data from Excel as .xlsx."
        )
    try:
        book = pd.ExcelFile(path, engine="calamine")
        sheets = book.sheet_names
        lowered = {s.strip().lower(): s for s in sheets}
        data_sheet = lowered.get("data", sheets[0] if sheets else None)
        if data_sheet is None:
            raise InputError(f"Workbook '{path.name}' has no sheets. Put the data on a sheet named 'data'.")
        frame = book.parse(data_sheet, header=0)
        config_rows: list = []
        config_name = lowered.get("config")
        if config_name is not None and config_name != data_sheet:
            cfg = book.parse(config_name, header=None)
            if cfg.shape[1] >= 2:
                config_rows = list(cfg.iloc[:, :2].itertuples(index=False, name=None))
            elif cfg.shape[1] == 1:
                raise InputError(
                    f"Sheet 'config' of '{path.name}' has one column; it needs two: key and value."
                )
    except InputError:
        raise
    except Exception as exc:  # calamine raises its own types for damaged files
        raise InputError(
            f"Workbook '{path.name}' could not be read ({type(exc).__name__}: {exc}). "
            "Open it in Excel or LibreOffice, save it again as .xlsx, and retry."
        ) from None
    return frame, config_sheet_to_dict(config_rows), data_sheet


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except UnicodeDecodeError:
        return pd.read_csv(path, sep=None, engine="python", encoding="latin-1")
    except pd.errors.EmptyDataError:
        raise InputError(f"CSV file '{path.name}' has no header row. Add a header line with column names.") from None
    except (pd.errors.ParserError, ValueError, TypeError) as exc:
        raise InputError(
            f"CSV file '{path.name}' could not be parsed ({exc}). Check that every row has the same "
            "number of fields, or save the data as .xlsx."
        ) from None


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:
        raise InputError(
            f"Parquet file '{path.name}' could not be read ({type(exc).__name__}). Write it again, or save as .csv."
        ) from None


def _check_header(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if frame.shape[1] == 0:
        raise InputError(f"'{name}' has no columns. Put a header row with column names above the data.")
    columns = [str(c).strip() for c in frame.columns]
    unnamed = [i + 1 for i, c in enumerate(columns) if not c or c.startswith("Unnamed:")]
    if unnamed and frame.iloc[:, [i - 1 for i in unnamed]].notna().any().any():
        raise InputError(
            f"'{name}' has data under an empty header in column(s) {', '.join(map(str, unnamed))}. "
            "Give every data column a name."
        )
    keep = [i for i, c in enumerate(columns) if c and not c.startswith("Unnamed:")]
    frame = frame.iloc[:, keep]
    columns = [columns[i] for i in keep]
    seen: dict[str, int] = {}
    for c in columns:
        seen[c] = seen.get(c, 0) + 1
    duplicated = [c for c, k in seen.items() if k > 1]
    if duplicated:
        raise InputError(
            f"'{name}' has duplicate column names: {', '.join(repr(d) for d in duplicated)}. "
            "Rename them so each column has its own name."
        )
    frame = frame.copy()
    frame.columns = columns
    # Trailing blank rows are spreadsheet padding; blank rows in the middle keep their place so
    # that row numbers in messages and outputs match what the analyst sees.
    filled = frame.notna().any(axis=1).to_numpy()
    last = int(filled.nonzero()[0].max()) + 1 if filled.any() else 0
    frame = frame.iloc[:last].reset_index(drop=True)
    if len(frame) == 0:
        raise InputError(f"'{name}' has a header but no data rows. Add one row per person below the header.")
    return frame
