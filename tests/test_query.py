"""The query builder: every rendered query selects, with DataFrame.query, exactly the rows of its mask."""

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targeting.cli import main
from targeting.data import query as q

ODD_NAMES = ["plain", "with space", "back`tick", "it's", 'say "x"', "class", "naïve é", "a\\b", "x-y+z", 2024]


def selected(frame: pd.DataFrame, query: str) -> list[int]:
    return list(frame.query(query).index)


def rows(mask) -> list[int]:
    return list(np.flatnonzero(np.asarray(mask, dtype=bool)))


@pytest.mark.parametrize("name", ODD_NAMES)
def test_any_column_name_reads_back_as_that_column(name):
    others = [n for n in ODD_NAMES if n != name]
    frame = pd.DataFrame({n: [0.0, 0.0, 0.0] for n in others} | {name: [1.0, 5.0, 3.0]})
    assert selected(frame, q.compare(q.column(name), ">", 2)) == [1, 2]


def test_column_quoting_by_hand():
    assert q.column("age") == "`age`"
    assert q.column("back`tick") == "`back``tick`"
    assert q.column(2024) == "`2024`"


FLOATS = [0.1 + 0.2, 1 / 3, 2 / 3, 1e-300, 123456789.12345679, 2.0 ** 53 + 2, -0.5, 50.0, 5e-324]


@pytest.mark.parametrize("value", FLOATS)
def test_floats_are_written_with_every_digit(value):
    frame = pd.DataFrame({"x": [np.nextafter(value, -np.inf), value, np.nextafter(value, np.inf)]})
    col = q.column("x")
    assert selected(frame, q.compare(col, "==", value)) == [1]
    assert selected(frame, q.compare(col, "<", value)) == [0]
    assert selected(frame, q.compare(col, ">=", value)) == [1, 2]
    assert ast.literal_eval(q.literal(value)) == value


def test_literals_by_hand():
    assert q.literal(50.0) == "50.0"
    assert q.literal(50) == "50"
    assert q.literal(0.1) == "0.1"
    assert q.literal(True) == "True"
    assert q.literal(np.float64(0.1)) == "0.1"
    assert q.literal(np.int64(7)) == "7"
    assert q.literal(np.bool_(False)) == "False"
    assert q.literal("F") == "'F'"
    assert q.literal("ends\\") == "'ends\\x5c'"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf])
def test_values_no_comparison_selects_are_refused(value):
    with pytest.raises(ValueError):
        q.literal(value)


def test_other_types_are_refused():
    with pytest.raises(TypeError):
        q.literal(None)


TEXTS = ["it's", 'say "hi"', "both ' and \"", "ends\\", "\\", "mid\\dle", "back`tick", "tab\there", "new\nline",
         "  spaced  ", "ünïcödé", "(paren", "x) or (1 == 1"]


@pytest.mark.parametrize("text", TEXTS)
def test_text_literals_select_exactly_that_text_even_before_a_backticked_column(text):
    frame = pd.DataFrame({"label": [text, "other", text], "my value": [1, 1, 0]})
    equal = q.compare(q.column("label"), "==", text)
    assert selected(frame, equal) == [0, 2]
    # pandas looks for backticked names outside quoted text: the text must end where it ends.
    both = q.all_of([equal, q.compare(q.column("my value"), ">", 0)])
    assert selected(frame, both) == [0]
    assert ast.literal_eval(q.literal(text)) == text


def membership_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "region name": pd.Categorical(["North", "South", None, "East", "North"]),
        "plain text": ["North", "South", None, "East", "North"],
    })


@pytest.mark.parametrize("name", ["region name", "plain text"])
def test_in_lists_and_their_missing_values(name):
    frame = membership_frame()
    col = q.column(name)
    members = frame[name].isin(["North", "East"]).to_numpy()
    present = frame[name].notna().to_numpy()
    assert selected(frame, q.membership(col, "in", ["North", "East"])) == rows(members)
    # pandas counts a missing cell as "not in"; the guard pins it to False, also under '~'.
    assert selected(frame, q.membership(col, "not in", ["North", "East"])) == rows(~members)
    guarded = q.recorded_and(col, q.membership(col, "not in", ["North", "East"]))
    assert selected(frame, guarded) == rows(present & ~members)
    assert selected(frame, f"~{guarded}") == rows(~(present & ~members))


