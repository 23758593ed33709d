"""The parts of an .xlsx zip: cell references, the part holding a sheet, and unsaved formulas or errors."""

import zipfile

import pytest

from targeting.data.xlsx_parts import cell_ref, column_letter, ref_to_index, sheet_part, unsaved_formulas_and_errors

WORKBOOK = """<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"
  xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>
  <sheet name="config" sheetId="1" r:id="rId1"/>
  <sheet name="data &amp; more" sheetId="2" r:id="rId2"/>
  <sheet name="absolute" sheetId="3" r:id="rId3"/>
  <sheet name="dangling" sheetId="4" r:id="rId9"/>
</sheets></workbook>"""
RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Id="rId1" Type="worksheet" Target="worksheets/sheet1.xml"/>
  <Relationship Id="rId2" Type="worksheet" Target="worksheets/../worksheets/sheet2.xml"/>
  <Relationship Id="rId3" Type="worksheet" Target="/xl/worksheets/other.xml"/>
</Relationships>"""
SHEET = """<?xml version="1.0" encoding="UTF-8"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
  <row r="1"><c r="A1" t="inlineStr"><is><t>x</t></is></c><c r="B1" t="inlineStr"><is><t>y</t></is></c></row>
  <row r="2"><c r="A2"><v>1</v></c><c r="B2"><f>A2*2</f></c></row>
  <row r="3"><c r="A3" t="e"><v>#DIV/0!</v></c><c r="B3"><f>A3</f><v>4</v></c></row>
  <row><c><v>5</v></c><c t="e"><v>#N/A</v></c><c t="str"><f>"a"</f></c></row>
</sheetData></worksheet>"""


@pytest.fixture
def workbook(tmp_path):
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", RELS)
        archive.writestr("xl/worksheets/sheet1.xml", SHEET.replace("<f>A2*2</f>", "<v>2</v>"))
        archive.writestr("xl/worksheets/sheet2.xml", SHEET)
    return path


@pytest.mark.parametrize("index, letters", [(0, "A"), (25, "Z"), (26, "AA"), (27, "AB"), (701, "ZZ"), (702, "AAA")])
def test_column_letters(index, letters):
    assert column_letter(index) == letters
    assert ref_to_index(f"{letters}7") == (6, index)


def test_cell_references_both_ways():
    assert cell_ref(0, 0) == "A1"
    assert cell_ref(9, 27) == "AB10"
    assert ref_to_index("$C$4") == (3, 2)
    assert all(ref_to_index(cell_ref(r, c)) == (r, c) for r in range(0, 300, 7) for c in range(0, 800, 13))
    with pytest.raises(ValueError):
        ref_to_index("A0B")


def test_sheet_part_follows_the_relationships(workbook):
    with zipfile.ZipFile(workbook) as archive:
        assert sheet_part(archive, "config") == "xl/worksheets/sheet1.xml"
        assert sheet_part(archive, "data & more") == "xl/worksheets/sheet2.xml"
        assert sheet_part(archive, "absolute") == "xl/worksheets/other.xml"
        assert sheet_part(archive, "dangling") is None
        assert sheet_part(archive, "missing") is None


def test_unsaved_formulas_and_error_values_with_their_cells(workbook):
    assert unsaved_formulas_and_errors(workbook, "data & more") == [
        (1, 1, "formula", ""),        # B2: a formula with no saved value
        (2, 0, "error", "#DIV/0!"),   # A3
        (3, 1, "error", "#N/A"),      # B4, a cell without a reference after A4
    ]
    assert unsaved_formulas_and_errors(workbook, "config") == [(2, 0, "error", "#DIV/0!"), (3, 1, "error", "#N/A")]


def test_a_sheet_that_cannot_be_found_has_no_such_cells(workbook):
    assert unsaved_formulas_and_errors(workbook, "absolute") == []
    assert unsaved_formulas_and_errors(workbook, "missing") == []


def test_external_references_count_shared_formulas_and_name_the_linked_files(tmp_path):
    from targeting.data.xlsx_parts import external_references

    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    workbook = WORKBOOK.replace("</sheets>", '</sheets><externalReferences><externalReference r:id="rId7"/>'
                                '<externalReference r:id="rId8"/></externalReferences>')
    rels = RELS.replace("</Relationships>", '<Relationship Id="rId7" Type="externalLink" Target="externalLinks/'
                        'externalLink1.xml"/><Relationship Id="rId8" Type="externalLink" Target="externalLinks/'
                        'externalLink2.xml"/></Relationships>')
    sheet = """<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
      <row r="2"><c r="A2"><f t="shared" si="0" ref="A2:A4">'[2]Price list'!B2</f><v>1</v></c><c r="B2"><f>A2</f><v>1</v></c></row>
      <row r="3"><c r="A3"><f t="shared" si="0"/><v>2</v></c></row>
      <row r="4"><c r="A4"><f t="shared" si="0"/><v>3</v></c><c r="C4"><f>SUM([1]Other!A1:A9)</f><v>9</v></c></row>
    </sheetData></worksheet>"""
    path = tmp_path / "linked.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", rels)
        archive.writestr("xl/worksheets/sheet2.xml", sheet)
        archive.writestr("xl/worksheets/sheet1.xml", SHEET)
        for n, target in ((1, "other.xlsx"), (2, "C:\\prices\\price list.xlsx")):
            archive.writestr(f"xl/externalLinks/externalLink{n}.xml", "<externalLink/>")
            archive.writestr(f"xl/externalLinks/_rels/externalLink{n}.xml.rels",
                             f'<Relationships xmlns="{rel}"><Relationship Id="rId1" Target="{target}"/></Relationships>')
    cells, workbooks = external_references(path, "data & more")
    assert cells == [(1, 0), (2, 0), (3, 0), (3, 2)]
    assert workbooks == ["other.xlsx", "price list.xlsx"]
    assert external_references(path, "config") == ([], []), "a sheet without such formulas gets no note"


def test_longest_text_agrees_with_the_regex_it_replaces():
    import re

    import numpy as np

    from targeting.data.xlsx_parts import _longest_text

    rng = np.random.default_rng(0)
    for _ in range(300):
        window = bytes(rng.choice([60, 97, 98], size=int(rng.integers(0, 300)), p=[0.05, 0.5, 0.45])
                       .astype(np.uint8))
        for limit in (0, 1, 5, 20, 60):
            assert (_longest_text(window) > limit) == bool(re.search(rb"[^<]{%d}" % (limit + 1), window))


@pytest.mark.parametrize("xml, holds", [
    (b'<c r="A1"><v>1</v></c>', False),
    (b'<c r="A1"><f>B1*2</f><v>2</v></c>', True),
    (b'<c r="A1"><f t="shared" si="0"/></c>', True),
    (b'<x:c r="A1"><x:f>B1</x:f></x:c>', True),
    (b'<x:c r="A1"><x:fill/></x:c>', False),  # a tag that starts with f is no formula
    (b'<c r="A1" t="e"><v>#N/A</v></c>', True),
    (b'<c r="A1" t="s"><v>0</v></c><font/>', False),
])
def test_the_quick_formula_and_error_test_agrees_with_the_regexes_it_replaces(xml, holds):
    import re

    from targeting.data.xlsx_parts import _may_hold_formulas_or_errors

    regexes = bool(re.search(rb"<(?:\w+:)?f[\s>/]", xml) or re.search(rb'\st="e"', xml))
    assert regexes == holds
    assert _may_hold_formulas_or_errors(xml) == holds
