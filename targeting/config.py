"""Settings: one frozen dataclass, merged from defaults < config sheet < TOML file < flags.

Every source speaks the same key names (``budget_total`` or ``budget-total``); values from a
sheet or flag arrive as text and are parsed here, so the rules are the same wherever a setting
comes from.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from targeting.errors import ConfigError, did_you_mean

ESTIMATORS = ("auto", "causal_forest", "dr", "t", "s", "x", "logistic_t")
DIRECTIONS = ("higher-is-better", "lower-is-better")
MAX_SEED = 2**32 - 1  # numpy and scikit-learn accept seeds in [0, 2**32)


@dataclass(frozen=True)
class Budget:
    """How many people may be treated.

    ``kind`` is ``share`` (a fraction of people), ``count`` (a head count) or ``money``
    (a total spend, with per-person costs).
    """

    kind: str
    value: float

    def describe(self) -> str:
        """Plain-words budget, e.g. ``30% of people``."""
        if self.kind == "share":
            return "no limit (anyone may be treated)" if self.value >= 1 else f"{self.value:.0%} of people"
        if self.kind == "count":
            return f"{int(self.value):,} people"
        amount = f"{self.value:,.0f}" if self.value >= 100 or self.value == int(self.value) else f"{self.value:,.4g}"
        return f"a total spend of {amount}"


@dataclass(frozen=True)
class Config:
    """The effective settings of one run (see README, "Options")."""

    outcome: str | None = None
    treatment: str | None = None
    treated_value: str | None = None
    covariates: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    id: str | None = None
    direction: str = "higher-is-better"
    budget: str = "100%"
    cost: str | None = None
    budget_total: float | None = None
    propensity: str | None = None
    subgroup: tuple[str, ...] = ()
    true_effect: str | None = None
    seed: int = 20240601
    estimator: str = "auto"
    folds: int = 5
    depth: int = 2
    min_leaf: int = 0
    max_bins: int = 64
    harm_threshold: float = 0.0
    currency: str | None = None  # shown with every amount of money (a symbol such as € or a code such as CHF)

    def parsed_budget(self) -> Budget:
        """The budget as a typed value (money when ``budget_total`` is set)."""
        if self.budget_total is not None:
            return Budget("money", float(self.budget_total))
        return parse_budget(self.budget)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable copy (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


KEYS = tuple(f.name for f in fields(Config))
_LIST_KEYS = {"covariates", "exclude", "subgroup"}
_INT_KEYS = {"seed", "folds", "depth", "min_leaf", "max_bins"}
_FLOAT_KEYS = {"budget_total", "harm_threshold"}


def parse_budget(text: str) -> Budget:
    """Parse ``30%``, ``0.3`` (a share) or ``250`` (people).

    Raises
    ------
    ConfigError
        When the text is not a positive share or head count.
    """
    raw = str(text).strip()
    how = "Write a share such as 30% or 0.3, or a number of people such as 250."
    try:
        if raw.endswith("%"):
            value = float(raw[:-1]) / 100
            kind = "share"
        else:
            value = float(raw)
            kind = "share" if value <= 1 else "count"
    except ValueError:
        raise ConfigError(f"Budget '{raw}' is not a number. {how}") from None
    if not math.isfinite(value):
        raise ConfigError(f"Budget '{raw}' is not a finite number. {how}")
    if value <= 0:
        raise ConfigError(f"Budget '{raw}' must be above zero. {how}")
    if kind == "share" and value > 1:
        raise ConfigError(f"Budget '{raw}' is more than 100% of people. {how}")
    if kind == "count" and value != int(value):
        raise ConfigError(f"Budget '{raw}' is above 1 but not a whole number of people. {how}")
    return Budget(kind, value)


def normalise_key(key: str) -> str:
    """``Budget-Total`` and ``--budget-total`` both mean ``budget_total``."""
    return str(key).strip().lstrip("-").lower().replace("-", "_").replace(" ", "_")


def _suggest(key: str) -> str:
    close = did_you_mean(key, KEYS, cutoff=0.6)
    return f" Did you mean '{close}'?" if close else f" Known keys: {', '.join(KEYS)}."


def _coerce(key: str, value: Any, source: str) -> Any:
    """Turn a raw value from any source into the field's type."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    where = f"Setting '{key}' (from {source})"
    if key in _LIST_KEYS:
        if isinstance(value, (list, tuple)):
            items = [str(v).strip() for v in value]
        elif key == "subgroup":
            items = split_outside_quotes(str(value), ";")
        else:
            items = [s.strip() for s in str(value).split(",")]
        return tuple(i for i in items if i)
    if key in _INT_KEYS:
        try:
            number = float(str(value).strip().replace(",", "")) if isinstance(value, str) else float(value)
            if number != int(number):
                raise ValueError
            return int(number)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{where} must be a whole number; got '{value}'. Write it in digits, e.g. 5.") from None
    if key in _FLOAT_KEYS:
        try:
            number = float(str(value).replace(",", ""))
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number; got '{value}'. Write it in digits, e.g. 1500.") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where} must be a finite number; got '{value}'.")
        return number
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    if isinstance(value, bool):
        value = str(value).lower()
    text = str(value).strip()
    if key in ("direction", "estimator"):
        # 'Lower is better', 'lower_is_better' and 'Causal-Forest' all mean the documented option.
        spaced = "-" if key == "direction" else "_"
        normalised = "-".join(text.lower().replace("_", " ").replace("-", " ").split()).replace("-", spaced)
        options = DIRECTIONS if key == "direction" else ESTIMATORS
        if normalised in options:
            return normalised
    return text


