"""Validate the data against the settings and turn it into model-ready arrays.

Every refusal says what is wrong, where (column, rows) and how to fix it. Everything the tool
copes with instead of refusing (missing covariate values, a constant column) becomes a finding.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from targeting.config import Budget, Config
from targeting.errors import ConfigError, InputError, format_rows
from targeting.data.expr import evaluate_subgroup, parse_subgroup
from targeting.model.findings import Code, Finding, Severity, finding

TREATMENT_WORDS = {"treatment", "treated", "treat", "yes", "intervention", "true", "active", "drug"}
CONTROL_WORDS = {"control", "untreated", "no", "placebo", "false", "comparison", "none"}
MAX_LEVELS = 50


@dataclass(frozen=True)
class Covariate:
    """One covariate as the models see it."""

    name: str
    kind: str  # "numeric" or "categorical"
    levels: tuple[str, ...] = ()
    n_missing: int = 0


@dataclass(frozen=True)
class Prepared:
    """The validated data: arrays for the models plus what the report needs to describe them."""

    frame: pd.DataFrame
    rows: np.ndarray
    y: np.ndarray
    t: np.ndarray
    outcome: str
    treatment: str
    treated_label: str
    control_label: str
    outcome_binary: bool
    covariates: tuple[Covariate, ...]
    x_codes: np.ndarray
    x_dense: np.ndarray
    dense_names: tuple[str, ...]
    cost: np.ndarray
    cost_source: str | None
    propensity: np.ndarray | None
    true_effect: np.ndarray | None
    ids: np.ndarray | None
    budget: Budget
    sign: float
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def n(self) -> int:
        return len(self.y)

    def budget_in_cost_units(self) -> float:
        """The budget on the cost scale used by the policy search (people count as cost 1)."""
        if self.budget.kind == "share":
            return self.budget.value * self.n
        return float(self.budget.value)


def _suggest_column(name: str, columns) -> str:
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in columns}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f" Did you mean '{close[0]}'?" if close else f" Columns are: {', '.join(map(repr, list(columns)[:30]))}."


def _require_column(frame: pd.DataFrame, name: str, setting: str) -> None:
    if name not in frame.columns:
        raise ConfigError(
            f"Column '{name}' (setting '{setting}') is not in the data.{_suggest_column(name, frame.columns)}"
        )


def _guess_column(frame: pd.DataFrame, candidates: set[str], setting: str, what: str) -> str:
    found = [c for c in frame.columns if c.strip().lower() in candidates]
    if len(found) == 1:
        return found[0]
    raise ConfigError(
        f"No {what} column was named. Set it with --{setting.replace('_', '-')} COLUMN or a '{setting}' row in "
        f"the config sheet. Columns are: {', '.join(map(repr, list(frame.columns)[:30]))}."
    )


def _numeric(series: pd.Series) -> pd.Series:
    """Numbers as float; text that is not a number becomes NaN (callers report those rows)."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float)
    return pd.to_numeric(series, errors="coerce").astype(float)


def _is_numeric_column(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series):
        return True
    present = series.dropna()
    if len(present) == 0:
        return False
    # Parse each distinct value once: text columns of a million rows hold a handful of labels.
    return bool(pd.to_numeric(pd.Series(pd.unique(present)), errors="coerce").notna().all())


def _rows_where(mask: np.ndarray) -> str:
    return format_rows(np.nonzero(mask)[0] + 1)


