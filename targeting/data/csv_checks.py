"""What pandas' CSV parser lets pass silently: lines with too few fields, and numbers written
with decimal commas."""

from __future__ import annotations

import csv
import io
import re

import pandas as pd

from targeting.errors import InputError, format_rows


def refuse_short_lines(text: str, sep: str, name: str, *, first_line: int = 1) -> None:
    """Refuse a CSV whose data lines have fewer fields than its header names.

    pandas pads such a line with empty values. When the missing field is in the middle, every
    value after it sits under the wrong column; the file cannot say which case it is, so it is
    refused (trailing empty fields included: writing them is what makes a CSV rectangular).

    Parameters
    ----------
    text : str
        The file's text from its header line on.
    sep : str
        The field separator.
    name : str
        The file's name, for the message.
    first_line : int
        The line number of the header in the file (2 after Excel's ``sep=`` line).

    Raises
    ------
    InputError
        Naming the first lines (as a text editor or spreadsheet numbers them), how many there
        are, and the number of fields each line needs.
    """
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, [])
    # Empty names after the last real one are stray separators, not columns a line must fill.
    width = max((i + 1 for i, field in enumerate(header) if field.strip()), default=0)
    short, start = [], reader.line_num + 1
    for record in reader:
        if record and len(record) < width:  # blank lines are skipped, as pandas does
            short.append((start + first_line - 1, len(record)))
        start = reader.line_num + 1
    if not short:
        return
    line, fields = short[0]
    lines = format_rows([line for line, _ in short])
    raise InputError(
        f"CSV file '{name}' has {len(short):,} line{'s' if len(short) > 1 else ''} with fewer fields than the "
        f"{width} names of its header line: line{'s' if len(short) > 1 else ''} {lines} (line numbers as a text "
        f"editor or spreadsheet shows them; line {line} has {fields} field{'s' if fields != 1 else ''}). A missing "
        "field would put the values after it under the wrong columns. Give every line "
        f"{width} fields (an empty value is written as nothing between two separators, e.g. '1,,3'), or export "
        "the file again."
    )


# A number written with a decimal comma, as European spreadsheets export it: "1,5", "-0,25", "12".
_DECIMAL_COMMA = re.compile(r"[+-]?\d+(,\d+)?")


def decimal_comma_hint(texts) -> str:
    """Advice for text cells in a column of numbers when some are numbers with a decimal comma
    (the column mixes "1,5" and "1.5", so it was not read as numbers); else ''."""
    commas = [t for t in texts if "," in str(t) and _DECIMAL_COMMA.fullmatch(str(t).strip())]
    if not commas:
        return ""
    return (f" {commas[0]!r} looks like a number written with a decimal comma, while other cells use a decimal "
            "point: write every number of the column the same way (all '1.5', or all '1,5').")


def read_decimal_commas(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns whose every value is a number with a decimal comma ("1,5") read as numbers.

    Such a column would otherwise be text: a covariate of categories, or an outcome refused as
    not numeric. A column mixing "1,5" and "1.5", or holding other text, is left as it is.
    """
    for column in frame.columns:
        values = frame[column]
        if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
            continue
        present = pd.unique(values.dropna().astype(str).str.strip())
        if (len(present) and any("," in v for v in present[:1000])
                and all(_DECIMAL_COMMA.fullmatch(v) for v in present)):
            frame[column] = pd.to_numeric(values.astype(str).str.strip().str.replace(",", ".", regex=False)
                                          .where(values.notna()), errors="coerce")
    return frame
