"""The layout of a sheet (text lines, tables, a chart) and how it is streamed into a worksheet.

Every table has a bold header row and is an Excel table (a ListObject, with its own filter); the
first row of a sheet is frozen; every sheet has a print setup (landscape, one page wide).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from openpyxl.chart import LineChart, Reference, Series
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.table import Table, TableColumn, TableStyleInfo
from openpyxl.worksheet.worksheet import Worksheet

from targeting.model import glossary
from targeting.report.excel import cells


@dataclass(frozen=True)
class Col:
    """One table column: the row key, header, display kind and definition for the Notes sheet.

    ``kind`` is one of text, int, share, effect, p, bool, money, general, or ``row`` (the row
    carries its own kind under ``"_kind"``). Without a ``definition`` the glossary's meaning of
    ``key`` is used.
    """

    key: str
    kind: str = "text"
    header: str | None = None
    definition: str | None = None
    source: str | None = None           # its report.json name when not the key (a derived column)

    @property
    def title(self) -> str:
        return self.header or glossary.header(self.key)

    @property
    def json_name(self) -> str:
        return self.source or self.key

    @property
    def meaning(self) -> str:
        return self.definition or glossary.COLUMNS[self.key]

    def kind_of(self, row: dict[str, Any]) -> str:
        """The display kind of this column's value in ``row``."""
        return row["_kind"] if self.kind == "row" else self.kind


@dataclass(frozen=True)
class LineChartSpec:
    """A line chart of some of a table's columns against one of them."""

    title: str
    x_title: str
    y_title: str
    x_key: str
    x_format: str                        # number format of the x axis labels
    series: tuple[tuple[str, str], ...]  # (column key, series title)


@dataclass
class TableBlock:
    """A table: a name (for the Notes sheet and the Excel table name), columns and row dicts.

    Every row holds a value (None for an empty cell) under every column's key.
    """

    name: str
    columns: list[Col]
    rows: list[dict[str, Any]]
    fill_by: str | None = None          # row key whose value picks a fill (subgroup flags)
    empty_message: str = "(none)"
    chart: LineChartSpec | None = None  # drawn beside the table when it has rows

    def __post_init__(self) -> None:
        # Checked here, before anything is written: a key the report lacks must not become a blank cell.
        needed = {c.key for c in self.columns} | {"_kind" for c in self.columns if c.kind == "row"}
        needed |= {self.fill_by} if self.fill_by else set()
        for i, row in enumerate(self.rows):
            if missing := needed - row.keys():
                raise KeyError(f"row {i} of the table {self.name!r} lacks {', '.join(sorted(missing))}")


@dataclass
class TextBlock:
    text: str
    style: str = "text"                 # title, section, text


@dataclass
class SheetSpec:
    name: str
    blocks: list[TextBlock | TableBlock] = field(default_factory=list)
    wrap_text: bool = False             # text lines wrap in a wide first column (the Summary)

    def section(self, text: str) -> None:
        if self.blocks:
            self.blocks.append(TextBlock(""))
        self.blocks.append(TextBlock(text, "section"))

    def tables(self) -> list[TableBlock]:
        return [b for b in self.blocks if isinstance(b, TableBlock)]


_FONTS = {"title": cells.TITLE_FONT, "section": cells.SECTION_FONT, "text": None}


