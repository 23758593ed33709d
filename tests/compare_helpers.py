"""Comparing two reports that must agree: text exactly, numbers to 1e-9 (the causal forest's
threaded sums vary in their last bits from one run to the next, whatever the input)."""

from __future__ import annotations

import pytest


def assert_same(a, b, path: str = "") -> None:
    """Nested dicts and lists equal: same keys in the same order, same text, numbers to 1e-9."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for key in a:
            assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}/{i}")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12, nan_ok=True), path
    else:
        assert a == b, path
