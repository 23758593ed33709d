"""Bad input, safety and reproducibility: the tool never crashes, never lies, never leaks.

The corpus in ``tests/fixtures/`` (regenerate with ``python tests/fixtures/make_fixtures.py``) holds
small files named by the outcome they must give. Every refusal is checked for the whole contract:

- the documented exit code and one message on stderr (``targeting: error: ...``) that contains
  the fragments naming what is wrong, where, and how to fix it; no traceback; nothing on stdout;
- nothing written anywhere (the ``-o`` folder does not appear, nothing beside the input);
- the input file byte-identical afterwards.

Cases the tool must cope with run through ``targeting validate`` (exit 0, writes nothing); two of
them also run a full report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import openpyxl
import pytest

from cli_helpers import run_cli
from process_helpers import start_report, wait_until_writing
from targeting.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, EXIT_OUTPUT, EXIT_USAGE
from targeting.report.outputs import OUTPUT_NAMES
from targeting.sim.simulate import bleeding_trial

FIXTURES = Path(__file__).parent / "fixtures"
BASE = ["--outcome", "event", "--treatment", "treatment", "--treated-value", "Treatment", "--exclude", "true_effect"]
SHEET: list[str] = []          # the workbook's config sheet carries the settings
FAST_REPORT = ["--estimator", "logistic_t", "--folds", "3", "--quiet"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (folders listed too, as empty)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else b"<dir>")
            for p in sorted(folder.rglob("*"))}


def assert_clean_refusal(code: int, out: str, err: str, expected: int, fragments: list[str]) -> None:
    assert code == expected, f"exit {code}, expected {expected}; stderr: {err}"
    assert "Traceback" not in err and "internal error" not in err
    assert out == "", "a refused run prints nothing on stdout"
    if expected == EXIT_USAGE and err.startswith("usage:"):
        assert "error:" in err                      # argparse's own message
    else:
        assert err.startswith("targeting: error: "), err
        assert err.count("targeting: error:") == 1, "one message"
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in: {err}"


# (fixture file, arguments, exit code, fragments of the message: what / where / how to fix)
REFUSALS = [
    # not a spreadsheet
    ("not_a_spreadsheet_random_bytes.xlsx", BASE, EXIT_INPUT, ["not an Excel workbook", "save it as .xlsx"]),
    ("not_a_spreadsheet_text_named_xlsx.xlsx", BASE, EXIT_INPUT, ["text file with an .xlsx name", "rename it to .csv"]),
    ("not_a_spreadsheet_zip_without_workbook.xlsx", BASE, EXIT_INPUT, ["zip archive but not an Excel workbook"]),
    ("empty_file.xlsx", BASE, EXIT_INPUT, ["is empty (0 bytes)", "Export the data again"]),
    ("empty_file.csv", BASE, EXIT_INPUT, ["is empty (0 bytes)"]),
    ("password_protected.xlsx", BASE, EXIT_INPUT, ["password-protected", "Remove the password"]),
    ("old_excel_format.xls", BASE, EXIT_INPUT, ["'.xls'", "not supported", "Save it as .xlsx"]),
    ("damaged_workbook_truncated.xlsx", BASE, EXIT_INPUT, ["damaged or incomplete", "Copy the file again"]),
    ("damaged_workbook_bad_xml.xlsx", BASE, EXIT_INPUT, ["could not be read", "save it again as .xlsx"]),
    ("not_parquet.parquet", BASE, EXIT_INPUT, ["Parquet file", "could not be read"]),
    ("binary_garbage.csv", BASE, EXIT_INPUT, ["is not text", "Export the data again"]),
    ("ragged_rows.csv", BASE, EXIT_INPUT, ["line 7", "same number of fields"]),
    ("ragged_short_rows.csv", BASE, EXIT_INPUT,
     ["5 lines with fewer fields than the 14 names of its header line", "lines 5, 12, 13, 20, 30",
      "line 5 has 13 fields", "Give every line 14 fields"]),
    # structure
    ("header_only.xlsx", SHEET, EXIT_INPUT, ["Sheet 'data'", "header but no data rows", "one row per person"]),
    ("header_only.csv", BASE, EXIT_INPUT, ["header but no data rows"]),
    ("empty_data_sheet.xlsx", SHEET, EXIT_INPUT, ["Sheet 'data'", "is empty", "one header row"]),
    ("missing_data_sheet.xlsx", SHEET, EXIT_INPUT, ["no data sheet", "sheet named 'data'"]),
    ("duplicate_column_names.xlsx", SHEET, EXIT_INPUT, ["duplicate column names", "'age'", "B1", "D1", "Rename"]),
    ("duplicate_column_names.csv", BASE, EXIT_INPUT, ["duplicate column names", "'bp'", "column 5", "column 6"]),
    ("data_under_empty_header.xlsx", SHEET, EXIT_INPUT, ["empty header", "cell D1", "Give every data column a name"]),
    ("merged_header_cells.xlsx", SHEET, EXIT_INPUT, ["empty header", "cell F1", "E1:F1 are merged", "unmerge"]),
    ("formulas_without_cached_values.xlsx", SHEET, EXIT_INPUT,
     ["formulas whose results were never saved", "column 'bmi_doubled'", "O2, O3", "195 more", "Paste Special > Values"]),
    ("excel_error_cells.xlsx", SHEET, EXIT_INPUT, ["Excel error values", "column 'bmi'", "D5, D9, D120", "#DIV/0!"]),
    # outcome and treatment
    ("missing_outcome_column.csv", BASE, EXIT_CONFIG, ["Column 'event'", "setting 'outcome'", "Columns are:"]),
    ("missing_treatment_column.csv", BASE, EXIT_CONFIG, ["Column 'treatment'", "setting 'treatment'"]),
    ("outcome_not_named.csv", ["--treatment", "treatment", "--treated-value", "Treatment"], EXIT_CONFIG,
     ["No outcome column was named", "--outcome", "'bleed'"]),
    ("outcome_is_treatment.xlsx", SHEET, EXIT_CONFIG, ["same column 'treatment'"]),
    ("single_arm.xlsx", SHEET, EXIT_INPUT, ["'treatment' has only one value ('Control')", "Include both"]),
    ("all_treated.csv", BASE, EXIT_INPUT, ["only one value ('Treatment')"]),
    ("treatment_empty.csv", BASE, EXIT_INPUT, ["'treatment' is empty in every row", "--treatment"]),
    ("three_arms.csv", BASE, EXIT_INPUT, ["exactly two values", "'High dose'", "Recode"]),
    ("ambiguous_labels.csv", ["--outcome", "event", "--treatment", "treatment", "--exclude", "true_effect"],
     EXIT_CONFIG, ["'Arm A', 'Arm B'", "not clear which one means treated", "--treated-value"]),
    ("treated_value_not_in_column.xlsx", SHEET, EXIT_CONFIG, ["'Drug' does not occur", "'Control', 'Treatment'"]),
    ("arm_too_small.csv", BASE, EXIT_INPUT, ["Only 6 people are treated", "column 'treatment'", "Add data"]),
    ("too_few_rows.csv", BASE, EXIT_INPUT, ["Only 5 people are untreated", "at least 10"]),
    ("outcome_text.csv", BASE, EXIT_INPUT, ["'event' must be numeric", "'yes'", "rows 4, 18, 41", "Recode"]),
    ("outcome_all_missing.csv", BASE, EXIT_INPUT, ["'event' is empty in every row"]),
    ("outcome_constant.csv", BASE, EXIT_INPUT, ["same value (0) for everyone"]),
    ("outcome_infinite.csv", BASE, EXIT_INPUT, ["'event' has infinite values in rows 6, 10"]),
    # covariates
    ("covariate_all_missing.csv", BASE, EXIT_INPUT, ["Covariate 'bmi' is empty in every row", "--exclude bmi"]),
    ("covariates_all_constant.csv", BASE, EXIT_INPUT, ["Every covariate is constant"]),
    ("no_covariates_left.csv", BASE, EXIT_CONFIG, ["No covariates are left", "--covariates"]),
    ("covariate_unique_identifier.csv", BASE, EXIT_INPUT, ["'patient_code'", "like an identifier", "--id patient_code"]),
    ("covariate_too_many_categories.csv", BASE, EXIT_INPUT, ["'postcode' has 80 different text values"]),
    ("covariate_dates.xlsx", SHEET, EXIT_INPUT, ["'enrolled_on' holds dates", "'2023-01-01'", "--exclude enrolled_on"]),
    ("covariate_dates_as_text.csv", BASE, EXIT_INPUT, ["'enrolled_on' holds dates", "days since enrolment"]),
    ("covariate_infinite_values.csv", BASE, EXIT_INPUT, ["'bmi' has infinite values in rows 3, 31"]),
    ("covariate_numbers_with_stray_text.csv", BASE, EXIT_INPUT,
     ["'age' holds numbers except for text 'unknown', '-', 'sixty'", "rows 7, 61, 161", "Leave those cells empty"]),
    # settings (from the config sheet)
    ("budget_zero.xlsx", SHEET, EXIT_CONFIG, ["Budget '0' must be above zero", "30%"]),
    ("budget_over_100_percent.xlsx", SHEET, EXIT_CONFIG, ["'150%' is more than 100% of people"]),
    ("budget_negative.xlsx", SHEET, EXIT_CONFIG, ["Budget '-20' must be above zero"]),
    ("budget_unparsable.xlsx", SHEET, EXIT_CONFIG, ["'about a third' is not a number", "such as 30%"]),
    ("budget_count_above_population.xlsx", SHEET, EXIT_CONFIG, ["5,000 people is more than the 200 people"]),
    ("budget_total_above_total_cost.xlsx", SHEET, EXIT_CONFIG, ["more than the cost of treating everyone (24,000.00)"]),
    ("budget_total_without_cost.xlsx", SHEET, EXIT_CONFIG, ["'budget_total' needs per-person costs", "--cost"]),
    ("cost_negative.csv", [*BASE, "--cost", "cost"], EXIT_INPUT, ["Cost column 'cost'", "negative", "rows 5, 9"]),
    ("cost_missing.csv", [*BASE, "--cost", "cost"], EXIT_INPUT, ["Cost column 'cost'", "rows 11, 12, 13", "fill"]),
    ("propensity_above_one.xlsx", SHEET, EXIT_CONFIG, ["strictly between 0 and 1; got 1.5", "use 0.5"]),
    ("propensity_zero.xlsx", SHEET, EXIT_CONFIG, ["strictly between 0 and 1; got 0"]),
    ("propensity_column_outside_0_1.csv", [*BASE, "--propensity", "p_treat"], EXIT_INPUT,
     ["Propensity column 'p_treat'", "rows 1, 51"]),
    ("config_key_typo.xlsx", SHEET, EXIT_CONFIG, ["Unknown setting 'budgte'", "config sheet", "Did you mean 'budget'?"]),
    ("config_sheet_one_column.xlsx", SHEET, EXIT_INPUT, ["Sheet 'config'", "one column", "key in column A"]),
    ("unknown_direction_value.xlsx", SHEET, EXIT_CONFIG, ["'direction' must be one of", "'lower is worse'"]),
    ("unknown_estimator_value.xlsx", SHEET, EXIT_CONFIG, ["'estimator' must be one of", "'random forest'"]),
    ("folds_not_a_whole_number.xlsx", SHEET, EXIT_CONFIG, ["'folds' (from the workbook's config sheet)", "'three'"]),
    ("seed_negative.xlsx", SHEET, EXIT_CONFIG, ["'seed' must be a whole number from 0", "got -5"]),
    ("subgroup_unknown_column.xlsx", SHEET, EXIT_CONFIG, ["column 'weight' is not in the data", "Columns are:"]),
    ("subgroup_unknown_level.xlsx", SHEET, EXIT_CONFIG, ["'F' is not a value of column 'gender'", "'Female'"]),
    ("logistic_t_with_continuous_outcome.xlsx", SHEET, EXIT_CONFIG, ["'logistic_t' needs a 0/1 outcome", "'sbp'"]),
    # settings (flags) on a valid file
    ("valid_trial.csv", [*BASE, "--budget", "inf"], EXIT_CONFIG, ["Budget 'inf' is not a finite number"]),
    ("valid_trial.csv", [*BASE, "--budget=-10%"], EXIT_CONFIG, ["must be above zero"]),
    ("valid_trial.csv", [*BASE, "--budget", "2.5"], EXIT_CONFIG, ["not a whole number of people"]),
    ("valid_trial.csv", [*BASE, "--seed", "-1"], EXIT_CONFIG, ["'seed' must be a whole number from 0"]),
    ("valid_trial.csv", [*BASE, "--seed", "1e30"], EXIT_CONFIG, ["'seed' must be a whole number from 0"]),
    ("valid_trial.csv", [*BASE, "--folds", "1e400"], EXIT_CONFIG, ["'folds' (from the command line) must be a whole number"]),
    ("valid_trial.csv", [*BASE, "--folds", "1"], EXIT_CONFIG, ["'folds' must be between 2 and 20"]),
    ("valid_trial.csv", [*BASE, "--depth", "7"], EXIT_CONFIG, ["'depth' must be 1, 2 or 3"]),
    ("valid_trial.csv", [*BASE, "--max-bins", "1000"], EXIT_CONFIG, ["'max_bins' must be between 2 and 256"]),
    ("valid_trial.csv", [*BASE, "--min-leaf", "-3"], EXIT_CONFIG, ["'min_leaf' must be 0"]),
    ("valid_trial.csv", [*BASE, "--harm-threshold", "-1"], EXIT_CONFIG, ["'harm_threshold'", "0 or more"]),
    ("valid_trial.csv", [*BASE, "--direction", "up"], EXIT_CONFIG, ["'direction' must be one of"]),
    ("valid_trial.csv", [*BASE, "--cost", "price"], EXIT_CONFIG, ["Cost 'price' is neither a column nor a number"]),
    ("valid_trial.csv", [*BASE, "--cost", "0"], EXIT_CONFIG, ["must be a positive number"]),
    ("valid_trial.csv", [*BASE, "--propensity", "half"], EXIT_CONFIG, ["Propensity 'half' is neither a column"]),
    ("valid_trial.csv", [*BASE, "--covariates", "age,event"], EXIT_CONFIG, ["'event' is the outcome"]),
    ("valid_trial.csv", [*BASE, "--exclude", "weight"], EXIT_CONFIG, ["Column 'weight' (setting 'exclude')"]),
    ("valid_trial.csv", [*BASE, "--id", "patient"], EXIT_CONFIG, ["Column 'patient' (setting 'id')"]),
    ("valid_trial.csv", [*BASE, "--subgroup", "age >> 3"], EXIT_CONFIG, ["Subgroup expression is not valid"]),
    ("valid_trial.csv", [*BASE, "--subgroup", "__import__('os').system('x')"], EXIT_CONFIG, ["Subgroup expression"]),
    ("valid_trial.csv", [*BASE, "--config", "{tmp}/missing.toml"], EXIT_CONFIG, ["'missing.toml' was not found"]),
    ("valid_trial.csv", [*BASE, "--subgroup", "event < 0.5"], EXIT_CONFIG,
     ["defined by the outcome column 'event'", "measured before treatment"]),
    ("valid_trial.csv", [*BASE, "--subgroup", "age > 60 and treatment == 'Treatment'"], EXIT_CONFIG,
     ["defined by the treatment column 'treatment'", "same treatment"]),
    ("valid_trial.csv", [*BASE, "--config", "{tmp}"], EXIT_CONFIG, ["is a folder, not a file", "--config settings.toml"]),
    ("valid_trial.csv", [*BASE, "--min-leaf", "150"], EXIT_CONFIG, ["'min_leaf' of 150", "200 people", "at most 100"]),
    ("valid_trial.csv", [*BASE, "--budgte", "30%"], EXIT_USAGE, ["unrecognized arguments: --budgte"]),
    # outputs
    ("valid_trial.csv", [*BASE, "-o", "{input}"], EXIT_OUTPUT, ["output path is the input file itself", "-o"]),
    ("valid_trial.csv", [*BASE, "-o", "{tmp}/a_file.txt/report"], EXIT_OUTPUT, ["is a file", "Choose another folder"]),
    ("valid_trial.csv", [*BASE, "-o", "{tmp}/a_file.txt"], EXIT_OUTPUT, ["is a file, not a folder"]),
    ("individuals.csv", [*BASE, "-o", "{tmp}"], EXIT_OUTPUT, ["'individuals.csv'", "would overwrite the input file"]),
    # round 2: resource bombs, escapes, formulas in the config sheet, extreme values
    ("huge_cell.xlsx", BASE, EXIT_INPUT, ["more than 32,767 characters", "Excel's limit", "save the data"]),
    ("cells_far_apart.xlsx", BASE, EXIT_INPUT, ["as far as row 1,048,576 and column XFD", "Ctrl+End", ".csv"]),
    ("terminal_escapes_in_column_name.csv", BASE, EXIT_CONFIG, ["Column 'treatment'", "'arm\\x1b]0;pwned\\x07"]),
    ("config_formula_without_value.xlsx", SHEET, EXIT_INPUT,
     ["Sheet 'config'", "formulas whose results were never saved", "column 'value'", "B6", "Paste Special"]),
    ("outcome_extreme_scale.csv", [*BASE, "--outcome", "sbp"], EXIT_INPUT,
     ["Outcome column 'sbp'", "as large as 1.85e+302", "Rescale the column"]),
    ("parquet_list_column.parquet", BASE, EXIT_INPUT,
     ["column 'visits' holds lists or records", "rows 1, 2, 3, 4, 5 and 35 more", "Flatten it"]),
    ("parquet_bytes_column.parquet", BASE, EXIT_INPUT, ["column 'scan' holds raw bytes", "decode the bytes as text"]),
    ("external_link_without_saved_value.xlsx", SHEET, EXIT_INPUT,
     ["formulas whose results were never saved", "column 'bmi': 1 cell (D5)", "Paste Special > Values"]),
    ("mixed_decimal_marks.csv", BASE, EXIT_INPUT,
     ["Covariate 'bmi' holds numbers except for text '32,4'", "rows 7, 41, 42", "decimal comma", "all '1.5'"]),
    ("mixed_decimal_marks.csv", [*BASE, "--outcome", "sbp"], EXIT_INPUT,
     ["Outcome column 'sbp' must be numeric", "'159,5'", "rows 7, 41, 42", "decimal comma, while other cells"]),
    ("cost_extreme.csv", [*BASE, "--cost", "cost", "--budget-total", "1e307"], EXIT_INPUT,
     ["Cost column 'cost'", "as large as 1e+308", "thousands or millions"]),
]


def _ids(cases):
    return [f"{name}{'[' + ' '.join(args[len(BASE):]) + ']' if args[:len(BASE)] == BASE and args[len(BASE):] else ''}"
            for name, args, *_ in cases]


def test_the_corpus_is_large_small_and_complete():
    files = [p for p in FIXTURES.iterdir() if p.is_file() and p.suffix != ".py" and not p.name.startswith(".")]
    assert len(files) >= 40
    assert sum(p.stat().st_size for p in files) < 2_000_000
    used = {name for name, *_ in REFUSALS} | {name for name, *_ in COPES} | {"cope_unicode_and_long_column_names.xlsx"}
    assert {p.name for p in files} <= used, f"fixtures without a test: {sorted({p.name for p in files} - used)}"


@pytest.mark.parametrize("name, args, code, fragments", REFUSALS, ids=_ids(REFUSALS))
def test_refusal_is_clean(tmp_path, name, args, code, fragments):
    original = (FIXTURES / name).read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    source = work / name
    source.write_bytes(original)
    (work / "a_file.txt").write_text("not a folder\n")
    argv = [a.replace("{input}", str(source)).replace("{tmp}", str(work)) for a in args]
    if "-o" not in argv:
        argv += ["-o", str(work / "out")]
    before = snapshot(work)

    result = run_cli(["report", str(source), *argv, "--quiet"])
    assert_clean_refusal(*result, code, fragments)
    assert snapshot(work) == before, "a refused run writes nothing and leaves the input byte-identical"
    assert source.read_bytes() == original

    if "-o" not in args:  # validate refuses the same way (it has no output folder to check)
        v_argv = [a.replace("{tmp}", str(work)) for a in args]
        v_code, v_out, v_err = run_cli(["validate", str(source), *v_argv])
        assert_clean_refusal(v_code, v_out, v_err, code, fragments)
        assert snapshot(work) == before


def test_refusal_with_default_output_folder_writes_nothing(tmp_path):
    source = tmp_path / "single_arm.xlsx"
    shutil.copy(FIXTURES / "single_arm.xlsx", source)
    before = snapshot(tmp_path)
    code, out, err = run_cli(["report", str(source), "--quiet"])
    assert_clean_refusal(code, out, err, EXIT_INPUT, ["only one value"])
    assert not (tmp_path / "single_arm_report").exists()
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_unwritable_output_folder_is_refused(tmp_path):
    source = tmp_path / "valid_trial.csv"
    shutil.copy(FIXTURES / "valid_trial.csv", source)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, out, err = run_cli(["report", str(source), *BASE, "-o", str(locked / "out"), "--quiet"])
        assert_clean_refusal(code, out, err, EXIT_OUTPUT, ["not writable", "Choose another folder"])
        assert not (locked / "out").exists()
    finally:
        locked.chmod(0o700)


# Cases the tool copes with: validate succeeds, says what it did, and writes nothing.
COPES = [
    ("valid_trial.csv", BASE, ["200 people (102 treated = 'Treatment'", "OK: the data can be used"]),
    ("individuals.csv", BASE, ["OK: the data can be used"]),
    ("cope_missing_covariate_values.csv", BASE,
     ["age (numeric, 24 missing)", "gender (categorical, 40 missing)", "handled as missing"]),
    ("cope_some_outcomes_missing.csv", BASE, ["197 people", "3 rows lack the outcome", "rows 8, 71, 171"]),
    ("cope_unicode_and_long_column_names.xlsx", SHEET,
     ["âge (années) (numeric)", "性别 (categorical)", "ИМТ 🩺 (numeric)", "fumeur·euse (categorical)"]),
    ("cope_labels_look_like_formulas_or_html.csv", BASE, ["gender (categorical)", "region (categorical)"]),
    ("cope_merged_cells.xlsx", SHEET, ["200 people", "gender (categorical)", "anticoagulant (categorical)"]),
    ("cope_leading_blank_rows_and_columns.xlsx", SHEET, ["200 people", "subject_id (numeric)"]),
    ("cope_blank_rows_in_middle.xlsx", SHEET, ["200 people", "2 rows lack the outcome", "rows 49, 50"]),
    ("cope_semicolon_latin1.csv", BASE, ["200 people", "region (categorical)"]),
    ("cope_utf16_tab_separated.csv", BASE, ["200 people", "subject_id (numeric)", "gender (categorical)"]),
    ("cope_boolean_treatment.csv", ["--outcome", "event", "--treatment", "treatment", "--exclude", "true_effect"],
     ["treated = 'True'", "untreated = 'False'"]),
    ("valid_trial.csv", [*BASE, "--direction", "Lower is better", "--estimator", "Causal-Forest"],
     ["lower-is-better"]),
    ("cope_hostile_ids_and_labels.csv", [*BASE, "--id", "patient"], ["200 people", "region (categorical)"]),
    ("cope_covariate_leaks_the_outcome.csv", BASE,
     ["'bleed_in_notes' (100%)", "explain almost all of the variation in the outcome 'event'", "leakage", "--exclude"]),
    ("cope_duplicate_ids.csv", [*BASE, "--id", "subject_id"],
     ["Identifier column 'subject_id' repeats 1 value over 4 rows", "rows 10, 11, 12, 151", "one row per person"]),
    ("cope_decimal_commas.csv", BASE, ["200 people", "outcome: 'event', binary", "bmi (numeric)", "age (numeric)"]),
    ("cope_labels_that_trip_queries.xlsx", SHEET, ["400 people", "grp (categorical)", "index (numeric, 108 missing)"]),
    ("cope_rows_shuffled.csv", BASE, ["200 people (102 treated = 'Treatment'", "OK: the data can be used"]),
    ("cope_very_long_labels.csv", BASE, ["200 people", "region (categorical)", "anticoagulant_xxxxxxxx"]),
    ("cope_external_links.xlsx", SHEET,
     ["bmi (numeric)", "note: Sheet 'data' of 'cope_external_links.xlsx' has 200 cells (D2, D3, D4 and 197 more)",
      "read other workbooks ('measurements.xlsx')", "copies Excel saved", "may be stale", "Update Values"]),
]


@pytest.mark.parametrize("name, args, fragments", COPES, ids=[c[0] for c in COPES])
def test_validate_copes(tmp_path, name, args, fragments):
    source = tmp_path / name
    shutil.copy(FIXTURES / name, source)
    before = snapshot(tmp_path)
    code, out, err = run_cli(["validate", str(source), *args])
    assert code == EXIT_OK, err
    assert "Traceback" not in err and err == ""
    assert out.rstrip().endswith("OK: the data can be used.")
    for fragment in fragments:
        assert fragment in out, f"{fragment!r} not in: {out}"
    assert snapshot(tmp_path) == before, "validate writes nothing"


def test_merged_cells_take_the_value_shown():
    from targeting.data.read import read_input

    frame = read_input(FIXTURES / "cope_merged_cells.xlsx").frame
    assert frame.loc[0:3, "gender"].tolist() == [frame.loc[0, "gender"]] * 4
    assert frame.loc[0:3, "gender"].notna().all()
    assert frame.loc[8, "anticoagulant"] == frame.loc[7, "anticoagulant"]
    plain = bleeding_trial(200, seed=1)
    assert frame.loc[4:, "gender"].tolist() == plain.loc[4:, "gender"].tolist()


def test_leading_blank_rows_and_columns_are_skipped():
    from targeting.data.read import read_input

    frame = read_input(FIXTURES / "cope_leading_blank_rows_and_columns.xlsx").frame
    plain = bleeding_trial(200, seed=1)
    assert list(frame.columns) == list(plain.columns)
    assert frame["age"].tolist() == plain["age"].tolist()


def _formula_cells(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path)
    return [f"{ws.title}!{c.coordinate}" for ws in book.worksheets for row in ws.iter_rows() for c in row
            if c.data_type == "f" or (isinstance(c.value, str) and c.data_type != "s" and c.value.startswith("="))]


def test_report_copes_with_labels_that_look_like_formulas_or_html(tmp_path):
    """A full report: odd labels stay literal text in every output, and the seed is recorded."""
    source = tmp_path / "labels.csv"
    shutil.copy(FIXTURES / "cope_labels_look_like_formulas_or_html.csv", source)
    before = source.read_bytes()
    code, out, err = run_cli(["report", str(source), *BASE, *FAST_REPORT, "--seed", "11", "-o", str(tmp_path / "out")],
                             threads=1)
    assert code == EXIT_OK, err
    outdir = tmp_path / "out"
    assert sorted(p.name for p in outdir.iterdir()) == sorted(OUTPUT_NAMES), "no temporary files left"
    assert source.read_bytes() == before
    report = json.loads((outdir / "report.json").read_text(encoding="utf-8"))
    assert report["provenance"]["seed"] == 11 and report["config"]["seed"] == 11
    assert _formula_cells(outdir / "pack.xlsx") == [], "no cell of the pack is a formula"
    texts = {c.value for ws in openpyxl.load_workbook(outdir / "pack.xlsx").worksheets
             for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    assert any("=1+1" in t for t in texts) and any("<b>x</b>" in t for t in texts)
    assert (outdir / "brief.pdf").read_bytes().startswith(b"%PDF")


def test_report_copes_with_unicode_and_long_column_names(tmp_path):
    source = tmp_path / "unicode.xlsx"
    shutil.copy(FIXTURES / "cope_unicode_and_long_column_names.xlsx", source)
    code, out, err = run_cli(["report", str(source), *FAST_REPORT, "-o", str(tmp_path / "out")], threads=1)
    assert code == EXIT_OK, err
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    text = json.dumps(report, ensure_ascii=False)
    for name in ("âge (années)", "性别", "ИМТ 🩺", "fumeur·euse"):
        assert name in text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(OUTPUT_NAMES)
    assert _formula_cells(tmp_path / "out" / "pack.xlsx") == []


# -- atomic outputs ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def large_trial(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("atomic") / "large_trial.csv"
    bleeding_trial(3000, seed=4).to_csv(path, index=False)
    return path


def _start_report(source: Path, outdir: Path, *extra: str) -> subprocess.Popen:
    return start_report(source, outdir, *BASE, *extra)


def _assert_no_final_outputs(outdir: Path) -> None:
    for name in OUTPUT_NAMES:
        assert not (outdir / name).exists(), f"{name} exists after a killed run"
    if outdir.exists():
        leftovers = [p.name for p in outdir.iterdir()]
        assert all(n.startswith(".") and n.endswith(".part") for n in leftovers), leftovers


def test_killed_run_leaves_no_outputs(large_trial, tmp_path):
    before = large_trial.read_bytes()
    outdir = tmp_path / "out"
    process = _start_report(large_trial, outdir)
    try:
        time.sleep(3)
        assert process.poll() is None, "the run finished before it could be killed; use a larger input"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    _assert_no_final_outputs(outdir)
    assert large_trial.read_bytes() == before


def test_run_killed_while_writing_leaves_no_outputs(tmp_path):
    """Kill the moment the temporary files appear: the final names must still be absent.

    A SIGKILL cannot be cleaned up after, so the temporary ``.<name>.*.part`` files stay in the
    output folder; nothing is ever at a final name until every output is complete.
    """
    source = tmp_path / "trial.csv"
    bleeding_trial(400, seed=4).to_csv(source, index=False)
    outdir = tmp_path / "out"
    process = _start_report(source, outdir, *FAST_REPORT)
    try:
        wait_until_writing(process, outdir)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    _assert_no_final_outputs(outdir)


def _workbook_with_sheet_xml(path: Path, rows_xml: str, prefix: str = "") -> None:
    """A valid workbook whose first sheet's cells are exactly ``rows_xml`` (as Excel would write them)."""
    import zipfile

    book = openpyxl.Workbook()
    book.active.title = "data"
    book.active["A1"] = "placeholder"
    book.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    root = f'<{prefix}worksheet xmlns{":" + prefix[:-1] if prefix else ""}="{ns}">'
    entries["xl/worksheets/sheet1.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?>{root}<{prefix}sheetData>{rows_xml}</{prefix}sheetData>'
        f'</{prefix}worksheet>').encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