def split_outside_quotes(text: str, separator: str) -> list[str]:
    """``text`` split at ``separator`` where it is not inside quotes or backticks, items stripped.

    ``grp == 'A;B'; age > 65`` gives two subgroups, not three.
    """
    items, current, quote = [], [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == separator:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return items


MAX_CURRENCY_CHARS = 10


def merge_sources(*sources: tuple[str, dict[str, Any]]) -> Config:
    """Build the effective config from ``(source name, mapping)`` pairs, lowest precedence first.

    Raises
    ------
    ConfigError
        On an unknown key (with a suggestion) or a value of the wrong type.
    """
    values: dict[str, Any] = {}
    for source, mapping in sources:
        for raw_key, raw_value in mapping.items():
            key = normalise_key(raw_key)
            if key not in KEYS:
                raise ConfigError(f"Unknown setting '{raw_key}' in {source}.{_suggest(key)}")
            coerced = _coerce(key, raw_value, source)
            if coerced is None or coerced == "" or coerced == ():
                continue
            values[key] = coerced
    config = Config(**values)
    _check(config)
    return config


def _check(config: Config) -> None:
    if config.direction not in DIRECTIONS:
        raise ConfigError(
            f"Setting 'direction' must be one of {', '.join(DIRECTIONS)}; got '{config.direction}'. "
            "Use higher-is-better when a larger outcome is good (savings), lower-is-better when it is bad (bleeding)."
        )
    if config.estimator not in ESTIMATORS:
        raise ConfigError(
            f"Setting 'estimator' must be one of {', '.join(ESTIMATORS)}; got '{config.estimator}'."
            + _closest(config.estimator, ESTIMATORS)
        )
    if not 0 <= config.seed <= MAX_SEED:
        raise ConfigError(f"Setting 'seed' must be a whole number from 0 to {MAX_SEED:,}; got {config.seed}. "
                          "Any number in that range works; use the same one to reproduce a run.")
    if not 2 <= config.folds <= 20:
        raise ConfigError(f"Setting 'folds' must be between 2 and 20; got {config.folds}.")
    if config.depth not in (1, 2, 3):
        raise ConfigError(f"Setting 'depth' must be 1, 2 or 3; got {config.depth}.")
    if not 2 <= config.max_bins <= 256:
        raise ConfigError(f"Setting 'max_bins' must be between 2 and 256; got {config.max_bins}.")
    if config.min_leaf < 0:
        raise ConfigError(f"Setting 'min_leaf' must be 0 (automatic) or more; got {config.min_leaf}.")
    if config.harm_threshold < 0:
        raise ConfigError(
            f"Setting 'harm_threshold' is a size of harm and must be 0 or more; got {config.harm_threshold}."
        )
    if config.currency is not None and (len(config.currency) > MAX_CURRENCY_CHARS or not config.currency.isprintable()):
        raise ConfigError(
            f"Setting 'currency' is written before every amount of money, so it must be a short symbol or code "
            f"(at most {MAX_CURRENCY_CHARS} characters, e.g. EUR, $ or CHF); got '{config.currency[:40]}'."
        )
    if config.budget_total is not None:
        if config.budget_total <= 0:
            raise ConfigError(f"Setting 'budget_total' must be above zero; got {config.budget_total}.")
        if config.cost is None:
            raise ConfigError(
                "Setting 'budget_total' needs per-person costs: name a cost column or a constant "
                "with 'cost' (e.g. --cost programme_cost or --cost 120)."
            )
    else:
        config.parsed_budget()


def parse_workers(text: str | int | None) -> int:
    """The number of worker processes for the model fits: a whole number from 1, or ``auto`` / none
    for the available cores (`targeting.parallel.default_workers`).

    Not a `Config` field: how many processes compute a report changes its speed, never its content,
    so it is not recorded with the settings.

    Raises
    ------
    ConfigError
        When the value is not ``auto`` or a whole number of at least 1.
    """
    from targeting.parallel import default_workers

    if text is None or str(text).strip().lower() in ("", "auto"):
        return default_workers()
    try:
        workers = int(str(text).strip())
    except ValueError:
        workers = 0
    if workers < 1:
        raise ConfigError(f"Setting 'workers' (from the command line) must be a whole number of at least 1, or auto; "
                          f"got '{text}'. Use --workers 1 to compute in this process only, or leave it out to use "
                          f"the available cores ({default_workers()} now).")
    return workers


def _closest(value: str, options) -> str:
    close = did_you_mean(value, options, cutoff=0.5)
    return f" Did you mean '{close}'?" if close else ""


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a flat TOML settings file (a ``[targeting]`` table is also accepted)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Config file '{path.name}' was not found. Check the path given to --config.") from None
    except IsADirectoryError:
        raise ConfigError(f"Config path '{path}' is a folder, not a file. Give the settings file itself, e.g. "
                          "--config settings.toml.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file '{path.name}' is not UTF-8 text (byte {exc.start + 1} cannot be read). Save "
                          "it as UTF-8 (every editor offers it under 'Save as' or 'Encoding').") from None
    except OSError as exc:
        raise ConfigError(f"Config file '{path.name}' could not be read ({exc.strerror}). Check that it is "
                          "readable.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file '{path.name}' is not valid TOML: {exc}. Fix the line named.") from None
    if "targeting" in data and isinstance(data["targeting"], dict):
        data = data["targeting"]
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if nested:
        raise ConfigError(f"Config file '{path.name}' has unknown section(s) {nested}; use plain 'key = value' lines.")
    return data


def config_sheet_to_dict(rows: list[tuple[Any, Any]]) -> dict[str, Any]:
    """Turn ``key | value`` rows of a workbook's config sheet into a mapping.

    Repeated ``subgroup`` rows accumulate; blank rows and rows whose key starts with ``#`` are
    comments.
    """
    out: dict[str, Any] = {}
    for key, value in rows:
        if key is None or (isinstance(key, float) and math.isnan(key)):
            continue
        key_text = str(key).strip()
        if not key_text or key_text.startswith("#") or key_text.lower() == "key":
            continue
        name = normalise_key(key_text)
        if name == "subgroup" and value is not None and str(value).strip():
            out.setdefault("subgroup", []).append(str(value).strip())
        else:
            out[key_text] = value
    return out

