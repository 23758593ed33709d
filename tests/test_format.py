"""Every number a person reads: the formatters against hand-written expectations."""

import math

import pytest

from targeting.format import DASH, fmt_ci, fmt_effect, fmt_int, fmt_money, fmt_num, fmt_p, fmt_pct, fmt_value, p_text


@pytest.mark.parametrize("value, expected", [
    (0.0561234, "0.0561"), (1234.5, "1,234"), (-1.8456, "-1.85"), (0, "0"), (12345678.0, "12,345,678"),
    (3e-9, "3.00e-09"), (None, DASH), (math.nan, DASH), (math.inf, DASH),
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
