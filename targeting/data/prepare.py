"""Validate the data against the settings and turn it into model-ready arrays.

Every refusal says what is wrong, where (column, rows) and how to fix it. Everything the tool
copes with instead of refusing (missing covariate values, a constant column) becomes a finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from targeting.config import Budget, Config
from targeting.data.checks import duplicate_id_findings, leakage_findings
from targeting.data.columns import as_numbers, require_column, rows_where, suggest_column
from targeting.data.covariates import Covariate, choose_covariates, encode_covariates
from targeting.data.csv_checks import decimal_comma_hint
from targeting.data.expr import evaluate_subgroup, parse_subgroup
from targeting.data.order import canonical_order
from targeting.data.read import READER_FINDINGS
from targeting.errors import ConfigError, InputError, rows_phrase
from targeting.model.findings import Code, Finding, Severity, finding

#: Largest size of an outcome or cost: beyond it, sums of squares over many people lose all
#: precision or overflow (1e300 squared is infinite), and intervals would come out infinite.
MAX_MAGNITUDE = 1e15

TREATMENT_WORDS = {"treatment", "treated", "treat", "yes", "intervention", "true", "active", "drug"}
CONTROL_WORDS = {"control", "untreated", "no", "placebo", "false", "comparison", "none"}


@dataclass(frozen=True)
class Prepared:
    """The validated data: arrays for the models plus what the report needs to describe them."""

    frame: pd.DataFrame
    rows: np.ndarray  # each person's 1-based data row in the file; people are in `canonical_order`
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

    @property
    def input_order(self) -> np.ndarray:
        """The permutation putting per-person arrays back in the file's row order."""
        return np.argsort(self.rows, kind="stable")

    def budget_in_cost_units(self) -> float:
        """The budget on the cost scale used by the policy search (people count as cost 1)."""
        if self.budget.kind == "share":
            return self.budget.value * self.n
        return float(self.budget.value)


