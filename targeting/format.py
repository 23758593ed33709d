"""Every number a person reads: one formatter per kind of number, shared by the brief, the charts
and the pack, so the same value is written the same way everywhere.

``None`` and non-finite values are written as an en dash (:data:`DASH`), never as ``nan``/``inf``.
"""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def _missing(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    if isinstance(value, (int, float)):
        return not math.isfinite(value)
    return True


def fmt_num(value: Any, digits: int = 3, *, signed: bool = False) -> str:
    """A number with ``digits`` significant digits, thousands separators, never scientific.

    ``None`` and non-finite values become an en dash.
    """
    if _missing(value):
        return DASH
    x = float(value)
    if x == 0:
        return "0"
    magnitude = int(math.floor(math.log10(abs(x))))
    decimals = max(0, min(6, digits - 1 - magnitude))
    text = f"{x:,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        text = f"{x:.{digits - 1}e}"  # too small for 6 decimals: say so rather than print 0
    if signed and x > 0:
        text = "+" + text
    return text


def fmt_effect(value: Any, digits: int = 3) -> str:
    """An effect or difference: signed, 3 significant digits (``+0.0108``, ``-1.85``)."""
    return fmt_num(value, digits, signed=True)


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage (``0.418`` -> ``41.8%``)."""
    if _missing(value):
        return DASH
    return f"{100 * float(value):.{digits}f}%"


def fmt_money(value: Any) -> str:
    """An amount of money or cost units with thousands separators; cents only for amounts under
    1,000 that are not whole (``300,000``, ``2,000``, ``12.50``)."""
    if _missing(value):
        return DASH
    x = float(value)
    if abs(x) >= 1000 or x == int(x):
        return f"{x:,.0f}"
    return f"{x:,.2f}"


def fmt_p(value: Any) -> str:
    """A p-value (``<0.001``, ``0.048``, ``1``)."""
    if _missing(value):
        return DASH
    x = float(value)
    if x < 0.001:
        return "<0.001"
    if x >= 0.995:
        return "1"
    return f"{x:.3f}" if x < 0.1 else f"{x:.2f}"


def p_text(value: Any) -> str:
    """A p-value with its relation: ``p < 0.001``, ``p = 0.048``."""
    text = fmt_p(value)
    return "p " + (text.replace("<", "< ") if text.startswith("<") else "= " + text)


def fmt_value(value: Any, digits: int = 4) -> str:
    """A threshold or level as in the rules: up to ``digits`` significant digits, no trailing
    zeros (``81``, ``46.5``, ``51,400``)."""
    text = fmt_num(value, digits)
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def fmt_int(value: Any) -> str:
    """A count with thousands separators."""
    if _missing(value):
        return DASH
    return f"{int(round(float(value))):,}"


def fmt_ci(low: Any, high: Any, digits: int = 3) -> str:
    """A 95% interval as ``low to high`` (signed effects)."""
    if _missing(low) or _missing(high):
        return DASH
    return f"{fmt_effect(low, digits)} to {fmt_effect(high, digits)}"