def write_sheet(ws, spec: SheetSpec, table_names: set[str]) -> None:
    """Stream ``spec`` into the write-only worksheet ``ws``.

    Every table becomes an Excel table (its own filter buttons and banded rows); each number column
    has one number format, chosen from its values; the sheet prints landscape, one page wide, with
    the first table's header repeated on every page. ``table_names`` holds the (lower-case) names of
    the Excel tables already in the workbook, which must be unique; the names used here are added.
    """
    # Widths must be set before the first row is streamed.
    widths: dict[int, int] = {}
    for table in spec.tables():
        for j, col in enumerate(table.columns, 1):
            w = len(col.title) + 3  # room for the filter button
            for row in table.rows:
                w = max(w, cells.display_len(row[col.key], col.kind_of(row)) + 1)
            widths[j] = max(widths.get(j, cells.MIN_WIDTH), w)
    if spec.wrap_text:
        widths[1] = max(widths.get(1, 0), cells.TEXT_WIDTH)
    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = cells.clamp_width(w)

    ws.freeze_panes = "A2"  # the header row of the sheet's first table (on Summary: the title)
    # The print setup is part of the sheet's head, streamed with the first row: set it now.
    n_rows = sum(1 if isinstance(b, TextBlock) else 1 + max(1, len(b.rows)) for b in spec.blocks)
    first = spec.blocks[0] if spec.blocks else None
    print_setup(ws, f"A1:{get_column_letter(max(widths, default=1))}{max(n_rows, 1)}",
                header_row=1 if isinstance(first, TableBlock) else None)
    row_idx = 0
    for block in spec.blocks:
        if isinstance(block, TextBlock):
            row_idx += 1
            wrap = cells.WRAP if spec.wrap_text else None
            ws.append([cells.text_cell(ws, block.text, font=_FONTS[block.style], alignment=wrap)]
                      if block.text else [])
            continue
        header_row = row_idx + 1
        ws.append([cells.text_cell(ws, col.title, font=cells.BOLD) for col in block.columns])
        row_idx += 1
        if not block.rows:
            ws.append([cells.text_cell(ws, block.empty_message)])
            row_idx += 1
        formats = {col.key: cells.column_format([row[col.key] for row in block.rows], col.kind)
                   for col in block.columns}
        for row in block.rows:
            fill, font = cells.FLAG_STYLES.get(row[block.fill_by], (None, None)) if block.fill_by else (None, None)
            ws.append([cells.value_cell(ws, row[col.key], col.kind_of(row), font=font, fill=fill,
                                        number_format=formats[col.key])
                       for col in block.columns])
            row_idx += 1
        ref = f"A{header_row}:{get_column_letter(len(block.columns))}{row_idx}"
        add_table(ws, _table_name(f"{spec.name}_{block.name}", table_names), ref,
                  [col.title for col in block.columns])
        if block.chart is not None and block.rows:
            _add_line_chart(ws, block.chart, header_row, row_idx, block.columns)


def add_table(ws, name: str, ref: str, headers: list[str]) -> None:
    """An Excel table (a ListObject) over ``ref``, whose first row holds ``headers``."""
    table = Table(displayName=name, ref=ref)
    table.tableColumns = [TableColumn(id=j, name=title) for j, title in enumerate(headers, 1)]
    table.autoFilter = AutoFilter(ref=ref)  # without it Excel hides the table's filter buttons
    table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=True)
    with warnings.catch_warnings():  # "add table columns manually": done just above
        warnings.simplefilter("ignore", UserWarning)
        ws.add_table(table)


def print_setup(ws, area: str, *, header_row: int | None, orientation: str = "landscape") -> None:
    """Print ``area`` on A4, one page wide (as many pages down as needed), the header row repeated
    on every page; landscape unless told otherwise (a long, narrow list prints on fewer pages
    upright)."""
    ws.page_setup.orientation = orientation
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_options.gridLines = False
    ws.print_area = area
    if header_row is not None:
        ws.print_title_rows = f"{header_row}:{header_row}"


def _add_line_chart(ws, spec: LineChartSpec, header_row: int, last_row: int, columns: list[Col]) -> None:
    keys = [c.key for c in columns]
    chart = LineChart()
    chart.title = spec.title
    chart.y_axis.title = spec.y_title
    chart.x_axis.title = spec.x_title
    chart.height, chart.width = 9, 18
    for key, title in spec.series:
        ref = Reference(ws, min_col=keys.index(key) + 1, min_row=header_row + 1, max_row=last_row)
        series = Series(ref, title=title)
        series.smooth = False
        if key.endswith(("_low", "_high")):  # an interval: thin and dashed, beside its line
            series.graphicalProperties.line.dashStyle = "dash"
            series.graphicalProperties.line.width = 9525
        chart.series.append(series)
    chart.set_categories(Reference(ws, min_col=keys.index(spec.x_key) + 1, min_row=header_row + 1, max_row=last_row))
    chart.x_axis.number_format = spec.x_format
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    # labels at the low edge, so they never cross the plot when gains go below zero
    chart.x_axis.tickLblPos = "low"
    chart.y_axis.tickLblPos = "low"
    chart.legend.position = "b"
    ws.add_chart(chart, f"{get_column_letter(len(columns) + 2)}{header_row}")


def _table_name(name: str, used: set[str]) -> str:
    """A valid Excel table name for ``name``, unique among ``used`` (which it joins)."""
    base = re.sub(r"_+", "_", "".join(ch if ch.isalnum() else "_" for ch in name)).strip("_") or "Table"
    if not base[0].isalpha():
        base = "T_" + base
    base = base[:200]
    candidate, k = base, 2
    while candidate.lower() in used or _looks_like_reference(candidate):
        candidate = f"{base}_{k}"
        k += 1
    used.add(candidate.lower())
    return candidate


def _looks_like_reference(name: str) -> bool:
    # Table names must not look like cell references (e.g. "AB12" or "R1C1").
    return bool(re.fullmatch(r"[A-Za-z]{1,3}\d+", name)) or name.upper() in ("R", "C")