def _row(r: int, *cells: str) -> str:
    return f'<row r="{r}">{"".join(cells)}</row>'


@pytest.mark.parametrize("prefix", ["", "x:"])
def test_formulas_with_saved_results_are_read(tmp_path, prefix):
    """Workbooks saved by Excel keep each formula's result: those are data, not a problem."""
    p = prefix
    rows = [_row(1, *(f'<{p}c r="{col}1" t="inlineStr"><{p}is><{p}t>{name}</{p}t></{p}is></{p}c>'
                      for col, name in zip("ABCD", ["n", "double", "label", "blank"])))]
    for r in range(2, 6):
        rows.append(_row(
            r,
            f'<{p}c r="A{r}"><{p}v>{r}</{p}v></{p}c>',
            f'<{p}c r="B{r}"><{p}f>A{r}*2</{p}f><{p}v>{2 * r}</{p}v></{p}c>' if r == 2 else
            f'<{p}c r="B{r}"><{p}f t="shared" si="0"/><{p}v>{2 * r}</{p}v></{p}c>',
            f'<{p}c r="C{r}" t="str"><{p}f>IF(A{r}&gt;3,"big","small")</{p}f><{p}v>{"big" if r > 3 else "small"}</{p}v></{p}c>',
            f'<{p}c r="D{r}" t="str"><{p}f>""</{p}f><{p}v></{p}v></{p}c>',   # a formula whose result is ""
        ))
    path = tmp_path / "saved.xlsx"
    _workbook_with_sheet_xml(path, "".join(rows).replace("<row", f"<{p}row").replace("</row>", f"</{p}row>"), prefix)
    from targeting.data.read import read_input

    frame = read_input(path).frame
    assert frame["double"].tolist() == [4, 6, 8, 10]
    assert frame["label"].tolist() == ["small", "small", "big", "big"]


