"""Render the analyst's Excel pack (``pack.xlsx``) from the ReportModel.

Like every renderer, this module reads only the report model (the plain dict of
``ReportModel.to_dict()``) and the per-person frame; it never computes a statistic. It only lays
out, labels and formats what the model already holds.

Conventions of the pack:

- every table has a bold header row and an autofilter (the first table of a sheet uses the sheet's
  autofilter and its header is frozen; further tables on the same sheet are Excel tables, each
  with its own filter);
- numbers are stored exactly; what the reader sees is set by number formats (percent for shares,
  three significant digits for effects, ``0.0000`` for p-values);
- every string that came from the input (labels, rule text, subgroup names, queries, column names)
  is stored as text, never as a formula: strings are written with an explicit string type and, when
  they start with a character a spreadsheet could read as a formula, with Excel's quote prefix;
- the workbook is written in openpyxl's write-only (streaming) mode, except the Individuals sheet's
  data rows: up to a million of them are built as XML in vectorised blocks (``xml_rows``) and
  spliced into the sheet openpyxl wrote, which keeps time and memory modest.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import warnings
import numbers
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import LineChart, Reference, Series
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table, TableColumn

from targeting.report.excel import xml_rows

__all__ = ["write_workbook", "SHEET_NAMES", "EXCEL_MAX_ROWS"]

#: Sheet names, in workbook order.
SHEET_NAMES = (
    "Summary", "Policy", "Values", "Budget curve", "Subgroups", "Harmed", "Risk strata", "Balance",
    "Diagnostics", "Individuals", "Settings & provenance", "Notes",
)

#: Rows in an Excel worksheet, header included.
EXCEL_MAX_ROWS = 1_048_576
_MAX_WIDTH = 60
_MIN_WIDTH = 8
_CHUNK = 50_000  # people per block of Individuals rows built at once
# Fastest deflate for the Individuals sheet: 4x faster than the default level for a 20% larger file.
_INDIVIDUALS_DEFLATE = 1

# Characters that make a spreadsheet read a typed-in string as a formula (or a DDE payload), plus
# leading whitespace controls that some tools strip before deciding.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

_BOLD = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=14)
_SECTION_FONT = Font(bold=True, size=12)
_WRAP = Alignment(wrap_text=True, vertical="top")
_FILLS = {
    "harmed": (PatternFill(fill_type="solid", fgColor="FFC7CE"), Font(color="9C0006")),
    "possibly_harmed": (PatternFill(fill_type="solid", fgColor="FFEB9C"), Font(color="9C5700")),
    "benefits": (PatternFill(fill_type="solid", fgColor="C6EFCE"), Font(color="006100")),
}

_FMT_INT = "#,##0"
_FMT_SHARE = "0.0%"
_FMT_P = "0.0000"
_FMT_MONEY_WHOLE = "#,##0"
_FMT_MONEY = "#,##0.00"
_FMT_SCI = "0.00E+00"


# --------------------------------------------------------------------------------------------
# Column definitions (they also feed the Notes sheet, so every column shown is defined there)
# --------------------------------------------------------------------------------------------

_DEFS: dict[str, str] = {
    "leaf": "Position of the leaf in the policy tree: L = left branch, R = right branch, read from the root "
            "(e.g. 'LR' = left at the first split, right at the second); 'root' if the tree has no split.",
    "rule": "The leaf's conditions in words.",
    "query": "The same conditions as a pandas query expression (usable with DataFrame.query on the input data).",
    "treat": "Yes if the recommended policy treats people in this leaf / this person.",
    "n": "Number of people.",
    "share": "Share of all analysed people.",
    "cost": "Total cost of treating everyone in the leaf (cost units; 1 per person when no cost column was given).",
    "effect": "Estimated average effect of the treatment (treated minus untreated), on the outcome's own scale "
              "(doubly robust / AIPW).",
    "ci_low": "Lower end of the 95% confidence interval of the estimate to its left.",
    "ci_high": "Upper end of the 95% confidence interval of the estimate to its left.",
    "n_held_out": "People used to estimate the leaf's effect: those placed in this leaf by trees learned without "
                  "them (honest, held-out estimate).",
    "item": "What the value describes.",
    "value": "The value.",
    "policy": "Short key of the policy.",
    "label": "The policy or estimator in words.",
    "mean_outcome": "Expected mean outcome per person if this policy were applied to people like these "
                    "(held-out doubly robust estimate).",
    "treated_share": "Share of people the policy treats.",
    "treated_n": "Number of people the policy treats.",
    "total_cost": "Total cost of the treatments the policy gives (cost units).",
    "versus": "The policy the targeted policy is compared with.",
    "difference": "Targeted policy minus the other policy in mean outcome per person, oriented so that "
                  "positive is better (for a lower-is-better outcome, positive means fewer events / lower values).",
    "per_1000": "The difference per 1,000 people (difference x 1,000; for a binary outcome: events avoided "
                "per 1,000 people), positive is better.",
    "per_1000_low": "Lower end of the 95% confidence interval of per_1000.",
    "per_1000_high": "Upper end of the 95% confidence interval of per_1000.",
    "p_value": "Two-sided p-value for no difference.",
    "sentence": "The comparison in one plain sentence, in the outcome's own direction.",
    "budget_share": "Budget as a share of the cost of treating everyone.",
    "tree_gain": "Gain per person over treating no one when a policy tree learned within this budget is applied "
                 "(held out; positive is better).",
    "tree_low": "Lower end of the 95% confidence interval of tree_gain.",
    "tree_high": "Upper end of the 95% confidence interval of tree_gain.",
    "ranking_gain": "Gain per person over treating no one when the people with the largest estimated benefit are "
                    "treated up to this budget (held out; positive is better).",
    "ranking_low": "Lower end of the 95% confidence interval of ranking_gain.",
    "ranking_high": "Upper end of the 95% confidence interval of ranking_gain.",
    "random_gain": "Expected gain per person over treating no one when people are picked at random to spend the "
                   "same as the tree (positive is better).",
    "family": "Family of subgroups: prespecified (analyst's own, confirmatory), covariate (screen of each "
              "covariate), policy_leaf (leaves of the policy tree, held out), baseline_risk (strata of "
              "predicted untreated outcome). Multiplicity is controlled within and across families.",
    "name": "The group in words.",
    "p_adjusted": "p_value adjusted for multiple testing (Holm within the family, Bonferroni across families); "
                  "below 0.05 means clear evidence of harm.",
    "shrunk_effect": "The effect pulled toward the overall effect by empirical-Bayes partial pooling (noisy small "
                     "groups move most): a better guess of the group's true effect than the raw estimate.",
    "flag": "harmed = clear evidence of harm after adjustment for multiple testing (red); possibly_harmed = "
            "estimate points to harm but the evidence is not conclusive (amber); benefits = 95% interval "
            "excludes harm and no effect (green); no_clear_effect = none of these.",
    "exploratory": "Yes if the group was found from the data (e.g. a policy-tree leaf): treat as a hypothesis, "
                   "not a confirmed finding.",
    "mean_risk": "Mean predicted outcome without treatment (baseline risk) in the stratum.",
    "cate_mean": "Mean of the individual estimated effects (CATE) in the group.",
    "cate_sd": "Standard deviation of the individual estimated effects (CATE) in the group.",
    "covariate": "Covariate (input column).",
    "level": "Level of a categorical covariate, or 'mean (SD)' for a numeric one.",
    "control": "Summary in the control (untreated) arm: mean (SD), or count (share).",
    "treated": "Summary in the treated arm: mean (SD), or count (share).",
    "smd": "Standardised mean difference, treated minus control (|smd| above 0.1 suggests imbalance).",
    "dr_loss": "Held-out doubly robust loss of the estimator's individual effects (lower is better).",
    "loss_vs_constant": "dr_loss minus the loss of predicting the same effect for everyone (negative = the "
                        "estimator finds real differences).",
    "loss_vs_constant_se": "Standard error of loss_vs_constant.",
    "correlation_with_truth": "Correlation of the estimated with the known true individual effects (simulations "
                              "only; empty otherwise).",
    "selected": "Yes for the estimator used in the report.",
    "estimate": "The estimate.",
    "se": "Standard error of the estimate.",
    "slope": "Calibration slope: regression of doubly robust scores on the centred estimated benefit. Clearly above "
             "0 = the model ranks real differences; near 1 = its scale is also right.",
    "mean_effect": "Intercept of the calibration regression: the average benefit.",
    "detected": "Yes if heterogeneity was detected (calibration slope clearly above 0, one-sided p < 0.05).",
    "verdict": "The calibration test in words.",
    "group": "Quintile of estimated benefit, Q1 = lowest to Q5 = highest.",
    "predicted": "Mean estimated individual effect (CATE) in the group, on the outcome's scale.",
    "measure": "AUTOC (area under the targeting operator characteristic) or Qini: how much better the ranking "
               "by estimated effect targets than random; positive is better.",
    "bootstrap": "Number of bootstrap resamples behind the interval.",
    "severity": "info, warning or critical.",
    "code": "Stable code of the finding.",
    "message": "The finding in words.",
    "values": "The numbers behind the finding.",
    "setting": "Configuration setting (effective value after defaults, workbook config sheet, TOML file and "
               "command-line flags).",
    "sheet": "Sheet of this workbook.",
    "table": "Table on that sheet.",
    "column": "Column header.",
    "definition": "What the column holds.",
    "row": "Row number of the person in the input data sheet.",
    "id": "The person's identifier from the input.",
    "cate": "Estimated individual effect (CATE) of the treatment for this person, on the outcome's scale "
            "(treated minus untreated), estimated out of fold.",
    "cate_low": "Lower end of the person's 95% interval (empty when the estimator gives no individual intervals).",
    "cate_high": "Upper end of the person's 95% interval (empty when the estimator gives no individual intervals).",
}


@dataclass(frozen=True)
class Col:
    """One table column: the row key, header, display kind and definition for the Notes sheet.

    ``kind`` is one of text, int, share, effect, p, bool, money, general, or ``row`` (the row
    carries its own kind under ``"_kind"``).
    """

    key: str
    kind: str = "text"
    header: str | None = None
    definition: str | None = None

    @property
    def title(self) -> str:
        return self.header or self.key

    @property
    def meaning(self) -> str:
        return self.definition or _DEFS.get(self.key, self.key)


@dataclass
class TableBlock:
    """A table: a name (for the Notes sheet and the Excel table name), columns and row dicts."""

    name: str
    columns: list[Col]
    rows: list[dict[str, Any]]
    fill_by: str | None = None          # row key whose value picks a fill (subgroup flags)
    empty_message: str = "(none)"


@dataclass
class TextBlock:
    text: str
    style: str = "text"                 # title, section, text


@dataclass
class SheetSpec:
    name: str
    blocks: list[Any] = field(default_factory=list)

    def section(self, text: str) -> None:
        if self.blocks:
            self.blocks.append(TextBlock(""))
        self.blocks.append(TextBlock(text, "section"))

    def tables(self) -> list[TableBlock]:
        return [b for b in self.blocks if isinstance(b, TableBlock)]


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------

def write_workbook(report: dict, individuals: pd.DataFrame, path) -> None:
    """Write the analyst's Excel pack for one report.

    Parameters
    ----------
    report : dict
        The report model as plain data (``ReportModel.to_dict()``, the content of ``report.json``).
        Missing numbers may be ``None``; they are written as empty cells.
    individuals : pandas.DataFrame
        One row per person with columns ``row``, optionally ``id``, ``cate``, ``cate_low``,
        ``cate_high``, ``treat`` and ``leaf``. Other columns are written as they are.
    path : str or os.PathLike
        Where to write the ``.xlsx`` file (overwritten if it exists).

    Returns
    -------
    None

    Notes
    -----
    Sheets, in order: Summary, Policy, Values, Budget curve, Subgroups, Harmed, Risk strata,
    Balance, Diagnostics, Individuals, Settings & provenance, Notes (see ``SHEET_NAMES``).

    The Individuals sheet holds at most ``EXCEL_MAX_ROWS - 1`` people (Excel's row limit, header
    included). When the frame is longer the sheet is cut there, and the Summary and Notes sheets
    say so and point to ``individuals.csv``, which always holds everyone.

    Strings from the input are always stored as text: they are typed as strings and, when they
    begin with ``= + - @`` or a tab or line break, carry Excel's quote prefix, so a spreadsheet
    never evaluates them as formulas. Characters XML cannot hold are dropped and text longer than
    Excel's cell limit (32,767 characters) is cut.

    The function reads only ``report`` and ``individuals``; it computes no statistic.
    """
    n_people = int(len(individuals))
    max_people = EXCEL_MAX_ROWS - 1
    capped = n_people > max_people
    cap_note = None
    if capped:
        cap_note = (f"The Individuals sheet shows the first {max_people:,} of {n_people:,} people (Excel's row "
                    f"limit); everyone is in individuals.csv next to this workbook.")

    specs = [
        _summary_sheet(report, cap_note),
        _policy_sheet(report),
        _values_sheet(report),
        _curve_sheet(report),
        _subgroups_sheet(report),
        _harmed_sheet(report),
        _risk_sheet(report),
        _balance_sheet(report),
        _diagnostics_sheet(report),
        None,  # Individuals (streamed)
        _settings_sheet(report),
    ]
    ind_columns = _individual_columns(individuals)
    specs.append(_notes_sheet(specs, ind_columns, cap_note))

    wb = Workbook(write_only=True)
    table_names: set[str] = set()
    individuals_sheet, individual_rows = "", iter(())
    for name, spec in zip(SHEET_NAMES, specs):
        ws = wb.create_sheet(title=name)
        if spec is None:
            individuals_sheet = name
            individual_rows = _start_individuals(ws, individuals, ind_columns, max_people)
        else:
            _write_sheet(ws, spec, table_names)
    staged = io.BytesIO()  # small: the Individuals sheet holds only its header so far
    wb.save(staged)
    xml_rows.insert_rows(staged, os.fspath(path), individuals_sheet, individual_rows,
                            compresslevel=_INDIVIDUALS_DEFLATE)


# --------------------------------------------------------------------------------------------
# Sheet content (pure layout of report fields)
# --------------------------------------------------------------------------------------------

def _get(d: Any, *keys, default=None):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return default if d is None else d


def _kv(item: str, value: Any, kind: str = "general") -> dict[str, Any]:
    """A row of an item/value table; ``kind`` formats the value."""
    return {"item": item, "value": value, "_kind": kind}


_KV_COLS = [Col("item"), Col("value", "row")]


def _summary_sheet(report: dict, cap_note: str | None) -> SheetSpec:
    s = SheetSpec("Summary")
    s.blocks.append(TextBlock(str(report.get("title") or "Who should be treated?"), "title"))
    for sentence in report.get("summary") or []:
        s.blocks.append(TextBlock(str(sentence)))
    supported = report.get("targeting_supported")
    if supported is not None:
        s.blocks.append(TextBlock("Targeting supported by the evidence: " + _yes_no(supported)))
    if cap_note:
        s.blocks.append(TextBlock(cap_note))

    s.section("Headline comparisons: the targeted policy versus the alternatives (positive = better)")
    comps = report.get("comparisons") or {}
    rows = [dict(c, versus=c.get("versus", key)) for key, c in comps.items()]
    s.blocks.append(TableBlock("Headline comparisons", [
        Col("label", definition="The policy the targeted policy is compared with."),
        Col("difference", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("per_1000", "effect"), Col("per_1000_low", "effect"), Col("per_1000_high", "effect"),
        Col("p_value", "p"), Col("sentence"),
    ], rows))

    hs = report.get("harm_summary") or {}
    labels = hs.get("family_labels") or {}
    harmed = hs.get("harmed") or []
    possibly = hs.get("possibly_harmed") or []
    s.section("Harm summary")
    s.blocks.append(TableBlock("Harm summary", list(_KV_COLS), [
        _kv("Groups tested", hs.get("groups_tested"), "int"),
        _kv("Groups with clear evidence of harm", len(harmed), "int"),
        _kv("Harmed groups", "; ".join(map(str, harmed)) if harmed else "None found", "text"),
        _kv("Groups whose estimate points to harm (not conclusive)", len(possibly), "int"),
        _kv("Possibly harmed groups", "; ".join(map(str, possibly)) if possibly else "None", "text"),
        _kv("Share of individuals estimated harmed", hs.get("share_individuals_harmed"), "share"),
        _kv("  95% CI low", hs.get("share_individuals_harmed_low"), "share"),
        _kv("  95% CI high", hs.get("share_individuals_harmed_high"), "share"),
        _kv("Families tested", "; ".join(str(labels.get(f, f)) for f in hs.get("families") or []), "text"),
        _kv("Method", hs.get("method"), "text"),
    ]))
    return s


def _policy_sheet(report: dict) -> SheetSpec:
    pol = report.get("policy") or {}
    s = SheetSpec("Policy")
    s.blocks.append(TableBlock("Policy rules (one row per leaf)", [
        Col("leaf"), Col("rule"), Col("query"), Col("treat", "bool"), Col("n", "int"), Col("share", "share"),
        Col("cost", "money"), Col("effect", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("n_held_out", "int"),
    ], list(pol.get("rules") or [])))

    budget = pol.get("budget") or {}
    kind = budget.get("kind")
    s.section("Headline rule and budget")
    s.blocks.append(TableBlock("Headline rule and budget", list(_KV_COLS), [
        _kv("Headline rule", pol.get("headline_rule"), "text"),
        _kv("Budget", budget.get("description"), "text"),
        _kv("Budget kind", kind, "text"),
        _kv("Budget value", budget.get("value"), "share" if kind == "share" else "money"),
        _kv("Budget in cost units", budget.get("cost_units"), "money"),
        _kv("Cost source", budget.get("cost_source") or "1 per person (no cost column)", "text"),
        _kv("People treated by the rule", pol.get("treated_n"), "int"),
        _kv("Share treated by the rule", pol.get("treated_share"), "share"),
        _kv("Total cost of the rule", pol.get("total_cost"), "money"),
        _kv("Share treated when applied to held-out people", pol.get("held_out_treated_share"), "share"),
        _kv("Tree depth", pol.get("depth"), "int"),
        _kv("Search", pol.get("search"), "text"),
        _kv("Minimum people per leaf", pol.get("min_leaf"), "int"),
        _kv("Stability (share of trees learned on subsets splitting first on the same covariate)",
            pol.get("stability"), "share"),
        _kv("First split of the trees learned on subsets", "; ".join(map(str, pol.get("fold_root_features") or [])),
            "text"),
    ]))
    return s


def _values_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Values")
    vals = report.get("values") or {}
    s.blocks.append(TableBlock("Policy values", [
        Col("policy"), Col("label"), Col("mean_outcome", "effect"), Col("ci_low", "effect"),
        Col("ci_high", "effect"), Col("treated_share", "share"), Col("treated_n", "int"),
        Col("total_cost", "money"),
    ], [dict(v, policy=k) for k, v in vals.items()]))
    s.section("Comparisons: targeted policy minus each alternative (positive = better)")
    comps = report.get("comparisons") or {}
    s.blocks.append(TableBlock("Comparisons", [
        Col("versus"), Col("label", definition="The policy the targeted policy is compared with, in words."),
        Col("difference", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("per_1000", "effect"), Col("per_1000_low", "effect"), Col("per_1000_high", "effect"),
        Col("p_value", "p"), Col("sentence"),
    ], [dict(c, versus=c.get("versus", k)) for k, c in comps.items()]))
    return s


_CURVE_COLS = [
    Col("budget_share", "share"), Col("tree_gain", "effect"), Col("tree_low", "effect"),
    Col("tree_high", "effect"), Col("ranking_gain", "effect"), Col("ranking_low", "effect"),
    Col("ranking_high", "effect"), Col("random_gain", "effect"),
]


def _curve_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Budget curve")
    s.blocks.append(TableBlock("Budget curve", list(_CURVE_COLS), list(report.get("budget_curve") or [])))
    return s


_SUBGROUP_COLS = [
    Col("family"), Col("name"), Col("query"), Col("n", "int"), Col("share", "share"), Col("effect", "effect"),
    Col("ci_low", "effect"), Col("ci_high", "effect"),
    Col("p_value", "p", definition="One-sided p-value of the test that the group is harmed (small = evidence "
                                   "of harm), before adjustment for multiple testing."),
    Col("p_adjusted", "p"), Col("shrunk_effect", "effect"), Col("flag"), Col("exploratory", "bool"),
]


def _subgroups_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Subgroups")
    s.blocks.append(TableBlock("Subgroups", list(_SUBGROUP_COLS), list(report.get("subgroups") or []),
                               fill_by="flag"))
    return s


def _harmed_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Harmed")
    subs = report.get("subgroups") or []
    harmed = [g for g in subs if g.get("flag") == "harmed"]
    tested = _get(report, "harm_summary", "groups_tested", default=len(subs))
    message = (f"No group was found to be harmed ({tested} groups tested, with multiplicity control "
               f"across all of them).")
    s.blocks.append(TableBlock("Harmed groups", list(_SUBGROUP_COLS), harmed, fill_by="flag",
                               empty_message=message))
    return s


def _risk_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Risk strata")
    s.blocks.append(TableBlock("Baseline-risk strata", [
        Col("name", definition="Quintile of predicted outcome without treatment (baseline risk), Q1 = lowest."),
        Col("n", "int"), Col("mean_risk", "effect"), Col("effect", "effect"), Col("ci_low", "effect"),
        Col("ci_high", "effect"), Col("cate_mean", "effect"), Col("cate_sd", "effect"),
    ], list(report.get("risk_strata") or [])))
    return s


def _balance_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Balance")
    s.blocks.append(TableBlock("Balance of covariates by arm", [
        Col("covariate"), Col("level"), Col("control"), Col("treated"), Col("smd", "effect"),
        Col("p_value", "p", definition="p-value of the test of no difference between arms."),
    ], list(_get(report, "diagnostics", "balance", default=[]))))
    return s


def _diagnostics_sheet(report: dict) -> SheetSpec:
    d = report.get("diagnostics") or {}
    s = SheetSpec("Diagnostics")
    s.blocks.append(TableBlock("Estimator scores", [
        Col("name", definition="Short name of the CATE estimator."), Col("label"), Col("dr_loss", "effect"),
        Col("loss_vs_constant", "effect"), Col("loss_vs_constant_se", "effect"),
        Col("correlation_with_truth", "effect"), Col("selected", "bool"),
    ], list(d.get("estimator_scores") or [])))

    ate = d.get("ate") or {}
    s.section("Average effect (everyone, doubly robust)")
    s.blocks.append(TableBlock("Average effect", [
        Col("estimate", "effect", definition="Average effect of the treatment in everyone (treated minus "
                                             "untreated, on the outcome's scale)."),
        Col("ci_low", "effect"), Col("ci_high", "effect"), Col("se", "effect"),
    ], [ate] if ate else []))

    cal = d.get("calibration") or {}
    s.section("Calibration (best linear predictor test of heterogeneity)")
    s.blocks.append(TableBlock("Calibration", [
        Col("slope", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("p_value", "p", definition="One-sided p-value of the test that the slope is above 0."),
        Col("mean_effect", "effect"), Col("detected", "bool"), Col("verdict"),
    ], [cal] if cal else []))

    s.section("GATES: effect by quintile of estimated benefit (held out)")
    s.blocks.append(TableBlock("GATES", [
        Col("group"), Col("n", "int"), Col("predicted", "effect"),
        Col("effect", "effect", definition="Doubly robust average effect in the group (treated minus untreated)."),
        Col("ci_low", "effect"), Col("ci_high", "effect"),
    ], list(d.get("gates") or [])))

    rate = d.get("rate") or {}
    s.section("RATE: rank-weighted average treatment effect")
    rate_rows = []
    if rate:
        for label, key in (("AUTOC", "autoc"), ("Qini", "qini")):
            rate_rows.append({"measure": label, "estimate": rate.get(key), "ci_low": rate.get(f"{key}_low"),
                              "ci_high": rate.get(f"{key}_high"), "bootstrap": rate.get("bootstrap")})
    s.blocks.append(TableBlock("RATE", [
        Col("measure"), Col("estimate", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("bootstrap", "int"),
    ], rate_rows))

    ov = d.get("overlap") or {}
    s.section("Overlap (probability of treatment)")
    bounds = list(ov.get("bounds") or [None, None]) + [None, None]
    ov_rows = [
        _kv("Probability of treatment known (randomised design)", ov.get("known"), "bool"),
        _kv("Overlap bounds: low", bounds[0], "share"),
        _kv("Overlap bounds: high", bounds[1], "share"),
        _kv("Share of people outside the bounds", ov.get("share_outside"), "share"),
        _kv("People whose probability was bounded", ov.get("n_bounded"), "int"),
    ]
    quantile_names = {0.0: "minimum", 1.0: "maximum", 0.5: "median"}
    for item in ov["quantiles"]:
        name = quantile_names.get(item["q"]) or f"{_pct_label(item['q'])} percentile"
        ov_rows.append(_kv(f"Probability of treatment: {name}", item["value"], "share"))
    s.blocks.append(TableBlock("Overlap", list(_KV_COLS), ov_rows))

    cs = d.get("cate_summary") or {}
    s.section("Individual effects (CATE) distribution")
    cs_rows = [
        _kv("Estimator used", d.get("estimator_label") or d.get("estimator"), "text"),
        _kv("Individual intervals available", d.get("individual_intervals"), "bool"),
        _kv("Mean individual effect", cs.get("mean"), "effect"),
        _kv("SD of individual effects", cs.get("sd"), "effect"),
    ]
    for item in cs["quantiles"]:
        cs_rows.append(_kv(f"{_pct_label(item['q'])} percentile of individual effects", item["value"], "effect"))
    cs_rows += [
        _kv("Share of individuals estimated harmed", cs.get("share_harmed"), "share"),
        _kv("  95% CI low", cs.get("share_harmed_low"), "share"),
        _kv("  95% CI high", cs.get("share_harmed_high"), "share"),
    ]
    s.blocks.append(TableBlock("CATE summary", list(_KV_COLS), cs_rows))

    truth = d.get("truth")
    if truth is not None:
        s.section("Accuracy against the known true effects (simulation)")
        s.blocks.append(TableBlock("Truth accuracy", list(_KV_COLS), [
            _kv("Correlation of estimated and true individual effects", truth.get("correlation"), "effect"),
            _kv("Root mean squared error", truth.get("rmse"), "effect"),
            _kv("Mean absolute error", truth.get("mae"), "effect"),
            _kv("True mean effect", truth.get("true_mean_effect"), "effect"),
            _kv("Coverage of the individual 95% intervals", truth.get("coverage"), "share"),
        ]))

    s.section("Findings")
    findings = []
    for f in report.get("findings") or []:
        vals = f.get("values") or {}
        findings.append({"severity": f.get("severity"), "code": f.get("code"), "message": f.get("message"),
                         "values": "; ".join(f"{k} = {_plain(v)}" for k, v in vals.items())})
    s.blocks.append(TableBlock("Findings", [Col("severity"), Col("code"), Col("message"), Col("values")],
                               findings, empty_message="No findings."))
    return s


def _settings_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Settings & provenance")
    cfg = report.get("config") or {}
    s.blocks.append(TableBlock("Settings", [Col("setting"), Col("value", "row", definition="Effective value "
                                                                     "(empty = not set / default behaviour).")],
                               [{"setting": k, "value": _plain(v), "_kind": _auto_kind(v)} for k, v in cfg.items()]))
    prov = report.get("provenance") or {}
    rows = []
    for k, v in prov.items():
        if k == "packages" and isinstance(v, dict):
            for pkg, ver in v.items():
                rows.append(_kv(f"package: {pkg}", _plain(ver), "text"))
        else:
            rows.append(_kv(k, _plain(v), _auto_kind(v)))
    rows.append(_kv("schema_version", report.get("schema_version"), "text"))
    s.section("Provenance")
    s.blocks.append(TableBlock("Provenance", list(_KV_COLS), rows))
    return s


def _notes_sheet(specs: Sequence[SheetSpec | None], ind_columns: list[Col], cap_note: str | None) -> SheetSpec:
    rows = []
    if cap_note:
        rows.append({"sheet": "Individuals", "table": "Individuals", "column": "(all)", "definition": cap_note})
    for name, spec in zip(SHEET_NAMES, specs):
        if spec is None:
            tables = [("Individuals", ind_columns)]
        else:
            tables = [(t.name, t.columns) for t in spec.tables()]
        for tname, cols in tables:
            for col in cols:
                rows.append({"sheet": name, "table": tname, "column": col.title, "definition": col.meaning})
    notes_cols = [Col("sheet"), Col("table"), Col("column"), Col("definition")]
    for col in notes_cols:
        rows.append({"sheet": "Notes", "table": "Column definitions", "column": col.title, "definition": col.meaning})
    rows.append({"sheet": "(all)", "table": "(all)", "column": "(formats)",
                 "definition": "Numbers are stored exactly and only displayed rounded: shares as percent, effects "
                               "to three significant digits, p-values to four decimals. Intervals are 95%. Empty "
                               "cells mean the value is not available."})
    s = SheetSpec("Notes")
    s.blocks.append(TableBlock("Column definitions", notes_cols, rows))
    return s


# --------------------------------------------------------------------------------------------
# Cell helpers
# --------------------------------------------------------------------------------------------

def _yes_no(v: Any) -> str | None:
    if v is None or _is_missing(v):
        return None
    return "Yes" if bool(v) else "No"


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and not math.isfinite(v):
        return True
    try:
        return bool(pd.isna(v)) if not isinstance(v, (str, bytes, list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def _plain(v: Any) -> Any:
    """Lists and dicts from the model shown as readable text; scalars unchanged."""
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, (list, tuple)):
        return "; ".join(str(_plain(x)) for x in v)
    return v


def _auto_kind(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "bool"
    if isinstance(v, (str, list, tuple, dict)):
        return "text"
    return "general"


def _pct_label(q: Any) -> str:
    try:
        return f"{float(q) * 100:g}th"
    except (TypeError, ValueError):
        return str(q)


def _effect_format(v: float) -> str:
    """A number format showing ``v`` to three significant digits (the stored value stays exact)."""
    a = abs(v)
    if a == 0:
        return "0"
    if a < 1e-4 or a >= 1e12:
        return _FMT_SCI
    decimals = max(0, 2 - math.floor(math.log10(a)))
    if decimals and round(a, decimals) >= 10 ** (3 - decimals):  # e.g. 0.09996 shows as 0.100
        decimals -= 1
    return "#,##0." + "0" * decimals if decimals else "#,##0"


def _number(v: Any) -> float | int | None:
    if v is None or isinstance(v, (str, bytes)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean_text(s: str) -> str:
    s = ILLEGAL_CHARACTERS_RE.sub("", s)
    return s[:xml_rows.MAX_CELL_TEXT]


def _text_cell(ws, s: Any, *, font=None, fill=None, alignment=None) -> WriteOnlyCell:
    """A cell that always holds ``s`` as text (never a formula, error code or number)."""
    text = _clean_text(str(s))
    cell = WriteOnlyCell(ws)
    cell.value = text          # openpyxl would infer a formula for "=..." or an error for "#N/A" ...
    cell.data_type = "s"       # ... so the type is forced back to a plain string
    if text.startswith(_FORMULA_START):
        cell.quotePrefix = True  # and Excel keeps it as text even when the cell is edited
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if alignment is not None:
        cell.alignment = alignment
    return cell


def _value_cell(ws, value: Any, kind: str, *, font=None, fill=None) -> WriteOnlyCell | None:
    """One data cell, styled by ``kind``; ``None`` for an empty unstyled cell."""
    if kind == "bool" or isinstance(value, (bool, np.bool_)):
        value = _yes_no(value)
    if isinstance(value, (list, tuple, dict)):
        value = _plain(value)
    if _is_missing(value):
        if fill is None:
            return None
        cell = WriteOnlyCell(ws)
        cell.fill = fill
        return cell
    num = None if isinstance(value, str) or kind == "text" else _number(value)
    if num is None:
        alignment = _WRAP if len(str(value)) > _MAX_WIDTH else None
        return _text_cell(ws, value, font=font, fill=fill, alignment=alignment)
    cell = WriteOnlyCell(ws, num)
    if kind == "int":
        cell.number_format = _FMT_INT if float(num).is_integer() else _effect_format(num)
    elif kind == "share":
        cell.number_format = _FMT_SHARE
    elif kind == "effect":
        cell.number_format = _effect_format(num)
    elif kind == "p":
        cell.number_format = _FMT_P
    elif kind == "money":
        cell.number_format = _FMT_MONEY_WHOLE if float(num).is_integer() else _FMT_MONEY
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    return cell


def _display_len(value: Any, kind: str) -> int:
    """Rough width, in characters, of a value as displayed."""
    if kind == "bool":
        return 3
    if value is None:
        return 0
    if isinstance(value, (list, tuple, dict)):
        value = _plain(value)
    if isinstance(value, str):
        return max((len(line) for line in value.splitlines()), default=0)
    num = _number(value)
    if num is None:
        return len(str(value))
    if kind == "share":
        return len(f"{num:.1%}")
    if kind == "p":
        return len(f"{num:.4f}")
    if kind in ("int", "money"):
        return len(f"{num:,.2f}") if not float(num).is_integer() else len(f"{num:,.0f}")
    if kind == "effect":
        return min(12, len(f"{num:,.3g}") + 2)
    return min(15, len(str(value)))


def _safe_table_name(name: str, used: set[str]) -> str:
    base = re.sub(r"_+", "_", "".join(ch if ch.isalnum() else "_" for ch in name)).strip("_") or "Table"
    if not base[0].isalpha():
        base = "T_" + base
    base = base[:200]
    candidate, k = base, 2
    while candidate.lower() in used or _looks_like_reference(candidate):
        candidate = f"{base}_{k}"
        k += 1
    used.add(candidate.lower())
    return candidate


def _looks_like_reference(name: str) -> bool:
    # Table names must not look like cell references (e.g. "AB12" or "R1C1").
    return bool(re.fullmatch(r"[A-Za-z]{1,3}\d+", name)) or name.upper() in ("R", "C")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _write_sheet(ws, spec: SheetSpec, table_names: set[str]) -> None:
    # Widths must be set before the first row is streamed.
    widths: dict[int, int] = {}
    for table in spec.tables():
        for j, col in enumerate(table.columns, 1):
            w = len(col.title) + 3  # room for the filter button
            for row in table.rows:
                kind = row.get("_kind", "general") if col.kind == "row" else col.kind
                w = max(w, _display_len(row.get(col.key), kind) + 1)
            widths[j] = max(widths.get(j, _MIN_WIDTH), w)
    for j, w in widths.items():
        ws.column_dimensions[get_column_letter(j)].width = min(_MAX_WIDTH, max(_MIN_WIDTH, w))

    ws.freeze_panes = "A2"  # the header row of the sheet's first table (on Summary: the title)
    row_idx = 0
    first_table = True
    for block in spec.blocks:
        if isinstance(block, TextBlock):
            row_idx += 1
            if not block.text:
                ws.append([])
                continue
            font = {"title": _TITLE_FONT, "section": _SECTION_FONT}.get(block.style)
            ws.append([_text_cell(ws, block.text, font=font)])
            continue
        header_row = row_idx + 1
        ws.append([_text_cell(ws, col.title, font=_BOLD) for col in block.columns])
        row_idx += 1
        rows = block.rows
        if not rows:
            ws.append([_text_cell(ws, block.empty_message)])
            row_idx += 1
        for row in rows:
            fill = font = None
            if block.fill_by and row.get(block.fill_by) in _FILLS:
                fill, font = _FILLS[row[block.fill_by]]
            cells = []
            for col in block.columns:
                kind = row.get("_kind", "general") if col.kind == "row" else col.kind
                cells.append(_value_cell(ws, row.get(col.key), kind, font=font, fill=fill))
            ws.append(cells)
            row_idx += 1
        ref = f"A{header_row}:{get_column_letter(len(block.columns))}{row_idx}"
        if first_table:
            ws.auto_filter.ref = ref
            first_table = False
        else:
            table = Table(displayName=_safe_table_name(f"{spec.name}_{block.name}", table_names), ref=ref)
            table.tableColumns = [TableColumn(id=j, name=col.title) for j, col in enumerate(block.columns, 1)]
            table.autoFilter = AutoFilter(ref=ref)  # without it Excel hides the table's filter buttons
            with warnings.catch_warnings():  # "add table columns manually": done just above
                warnings.simplefilter("ignore", UserWarning)
                ws.add_table(table)
        if spec.name == "Budget curve" and block.name == "Budget curve" and rows:
            _add_curve_chart(ws, header_row, row_idx, block.columns)


def _add_curve_chart(ws, header_row: int, last_row: int, columns: list[Col]) -> None:
    keys = [c.key for c in columns]
    chart = LineChart()
    chart.title = "Gain per person over treating no one, by budget (positive = better)"
    chart.y_axis.title = "Gain per person"
    chart.x_axis.title = "Budget (share of the cost of treating everyone)"
    chart.height, chart.width = 9, 18
    for key, title in (("tree_gain", "Policy tree"), ("ranking_gain", "Ranking by estimated effect"),
                       ("random_gain", "Random selection")):
        col = keys.index(key) + 1
        ref = Reference(ws, min_col=col, min_row=header_row + 1, max_row=last_row)
        series = Series(ref, title=title)
        series.smooth = False
        chart.series.append(series)
    cats = Reference(ws, min_col=keys.index("budget_share") + 1, min_row=header_row + 1, max_row=last_row)
    chart.set_categories(cats)
    chart.x_axis.number_format = "0%"
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    ws.add_chart(chart, f"{get_column_letter(len(columns) + 2)}{header_row}")


def _individual_columns(frame: pd.DataFrame) -> list[Col]:
    cols = []
    for j, name in enumerate(frame.columns):
        key = str(name)
        dtype = frame.iloc[:, j].dtype
        if key == "treat" or pd.api.types.is_bool_dtype(dtype):
            kind = "bool"
        elif key in ("row", "id") and pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            kind = "general"
        elif pd.api.types.is_float_dtype(dtype):
            kind = "effect"
        else:
            kind = "text"
        definition = _DEFS.get(key) if key in ("row", "id", "cate", "cate_low", "cate_high", "treat", "leaf") \
            else "Column of the individuals table, as computed by the pipeline."
        if key == "treat":
            definition = "Yes if the recommended policy (the tree) treats this person."
        if key == "leaf":
            definition = "The policy-tree leaf the person falls in (see the Policy sheet)."
        cols.append(Col(key, kind, header=key, definition=definition))
    return cols


def _start_individuals(ws, frame: pd.DataFrame, columns: list[Col], max_people: int) -> Iterator[memoryview]:
    """Lay out the Individuals sheet and return the XML of its data rows, block by block.

    openpyxl writes the sheet's widths, frozen header, filter and header row, and the styles its
    cells use are registered here, before the workbook is saved; the data rows themselves are
    built in bulk for ``xml_rows.insert_rows`` (a cell object per value takes minutes for a
    million people).
    """
    n = min(len(frame), max_people)
    widths = []
    head = frame.head(2000)
    for j, col in enumerate(columns):
        w = len(col.title) + 3
        if col.kind == "text":
            lens = head.iloc[:, j].astype(str).str.len()
            w = max(w, int(lens.max()) + 1 if len(lens) else w)
        elif col.kind == "effect":
            w = max(w, 11)
        elif col.kind == "general":
            w = max(w, len(str(n)) + 2)
        widths.append(min(_MAX_WIDTH, max(_MIN_WIDTH, w)))
    for j, w in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(j)].width = w
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(max(1, len(columns)))}{n + 1}"
    ws.append([_text_cell(ws, c.title, font=_BOLD) for c in columns])
    effect_styles = np.array([_style_id(ws, number_format=fmt) for fmt in _EFFECT_FORMATS])
    quote_style = _style_id(ws, quotePrefix=True)  # the style _text_cell gives formula-like text
    return _individual_rows(frame, columns, n, effect_styles, quote_style)


def _individual_rows(frame: pd.DataFrame, columns: list[Col], n: int, effect_styles: np.ndarray,
                     quote_style: int) -> Iterator[memoryview]:
    letters = [get_column_letter(j) for j in range(1, len(columns) + 1)]
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        rows = xml_rows.int_text(np.arange(start + 2, stop + 2))  # row 1 is the header
        cells = [_individual_cells(frame.iloc[start:stop, j], col.kind, letter, rows, effect_styles, quote_style)
                 for j, (col, letter) in enumerate(zip(columns, letters))]
        yield xml_rows.rows_xml(rows, cells)


def _individual_cells(values: pd.Series, kind: str, letter: str, rows: pa.Array, effect_styles: np.ndarray,
                      quote_style: int) -> pa.Array:
    """Cell XML of one column of a block of people, by the per-value rules of the other sheets.

    Floats (kind ``effect``) are numbers shown to three significant digits; ``bool`` columns are
    Yes/No text; ``general`` numbers are plain numbers; strings are text (quote-prefixed when they
    look like a formula). Missing and non-finite values are empty cells.
    """
    dtype = values.dtype
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype)
    if kind == "effect":
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        styles = effect_styles[_effect_format_codes(v)]
        return xml_rows.number_cells(letter, rows, xml_rows.float_text(v), styles)
    if kind == "bool" and numeric:
        v = values.to_numpy(dtype=np.float64, na_value=np.nan)
        yes = pa.array(v != 0, mask=~np.isfinite(v))
        return xml_rows.text_cells(letter, rows, pc.if_else(yes, "Yes", "No"))
    if kind == "general" and numeric:
        if pd.api.types.is_integer_dtype(dtype):
            numbers = xml_rows.int_text(_arrow(values))
        else:
            numbers = xml_rows.float_text(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return xml_rows.number_cells(letter, rows, numbers)
    text = _arrow_text(values) if kind == "text" else None
    if text is not None:
        return xml_rows.text_cells(letter, rows, text, quote_style=quote_style, quote_starts=_FORMULA_START)
    # Mixed or unusual types: the value-by-value rules, a Python loop over this column only.
    convert = _bool_text if kind == "bool" else _loose_value
    loose = [convert(v) for v in values.tolist()]
    numbers = pa.array([None if x is None or isinstance(x, str) else repr(x) for x in loose], pa.large_string())
    text = pa.array([x if isinstance(x, str) else None for x in loose], pa.large_string())
    return pc.coalesce(xml_rows.number_cells(letter, rows, numbers),
                       xml_rows.text_cells(letter, rows, text, quote_style=quote_style,
                                              quote_starts=_FORMULA_START))


def _arrow_text(values: pd.Series) -> pa.Array | None:
    """The column as Arrow strings (missing values null) if it holds only strings, else None."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if isinstance(values.dtype, pd.StringDtype):
        return _arrow(values.array, pa.large_string())
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return _arrow(values.to_numpy(), pa.large_string())
    return None