def _treatment(frame: pd.DataFrame, column: str, treated_value: str | None):
    values = frame[column]
    present = values.dropna()
    labels = pd.unique(present.astype(str).str.strip())
    if len(labels) == 0:
        raise InputError(
            f"Treatment column '{column}' is empty in every row. Fill in who was treated (e.g. 0/1 or "
            "Control/Treatment), or name another column with --treatment."
        )
    if len(labels) < 2:
        raise InputError(
            f"Treatment column '{column}' has only one value ({', '.join(map(repr, labels)) or 'none'}): "
            "everyone is in the same arm, so no effect can be estimated. Include both treated and untreated people."
        )
    if len(labels) > 2:
        raise InputError(
            f"Treatment column '{column}' must have exactly two values; found {len(labels)}: "
            f"{', '.join(map(repr, sorted(labels)[:8]))}. Recode it to two arms (e.g. 0/1) or choose another column."
        )
    text = present.astype(str).str.strip()
    as_numbers = pd.to_numeric(pd.Series(labels), errors="coerce")
    if treated_value is not None:
        chosen = str(treated_value).strip()
        matches = [l for l in labels if l == chosen or _same_number(l, chosen) or l.lower() == chosen.lower()]
        if not matches:
            raise ConfigError(
                f"Treated value '{chosen}' does not occur in column '{column}', whose values are "
                f"{', '.join(map(repr, sorted(labels)))}. Set --treated-value to one of them."
            )
        treated = matches[0]
    elif as_numbers.notna().all() and set(as_numbers.tolist()) == {0.0, 1.0}:
        treated = labels[list(as_numbers).index(1.0)]
    else:
        lowered = [l.lower() for l in labels]
        is_treat = [l in TREATMENT_WORDS for l in lowered]
        is_ctrl = [l in CONTROL_WORDS for l in lowered]
        if sum(is_treat) == 1 and not is_ctrl[is_treat.index(True)]:
            treated = labels[is_treat.index(True)]
        elif sum(is_ctrl) == 1:
            treated = labels[1 - is_ctrl.index(True)]
        else:
            raise ConfigError(
                f"Treatment column '{column}' has labels {', '.join(map(repr, sorted(labels)))} and it is not clear "
                "which one means treated. Say so with --treated-value LABEL (or a 'treated_value' row in the config sheet)."
            )
    control = [l for l in labels if l != treated][0]
    t = np.full(len(values), -1, dtype=int)
    mask = values.notna().to_numpy()
    t[mask] = (text.to_numpy() == treated).astype(int)
    return t, str(treated), str(control)


