"""Every number a person reads: one formatter per kind of number, shared by the brief, the charts
and the pack, so the same value is written the same way everywhere.

Conventions: 3 significant digits (2 for percentage points and per-1,000 counts), thousands
separators, never scientific notation; a 0/1 outcome reads as percentages (a level) and percentage
points (a change), and per 1,000 people only for events; money carries the configured currency.
``None`` and non-finite values are written as an en dash (:data:`DASH`), never as ``nan``/``inf``.
"""

from __future__ import annotations

import math
import re
from typing import Any

DASH = "–"
MAX_DECIMALS = 6  # below 10**-6 a value reads as 0: more digits would be noise, not information

# Currencies written as a symbol before the amount; any other code is written before it with a space.
CURRENCY_SYMBOLS = {"$": "$", "€": "€", "£": "£", "¥": "¥", "₹": "₹", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def _missing(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return value is None
    if isinstance(value, (int, float)):
        return not math.isfinite(value)
    return True


def _signed(text: str, x: float, signed: bool) -> str:
    return "+" + text if signed and x > 0 and text.strip("0.,") else text


def fmt_num(value: Any, digits: int = 3, *, signed: bool = False) -> str:
    """A number with ``digits`` significant digits, thousands separators, never scientific.

    Values too small for six decimals read as ``0``. ``None`` and non-finite values become an en dash.
    """
    if _missing(value):
        return DASH
    x = float(value)
    if x == 0:
        return "0"
    magnitude = int(math.floor(math.log10(abs(x))))
    decimals = max(0, min(MAX_DECIMALS, digits - 1 - magnitude))
    text = f"{x:,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return "0"
    return _signed(text, x, signed)


def fmt_effect(value: Any, digits: int = 3) -> str:
    """An effect or difference: signed, 3 significant digits (``+0.0108``, ``-1.85``)."""
    return fmt_num(value, digits, signed=True)


def _percent_number(x: float, signed: bool) -> str:
    """A number already in percent: one decimal from 1 up, two significant digits below."""
    x = round(x, 9)  # 100 * 0.01 is 1.0000000000000002, and 0.99999999 an axis tick's 1
    if abs(x) >= 1:
        text = f"{x:,.1f}"
    else:
        text = fmt_num(x, 2)
    return _signed(text, x, signed) if text != "0" else "0"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage (``0.418`` -> ``41.8%``)."""
    if _missing(value):
        return DASH
    return f"{100 * float(value):.{digits}f}%"


def fmt_rate(value: Any) -> str:
    """A level of a 0/1 outcome (the share with the event) as a percentage: ``5.6%``, ``0.39%``."""
    if _missing(value):
        return DASH
    return _percent_number(100 * float(value), False) + "%"


def fmt_pp(value: Any, *, unit: str = "pp") -> str:
    """A change in a 0/1 outcome in percentage points, signed: ``+8.2 pp``, ``-0.50 pp``."""
    if _missing(value):
        return DASH
    return f"{_percent_number(100 * float(value), True)} {unit}".rstrip()


def fmt_level(value: Any, binary: bool) -> str:
    """A mean outcome on the outcome's scale: a percentage for a 0/1 outcome, else 3 digits."""
    return fmt_rate(value) if binary else fmt_num(value)


def fmt_change(value: Any, binary: bool) -> str:
    """An effect or difference on the outcome's scale: percentage points for a 0/1 outcome."""
    return fmt_pp(value) if binary else fmt_effect(value)


def fmt_change_ci(low: Any, high: Any, binary: bool) -> str:
    """A 95% interval of a change: ``-2.0 to +5.1 pp`` (0/1 outcome) or ``-0.100 to +0.250``."""
    if _missing(low) or _missing(high):
        return DASH
    if binary:
        return f"{fmt_pp(low, unit='')} to {fmt_pp(high)}"
    return fmt_ci(low, high)


def fmt_per_1000(value: Any) -> str:
    """A difference in a 0/1 outcome as events per 1,000 people, signed, 2 significant digits at least
    one decimal below 10 (``-17``, ``+4.6``)."""
    if _missing(value):
        return DASH
    x = 1000 * float(value)
    if abs(x) >= 10:
        return _signed(f"{x:,.0f}", x, True)
    return _percent_number(x, True)


def fmt_money(value: Any, currency: str | None = None) -> str:
    """An amount of money or cost units with thousands separators; cents only for amounts under
    1,000 that are not whole (``300,000``, ``2,000``, ``12.50``). With ``currency`` a symbol
    (``$``, ``€``, ``£`` or their codes) goes before the amount, any other code before it with a space
    (``€300,000``, ``CHF 300,000``)."""
    if _missing(value):
        return DASH
    x = float(value)
    amount = f"{abs(x):,.0f}" if abs(x) >= 1000 or x == int(x) else f"{abs(x):,.2f}"
    sign = "-" if x < 0 else ""
    if not currency:
        return sign + amount
    code = str(currency).strip()
    symbol = CURRENCY_SYMBOLS.get(code.upper(), CURRENCY_SYMBOLS.get(code))
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{code} {amount}"


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
    if "." in text:
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


_SCIENTIFIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def plain_numbers(text: Any) -> str:
    """Text made elsewhere with every number in scientific notation rewritten plainly
    (``4.559e+04 (2.04e+04)`` -> ``45,590 (20,400)``)."""
    return _SCIENTIFIC.sub(lambda m: fmt_num(float(m.group())), str(text))


#: Most characters of one label (a column name, a category, a group) the brief shows, and the
#: longest unbroken run of characters it shows inside a sentence. Longer ones lose their middle to
#: an ellipsis: a label typed by a person stays whole, a 2,000-character cell does not fill pages.
#: The pack and report.json keep the full text.
LABEL_LIMIT = 60


def shorten(text: Any, limit: int = LABEL_LIMIT) -> str:
    """``text`` in at most ``limit`` characters: a longer one keeps its start and end around "…".

    The end is kept as well as the start because labels often differ only there
    (``Region 2023 north`` / ``Region 2023 south``).
    """
    text = str(text)
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    return text[:head] + "…" + text[len(text) - (limit - 1 - head):]


def shorten_words(text: Any, limit: int = LABEL_LIMIT) -> str:
    """``text`` with every unbroken run of more than ``limit`` characters shortened (:func:`shorten`).

    For sentences made with labels inside (rules, group names, findings): their words stay,
    an over-long label in them is cut in its middle.
    """
    return re.sub(r"\S{%d,}" % (limit + 1), lambda m: shorten(m.group(), limit), str(text))