def _guess_column(frame: pd.DataFrame, candidates: set[str], setting: str, what: str) -> str:
    found = [c for c in frame.columns if c.strip().lower() in candidates]
    if len(found) == 1:
        return found[0]
    raise ConfigError(
        f"No {what} column was named. Set it with --{setting.replace('_', '-')} COLUMN or a '{setting}' row in "
        f"the config sheet. Columns are: {', '.join(map(repr, list(frame.columns)[:30]))}."
    )


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
    labels_as_numbers = pd.to_numeric(pd.Series(labels), errors="coerce")
    if treated_value is not None:
        chosen = str(treated_value).strip()
        matches = [l for l in labels if l == chosen or _same_number(l, chosen) or l.lower() == chosen.lower()]
        if not matches:
            raise ConfigError(
                f"Treated value '{chosen}' does not occur in column '{column}', whose values are "
                f"{', '.join(map(repr, sorted(labels)))}. Set --treated-value to one of them."
            )
        treated = matches[0]
    elif labels_as_numbers.notna().all() and set(labels_as_numbers.tolist()) == {0.0, 1.0}:
        treated = labels[list(labels_as_numbers).index(1.0)]
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
        The people in `canonical_order` (not the file's), each with their file row in ``rows``.

    Raises
    ------
    InputError, ConfigError
        With the column, rows and a fix, for anything that cannot be used.
    """
    roles = _roles(frame, config)
    y_all = _outcome(frame, roles.outcome)
    t_all, treated_label, control_label = _treatment(frame, roles.treatment, config.treated_value)
    keep, findings = _rows_to_keep(y_all, t_all)
    findings[:0] = [Finding(**note) for note in frame.attrs.get(READER_FINDINGS, [])]
    rows = np.nonzero(keep)[0] + 1
    data = frame.loc[keep].reset_index(drop=True)
    y = y_all.to_numpy()[keep]
    t = t_all[keep]
    outcome_binary = _check_outcome_and_arms(y, t, roles, config)
    names = choose_covariates(data, config.covariates, roles.columns, config.exclude)
    covariates, x_codes, x_dense, dense_names, cov_findings = encode_covariates(data, names, rows)
    findings.extend(cov_findings)
    findings.extend(leakage_findings(y.astype(float), covariates, x_codes, roles.outcome))
    ids = data[config.id].astype(str).to_numpy() if config.id is not None else None
    findings.extend(duplicate_id_findings(ids, config.id, rows))
    cost, cost_source = _cost(data, roles.cost, rows)
    propensity = _propensity(data, roles.propensity, rows)
    true_effect = _true_effect(data, config.true_effect, rows)
    budget = config.parsed_budget()
    _check_budget(budget, cost, len(y))
    if config.min_leaf > len(y) // 2:
        raise ConfigError(
            f"Setting 'min_leaf' of {config.min_leaf:,} is more than half of the {len(y):,} people, so no split "
            f"is possible and the rule could only treat everyone or no one. Use at most {len(y) // 2:,}, or 0 "
            "for the automatic size."
        )
    for text in config.subgroup:
        # Checked here so that `targeting validate` finds a bad subgroup before a long report does.
        expression = parse_subgroup(text, list(data.columns))
        _refuse_subgroup_on_result(expression.columns, text, roles)
        evaluate_subgroup(expression, data)
    # Checked in the file's order (messages name its first problems); analysed in an order of the
    # people's content, so that nothing depends on where a row sits in the file.
    order = canonical_order(data.drop(columns=roles.outcome), [c.name for c in covariates], t, y, ids)

    def ordered(values):
        return None if values is None else values[order]

    return Prepared(
        frame=data.iloc[order].reset_index(drop=True), rows=rows[order], y=y[order].astype(float), t=t[order],
        outcome=roles.outcome, treatment=roles.treatment,
        treated_label=treated_label, control_label=control_label, outcome_binary=outcome_binary,
        covariates=tuple(covariates), x_codes=x_codes[order], x_dense=x_dense[order], dense_names=tuple(dense_names),
        cost=cost[order], cost_source=cost_source, propensity=ordered(propensity), true_effect=ordered(true_effect),
        ids=ordered(ids),
        budget=budget, sign=1.0 if config.direction == "higher-is-better" else -1.0,
        findings=tuple(findings),
    )


_NO_EFFECT_IN = {"outcome": "it selects people by the result the treatment is meant to change",
                 "treatment": "everyone in it has the same treatment"}


def _refuse_subgroup_on_result(columns, text: str, roles: "_Roles") -> None:
    """Refuse a subgroup defined by the outcome or the treatment: such a group is chosen by what
    the treatment did (or by who got it), so its 'effect' has no causal meaning."""
    for role, why in _NO_EFFECT_IN.items():
        name = getattr(roles, role)
        if name in columns:
            raise ConfigError(
                f"Subgroup '{text}' is defined by the {role} column '{name}'. A group chosen by its {role} has no "
                f"effect to estimate ({why}). Define subgroups by characteristics measured before treatment, "
                "e.g. \"age > 65\"."
            )


@dataclass(frozen=True)
class _Roles:
    """The columns (or constants) the settings give a role."""

    outcome: str
    treatment: str
    columns: dict[str, str]  # setting -> column, for every column with a role
    cost: str | float | None
    propensity: str | float | None


def _roles(frame: pd.DataFrame, config: Config) -> _Roles:
    """Name the outcome and treatment (guessed when not set) and check every named column exists."""
    outcome = config.outcome or _guess_column(frame, {"outcome", "y"}, "outcome", "outcome")
    treatment = config.treatment or _guess_column(
        frame, {"treatment", "treated", "treat", "arm"}, "treatment", "treatment"
    )
    require_column(frame, outcome, "outcome")
    require_column(frame, treatment, "treatment")
    if outcome == treatment:
        raise ConfigError(f"Outcome and treatment are the same column '{outcome}'. Name two different columns.")
    columns = {"outcome": outcome, "treatment": treatment}
    for setting in ("id", "true_effect"):
        name = getattr(config, setting)
        if name is not None:
            require_column(frame, name, setting)
            columns[setting] = name
    cost = _cost_spec(frame, config)
    if isinstance(cost, str):
        columns["cost"] = cost
    propensity = _propensity_spec(frame, config)
    if isinstance(propensity, str):
        columns["propensity"] = propensity
    for name in config.exclude:
        require_column(frame, name, "exclude")
    return _Roles(outcome, treatment, columns, cost, propensity)


def _outcome(frame: pd.DataFrame, outcome: str) -> pd.Series:
    """The outcome as numbers (NaN where missing); text, infinite or all-missing values are refused."""
    y_raw = frame[outcome]
    y_all = as_numbers(y_raw)
    bad_text = y_raw.notna().to_numpy() & y_all.isna().to_numpy()
    if bad_text.any():
        texts = pd.unique(y_raw[bad_text].astype(str))
        examples = ", ".join(repr(v) for v in texts[:3])
        raise InputError(
            f"Outcome column '{outcome}' must be numeric; found text {examples} in {rows_where(bad_text)}. "
            f"Recode those cells as numbers (e.g. 0/1 for an event) or leave them empty.{decimal_comma_hint(texts)}"
        )
    if np.isinf(y_all.to_numpy()).any():
        raise InputError(
            f"Outcome column '{outcome}' has infinite values in {rows_where(np.isinf(y_all.to_numpy()))}. "
            "Replace them with real numbers or leave them empty."
        )
    if y_all.isna().all():
        raise InputError(f"Outcome column '{outcome}' is empty in every row. Fill in the outcome or choose another column.")
    _refuse_huge(y_all.to_numpy(), f"Outcome column '{outcome}'")
    return y_all


def _refuse_huge(values: np.ndarray, what: str) -> None:
    """Refuse numbers too large to estimate with (see ``MAX_MAGNITUDE``), naming the rows."""
    huge = np.abs(np.nan_to_num(values, nan=0.0)) > MAX_MAGNITUDE
    if huge.any():
        largest = float(np.nanmax(np.abs(values)))
        raise InputError(
            f"{what} has values as large as {largest:.3g} ({rows_where(huge)}); numbers above {MAX_MAGNITUDE:.0e} "
            "in size are too large to compute with reliably. Rescale the column (e.g. express it in thousands or "
            "millions) and run again."
        )


def _rows_to_keep(y_all: pd.Series, t_all: np.ndarray) -> tuple[np.ndarray, list[Finding]]:
    """Rows with both an outcome and a treatment; the others are set aside, loudly."""
    keep = y_all.notna().to_numpy() & (t_all >= 0)
    if keep.all():
        return keep, []
    dropped = ~keep
    return keep, [finding(
        Code.DROPPED_ROWS, Severity.WARNING,
        f"{int(dropped.sum())} rows lack the outcome or the treatment and were left out "
        f"({rows_where(dropped)}). Results describe the remaining {int(keep.sum())} people; "
        "if these are drop-outs, effects may be biased.",
        n=int(dropped.sum()),
    )]


def _check_outcome_and_arms(y: np.ndarray, t: np.ndarray, roles: _Roles, config: Config) -> bool:
    """Refuse a constant outcome, arms too small to cross-fit, or logistic_t on a non-0/1 outcome.

    Returns whether the outcome is 0/1.
    """
    known = y[~np.isnan(y)]  # np.nanstd warns when nothing is left
    if known.size and np.all(known == known[0]):
        raise InputError(
            f"Outcome column '{roles.outcome}' has the same value ({known[0]:g}) for everyone, so no effect can be "
            "seen. Check that the right column is named as the outcome."
        )
    n_treated, n_control = int(t.sum()), int(len(t) - t.sum())
    minimum_arm = max(10, 2 * config.folds)
    if min(n_treated, n_control) < minimum_arm:
        small = "treated" if n_treated < n_control else "untreated"
        raise InputError(
            f"Only {_people(min(n_treated, n_control))} {small} (column '{roles.treatment}'); at least {minimum_arm} "
            f"per arm are needed to estimate effects with {config.folds}-fold cross-fitting. Add data, or lower 'folds'."
        )
    outcome_binary = bool(set(np.unique(y)) <= {0.0, 1.0})
    if config.estimator == "logistic_t" and not outcome_binary:
        examples = ", ".join(f"{v:g}" for v in np.unique(y[(y != 0) & (y != 1)])[:3])
        raise ConfigError(
            f"Estimator 'logistic_t' needs a 0/1 outcome, but outcome column '{roles.outcome}' also holds {examples}. "
            "Choose another estimator with --estimator (auto, t, dr, ...), or name a 0/1 outcome column."
        )
    return outcome_binary


def _true_effect(data: pd.DataFrame, column: str | None, rows: np.ndarray) -> np.ndarray | None:
    """The known effect of simulated data, complete in every kept row, or None."""
    if column is None:
        return None
    te = as_numbers(data[column]).to_numpy()
    if np.isnan(te).any():
        raise InputError(
            f"True-effect column '{column}' has missing or non-numeric values in "
            f"{rows_phrase(rows[np.isnan(te)])}. Fill them or drop the 'true_effect' setting."
        )
    return te


def _column_or_number(frame: pd.DataFrame, setting: str, raw_value, advice: str):
    """A setting that names a column or gives a constant: the column name (str), the number
    (float), or None when the setting is not given."""
    if raw_value is None:
        return None
    raw = str(raw_value).strip()
    if raw in frame.columns:
        return raw
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(
            f"{setting.capitalize()} '{raw}' is neither a column nor a number.{suggest_column(raw, frame.columns)} "
            f"{advice}"
        ) from None


def _cost_spec(frame: pd.DataFrame, config: Config):
    """The cost setting as a column name (str), a constant (float) or None."""
    value = _column_or_number(frame, "cost", config.cost,
                              "Give a cost column or a constant cost per person (e.g. --cost 120).")
    if isinstance(value, float) and (not math.isfinite(value) or value <= 0):
        raise ConfigError(f"Cost per person must be a positive number; got '{str(config.cost).strip()}'.")
    if isinstance(value, float) and value > MAX_MAGNITUDE:
        raise ConfigError(f"Cost per person {value:.3g} is too large to compute with (above {MAX_MAGNITUDE:.0e}). "
                          "Express costs in thousands or millions, and the budget total in the same unit.")
    return value


def _cost(data: pd.DataFrame, spec, rows: np.ndarray):
    if spec is None:
        return np.ones(len(data)), None
    if isinstance(spec, float):
        return np.full(len(data), spec), f"{spec:g} per person"
    values = as_numbers(data[spec]).to_numpy()
    if np.isnan(values).any():
        raise InputError(
            f"Cost column '{spec}' is missing or not a number in {rows_phrase(rows[np.isnan(values)])}. "
            "Every person needs a cost; fill those cells."
        )
    if (values < 0).any() or np.isinf(values).any():
        raise InputError(
            f"Cost column '{spec}' has negative or infinite values in "
            f"{rows_phrase(rows[(values < 0) | np.isinf(values)])}. Costs must be zero or more."
        )
    _refuse_huge(values, f"Cost column '{spec}'")
    return values, f"column '{spec}'"


def _propensity_spec(frame: pd.DataFrame, config: Config):
    """The known propensity as a column name (str), a constant (float) or None (estimate it)."""
    value = _column_or_number(frame, "propensity", config.propensity,
                              "Give the known probability of treatment (e.g. --propensity 0.5 for a 1:1 trial) or "
                              "a column of them.")
    if isinstance(value, float) and not 0 < value < 1:
        raise ConfigError(f"Propensity must be strictly between 0 and 1; got {str(config.propensity).strip()}. "
                          "For a 1:1 randomised trial use 0.5.")
    return value


def _propensity(data: pd.DataFrame, spec, rows: np.ndarray):
    if spec is None:
        return None
    if isinstance(spec, float):
        return np.full(len(data), spec)
    values = as_numbers(data[spec]).to_numpy()
    bad = np.isnan(values) | (values <= 0) | (values >= 1)
    if bad.any():
        raise InputError(
            f"Propensity column '{spec}' must hold probabilities strictly between 0 and 1, and does not in "
            f"{rows_phrase(rows[bad])}. Fix them, or drop the 'propensity' setting to estimate it."
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
