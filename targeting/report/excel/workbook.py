"""Render the analyst's Excel pack (``pack.xlsx``) from the ReportModel.

Like every renderer, this reads only the report model (the plain dict of ``ReportModel.to_dict()``)
and the per-person frame; it never computes a statistic. The work is shared out:

- ``sheets``: what each sheet holds, laid out from the report;
- ``layout``: how a laid-out sheet is streamed into a worksheet (headers, filters, tables, chart);
- ``cells``: number formats, styles, widths and text made safe for a cell;
- ``individuals``: the Individuals sheet, whose rows are built in bulk (``xml_rows``).

The workbook is written in openpyxl's write-only (streaming) mode, except the Individuals sheet's
data rows: up to a million of them are built as XML in vectorised blocks and spliced into the
sheet openpyxl wrote, which keeps time and memory modest.
"""

from __future__ import annotations

import io
import os

import pandas as pd
from openpyxl import Workbook

from targeting.format import fmt_int
from targeting.report.excel import individuals as individuals_sheet
from targeting.report.excel import xml_rows
from targeting.report.excel.layout import write_sheet
from targeting.report.excel.sheets import INDIVIDUALS, SHEET_NAMES, notes_sheet, report_sheets

__all__ = ["write_workbook", "SHEET_NAMES", "EXCEL_MAX_ROWS"]

#: Rows in an Excel worksheet, header included.
EXCEL_MAX_ROWS = 1_048_576


def write_workbook(report: dict, individuals: pd.DataFrame, path) -> None:
    """Write the analyst's Excel pack for one report.

    Parameters
    ----------
    report : dict
        The report model as plain data (``ReportModel.to_dict()``, the content of ``report.json``).
        Missing numbers may be ``None``; they are written as empty cells.
    individuals : pandas.DataFrame
        One row per person with columns ``row``, optionally ``id``, ``cate``, ``cate_low``,
        ``cate_high``, ``treat`` and ``leaf``. Other columns are written as they are.
    path : str or os.PathLike
        Where to write the ``.xlsx`` file (overwritten if it exists).

    Returns
    -------
    None

    Raises
    ------
    KeyError
        If ``report`` lacks a key that every report has (nothing is written then).

    Notes
    -----
    Sheets, in order: Summary, Policy, Values, Budget curve, Subgroups, Harmed, Risk strata,
    Balance, Diagnostics, Individuals, Settings & provenance, Notes (see ``SHEET_NAMES``).

    The Individuals sheet holds at most ``EXCEL_MAX_ROWS - 1`` people (Excel's row limit, header
    included). When the frame is longer the sheet is cut there, and the Summary and Notes sheets
    say so and point to ``individuals.csv``, which always holds everyone.

    Strings from the input are always stored as text: they are typed as strings and, when they
    begin with ``= + - @`` or a tab or line break, carry Excel's quote prefix, so a spreadsheet
    never evaluates them as formulas. Characters XML cannot hold are dropped and text longer than
    Excel's cell limit (32,767 characters) is cut.

    The function reads only ``report`` and ``individuals``; it computes no statistic.
    """
    n_people = len(individuals)
    max_people = EXCEL_MAX_ROWS - 1
    cap_note = None
    if n_people > max_people:
        cap_note = (f"The Individuals sheet shows the first {fmt_int(max_people)} of {fmt_int(n_people)} people "
                    f"(Excel's row limit); everyone is in individuals.csv next to this workbook.")

    specs = report_sheets(report, cap_note)
    people_columns = individuals_sheet.columns_of(individuals)
    tables = []  # (sheet, table, columns) of every table, in workbook order, for the Notes sheet
    for name in SHEET_NAMES:
        if name == INDIVIDUALS:
            tables.append((name, name, people_columns))
        elif name in specs:
            tables += [(name, t.name, t.columns) for t in specs[name].tables()]
    specs["Notes"] = notes_sheet(tables, cap_note)

    wb = Workbook(write_only=True)
    table_names: set[str] = set()
    people_rows = iter(())
    for name in SHEET_NAMES:
        ws = wb.create_sheet(title=name)
        if name == INDIVIDUALS:
            people_rows = individuals_sheet.start_sheet(ws, individuals, people_columns, max_people)
        else:
            write_sheet(ws, specs[name], table_names)
    staged = io.BytesIO()  # small: the Individuals sheet holds only its header so far
    wb.save(staged)
    xml_rows.insert_rows(staged, os.fspath(path), INDIVIDUALS, people_rows,
                         compresslevel=individuals_sheet.DEFLATE_LEVEL)
