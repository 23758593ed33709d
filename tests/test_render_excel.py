"""The Excel pack: structure, exact numbers, formatting, safety against formula injection, scale."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from targeting.model import glossary
from targeting.report.excel import cells, individuals as individuals_sheet, workbook as render_excel
from targeting.report.excel.workbook import SHEET_NAMES, write_workbook

DATA = Path(__file__).parent / "data" / "report_bleeding.json"
INJECTIONS = ['=HYPERLINK("http://x","click")', "+1+1", "-2", "@SUM(A1)", "\t=1+1", "#N/A"]


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def make_individuals(report: dict, n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    leaves = [r["leaf"] for r in report["policy"]["rules"]]
    return pd.DataFrame({
        "row": np.arange(2, n + 2),
        "id": [f"S{i:05d}" for i in range(n)],
        "cate": rng.normal(0.01, 0.05, n),
        "cate_low": np.nan,
        "cate_high": np.nan,
        "treat": rng.integers(0, 2, n),
        "leaf": rng.choice(leaves, n),
    })


@pytest.fixture(scope="module")
def individuals(report) -> pd.DataFrame:
    return make_individuals(report)


@pytest.fixture(scope="module")
def book(report, individuals, tmp_path_factory) -> openpyxl.Workbook:
    path = tmp_path_factory.mktemp("pack") / "pack.xlsx"
    write_workbook(report, individuals, path)
    return openpyxl.load_workbook(path)


def write_and_load(report, individuals, tmp_path, name="pack.xlsx") -> openpyxl.Workbook:
    path = tmp_path / name
    write_workbook(report, individuals, path)
    return openpyxl.load_workbook(path)


#: A header the reader sees back to its report.json key (the pack writes human headers).
KEY_OF = {glossary.header(key): key for key in [*glossary.COLUMNS, *glossary.INDIVIDUAL_COLUMNS]}
KEY_OF.update({"Verdict": "verdict", "Family": "family"})


def table_rows(ws, header_row: int = 1) -> list[dict]:
    """Rows of the table whose header is on ``header_row``, up to the first empty row, keyed by the
    columns' report.json names."""
    headers = [KEY_OF.get(c.value, c.value) for c in ws[header_row] if c.value is not None]
    rows = []
    for cells in ws.iter_rows(min_row=header_row + 1, max_col=len(headers)):
        if all(c.value is None for c in cells):
            break
        rows.append({h: c for h, c in zip(headers, cells)})
    return rows


def find_row(ws, text: str) -> int:
    for cells in ws.iter_rows(max_col=1):
        if cells[0].value == text:
            return cells[0].row
    raise AssertionError(f"{text!r} not found in column A of {ws.title}")


def close(a, b) -> bool:
    if b is None:
        return a is None
    return a == pytest.approx(b, rel=1e-14, abs=1e-300)


# ---------------------------------------------------------------------------------------------

def test_sheet_names_in_order(book):
    assert book.sheetnames == list(SHEET_NAMES)
    assert book.sheetnames == ["Summary", "Policy", "Values", "Budget curve", "Subgroups", "Harmed", "Risk strata",
                               "Balance", "Diagnostics", "Effect drivers", "Individuals", "Settings & provenance",
                               "Notes"]


def test_policy_values_and_comparisons_equal_the_model(book, report):
    ws = book["Values"]
    rows = table_rows(ws)
    assert [r["policy"].value for r in rows] == list(report["values"])
    for r in rows:
        expected = report["values"][r["policy"].value]
        for key in ("mean_outcome", "ci_low", "ci_high", "treated_share", "treated_n", "total_cost"):
            assert close(r[key].value, expected[key]), key
        assert r["label"].value == expected["label"]
        assert r["treated_share"].number_format == "0.0%"

    comps = table_rows(ws, find_row(ws, glossary.header("versus")))
    assert [r["versus"].value for r in comps] == list(report["comparisons"])
    for r in comps:
        expected = report["comparisons"][r["versus"].value]
        for key in ("difference", "ci_low", "ci_high", "per_1000", "per_1000_low", "per_1000_high", "p_value"):
            assert close(r[key].value, expected[key]), key
        assert r["sentence"].value == expected["sentence"]
        assert r["p_value"].number_format == "0.0000"