@pytest.mark.parametrize("values", [  # the kinds of column pandas reads from a file
    [1.5, np.nan, 3.0, np.nan],
    ["a", None, "b", np.nan],
    pd.Categorical(["a", None, "b", None]),
])
def test_missing_value_tests(values):
    frame = pd.DataFrame({"odd `name`": values})
    col = q.column("odd `name`")
    assert selected(frame, q.is_missing(col)) == [1, 3]
    assert selected(frame, q.is_recorded(col)) == [0, 2]


def test_ranges_and_alternatives():
    frame = pd.DataFrame({"age (years)": [39.999, 40.0, 64.9, 65.0, np.nan]})
    col = q.column("age (years)")
    half_open = q.all_of([q.compare(col, ">=", 40.0), q.compare(col, "<", 65)])
    assert half_open == "`age (years)` >= 40.0 and `age (years)` < 65"
    assert selected(frame, half_open) == [1, 2]
    or_missing = q.any_of([q.compare(col, ">=", 65), q.is_missing(col)])
    assert selected(frame, or_missing) == [3, 4]
    # any_of comes parenthesised, so it joins with 'and' as one condition.
    assert selected(frame, q.all_of([q.compare(col, ">", 50), or_missing])) == [3]


def test_stripped_text_compares_without_surrounding_spaces():
    frame = pd.DataFrame({"sex": [" F", "F ", "M", None]})
    assert selected(frame, q.compare(q.stripped_text(q.column("sex")), "==", "F")) == [0, 1]


@pytest.mark.parametrize("query, expected", [
    ("(`a` > 1)", "`a` > 1"),
    ("((`a` > 1) & (`b` < 2))", "(`a` > 1) & (`b` < 2)"),
    ("(`a` > 1) & (`b` < 2)", "(`a` > 1) & (`b` < 2)"),
    ("(`a` == ')(')", "`a` == ')('"),
    ("(`a)` > 1) | (`b` > 1)", "(`a)` > 1) | (`b` > 1)"),
    ("`a` > 1", "`a` > 1"),
])
def test_strip_outer_drops_only_a_wrapping_pair(query, expected):
    assert q.strip_outer(query) == expected


def test_everyone_selects_every_row_even_beside_a_column_named_index():
    frame = pd.DataFrame({"index": [1.0, np.nan, 3.0, np.nan], "arm": [0, 1, np.nan, 1]})
    assert len(frame.query(q.everyone(q.column("arm")))) == 4
    assert len(frame.query(q.everyone(q.column("index")))) == 4


TRICKY = Path(__file__).parent / "fixtures" / "cope_labels_that_trip_queries.xlsx"


def _tricky(outdir: Path, *extra: str):
    code = main(["report", str(TRICKY), "--estimator", "logistic_t", "--folds", "3", "--budget", "40%",
                 "--subgroup", "sex == 'Female'", "--subgroup", "grp in ['1', 'other']", *extra,
                 "-o", str(outdir), "--quiet"])
    assert code == 0
    report = json.loads((outdir / "report.json").read_text(encoding="utf-8"))
    tables = {"input": pd.read_excel(TRICKY, sheet_name="data", engine="calamine"),
              "individuals": pd.read_csv(outdir / "individuals.csv")}
    return report, tables


def _wrong_counts(report, tables, families=None):
    groups = [g for g in report["subgroups"] if families is None or g["family"] in families]
    rules = [dict(r, query_on="input", name=r["rule"]) for r in report["policy"]["rules"]]
    return [(g["name"], g["query"], g["n"], len(tables[g["query_on"]].query(g["query"])))
            for g in groups + rules if len(tables[g["query_on"]].query(g["query"])) != g["n"]]


@pytest.fixture(scope="module")
def tricky_report(tmp_path_factory):
    """A full report on labels with stray spaces, numbers mixed with text labels, and a covariate
    named ``index`` with blanks."""
    return _tricky(tmp_path_factory.mktemp("tricky") / "out")


def test_tricky_labels_prespecified_found_and_rule_queries_select_their_n(tricky_report):
    report, tables = tricky_report
    families = {"prespecified", "policy_leaf", "baseline_risk", "harm_search"}
    assert _wrong_counts(report, tables, families) == []
    female = [g for g in report["subgroups"] if g["family"] == "prespecified" and "Female" in g["name"]][0]
    assert female["n"] == int((tables["input"]["sex"].str.strip() == "Female").sum())


def test_tricky_labels_covariate_groups_and_categorical_rules_select_their_n(tricky_report, tmp_path):
    report, tables = tricky_report
    assert _wrong_counts(report, tables, {"covariate"}) == []
    report, tables = _tricky(tmp_path / "out", "--covariates", "sex,grp,index")
    assert _wrong_counts(report, tables) == []