def test_error_value_from_a_formula_is_refused(tmp_path):
    rows = _row(1, '<c r="A1" t="inlineStr"><is><t>n</t></is></c>', '<c r="B1" t="inlineStr"><is><t>ratio</t></is></c>')
    rows += _row(2, '<c r="A2"><v>0</v></c>', '<c r="B2" t="e"><f>1/A2</f><v>#DIV/0!</v></c>')
    path = tmp_path / "errors.xlsx"
    _workbook_with_sheet_xml(path, rows)
    code, out, err = run_cli(["validate", str(path)])
    assert_clean_refusal(code, out, err, EXIT_INPUT, ["Excel error values", "column 'ratio'", "B2", "#DIV/0!"])


def test_the_data_sheet_is_parsed_once_and_other_sheets_as_asked():
    from types import SimpleNamespace

    from targeting.data.read import _parsed_once

    asked = []
    book = SimpleNamespace(_reader=SimpleNamespace(get_sheet_by_name=lambda name: asked.append(name) or name))
    parsed = object()
    same = _parsed_once(book, "data", parsed)
    assert same is book and book._reader.get_sheet_by_name("data") is parsed and asked == []
    assert book._reader.get_sheet_by_name("config") == "config" and asked == ["config"]
    private_reader_gone = SimpleNamespace()
    assert _parsed_once(private_reader_gone, "data", parsed) is private_reader_gone  # parsed twice, still read
    import pandas as pd

    lesson = Path(__file__).resolve().parents[1] / "examples" / "cate_lesson.xlsx"
    with pd.ExcelFile(lesson, engine="calamine") as real:  # this pandas: parsed once
        assert callable(real._reader.get_sheet_by_name)