def test_policy_rules_equal_the_model(book, report):
    ws = book["Policy"]
    rows = table_rows(ws)
    rules = report["policy"]["rules"]
    assert len(rows) == len(rules)
    for r, rule in zip(rows, rules):
        for key in ("leaf", "rule", "query"):
            assert r[key].value == rule[key]
        assert r["treat"].value == ("Yes" if rule["treat"] else "No")
        for key in ("n", "share", "cost", "effect", "ci_low", "ci_high", "n_estimated"):
            assert close(r[key].value, rule[key]), key
    row = find_row(ws, "Headline rule")
    assert ws.cell(row, 2).value == report["policy"]["headline_rule"]
    assert ws.cell(find_row(ws, "Budget"), 2).value == report["policy"]["budget"]["description"]


def test_subgroups_equal_the_model(book, report):
    rows = table_rows(book["Subgroups"])
    subs = report["subgroups"]
    assert len(rows) == len(subs)
    for r, g in zip(rows, subs):
        for key in ("family", "name", "query", "flag"):
            assert r[key].value == (g[key] or None)  # an empty string is an empty cell
        for key in ("n", "share", "effect", "ci_low", "ci_high", "p_value", "p_adjusted", "shrunk_effect"):
            assert close(r[key].value, g[key]), key
        assert r["exploratory"].value == ("Yes" if g["exploratory"] else "No")


def test_effects_show_three_significant_digits(book, report):
    rule = table_rows(book["Policy"])[0]
    # 0.0108188... -> 0.0108 ; -0.0399484... -> -0.0399
    assert rule["effect"].number_format == "#,##0.0000"
    assert rule["ci_low"].number_format == "#,##0.0000"
    assert rule["share"].number_format == "0.0%"
    assert cells.effect_format(1234.5) == "#,##0"
    assert cells.effect_format(12.345) == "#,##0.0"
    assert cells.effect_format(-0.5) == "#,##0.000"
    assert cells.effect_format(0.09996) == "#,##0.000"  # rounds to 0.100
    assert cells.effect_format(0.0) == "0"


def test_every_sheet_has_bold_frozen_header_and_tables(book):
    for ws in book.worksheets:
        assert ws.freeze_panes == "A2", ws.title
        assert ws.tables, ws.title
        for table in ws.tables.values():  # every table is an Excel table with its own filter
            header = ws[table.ref.split(":")[0]]
            assert header.font.b, (ws.title, table.displayName)
        for letter, dim in ws.column_dimensions.items():
            assert dim.width is None or dim.width <= 60


@pytest.mark.parametrize("sheet", ["Subgroups", "Harmed", "Policy", "Individuals", "Budget curve", "Values"])
def test_the_main_sheets_are_excel_tables_from_their_first_row(book, sheet):
    ws = book[sheet]
    first = min(ws.tables.values(), key=lambda t: int(t.ref.split(":")[0][1:]))
    assert first.ref.startswith("A1:")
    assert first.tableStyleInfo is not None and first.tableStyleInfo.showRowStripes


def test_every_sheet_has_a_print_setup(book):
    """A4 one page wide (landscape; the long, narrow Individuals list upright), its used range as the
    print area, the header row on every page."""
    for ws in book.worksheets:
        setup = ws.page_setup
        upright = "portrait" if ws.title == "Individuals" else "landscape"
        assert (setup.orientation, setup.paperSize, setup.fitToWidth, setup.fitToHeight) == (upright, 9, 1, 0), \
            ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        last = f"${openpyxl.utils.get_column_letter(ws.max_column)}${ws.max_row}"
        assert ws.print_area == f"'{ws.title}'!$A$1:{last}", ws.title
        if ws.title != "Summary":  # the Summary starts with its title, not a header row
            assert ws.print_title_rows == "$1:$1", ws.title


def test_tables_have_their_own_autofilter(book):
    ws = book["Diagnostics"]
    assert len(ws.tables) >= 5
    for table in ws.tables.values():
        assert table.autoFilter is not None and table.autoFilter.ref == table.ref
        header = int(table.ref.split(":")[0][1:])
        names = [c.value for c in ws[header] if c.value is not None]
        assert [c.name for c in table.tableColumns] == names