def _people(k: int) -> str:
    return "1 person is" if k == 1 else f"{k} people are"


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def prepare(frame: pd.DataFrame, config: Config) -> Prepared:
    """Check the data against the config and build the arrays every later stage uses.

    Parameters
    ----------
    frame : DataFrame
        The data as read, one row per person.
    config : Config
        The effective settings.

    Returns
    -------
    Prepared

    Raises
    ------
    InputError, ConfigError
        With the column, rows and a fix, for anything that cannot be used.
    """
    findings: list[Finding] = []
    outcome = config.outcome or _guess_column(frame, {"outcome", "y"}, "outcome", "outcome")
    treatment = config.treatment or _guess_column(
        frame, {"treatment", "treated", "treat", "arm"}, "treatment", "treatment"
    )
    _require_column(frame, outcome, "outcome")
    _require_column(frame, treatment, "treatment")
    if outcome == treatment:
        raise ConfigError(f"Outcome and treatment are the same column '{outcome}'. Name two different columns.")
    role_columns = {"outcome": outcome, "treatment": treatment}
    for setting in ("id", "true_effect"):
        name = getattr(config, setting)
        if name is not None:
            _require_column(frame, name, setting)
            role_columns[setting] = name
    cost_value = _cost_spec(frame, config)
    if isinstance(cost_value, str):
        role_columns["cost"] = cost_value
    propensity_spec = _propensity_spec(frame, config)
    if isinstance(propensity_spec, str):
        role_columns["propensity"] = propensity_spec
    for name in config.exclude:
        _require_column(frame, name, "exclude")

    # Outcome and treatment must be present; rows lacking either are set aside, loudly.
    y_raw = frame[outcome]
    y_all = _numeric(y_raw)
    bad_text = y_raw.notna().to_numpy() & y_all.isna().to_numpy()
    if bad_text.any():
        examples = ", ".join(repr(v) for v in pd.unique(y_raw[bad_text].astype(str))[:3])
        raise InputError(
            f"Outcome column '{outcome}' must be numeric; found text {examples} in rows {_rows_where(bad_text)}. "
            "Recode those cells as numbers (e.g. 0/1 for an event) or leave them empty."
        )
    if np.isinf(y_all.to_numpy()).any():
        raise InputError(
            f"Outcome column '{outcome}' has infinite values in rows {_rows_where(np.isinf(y_all.to_numpy()))}. "
            "Replace them with real numbers or leave them empty."
        )
    if y_all.isna().all():
        raise InputError(f"Outcome column '{outcome}' is empty in every row. Fill in the outcome or choose another column.")
    t_all, treated_label, control_label = _treatment(frame, treatment, config.treated_value)
    keep = y_all.notna().to_numpy() & (t_all >= 0)
    if not keep.all():
        dropped = ~keep
        findings.append(finding(
            Code.DROPPED_ROWS, Severity.WARNING,
            f"{int(dropped.sum())} rows lack the outcome or the treatment and were left out "
            f"(rows {_rows_where(dropped)}). Results describe the remaining {int(keep.sum())} people; "
            "if these are drop-outs, effects may be biased.",
            n=int(dropped.sum()),
        ))
    rows = np.nonzero(keep)[0] + 1
    data = frame.loc[keep].reset_index(drop=True)
    y = y_all.to_numpy()[keep]
    t = t_all[keep]
    if np.nanstd(y) == 0:
        raise InputError(
            f"Outcome column '{outcome}' has the same value ({y[0]:g}) for everyone, so no effect can be seen. "
            "Check that the right column is named as the outcome."
        )
    n_treated, n_control = int(t.sum()), int(len(t) - t.sum())
    minimum_arm = max(10, 2 * config.folds)
    if min(n_treated, n_control) < minimum_arm:
        small = "treated" if n_treated < n_control else "untreated"
        raise InputError(
            f"Only {_people(min(n_treated, n_control))} {small} (column '{treatment}'); at least {minimum_arm} "
            f"per arm are needed to estimate effects with {config.folds}-fold cross-fitting. Add data, or lower 'folds'."
        )
    outcome_binary = bool(set(np.unique(y)) <= {0.0, 1.0})
    if config.estimator == "logistic_t" and not outcome_binary:
        examples = ", ".join(f"{v:g}" for v in np.unique(y[(y != 0) & (y != 1)])[:3])
        raise ConfigError(
            f"Estimator 'logistic_t' needs a 0/1 outcome, but outcome column '{outcome}' also holds {examples}. "
            "Choose another estimator with --estimator (auto, t, dr, ...), or name a 0/1 outcome column."
        )

    covariates, x_codes, x_dense, dense_names, cov_findings = _covariates(data, config, role_columns, rows)
    findings.extend(cov_findings)
    cost, cost_source = _cost(data, cost_value, rows)
    propensity = _propensity(data, propensity_spec, rows)
    true_effect = None
    if config.true_effect is not None:
        te = _numeric(data[config.true_effect]).to_numpy()
        if np.isnan(te).any():
            raise InputError(
                f"True-effect column '{config.true_effect}' has missing or non-numeric values in rows "
                f"{format_rows(rows[np.isnan(te)])}. Fill them or drop the 'true_effect' setting."
            )
        true_effect = te
    ids = data[config.id].astype(str).to_numpy() if config.id is not None else None
    budget = config.parsed_budget()
    _check_budget(budget, cost, len(y))
    for text in config.subgroup:
        # Checked here so that `targeting validate` finds a bad subgroup before a long report does.
        evaluate_subgroup(parse_subgroup(text, list(data.columns)), data)
    return Prepared(
        frame=data, rows=rows, y=y.astype(float), t=t, outcome=outcome, treatment=treatment,
        treated_label=treated_label, control_label=control_label, outcome_binary=outcome_binary,
        covariates=tuple(covariates), x_codes=x_codes, x_dense=x_dense, dense_names=tuple(dense_names),
        cost=cost, cost_source=cost_source, propensity=propensity, true_effect=true_effect, ids=ids,
        budget=budget, sign=1.0 if config.direction == "higher-is-better" else -1.0,
        findings=tuple(findings),
    )


