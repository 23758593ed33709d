"""Settings: parsing, validation with suggestions, and precedence defaults < sheet < TOML < flags."""

import pytest

from targeting.cli import build_parser, effective_config
from targeting.config import Budget, merge_sources, parse_budget
from targeting.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("30%", Budget("share", 0.3)), ("0.3", Budget("share", 0.3)), ("1", Budget("share", 1.0)),
    ("100%", Budget("share", 1.0)), ("250", Budget("count", 250)),
])
def test_budget_forms(text, expected):
    assert parse_budget(text) == expected


@pytest.mark.parametrize("text", ["0", "0%", "-5", "150%", "abc", "12.5", "nan", "inf"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ConfigError):
        parse_budget(text)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match="Did you mean 'budget_total'"):
        merge_sources(("the config sheet", {"budget_totl": 5}))


def test_bad_values_are_refused():
    with pytest.raises(ConfigError, match="direction"):
        merge_sources(("flags", {"direction": "up"}))
    with pytest.raises(ConfigError, match="needs per-person costs"):
        merge_sources(("flags", {"budget_total": 100}))
    with pytest.raises(ConfigError, match="whole number"):
        merge_sources(("flags", {"seed": "x"}))


def test_precedence_defaults_sheet_toml_flags(tmp_path):
    toml = tmp_path / "settings.toml"
    toml.write_text('budget = "20%"\nseed = 7\nfolds = 4\n')
    sheet = {"budget": "50%", "seed": 3, "outcome": "y", "Min-Leaf": 30}
    args = build_parser().parse_args(["report", "in.xlsx", "--config", str(toml), "--seed", "11"])
    config = effective_config(args, sheet)
    assert config.outcome == "y"          # sheet only
    assert config.min_leaf == 30          # sheet, key spelled differently
    assert config.budget == "20%"         # TOML beats sheet
    assert config.folds == 4              # TOML only
    assert config.seed == 11              # flag beats TOML and sheet
    assert config.depth == 2              # default


def test_sheet_lists_and_repeated_subgroups():
    config = merge_sources(("sheet", {"covariates": "age, bmi", "subgroup": ["age > 65", "bmi > 30"]}))
    assert config.covariates == ("age", "bmi")
    assert config.subgroup == ("age > 65", "bmi > 30")
