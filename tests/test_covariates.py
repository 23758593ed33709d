"""Covariate encoding on small hand-made columns, with the expected arrays written out."""

import numpy as np
import pandas as pd
import pytest

from targeting.data.covariates import (Covariate, choose_covariates, encode_categorical, encode_covariate,
                                       encode_covariates, encode_numeric)
from targeting.errors import ConfigError, InputError
from targeting.model.findings import Code

NAN = np.nan


def rows(n: int) -> np.ndarray:
    return np.arange(1, n + 1) + 1  # data rows below a header


def test_numeric_missing_values_get_the_median_and_an_indicator():
    out = encode_numeric("age", np.array([1.0, NAN, 3.0, 5.0]), rows(4))
    assert out.covariate == Covariate("age", "numeric", (), 1)
    np.testing.assert_array_equal(out.codes, [1.0, NAN, 3.0, 5.0])
    np.testing.assert_array_equal(out.dense, [[1, 0], [3, 1], [3, 0], [5, 0]])
    assert out.dense_names == ("age", "age missing")


def test_numeric_without_missing_values_is_one_column():
    out = encode_numeric("dose", np.array([2.0, 0.5]), rows(2))
    assert out.covariate.n_missing == 0
    np.testing.assert_array_equal(out.dense, [[2.0], [0.5]])
    assert out.dense_names == ("dose",)


@pytest.mark.parametrize("values", [[4.0, 4.0, 4.0], [2.0, NAN, 2.0]])
def test_numeric_with_one_value_is_not_used(values):
    assert encode_numeric("c", np.array(values), rows(len(values))) is None


def test_numeric_infinite_values_are_refused_with_their_rows():
    with pytest.raises(InputError, match=r"Covariate 'x' has infinite values in row 3\b"):
        encode_numeric("x", np.array([1.0, np.inf, 2.0]), rows(3))


def test_text_with_missing_values_gets_an_indicator_per_level():
    text = pd.Series([" b", "a", "b", None], dtype="string").str.strip()
    out = encode_categorical("region", text, rows(4))
    assert out.covariate == Covariate("region", "categorical", ("a", "b"), 1)
    np.testing.assert_array_equal(out.codes, [1, 0, 1, NAN])
    np.testing.assert_array_equal(out.dense, [[0, 1], [1, 0], [0, 1], [0, 0]])
    assert out.dense_names == ("region=a", "region=b")


def test_text_without_missing_values_has_the_first_level_as_reference():
    out = encode_categorical("arm", pd.Series(["c", "a", "b", "a"], dtype="string"), rows(4))
    assert out.covariate.levels == ("a", "b", "c")
    np.testing.assert_array_equal(out.codes, [2, 0, 1, 0])
    np.testing.assert_array_equal(out.dense, [[0, 1], [0, 0], [1, 0], [0, 0]])
    assert out.dense_names == ("arm=b", "arm=c")


def test_text_with_one_level_is_not_used():
    assert encode_categorical("s", pd.Series(["x", None, "x"], dtype="string"), rows(3)) is None


def test_a_different_text_in_every_row_is_an_identifier_from_21_rows():
    twenty = pd.Series([f"id{i}" for i in range(20)], dtype="string")
    assert len(encode_categorical("code", twenty, rows(20)).covariate.levels) == 20
    with pytest.raises(InputError, match="like an identifier"):
        encode_categorical("code", pd.Series([f"id{i}" for i in range(21)], dtype="string"), rows(21))


def test_too_many_levels_are_refused():
    text = pd.Series([f"L{i % 51}" for i in range(102)], dtype="string")
    with pytest.raises(InputError, match="has 51 different text values"):
        encode_categorical("many", text, rows(102))


def test_numbers_with_stray_text_name_the_rows():
    values = [str(i % 55) for i in range(110)] + ["n/a"]
    with pytest.raises(InputError, match=r"holds numbers except for text 'n/a' in row 112\b"):
        encode_categorical("bmi", pd.Series(values, dtype="string"), rows(111))


def test_encode_covariate_chooses_the_kind():
    assert encode_covariate("n", pd.Series(["1", "2.5", None]), rows(3)).covariate.kind == "numeric"
    assert encode_covariate("b", pd.Series([True, False, True]), rows(3)).covariate.kind == "numeric"
    spaced = encode_covariate("t", pd.Series([" yes", "no ", "yes"]), rows(3))
    assert spaced.covariate.levels == ("no", "yes")


@pytest.mark.parametrize("series, message", [
    (pd.Series(["2024-01-05", "2023-12-31"]), "holds dates \\(e.g. '2024-01-05'\\)"),
    (pd.Series(pd.to_datetime(["2024-01-05", "2023-12-31"])), "holds dates \\(e.g. '2024-01-05'\\)"),
    (pd.Series([None, None], dtype=object), "is empty in every row"),
])
def test_encode_covariate_refuses(series, message):
    with pytest.raises(InputError, match=message):
        encode_covariate("when", series, rows(2))


def frame() -> pd.DataFrame:
    return pd.DataFrame({"y": [0, 1, 0], "t": [1, 0, 1], "age": [30.0, NAN, 50.0], "site": ["A", "A", "A"],
                         "sex": ["F", "M", "F"]})


def test_choose_covariates():
    roles = {"outcome": "y", "treatment": "t"}
    assert choose_covariates(frame(), [], roles, []) == ["age", "site", "sex"]
    assert choose_covariates(frame(), [], roles, ["site"]) == ["age", "sex"]
    assert choose_covariates(frame(), ["sex"], roles, ["sex"]) == ["sex"]
    with pytest.raises(ConfigError, match="Column 't' is the treatment and cannot also be a covariate"):
        choose_covariates(frame(), ["age", "t"], roles, [])
    with pytest.raises(ConfigError, match="Did you mean 'age'"):
        choose_covariates(frame(), ["Age"], roles, [])
    with pytest.raises(ConfigError, match="No covariates are left"):
        choose_covariates(frame(), [], roles, ["age", "site", "sex"])


def test_encode_covariates_stacks_columns_and_reports_what_it_did():
    covariates, codes, dense, names, findings = encode_covariates(frame(), ["age", "site", "sex"], rows(3))
    assert [c.name for c in covariates] == ["age", "sex"]
    np.testing.assert_array_equal(codes, [[30, 0], [NAN, 1], [50, 0]])
    np.testing.assert_array_equal(dense, [[30, 0, 0], [40, 1, 1], [50, 0, 0]])
    assert names == ["age", "age missing", "sex=M"]
    assert [f.code for f in findings] == [Code.DROPPED_CONSTANT_COVARIATE, Code.MISSING_COVARIATE_VALUES]
    assert "age (1)" in findings[1].message


def test_all_constant_covariates_are_refused():
    with pytest.raises(InputError, match="Every covariate is constant"):
        encode_covariates(frame(), ["site"], rows(3))