def test_headers_are_in_words_and_the_notes_give_their_report_json_names(book):
    notes = table_rows(book["Notes"])
    by_header = {(r["sheet"].value, r["column"].value): r["source"].value for r in notes}
    subgroups = [c.value for c in book["Subgroups"][1]]
    assert "95% interval: low" in subgroups and "Adjusted p (harm)" in subgroups
    assert not any(h and "_" in h for h in subgroups)  # no code-style headers
    assert by_header[("Subgroups", "95% interval: low")] == "ci_low"
    assert by_header[("Subgroups", "Adjusted p (harm)")] == "p_adjusted"
    assert by_header[("Subgroups", "Verdict")] == "flag (in words)"


def test_one_number_format_per_column(book):
    for name in ("Policy", "Subgroups", "Budget curve", "Individuals"):
        ws = book[name]
        table = min(ws.tables.values(), key=lambda t: int(t.ref.split(":")[0][1:]))
        last = int(table.ref.split(":")[1].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
        for column in ws.iter_cols(min_row=2, max_row=last):
            formats = {c.number_format for c in column if isinstance(c.value, float)}
            assert len(formats) <= 1, (name, column[0].column_letter, formats)


def test_no_scientific_notation_anywhere_in_the_workbook(book):
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert "E+" not in cell.number_format and "E-" not in cell.number_format, (ws.title, cell.coordinate)
                if isinstance(cell.value, str):
                    assert not re.search(r"(?<![0-9a-fA-F])\d(?:\.\d+)?[eE][-+]?\d+(?![0-9a-fA-F])", cell.value), \
                        (ws.title, cell.coordinate, cell.value)


def test_harmed_rows_are_red_and_listed(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    rep["subgroups"][1]["flag"] = "harmed"
    rep["subgroups"][2]["flag"] = "benefits"
    book = write_and_load(rep, individuals, tmp_path)
    rows = table_rows(book["Subgroups"])
    assert rows[1]["name"].fill.fgColor.rgb.endswith("FFC7CE")
    assert rows[1]["effect"].fill.fgColor.rgb.endswith("FFC7CE")
    assert rows[2]["name"].fill.fgColor.rgb.endswith("C6EFCE")
    # amber only where there is a sign of harm (p below 5% before adjustment), as in the brief
    amber = [r for r in rows if r["flag"].value == "possibly_harmed" and r["p_value"].value < 0.05]
    leaning = [r for r in rows if r["flag"].value == "possibly_harmed" and r["p_value"].value >= 0.05]
    assert amber and all(r["name"].fill.fgColor.rgb.endswith("FFEB9C") for r in amber)
    assert all(r["verdict"].value == "possibly harmed" for r in amber)
    assert leaning and all(r["name"].fill.fill_type is None for r in leaning)
    assert all(r["verdict"].value == "no clear effect" for r in leaning)
    plain = [r for r in rows if r["flag"].value == "no_clear_effect"]
    assert plain and all(r["name"].fill.fill_type is None for r in plain)

    harmed = table_rows(book["Harmed"])
    assert len(harmed) == 1
    assert harmed[0]["name"].value == rep["subgroups"][1]["name"]
    assert close(harmed[0]["effect"].value, rep["subgroups"][1]["effect"])
    assert harmed[0]["name"].fill.fgColor.rgb.endswith("FFC7CE")


def test_no_harmed_group_gives_one_explaining_row(book, report):
    ws = book["Harmed"]
    assert not any(g["flag"] == "harmed" for g in report["subgroups"])
    assert ws.max_row == 2
    text = ws["A2"].value
    assert "No group was found to be harmed" in text
    assert str(report["harm_summary"]["groups_tested"]) in text


def test_injection_strings_are_stored_as_text(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    for g, text in zip(rep["subgroups"], INJECTIONS):
        g["name"] = text
        g["query"] = text
    rep["policy"]["rules"][0]["rule"] = INJECTIONS[0]
    rep["title"] = INJECTIONS[1]
    rep["comparisons"]["treat_all"]["label"] = INJECTIONS[2]
    ind = individuals.copy()
    ind["id"] = [INJECTIONS[i % len(INJECTIONS)] for i in range(len(ind))]
    ind = ind.rename(columns={"leaf": "=cmd|' /C calc'!A0"})
    book = write_and_load(rep, ind, tmp_path)

    rows = table_rows(book["Subgroups"])
    for r, text in zip(rows, INJECTIONS):
        for key in ("name", "query"):
            cell = r[key]
            assert cell.value == text
            assert cell.data_type == "s"
            assert cell.quotePrefix == text.startswith(("=", "+", "-", "@", "\t"))
    rule = table_rows(book["Policy"])[0]["rule"]
    assert (rule.value, rule.data_type, rule.quotePrefix) == (INJECTIONS[0], "s", True)
    assert (book["Summary"]["A1"].value, book["Summary"]["A1"].data_type) == (INJECTIONS[1], "s")

    ws = book["Individuals"]
    assert ws.cell(1, 7).value == "=cmd|' /C calc'!A0" and ws.cell(1, 7).data_type == "s"
    for i in range(len(INJECTIONS)):
        cell = ws.cell(2 + i, 2)
        assert (cell.value, cell.data_type) == (INJECTIONS[i], "s")
    # nothing anywhere in the workbook is a formula
    for sheet in book.worksheets:
        for row in sheet.iter_rows(max_row=60):
            assert all(c.data_type != "f" for c in row), sheet.title


def test_injection_strings_in_raw_xml_are_inline_strings(report, individuals, tmp_path):
    import zipfile
    rep = copy.deepcopy(report)
    rep["subgroups"][0]["name"] = INJECTIONS[0]
    path = tmp_path / "pack.xlsx"
    write_workbook(rep, individuals, path)
    with zipfile.ZipFile(path) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)


def test_unwritable_characters_are_dropped_and_long_text_cut(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    rep["subgroups"][0]["name"] = "bell\x07 group"
    rep["subgroups"][1]["name"] = "x" * 40_000
    book = write_and_load(rep, individuals, tmp_path)
    rows = table_rows(book["Subgroups"])
    assert rows[0]["name"].value == "bell group"
    assert rows[1]["name"].value == "x" * 32_767


def test_individuals_rows_and_formats(book, individuals):
    ws = book["Individuals"]
    assert ws.max_row == len(individuals) + 1
    assert [c.value for c in ws[1]] == list(individuals.columns)
    assert ws["A2"].value == individuals["row"].iloc[0]
    assert ws["B2"].value == individuals["id"].iloc[0]
    assert close(ws["C2"].value, float(individuals["cate"].iloc[0]))
    assert ws["D2"].value is None  # no individual intervals: empty, not NaN
    assert ws["F2"].value == ("Yes" if individuals["treat"].iloc[0] else "No")
    assert ws["C2"].number_format.startswith("#,##0.0")
    assert ws.tables["Individuals"].ref == f"A1:G{len(individuals) + 1}"
    # the headers stay individuals.csv's names: the risk strata's queries select on them


def test_individuals_capped_at_the_row_limit(report, individuals, tmp_path, monkeypatch):
    monkeypatch.setattr(render_excel, "EXCEL_MAX_ROWS", 101)
    book = write_and_load(report, individuals, tmp_path)
    assert book["Individuals"].max_row == 101
    notes = [c.value for c in book["Notes"]["E"] if isinstance(c.value, str)]
    assert any("individuals.csv" in v and "first 100 of 3,000" in v for v in notes)
    summary = [c.value for c in book["Summary"]["A"] if isinstance(c.value, str)]
    assert any("individuals.csv" in v for v in summary)


def test_individuals_without_people(report, individuals, tmp_path):
    ws = write_and_load(report, individuals.head(0), tmp_path)["Individuals"]
    assert ws.max_row == 1 and ws.tables["Individuals"].ref == "A1:G2"  # a table holds one row at least
    assert [c.value for c in ws[1]] == list(individuals.columns)


def test_budget_curve_table_and_chart(book, report):
    ws = book["Budget curve"]
    rows = table_rows(ws)
    assert len(rows) == len(report["budget_curve"])
    for r, point in zip(rows, report["budget_curve"]):
        for key, value in point.items():
            assert close(r[key].value, value), key
    assert rows[0]["budget_share"].number_format == "0.0%"
    assert len(ws._charts) == 1
    chart = ws._charts[0]
    assert chart.tagname == "lineChart"
    # the rule with its 95% interval (dashed), the ranking and the random selection
    assert len(chart.series) == 5
    assert [s.graphicalProperties.line.dashStyle for s in chart.series] == ["solid", "dash", "dash", "solid", "solid"]
    assert chart.x_axis.tickLblPos == "low" and chart.y_axis.tickLblPos == "low"


def test_missing_numbers_are_empty_cells(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    rep["policy"]["rules"][0]["effect"] = None
    rep["policy"]["rules"][0]["ci_low"] = None
    rep["diagnostics"]["truth"] = None
    book = write_and_load(rep, individuals, tmp_path)
    row = table_rows(book["Policy"])[0]
    assert row["effect"].value is None and row["ci_low"].value is None
    assert close(row["ci_high"].value, rep["policy"]["rules"][0]["ci_high"])
    labels = [c.value for c in book["Diagnostics"]["A"]]
    assert not any(isinstance(v, str) and v.startswith("Accuracy against") for v in labels)


def test_effect_drivers_list_every_projection_term_and_bin(book, report):
    ws = book["Effect drivers"]
    terms = table_rows(ws)
    assert [r["Term"].value for r in terms] == [t["term"] for t in report["diagnostics"]["projection"]]
    assert close(terms[0]["Coefficient"].value, report["diagnostics"]["projection"][0]["coefficient"])
    bins = table_rows(ws, find_row(ws, glossary.header("covariate")))
    expected = [b for c in report["diagnostics"]["effect_by_covariate"] for b in c["bins"]]
    assert [r["Fifth or level"].value for r in bins] == [b["label"] for b in expected]


def test_diagnostics_and_settings_content(book, report):
    ws = book["Diagnostics"]
    scores = table_rows(ws)
    assert [r["name"].value for r in scores] == [s["name"] for s in report["diagnostics"]["estimator_scores"]]
    cal = table_rows(ws, find_row(ws, glossary.header("slope")))[0]
    assert close(cal["slope"].value, report["diagnostics"]["calibration"]["slope"])
    assert cal["detected"].value == "Yes"
    gates = table_rows(ws, find_row(ws, glossary.header("group")))
    assert len(gates) == len(report["diagnostics"]["gates"])
    findings = table_rows(ws, find_row(ws, glossary.header("severity")))
    assert [f["code"].value for f in findings] == [f["code"] for f in report["findings"]]
    assert any(isinstance(v, str) and v.startswith("Accuracy against") for v in (c.value for c in ws["A"]))

    settings = book["Settings & provenance"]
    values = {r["setting"].value: r["value"].value for r in table_rows(settings)}
    assert values["seed"] == report["config"]["seed"]
    assert values["outcome"] == report["config"]["outcome"]
    prov = {c.value: settings.cell(c.row, 2).value for c in settings["A"]}
    assert prov["package: openpyxl"] == report["provenance"]["packages"]["openpyxl"]
    assert prov["input_sha256"] == report["provenance"]["input_sha256"]


def test_notes_define_every_column(book):
    notes = book["Notes"]
    defined = {(r["sheet"].value, r["column"].value) for r in table_rows(notes)}
    assert all(r["definition"].value for r in table_rows(notes))
    for ws in book.worksheets:
        header_rows = [int(t.ref.split(":")[0][1:]) for t in ws.tables.values()]
        for row in header_rows:
            for cell in ws[row]:
                if cell.value is not None:
                    assert (ws.title, cell.value) in defined, (ws.title, cell.value)


def test_opens_in_libreoffice(report, individuals, tmp_path):
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice is not installed")
    path = tmp_path / "pack.xlsx"
    write_workbook(report, individuals.head(200), path)
    # A round trip through LibreOffice: it must open the pack and save every sheet back.
    out = tmp_path / "roundtrip"
    result = subprocess.run([office, "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(path)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    original = openpyxl.load_workbook(path, read_only=True)
    reopened = openpyxl.load_workbook(out / "pack.xlsx", read_only=True)
    assert reopened.sheetnames == original.sheetnames
    for name in original.sheetnames:
        first = [c.value for c in next(original[name].iter_rows(max_row=1))]
        again = [c.value for c in next(reopened[name].iter_rows(max_row=1))]
        assert again[:len(first)] == first, name


# ---------------------------------------------------------------------------------------------
# The Individuals sheet's rows are built in bulk; they must equal what per-cell openpyxl writing gives.

def reference_individuals(frame: pd.DataFrame, path: Path) -> None:
    """The Individuals rows as the former cell-by-cell writer made them (one openpyxl cell per value)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    def plain_number(v):
        if isinstance(v, float):
            return v if np.isfinite(v) else None
        if v is None:
            return None
        if isinstance(v, (int, np.integer)):
            return int(v)
        num = cells.number(v)
        return num if num is not None else cells.clean_text(str(v))

    def effect(v):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None
        if not np.isfinite(f):
            return None
        cell = WriteOnlyCell(ws, f)
        cell.number_format = cells.effect_format(f)
        return cell

    def text(v):
        if v is None or (isinstance(v, float) and not np.isfinite(v)):
            return None
        if isinstance(v, (bool, np.bool_)):
            return "Yes" if v else "No"
        if isinstance(v, (int, float, np.integer, np.floating)):
            return plain_number(v)
        if v is pd.NA or v is pd.NaT:
            return None
        s = str(v)
        if not s or s.startswith(cells.FORMULA_START) or s[0] == "#" \
                or ILLEGAL_CHARACTERS_RE.search(s) or len(s) > 32_767:
            return cells.text_cell(ws, s) if s else None
        return s

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Individuals")
    columns = individuals_sheet.columns_of(frame)
    convert = {"bool": cells.yes_no, "effect": effect, "general": plain_number, "text": text}
    ws.append([c.title for c in columns])
    for values in zip(*(frame.iloc[:, j].tolist() for j in range(len(columns)))):
        ws.append([convert[c.kind](v) for c, v in zip(columns, values)])
    wb.save(path)


TRICKY_TEXT = ["=1+1", "+x", "-3", "@a", "#REF!", "#N/A", "a<b&c>d", "]]>", "bell\x07 x", "\x01=y", "\x01", "\x0b\x1f",
               "tab\tin", "\tlead", "\nlead", "x\ny", " sp ", "   ", "", "é😀 日本語", "x" * 40_000, "=" + "y" * 40_000,
               "'quoted", "plain", "S000123", "L-R", None, np.nan]
TRICKY_FLOATS = [-1.5, 1e-300, 5e-324, 1e300, -1e15, 0.0, -0.0, np.nan, np.inf, -np.inf, 0.09996, 0.09994999,
                 99.95, 99.94999999999999, 1e-4, 9.999999999999999e-05, 1e12, 999999999999.9999, 1 / 3, -2 / 3 * 1e-3,
                 0.1 + 0.2, 123456.789, 0.016286511054669663, 7.0]


def tricky_individuals(n: int = 60) -> pd.DataFrame:
    k = n // 3
    def cycle(values, shift=0):
        return [values[(i + shift) % len(values)] for i in range(n)]

    mixed = [1, 2.5, True, "=2+2", None, np.nan, np.float32(0.25), np.int16(-7), "text", np.inf, pd.NA, "", False,
             2**40, -0.0]
    return pd.DataFrame({
        "row": np.arange(2, n + 2),
        "id": pd.Series(cycle(TRICKY_TEXT), dtype=object),
        "cate": cycle(TRICKY_FLOATS),
        "cate_low": np.array(cycle(TRICKY_FLOATS, 5)).clip(-3e38, 3e38).astype(np.float32),
        "cate_high": pd.array(cycle([0.5, None, -1e-7, 3.25e7]), dtype="Float64"),
        "treat": np.arange(n) % 3 == 0,
        "leaf": pd.concat([pd.Series(cycle(TRICKY_TEXT, 7)[:k], dtype="str"),  # Arrow-backed, in two chunks
                           pd.Series(cycle(TRICKY_TEXT, 7)[k:], dtype="str")], ignore_index=True),
        "flag": pd.array(cycle([True, False, None]), dtype="boolean"),
        "score": pd.concat([pd.Series(np.arange(k) * -1_000_003, dtype="int64[pyarrow]"),
                            pd.Series(np.arange(k, n) * -1_000_003, dtype="int64[pyarrow]")], ignore_index=True),
        "count": pd.array(np.arange(n), dtype="UInt32"),
        "weight": cycle([0.5, np.nan, 2.0, np.inf]),
        "group": pd.Categorical(cycle(["=a", "b", None, "#c"])),
        "mixed": pd.Series(cycle(mixed), dtype=object),
    })


def test_individuals_cells_equal_the_cell_by_cell_writer(report, tmp_path):
    frame = tricky_individuals()
    write_workbook(report, frame, tmp_path / "pack.xlsx")
    reference_individuals(frame, tmp_path / "reference.xlsx")
    new = openpyxl.load_workbook(tmp_path / "pack.xlsx")["Individuals"]
    old = openpyxl.load_workbook(tmp_path / "reference.xlsx")["Individuals"]

    assert new.max_row == old.max_row == len(frame) + 1
    assert new.max_column == len(frame.columns)
    assert [c.value for c in new[1]] == list(frame.columns)
    checked = 0
    for i in range(len(frame)):
        for j, name in enumerate(frame.columns):
            a, b = new.cell(i + 2, j + 1), old.cell(i + 2, j + 1)
            where = (i, name, frame.iat[i, j])
            if b.value is None:
                assert a.value is None, where
                continue
            assert (a.data_type, a.quotePrefix) == (b.data_type, b.quotePrefix), where
            if not isinstance(b.value, float) and frame.dtypes.iloc[j].kind != "f":  # effects: one format, below
                assert a.number_format == b.number_format, where
            if isinstance(b.value, (int, float)):
                # stored exactly (openpyxl wrote 16 significant digits; either may read back as int or float)
                assert isinstance(a.value, (int, float)) and not isinstance(a.value, bool), where
                assert a.value == float(frame.iat[i, j]), where
                assert a.value == pytest.approx(b.value, rel=1e-15, abs=0), where
            else:
                assert (type(a.value), a.value) == (type(b.value), b.value), where
            checked += 1
    assert checked > len(frame) * len(frame.columns) // 2
    # the cases the comparison must have met
    texts = {(new.cell(r, 2).value, new.cell(r, 2).quotePrefix) for r in range(2, new.max_row + 1)}
    assert {("=1+1", True), ("=y", True), ("-3", True), ("#REF!", False), ("a<b&c>d", False), ("bell x", False),
            ("x" * 32_767, False), ("=" + "y" * 32_766, True), ("\tlead", True), ("   ", False)} <= texts
    formats = {new.cell(r, 3).number_format for r in range(2, new.max_row + 1) if new.cell(r, 3).value is not None}
    assert len(formats) == 1 and "E" not in formats.pop()  # one format for the column, never scientific


def test_individuals_keep_carriage_returns_and_leave_missing_numbers_empty(report, tmp_path):
    # Where the former writer was wrong: it turned CR into LF, "<NA>" into text, and "\ufffe" into a broken file.
    frame = pd.DataFrame({"row": [2.0, np.nan, 4.5, np.inf], "id": ["\r=x", "a\r\nb", "ok\ufffe", "\x00"],
                          "cate": [0.1, 0.2, 0.3, 0.4], "n": pd.array([1, None, 3, 4], dtype="Int64")})
    ws = write_and_load(report, frame, tmp_path)["Individuals"]
    assert [ws.cell(r, 1).value for r in range(2, 6)] == [2, None, 4.5, None]
    assert ws["A4"].number_format == "General"
    assert (ws["B2"].value, ws["B2"].data_type, ws["B2"].quotePrefix) == ("\r=x", "s", True)
    assert ws["B3"].value == "a\r\nb" and not ws["B3"].quotePrefix
    assert ws["B4"].value == "ok"
    assert ws["B5"].value is None  # nothing left after dropping the unwritable character
    assert [ws.cell(r, 4).value for r in range(2, 6)] == [1, None, 3, 4]


def test_tricky_individuals_open_in_libreoffice(report, tmp_path):
    office = shutil.which("libreoffice") or shutil.which("soffice")
    if office is None:
        pytest.skip("LibreOffice is not installed")
    path = tmp_path / "pack.xlsx"
    write_workbook(report, tricky_individuals(), path)
    out = tmp_path / "roundtrip"
    result = subprocess.run([office, "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(path)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    original = openpyxl.load_workbook(path)["Individuals"]
    reopened = openpyxl.load_workbook(out / "pack.xlsx")["Individuals"]
    assert reopened.max_row == original.max_row and reopened.max_column == original.max_column
    for before, after in zip(original.iter_rows(), reopened.iter_rows()):
        for a, b in zip(before, after):
            if isinstance(a.value, float):
                assert b.value == pytest.approx(a.value, rel=1e-14, abs=0), a.coordinate
            else:
                assert b.value == a.value, a.coordinate
            if a.value is not None:
                assert b.number_format == a.number_format, a.coordinate


# ---------------------------------------------------------------------------------------------
# The report is read strictly: what every report holds must be there; only optional keys may be absent.

REQUIRED = [("title",), ("targeting_supported",), ("comparisons", "treat_all", "p_value"),
            ("harm_summary", "groups_tested"), ("harm_summary", "family_labels"), ("policy", "budget", "cost_source"),
            ("policy", "rules", 0, "n_estimated"), ("subgroups", 3, "flag"), ("budget_curve", 2, "random_gain"),
            ("diagnostics", "rate", "qini_low"), ("diagnostics", "overlap", "quantiles"), ("diagnostics", "truth"),
            ("diagnostics", "truth", "coverage"), ("findings", 0, "values"),
            ("diagnostics", "balance", 1, "smd"), ("diagnostics", "estimator_scores", 0, "selected")]


@pytest.mark.parametrize("path", REQUIRED, ids=["/".join(map(str, p)) for p in REQUIRED])
def test_a_report_without_a_required_key_is_refused(report, individuals, tmp_path, path):
    rep = copy.deepcopy(report)
    parent = rep
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(KeyError):
        write_workbook(rep, individuals, tmp_path / "pack.xlsx")
    assert not (tmp_path / "pack.xlsx").exists()


def test_a_calibration_without_variation_has_no_intercept(report, individuals, tmp_path):
    # What the pipeline reports when the estimated effects are all equal: no regression, no mean_effect.
    rep = copy.deepcopy(report)
    rep["diagnostics"]["calibration"] = {"slope": None, "ci_low": None, "ci_high": None, "p_value": None,
                                         "mean_effect": None, "detected": False, "verdict": "not detected"}
    ws = write_and_load(rep, individuals, tmp_path)["Diagnostics"]
    cal = table_rows(ws, find_row(ws, glossary.header("slope")))[0]
    assert cal["mean_effect"].value is None and cal["slope"].value is None
    assert (cal["detected"].value, cal["verdict"].value) == ("No", "not detected")


def notes_definitions(book) -> dict[tuple[str, str, str], str]:
    """Definitions by (sheet, table, report.json name of the column)."""
    return {(r["sheet"].value, r["table"].value, r["source"].value): r["definition"].value
            for r in table_rows(book["Notes"])}


def test_notes_name_the_severities_the_findings_use(book, report):
    from targeting.model.findings import Severity
    definition = notes_definitions(book)[("Diagnostics", "Findings", "severity")]
    assert definition == "info, warning or serious."
    assert {s.value for s in Severity} == {"info", "warning", "serious"}
    assert {f["severity"] for f in report["findings"]} <= {s.value for s in Severity}


def test_notes_name_every_family_the_report_knows(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    rep["harm_summary"]["family_labels"]["harm_search"] = "Harm search (exploratory)"
    rep["subgroups"][0]["family"] = "harm_search"
    rep["harm_summary"]["families"].append("harm_search")
    book = write_and_load(rep, individuals, tmp_path)
    for sheet, table in (("Subgroups", "Subgroups"), ("Harmed", "Harmed groups")):
        definition = notes_definitions(book)[(sheet, table, "family")]
        for key, label in rep["harm_summary"]["family_labels"].items():
            assert f"{key} = {label}" in definition
    families = next(r["value"].value for r in table_rows(book["Summary"], find_row(book["Summary"], glossary.header("item")))
                    if r["item"].value == "Families tested")
    assert families.endswith("; Harm search (exploratory)")


def test_money_columns_name_the_currency_when_one_is_set(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    rep["config"]["currency"] = "EUR"
    book = write_and_load(rep, individuals, tmp_path)
    assert "Total cost (EUR)" in [c.value for c in book["Values"][1]]
    assert "Cost (EUR)" in [c.value for c in book["Policy"][1]]
    plain = [c.value for c in write_and_load(report, individuals, tmp_path, "plain.xlsx")["Values"][1]]
    assert "Total cost" in plain


def test_a_prespecified_group_is_named_in_words_and_keeps_its_query(report, individuals, tmp_path):
    rep = copy.deepcopy(report)
    rep["subgroups"][0].update(family="prespecified", name="anticoagulant == 'Yes'",
                               query="`anticoagulant` == 'Yes'")
    rep["harm_summary"]["family_labels"].setdefault("prespecified", "Pre-specified")
    row = table_rows(write_and_load(rep, individuals, tmp_path)["Subgroups"])[0]
    assert row["name"].value == "anticoagulant is Yes"
    assert row["query"].value == "`anticoagulant` == 'Yes'"
