"""Inference helpers against hand-computed values."""

import numpy as np
import pytest

from targeting.stats import holm, mean_interval, one_sided_p, shrink


def test_holm_matches_hand_computation():
    # p sorted: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06 by monotonicity), 0.5 (x1 = 0.5)
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 0.8 x 2 caps at 1; monotone after
    assert holm([0.4, 0.4, 0.4]) == pytest.approx([1.0, 1.0, 1.0])


def test_shrinkage_matches_hand_computation():
    est, se = np.array([0.0, 2.0]), np.array([1.0, 1.0])
    # DerSimonian-Laird: w = 1, mu = 1, Q = 2, df = 1, denom = 2 - 1 = 1, tau^2 = 1;
    # factor se^2 / (se^2 + tau^2) = 0.5, so each estimate moves halfway to 1.
    assert shrink(est, se) == pytest.approx([0.5, 1.5])
    # No excess spread: tau^2 = 0, everything pools to the target.
    assert shrink([1.0, 1.1], [1.0, 1.0], target=0.0) == pytest.approx([0.0, 0.0])


def test_mean_interval_and_one_sided_p():
    values = np.array([1.0, 2.0, 3.0, 4.0])
    iv = mean_interval(values)
    se = np.std(values, ddof=1) / 2
    assert iv.estimate == 2.5 and iv.se == pytest.approx(se)
    assert iv.ci_low == pytest.approx(2.5 - 1.959964 * se, rel=1e-5)
    assert one_sided_p(0.0, 1.0) == pytest.approx(0.5)
    assert one_sided_p(1.96, 1.0) == pytest.approx(0.025, rel=1e-2)