def _arrow(values: Any, type: pa.DataType | None = None) -> pa.Array:
    """Values as one contiguous Arrow array (missing values null); Arrow-backed columns may come in chunks."""
    arr = pa.array(values, type=type, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _bool_text(v: Any) -> str | None:
    if v is None or _is_missing(v):
        return None
    return "Yes" if bool(v) else "No"


def _loose_value(v: Any) -> Any:
    """A value of a mixed-type column as its cell holds it: None (empty), a number or text."""
    if _is_missing(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return "Yes" if v else "No"
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    return str(v)


def _style_id(ws, **style: Any) -> int:
    """Register a cell style in the workbook (as openpyxl does for a styled cell) and return its id."""
    cell = WriteOnlyCell(ws)
    for name, value in style.items():
        setattr(cell, name, value)
    return cell.style_id


# Every format _effect_format can return; _effect_format_codes indexes this tuple.
_EFFECT_FORMATS = ("0", _FMT_SCI) + tuple("#,##0" + ("." + "0" * d if d else "") for d in range(8))


@functools.cache
def _effect_cutoffs() -> tuple[np.ndarray, np.ndarray]:
    """The exact thresholds of ``_effect_format``, found with the same ``math`` and ``round`` calls.

    ``edges[i]`` is the smallest double whose ``floor(log10(.))`` is ``i - 4`` or more (i = 0..6),
    and ``cuts[d]`` (d = 1..7) the smallest double that ``round(., d)`` takes to ``10 ** (3 - d)``
    or more, so it shows one decimal fewer. A few ulps of search around the decimal boundary find
    them, so the vectorised format agrees with ``_effect_format`` for every double.
    """
    def smallest(holds: Callable[[float], bool], x: float) -> float:
        while holds(x):
            x = math.nextafter(x, -math.inf)
        while not holds(x):
            x = math.nextafter(x, math.inf)
        return x

    edges = [smallest(lambda x, k=k: math.floor(math.log10(x)) >= k, 10.0 ** k) for k in range(-4, 3)]
    cuts = [math.inf] + [smallest(lambda x, d=d: round(x, d) >= 10 ** (3 - d), 10.0 ** (3 - d) - 0.5 * 10.0 ** -d)
                         for d in range(1, 8)]
    return np.array(edges), np.array(cuts)


def _effect_format_codes(values: np.ndarray) -> np.ndarray:
    """For each finite value, the index in ``_EFFECT_FORMATS`` of ``_effect_format(value)``."""
    edges, cuts = _effect_cutoffs()
    a = np.abs(values)
    decimals = np.maximum(0, 7 - np.searchsorted(edges, a, side="right"))  # 2 - floor(log10(a)), at least 0
    decimals -= (decimals > 0) & (a >= cuts[decimals])
    codes = 2 + decimals
    codes[(a < 1e-4) | (a >= 1e12)] = 1
    codes[a == 0] = 0
    return codes
