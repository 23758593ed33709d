"""The layout of a sheet (text lines, tables, a chart) and how it is streamed into a worksheet.

Every table has a bold header row and an autofilter: the first table of a sheet uses the sheet's
autofilter and its header is frozen; further tables on the same sheet are Excel tables, each with
its own filter.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from openpyxl.chart import LineChart, Reference, Series
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn

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

    @property
    def title(self) -> str:
        return self.header or self.key

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

    def section(self, text: str) -> None:
        if self.blocks:
            self.blocks.append(TextBlock(""))
        self.blocks.append(TextBlock(text, "section"))

    def tables(self) -> list[TableBlock]:
        return [b for b in self.blocks if isinstance(b, TableBlock)]


_FONTS = {"title": cells.TITLE_FONT, "section": cells.SECTION_FONT, "text": None}


def write_sheet(ws, spec: SheetSpec, table_names: set[str]) -> None:
    """Stream ``spec`` into the write-only worksheet ``ws``.

    ``table_names`` holds the (lower-case) names of the Excel tables already in the workbook, which
    must be unique; the names used here are added to it.
    """
    # Widths must be set before the first row is streamed.
    widths: dict[int, int] = {}
    for table in spec.tables():
        for j, col in enumerate(table.columns, 1):
            w = len(col.title) + 3  # room for the filter button
            for row in table.rows:
                w = max(w, cells.display_len(row[col.key], col.kind_of(row)) + 1)
            widths[j] = max(widths.get(j, cells.MIN_WIDTH), w)
    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = cells.clamp_width(w)

    ws.freeze_panes = "A2"  # the header row of the sheet's first table (on Summary: the title)
    row_idx = 0
    first_table = True
    for block in spec.blocks:
        if isinstance(block, TextBlock):
            row_idx += 1
            ws.append([cells.text_cell(ws, block.text, font=_FONTS[block.style])] if block.text else [])
            continue
        header_row = row_idx + 1
        ws.append([cells.text_cell(ws, col.title, font=cells.BOLD) for col in block.columns])
        row_idx += 1
        if not block.rows:
            ws.append([cells.text_cell(ws, block.empty_message)])
            row_idx += 1
        for row in block.rows:
            fill, font = cells.FLAG_STYLES.get(row[block.fill_by], (None, None)) if block.fill_by else (None, None)
            ws.append([cells.value_cell(ws, row[col.key], col.kind_of(row), font=font, fill=fill)
                       for col in block.columns])
            row_idx += 1
        ref = f"A{header_row}:{get_column_letter(len(block.columns))}{row_idx}"
        if first_table:
            ws.auto_filter.ref = ref
            first_table = False
        else:
            table = Table(displayName=_table_name(f"{spec.name}_{block.name}", table_names), ref=ref)
            table.tableColumns = [TableColumn(id=j, name=col.title) for j, col in enumerate(block.columns, 1)]
            table.autoFilter = AutoFilter(ref=ref)  # without it Excel hides the table's filter buttons
            with warnings.catch_warnings():  # "add table columns manually": done just above
                warnings.simplefilter("ignore", UserWarning)
                ws.add_table(table)
        if block.chart is not None and block.rows:
            _add_line_chart(ws, block.chart, header_row, row_idx, block.columns)


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
        chart.series.append(series)
    chart.set_categories(Reference(ws, min_col=keys.index(spec.x_key) + 1, min_row=header_row + 1, max_row=last_row))
    chart.x_axis.number_format = spec.x_format
    chart.x_axis.delete = False
    chart.y_axis.delete = False
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