def _covariates(data: pd.DataFrame, config: Config, roles: dict[str, str], rows: np.ndarray):
    findings: list[Finding] = []
    if config.covariates:
        names = list(config.covariates)
        for name in names:
            _require_column(data, name, "covariates")
            if name in roles.values():
                role = [k for k, v in roles.items() if v == name][0]
                raise ConfigError(f"Column '{name}' is the {role} and cannot also be a covariate. Remove it from 'covariates'.")
    else:
        names = [c for c in data.columns if c not in roles.values() and c not in config.exclude]
    if not names:
        raise ConfigError("No covariates are left to describe people. Name them with --covariates a,b,c.")
    covariates: list[Covariate] = []
    codes: list[np.ndarray] = []
    dense: list[np.ndarray] = []
    dense_names: list[str] = []
    missing_notes: list[str] = []
    for name in names:
        series = data[name]
        if pd.api.types.is_datetime64_any_dtype(series) or _looks_like_dates(series):
            example = series.dropna().iloc[0] if series.notna().any() else ""
            example = example.date().isoformat() if hasattr(example, "date") and callable(example.date) else str(example)
            raise InputError(
                f"Covariate '{name}' holds dates (e.g. '{example}'). Turn it into a number that matters (e.g. age "
                f"in years or days since enrolment) in a new column, or leave it out with --exclude {name}."
            )
        n_missing = int(series.isna().sum())
        if n_missing == len(series):
            raise InputError(f"Covariate '{name}' is empty in every row. Leave it out with --exclude {name}.")
        if _is_numeric_column(series):
            values = _numeric(series).to_numpy()
            if np.isinf(values).any():
                raise InputError(
                    f"Covariate '{name}' has infinite values in rows {format_rows(rows[np.isinf(values)])}. "
                    "Replace them with real numbers or leave the cells empty."
                )
            present = values[~np.isnan(values)]
            if np.unique(present).size <= 1:
                findings.append(finding(
                    Code.DROPPED_CONSTANT_COVARIATE, Severity.INFO,
                    f"Covariate '{name}' has one value for everyone and was not used.", column=name,
                ))
                continue
            covariates.append(Covariate(name, "numeric", (), n_missing))
            codes.append(values)
            filled = np.where(np.isnan(values), np.median(present), values)
            dense.append(filled[:, None])
            dense_names.append(name)
            if n_missing:
                dense.append(np.isnan(values).astype(float)[:, None])
                dense_names.append(f"{name} missing")
        else:
            text = series.astype("string").str.strip()
            levels = sorted(pd.unique(text.dropna()).tolist(), key=str)
            if len(levels) <= 1:
                findings.append(finding(
                    Code.DROPPED_CONSTANT_COVARIATE, Severity.INFO,
                    f"Covariate '{name}' has one value for everyone and was not used.", column=name,
                ))
                continue
            if len(levels) == len(series) - n_missing and len(levels) > 20:
                raise InputError(
                    f"Covariate '{name}' has a different text value in every row, like an identifier. "
                    f"Name it with --id {name}, or leave it out with --exclude {name}."
                )
            if len(levels) > MAX_LEVELS:
                as_numbers = pd.to_numeric(text, errors="coerce")
                stray = text.notna().to_numpy() & as_numbers.isna().to_numpy()
                if as_numbers.notna().sum() >= 0.8 * (len(series) - n_missing):
                    examples = ", ".join(repr(v) for v in pd.unique(text[stray])[:3])
                    raise InputError(
                        f"Covariate '{name}' holds numbers except for text {examples} in rows "
                        f"{format_rows(rows[stray])}. Leave those cells empty if the value is unknown (missing "
                        f"values are handled), or correct them; or leave the column out with --exclude {name}."
                    )
                raise InputError(
                    f"Covariate '{name}' has {len(levels)} different text values (at most {MAX_LEVELS} are supported). "
                    f"Group them into fewer categories in a new column, or leave it out with --exclude {name}."
                )
            code = pd.Categorical(text, categories=levels).codes.astype(float)
            code[code < 0] = np.nan  # pandas codes a missing value as -1
            covariates.append(Covariate(name, "categorical", tuple(str(l) for l in levels), n_missing))
            codes.append(code)
            for i, level in enumerate(levels[1:] if not n_missing else levels, start=0 if n_missing else 1):
                dense.append((code == i).astype(float)[:, None])
                dense_names.append(f"{name}={level}")
        if n_missing:
            missing_notes.append(f"{name} ({n_missing})")
    if not covariates:
        raise InputError("Every covariate is constant, so no differences between people can be studied. Add covariates.")
    if missing_notes:
        findings.append(finding(
            Code.MISSING_COVARIATE_VALUES, Severity.INFO,
            "Missing covariate values were kept and handled as missing by the models (not imputed from the "
            f"outcome): {', '.join(missing_notes)}.",
            columns=[c.name for c in covariates if c.n_missing],
        ))
    return covariates, np.column_stack(codes), np.hstack(dense), dense_names, findings


