"""Bulk worksheet rows: cell XML built with Arrow and spliced into an openpyxl workbook."""

from __future__ import annotations

import io
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pyarrow as pa
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from targeting.report.excel import xml_rows

NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def cell_texts(xml_cells: pa.Array) -> list[str | None]:
    """The text each ``<c>`` element holds, as an XML parser reads it."""
    out = []
    for c in xml_cells.to_pylist():
        if c is None:
            out.append(None)
            continue
        t = ElementTree.fromstring(c.replace("<c ", f'<c xmlns="{NS[1:-1]}" ', 1)).find(f"{NS}is/{NS}t")
        out.append(t.text)
    return out


def test_text_cells_drop_what_xml_cannot_hold_and_keep_everything_else():
    every = "".join(chr(i) for i in range(0x10000) if not 0xD800 <= i < 0xE000) + "😀"
    pieces = [every[i:i + 10_000] for i in range(0, len(every), 10_000)]  # each within a cell's limit
    expected = [ILLEGAL_CHARACTERS_RE.sub("", p).replace("\ufffe", "").replace("\uffff", "") for p in pieces]
    text = pa.array([*pieces, "a&b<c>d\r", "\x01\x02", "", None])
    rows = xml_rows.int_text(np.arange(2, 2 + len(text)))
    got = cell_texts(xml_rows.text_cells("B", rows, text))
    assert got == [*expected, "a&b<c>d\r", None, None, None]


def test_text_cells_cut_quote_and_preserve_spaces():
    text = pa.array(["é" * 40_000, "=1+1", "\tx", " a ", "b", "#N/A"])
    rows = xml_rows.int_text(np.arange(2, 8))
    cells = xml_rows.text_cells("C", rows, text, quote_style=5, quote_starts=("=", "\t"))
    assert cell_texts(cells)[0] == "é" * xml_rows.MAX_CELL_TEXT
    xml = cells.to_pylist()
    assert xml[1].startswith('<c r="C3" s="5" t="inlineStr">') and xml[2].startswith('<c r="C4" s="5" ')
    assert ' s="' not in xml[4] and ' s="' not in xml[5]
    assert 'xml:space="preserve"' in xml[3] and 'xml:space="preserve"' not in xml[4]


def test_float_text_reads_back_exactly():
    values = np.concatenate([np.random.default_rng(0).normal(0, 1e3, 10_000),
                             [0.1, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 1e16, np.nan, np.inf]])
    text = xml_rows.float_text(values).to_pylist()
    assert [float(t) for t in text[:-2]] == values[:-2].tolist()
    assert text[-2:] == [None, None]


def test_insert_rows_adds_rows_to_the_named_sheet(tmp_path):
    wb = openpyxl.Workbook(write_only=True)
    wb.create_sheet("First").append(["a"])
    wb.create_sheet("Data & more").append(["n", "name"])
    staged = io.BytesIO()
    wb.save(staged)
    blocks = []
    for start in (2, 4):
        rows = xml_rows.int_text(np.arange(start, start + 2))
        blocks.append(xml_rows.rows_xml(rows, [
            xml_rows.number_cells("A", rows, xml_rows.float_text(np.array([start + 0.5, np.nan]))),
            xml_rows.text_cells("B", rows, pa.array([f"p{start}", f"q{start}"])),
        ]))
    xml_rows.insert_rows(staged, tmp_path / "out.xlsx", "Data & more", blocks)
    book = openpyxl.load_workbook(tmp_path / "out.xlsx")
    assert [[c.value for c in row] for row in book["Data & more"].iter_rows()] == [
        ["n", "name"], [2.5, "p2"], [None, "q2"], [4.5, "p4"], [None, "q4"]]
    assert [[c.value for c in row] for row in book["First"].iter_rows()] == [["a"]]
    with pytest.raises(KeyError):
        xml_rows.insert_rows(staged, tmp_path / "other.xlsx", "Missing", [])
