"""Every number a person reads: the formatters against hand-written expectations."""

import math

import pytest

from targeting.format import (DASH, LABEL_LIMIT, fmt_change, fmt_change_ci, fmt_ci, fmt_effect, fmt_int, fmt_level,
                              fmt_money, fmt_num, fmt_p, fmt_pct, fmt_per_1000, fmt_pp, fmt_rate, fmt_value, p_text,
                              plain_numbers, shorten, shorten_words)


@pytest.mark.parametrize("value, expected", [
    (0.0561234, "0.0561"), (1234.5, "1,234"), (-1.8456, "-1.85"), (0, "0"), (12345678.0, "12,345,678"),
    (3e-9, "0"), (-0.000005, "-0.000005"), (45590.0, "45,590"), (None, DASH), (math.nan, DASH), (math.inf, DASH),
])
def test_fmt_num(value, expected):
    assert fmt_num(value) == expected


def test_fmt_effect_is_signed_and_the_interval_reads_low_to_high():
    assert fmt_effect(0.0815) == "+0.0815"
    assert fmt_effect(-0.00504) == "-0.00504"
    assert fmt_ci(-0.1, 0.25) == "-0.100 to +0.250"
    assert fmt_ci(None, 0.25) == DASH


@pytest.mark.parametrize("value, expected", [(0.418, "41.8%"), (1, "100.0%"), (None, DASH)])
def test_fmt_pct(value, expected):
    assert fmt_pct(value) == expected


@pytest.mark.parametrize("value, expected", [(300000, "300,000"), (12.5, "12.50"), (2000.0, "2,000"), (None, DASH)])
def test_fmt_money(value, expected):
    assert fmt_money(value) == expected


@pytest.mark.parametrize("currency, expected", [("EUR", "€300,000"), ("€", "€300,000"), ("usd", "$300,000"),
                                                ("CHF", "CHF 300,000"), (None, "300,000"), ("", "300,000")])
def test_fmt_money_writes_the_currency(currency, expected):
    assert fmt_money(300000, currency) == expected
    assert fmt_money(-12.5, "GBP") == "-£12.50"


def test_a_binary_outcome_reads_as_percentages_and_points():
    # the issue's own examples: 0.0561 -> 5.6%, +0.0815 -> +8.2 percentage points, 17.2 per 1,000
    assert fmt_rate(0.0561) == "5.6%" and fmt_level(0.0561, True) == "5.6%"
    assert fmt_rate(0.0039) == "0.39%"
    assert fmt_pp(0.0815) == "+8.2 pp" and fmt_change(0.0815, True) == "+8.2 pp"
    assert fmt_pp(-0.000005) == "-0.00050 pp"
    assert fmt_change_ci(0.000164, 0.0341, True) == "+0.016 to +3.4 pp"
    assert fmt_per_1000(-0.0172) == "-17" and fmt_per_1000(-0.00504) == "-5.0"
    # a measurement keeps its own scale
    assert fmt_level(3.3315, False) == "3.33" and fmt_change(1.154, False) == "+1.15"
    assert fmt_change_ci(-0.1, 0.25, False) == "-0.100 to +0.250"


def test_scientific_notation_made_elsewhere_is_rewritten_plainly():
    assert plain_numbers("4.559e+04 (2.04e+04)") == "45,590 (20,400)"
    assert plain_numbers("1.5E-05 and 12 cats") == "0.000015 and 12 cats"


@pytest.mark.parametrize("value, expected", [(0.0004, "<0.001"), (0.0481, "0.048"), (0.31, "0.31"), (0.999, "1")])
def test_fmt_p(value, expected):
    assert fmt_p(value) == expected


def test_p_text_and_thresholds_and_counts():
    assert p_text(0.0004) == "p < 0.001"
    assert p_text(0.0481) == "p = 0.048"
    assert fmt_value(81.0) == "81"
    assert fmt_value(46.50) == "46.5"
    assert fmt_value(51400) == "51,400"
    assert fmt_int(2341.4) == "2,341"


def test_shorten_keeps_a_labels_start_and_end():
    assert shorten("age") == "age"
    assert shorten("x" * LABEL_LIMIT) == "x" * LABEL_LIMIT
    assert shorten("abcdefghij", 7) == "abcd…ij"
    cut = shorten("Region 2023 " + "z" * 100 + " north")
    assert len(cut) == LABEL_LIMIT and cut.startswith("Region 2023 zz") and cut.endswith("z north")
    assert shorten(12345, 4) == "12…5"


def test_shorten_words_cuts_only_the_long_runs():
    assert shorten_words("Treat if " + "y" * 100 + " is Yes", 10) == "Treat if yyyyyy…yyy is Yes"
    assert shorten_words("age under 65 and sex is Female", 10) == "age under 65 and sex is Female"