_DATE_PATTERNS = (
    re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"),
    re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?"),
    re.compile(r"\d{1,2}[ -][A-Za-z]{3,9}\.?[ -]\d{2,4}"),
    re.compile(r"[A-Za-z]{3,9}\.? \d{1,2},? \d{4}"),
)


def _looks_like_dates(series: pd.Series) -> bool:
    """True when every non-empty text value of a column is written as a date."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    present = pd.unique(series.dropna().astype(str).str.strip())
    present = [v for v in present[:500] if v]
    if not present:
        return False
    return all(any(p.fullmatch(v) for p in _DATE_PATTERNS) for v in present)


def _cost_spec(frame: pd.DataFrame, config: Config):
    """The cost setting as a column name (str), a constant (float) or None."""
    if config.cost is None:
        return None
    raw = str(config.cost).strip()
    if raw in frame.columns:
        return raw
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"Cost '{raw}' is neither a column nor a number.{_suggest_column(raw, frame.columns)} "
            "Give a cost column or a constant cost per person (e.g. --cost 120)."
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"Cost per person must be a positive number; got '{raw}'.")
    return value


def _cost(data: pd.DataFrame, spec, rows: np.ndarray):
    if spec is None:
        return np.ones(len(data)), None
    if isinstance(spec, float):
        return np.full(len(data), spec), f"{spec:g} per person"
    values = _numeric(data[spec]).to_numpy()
    if np.isnan(values).any():
        raise InputError(
            f"Cost column '{spec}' is missing or not a number in rows {format_rows(rows[np.isnan(values)])}. "
            "Every person needs a cost; fill those cells."
        )
    if (values < 0).any() or np.isinf(values).any():
        raise InputError(
            f"Cost column '{spec}' has negative or infinite values in rows "
            f"{format_rows(rows[(values < 0) | np.isinf(values)])}. Costs must be zero or more."
        )
    return values, f"column '{spec}'"


def _propensity_spec(frame: pd.DataFrame, config: Config):
    if config.propensity is None:
        return None
    raw = str(config.propensity).strip()
    if raw in frame.columns:
        return raw
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"Propensity '{raw}' is neither a column nor a number.{_suggest_column(raw, frame.columns)} "
            "Give the known probability of treatment (e.g. --propensity 0.5 for a 1:1 trial) or a column of them."
        ) from None
    if not 0 < value < 1:
        raise ConfigError(f"Propensity must be strictly between 0 and 1; got {raw}. For a 1:1 randomised trial use 0.5.")
    return value


def _propensity(data: pd.DataFrame, spec, rows: np.ndarray):
    if spec is None:
        return None
    if isinstance(spec, float):
        return np.full(len(data), spec)
    values = _numeric(data[spec]).to_numpy()
    bad = np.isnan(values) | (values <= 0) | (values >= 1)
    if bad.any():
        raise InputError(
            f"Propensity column '{spec}' must hold probabilities strictly between 0 and 1; rows "
            f"{format_rows(rows[bad])} do not. Fix them, or drop the 'propensity' setting to estimate it."
        )
    return values


def _check_budget(budget: Budget, cost: np.ndarray, n: int) -> None:
    if budget.kind == "count" and budget.value > n:
        raise ConfigError(
            f"Budget of {int(budget.value):,} people is more than the {n:,} people in the data. "
            "Give a smaller number, or a share such as 30%."
        )
    if budget.kind == "money" and budget.value > cost.sum():
        raise ConfigError(
            f"Budget total {budget.value:,.2f} is more than the cost of treating everyone ({cost.sum():,.2f}), "
            "so it does not limit anything. Lower it, or drop 'budget_total' to allow treating anyone."
        )
