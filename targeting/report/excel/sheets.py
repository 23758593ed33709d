"""What the pack's sheets hold: their tables, columns and rows, laid out from the report dict.

Pure layout of report fields, no statistic is computed. Keys that every report has are indexed
strictly (``d["key"]``), so a report that lacks one fails loudly instead of showing blank cells;
only what is genuinely optional (``diagnostics.truth``) is looked up leniently.
"""

from __future__ import annotations

from typing import Any, Sequence

from targeting.format import fmt_int, fmt_value
from targeting.model import glossary
from targeting.model.narrative import VERDICT_WORDS, expression_words, shown_flag
from targeting.report.excel.cells import auto_kind, plain, yes_no
from targeting.report.excel.layout import Col, LineChartSpec, SheetSpec, TableBlock, TextBlock

__all__ = ["SHEET_NAMES", "INDIVIDUALS", "report_sheets", "notes_sheet"]

#: Sheet names, in workbook order.
SHEET_NAMES = (
    "Summary", "Policy", "Values", "Budget curve", "Subgroups", "Harmed", "Risk strata", "Balance",
    "Diagnostics", "Effect drivers", "Individuals", "Settings & provenance", "Notes",
)
#: The sheet of one row per person, written in bulk (see ``individuals``).
INDIVIDUALS = "Individuals"

_NOTES_COLS = [Col("sheet"), Col("table"), Col("column"), Col("source"), Col("definition")]
_FORMATS_NOTE = ("Numbers are stored exactly as in report.json and only displayed rounded, one format per column: "
                 "shares as percent, effects to three significant digits of the column's typical value, p-values "
                 "to four decimals. Effects are on the outcome's own scale (for a 0/1 outcome, 0.012 is 1.2 "
                 "percentage points). Intervals are 95%. Empty cells mean the value is not available.")


def report_sheets(report: dict, cap_note: str | None) -> dict[str, SheetSpec]:
    """The sheets laid out from the report, by name, in workbook order (all but Individuals and Notes).

    Parameters
    ----------
    report : dict
        The report model as plain data (``ReportModel.to_dict()``).
    cap_note : str or None
        Why the Individuals sheet is cut short, if it is; shown on the Summary sheet.

    Returns
    -------
    dict of str to SheetSpec

    Raises
    ------
    KeyError
        If the report lacks a key every report has.
    """
    family = Col("family", definition=glossary.family_definition(report["harm_summary"]["family_labels"]))
    specs = [_summary_sheet(report, cap_note), _policy_sheet(report), _values_sheet(report), _curve_sheet(report),
             _subgroups_sheet(report, family), _harmed_sheet(report, family), _risk_sheet(report),
             _balance_sheet(report), _diagnostics_sheet(report), _drivers_sheet(report), _settings_sheet(report)]
    return {s.name: s for s in specs}


def notes_sheet(tables: Sequence[tuple[str, str, list[Col]]], cap_note: str | None) -> SheetSpec:
    """The Notes sheet: the definition of every column of ``tables`` (sheet, table, columns), in order."""
    rows = []
    if cap_note:
        rows.append(_note(INDIVIDUALS, INDIVIDUALS, "(all)", "", cap_note))
    for sheet, table, columns in [*tables, ("Notes", "Column definitions", _NOTES_COLS)]:
        rows += [_note(sheet, table, col.title, col.json_name, col.meaning) for col in columns]
    rows.append(_note("(all)", "(all)", "(formats)", "", _FORMATS_NOTE))
    s = SheetSpec("Notes")
    s.blocks.append(TableBlock("Column definitions", list(_NOTES_COLS), rows))
    return s


def _note(sheet: str, table: str, column: str, source: str, definition: str) -> dict[str, str]:
    return {"sheet": sheet, "table": table, "column": column, "source": source, "definition": definition}


def _kv(item: str, value: Any, kind: str = "general") -> dict[str, Any]:
    """A row of an item/value table; ``kind`` formats the value."""
    return {"item": item, "value": value, "_kind": kind}


def _money(label: str, report: dict) -> str:
    """A header or item naming an amount of money, with the configured currency (``Total cost (EUR)``)."""
    currency = report["config"].get("currency")
    return f"{label} ({currency})" if currency else label


def _kv_table(name: str, rows: list[dict[str, Any]]) -> TableBlock:
    return TableBlock(name, [Col("item"), Col("value", "row")], rows)


# The comparison of the targeted policy with each alternative, on the Summary and the Values sheets.
_COMPARISON_COLS = [
    Col("difference", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
    Col("per_1000", "effect"), Col("per_1000_low", "effect"), Col("per_1000_high", "effect"),
    Col("p_value", "p"), Col("sentence"),
]


def _summary_sheet(report: dict, cap_note: str | None) -> SheetSpec:
    s = SheetSpec("Summary", wrap_text=True)
    s.blocks.append(TextBlock(report["title"], "title"))
    s.blocks += [TextBlock(sentence) for sentence in report["summary"]]
    s.blocks.append(TextBlock("Targeting supported by the evidence: " + yes_no(report["targeting_supported"])))
    s.blocks.append(TextBlock(report["recommendation"]["reason"]))
    if cap_note:
        s.blocks.append(TextBlock(cap_note))

    s.section("Headline comparisons: the targeted policy versus the alternatives (positive = better)")
    s.blocks.append(TableBlock("Headline comparisons",
                               [Col("label", definition=glossary.COLUMNS["versus"]), *_COMPARISON_COLS],
                               list(report["comparisons"].values())))

    hs = report["harm_summary"]
    labels = hs["family_labels"]
    s.section("Harm summary")
    s.blocks.append(_kv_table("Harm summary", [
        _kv("Groups tested", hs["groups_tested"], "int"),
        _kv("Groups with clear evidence of harm", len(hs["harmed"]), "int"),
        _kv("Harmed groups", plain(hs["harmed"]) or "None found", "text"),
        _kv("Groups whose estimate points to harm (not conclusive)", len(hs["possibly_harmed"]), "int"),
        _kv("Possibly harmed groups", plain(hs["possibly_harmed"]) or "None", "text"),
        _kv("Share of individuals estimated harmed", hs["share_individuals_harmed"], "share"),
        _kv("  95% CI low", hs["share_individuals_harmed_low"], "share"),
        _kv("  95% CI high", hs["share_individuals_harmed_high"], "share"),
        _kv("Families tested", "; ".join(labels[f] for f in hs["families"]), "text"),
        _kv("Method", hs["method"], "text"),
    ]))
    return s


def _policy_sheet(report: dict) -> SheetSpec:
    pol = report["policy"]
    s = SheetSpec("Policy")
    s.blocks.append(TableBlock("Policy rules (one row per leaf)", [
        Col("leaf"), Col("rule"), Col("query"), Col("treat", "bool"), Col("n", "int"), Col("share", "share"),
        Col("cost", "money", header=_money(glossary.header("cost"), report)), Col("effect", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("n_estimated", "int"),
    ], pol["rules"]))

    budget = pol["budget"]
    s.section("Headline rule and budget")
    s.blocks.append(_kv_table("Headline rule and budget", [
        _kv("Headline rule", pol["headline_rule"], "text"),
        _kv("Budget", budget["description"], "text"),
        _kv("Budget kind", budget["kind"], "text"),
        _kv("Budget value" if budget["kind"] != "money" else _money("Budget value", report), budget["value"],
            "share" if budget["kind"] == "share" else "money"),
        _kv(_money("Budget in cost units", report), budget["cost_units"], "money"),
        _kv("Cost source", budget["cost_source"] or "1 per person (no cost column)", "text"),
        _kv("People treated by the rule", pol["treated_n"], "int"),
        _kv("Share treated by the rule", pol["treated_share"], "share"),
        _kv(_money("Total cost of the rule", report), pol["total_cost"], "money"),
        _kv("People treated by the rule who are in groups flagged harmed", pol["treated_in_harmed"], "int"),
        _kv("Share of each arm that learned the rule", pol["learn_share"], "share"),
        _kv("People who learned the rule", pol["learn_n"], "int"),
        _kv("People on whom every number about the rule is estimated", pol["estimate_n"], "int"),
        _kv("Tree depth", pol["depth"], "int"),
        _kv("Search", pol["search"], "text"),
        _kv("Minimum people per leaf", pol["min_leaf"], "int"),
        _kv("Stability (share of trees learned on subsets splitting first on the same covariate)",
            pol["stability"], "share"),
        _kv("First split of the trees learned on subsets", plain(pol["fold_root_features"]), "text"),
    ]))
    safer = pol["safer"]
    if safer is not None:
        s.section("Safer alternative: the best rule under the same budget treating no one in a harmed group")
        s.blocks.append(_kv_table("Safer alternative", [
            _kv("Rule", safer["headline_rule"], "text"),
            _kv("Preferred over the drawn rule (gives up no clear value)", safer["preferred"], "bool"),
            _kv("People treated", safer["treated_n"], "int"),
            _kv("Share treated", safer["treated_share"], "share"),
            _kv(_money("Total cost", report), safer["total_cost"], "money"),
            _kv("Mean outcome per person", safer["value"]["mean_outcome"], "effect"),
            _kv("Value given up per person (drawn rule minus this one, positive = drawn rule better)",
                safer["given_up"]["estimate"], "effect"),
            _kv("  95% CI low", safer["given_up"]["ci_low"], "effect"),
            _kv("  95% CI high", safer["given_up"]["ci_high"], "effect"),
        ]))
    return s


def _values_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Values")
    s.blocks.append(TableBlock("Policy values", [
        Col("policy"), Col("label"), Col("mean_outcome", "effect"), Col("ci_low", "effect"),
        Col("ci_high", "effect"), Col("treated_share", "share"), Col("treated_n", "int"),
        Col("total_cost", "money", header=_money(glossary.header("total_cost"), report)),
    ], [dict(v, policy=k) for k, v in report["values"].items()]))
    s.section("Comparisons: targeted policy minus each alternative (positive = better)")
    s.blocks.append(TableBlock("Comparisons", [
        Col("versus"), Col("label", definition="The policy the targeted policy is compared with, in words."),
        *_COMPARISON_COLS,
    ], list(report["comparisons"].values())))
    return s


def _curve_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Budget curve")
    chart = LineChartSpec(
        title="Gain per person over treating no one, by budget (positive = better)",
        x_title="Budget: the most that may be treated (share of the cost of treating everyone)",
        y_title="Gain per person", x_key="budget_share", x_format="0%",
        series=(("tree_gain", "Best readable rule"), ("tree_low", "Rule: 95% interval low"),
                ("tree_high", "Rule: 95% interval high"), ("ranking_gain", "Ranking by estimated effect"),
                ("random_gain", "Random selection as large as the rule")))
    s.blocks.append(TableBlock("Budget curve", [
        Col("budget_share", "share"), Col("tree_gain", "effect"), Col("tree_low", "effect"),
        Col("tree_high", "effect"), Col("ranking_gain", "effect"), Col("ranking_low", "effect"),
        Col("ranking_high", "effect"), Col("random_gain", "effect"),
    ], report["budget_curve"], chart=chart))
    return s


def _subgroup_columns(family: Col) -> list[Col]:
    return [
        family, Col("name"), Col("query"), Col("query_on"), Col("n", "int"), Col("share", "share"),
        Col("n_estimated", "int"), Col("effect", "effect"),
        Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("p_value", "p", definition="One-sided p-value of the test that the group is harmed (small = evidence "
                                       "of harm), before adjustment for multiple testing."),
        Col("p_adjusted", "p"), Col("verdict", header="Verdict", source="flag (in words)",
                                    definition=_VERDICT_DEFINITION),
        Col("flag"), Col("shrunk_effect", "effect"), Col("exploratory", "bool"),
    ]


_VERDICT_DEFINITION = ("The group's verdict in words: HARMED = clear evidence of harm after adjustment for "
                       "multiple testing (red); possibly harmed = harm below 5% before adjustment, not after "
                       "(amber); benefits = the 95% interval excludes harm and no effect (green); no clear "
                       "effect = none of these, including an estimate merely on the harmful side of zero.")


def _with_verdict(groups: list[dict]) -> list[dict]:
    """Subgroup rows with their verdict in words, the flag their colour shows (see ``shown_flag``), and
    a pre-specified group named in words (its expression stays in the query column)."""
    return [dict(g, name=expression_words(g["name"]) if g["family"] == "prespecified" else g["name"],
                 verdict=VERDICT_WORDS[shown_flag(g)], _shown=shown_flag(g)) for g in groups]


def _subgroups_sheet(report: dict, family: Col) -> SheetSpec:
    s = SheetSpec("Subgroups")
    s.blocks.append(TableBlock("Subgroups", _subgroup_columns(family), _with_verdict(report["subgroups"]),
                               fill_by="_shown"))
    return s


def _harmed_sheet(report: dict, family: Col) -> SheetSpec:
    s = SheetSpec("Harmed")
    harmed = [g for g in report["subgroups"] if g["flag"] == "harmed"]
    message = (f"No group was found to be harmed ({fmt_int(report['harm_summary']['groups_tested'])} groups tested, "
               f"with multiplicity control across all of them).")
    s.blocks.append(TableBlock("Harmed groups", _subgroup_columns(family), _with_verdict(harmed), fill_by="_shown",
                               empty_message=message))
    return s


def _risk_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Risk strata")
    s.blocks.append(TableBlock("Baseline-risk strata", [
        Col("name", definition="Quintile of predicted outcome without treatment (baseline risk), Q1 = lowest."),
        Col("query", definition="Selects the stratum's people in individuals.csv / the Individuals sheet."),
        Col("n", "int"), Col("mean_risk", "effect"), Col("effect", "effect"), Col("ci_low", "effect"),
        Col("ci_high", "effect"), Col("cate_mean", "effect"), Col("cate_sd", "effect"),
    ], report["risk_strata"]))
    return s


def _balance_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Balance")
    s.blocks.append(TableBlock("Balance of covariates by arm", [
        Col("covariate"), Col("level"), Col("control"), Col("treated"), Col("smd", "effect"),
        Col("p_value", "p", definition="p-value of the test of no difference between arms."),
    ], report["diagnostics"]["balance"]))
    return s


def _percentile(q: float) -> str:
    """``0.05`` -> ``5th``."""
    return fmt_value(q * 100) + "th"


def _drivers_sheet(report: dict) -> SheetSpec:
    d = report["diagnostics"]
    s = SheetSpec("Effect drivers")
    s.blocks.append(TableBlock("Best linear projection of the effect", [
        Col("term", definition="Covariate (or covariate=level for a category, against its first level)."),
        Col("per", "general", definition="The change the coefficient is for: one standard deviation of a numeric "
                                         "covariate, 1 for a category level."),
        Col("coefficient", "effect", definition="Change in the average effect (outcome scale) per 'per', the other "
                                                "covariates held fixed (doubly robust scores regressed on the "
                                                "covariates)."),
        Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("p_value", "p", definition="Two-sided p-value (robust HC1 standard error) of no change."),
    ], d["projection"]))
    rows = [dict(b, covariate=c["covariate"]) for c in d["effect_by_covariate"] for b in c["bins"]]
    s.section("Effect across each covariate (fifths of a numeric covariate, levels of a category)")
    s.blocks.append(TableBlock("Effect by covariate", [
        Col("covariate", definition="The covariate."),
        Col("label", header="Fifth or level", definition="The fifth's range or the level."),
        Col("n", "int"), Col("effect", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("predicted", "effect", definition="Mean predicted individual effect (held out) of the people in the bin."),
    ], rows))
    return s


def _diagnostics_sheet(report: dict) -> SheetSpec:
    d = report["diagnostics"]
    s = SheetSpec("Diagnostics")
    s.blocks.append(TableBlock("Estimator scores", [
        Col("name", definition="Short name of the CATE estimator."), Col("label"), Col("dr_loss", "effect"),
        Col("loss_vs_constant", "effect"), Col("loss_vs_constant_se", "effect"),
        Col("loss_vs_selected", "effect", definition="This candidate's held-out loss minus the selected one's, person by "
                                                     "person on the same rows (paired; positive = worse)."),
        Col("loss_vs_selected_se", "effect", definition="Standard error of the paired difference to its left."),
        Col("stack_weight", "share", definition="The candidate's weight in the stacked ensemble."),
        Col("correlation_with_truth", "effect"), Col("selected", "bool"),
    ], d["estimator_scores"]))
    s.section("The selected model's loss is within noise of the runner-up's (95%): "
              + yes_no(d["selection_within_noise"]))

    s.section("Average effect (everyone, doubly robust)")
    s.blocks.append(TableBlock("Average effect", [
        Col("estimate", "effect", definition="Average effect of the treatment in everyone (treated minus "
                                             "untreated, on the outcome's scale)."),
        Col("ci_low", "effect"), Col("ci_high", "effect"), Col("se", "effect"),
    ], [d["ate"]]))

    # Without variation in the estimated effects there is no regression, hence no intercept.
    cal = d["calibration"]
    s.section("Calibration (best linear predictor test of heterogeneity)")
    s.blocks.append(TableBlock("Calibration", [
        Col("slope", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("p_value", "p", definition="One-sided p-value of the test that the slope is above 0."),
        Col("mean_effect", "effect"), Col("detected", "bool"), Col("verdict"),
    ], [cal]))

    s.section("GATES: effect by quintile of estimated benefit (held out)")
    s.blocks.append(TableBlock("GATES", [
        Col("group"), Col("n", "int"), Col("predicted", "effect"),
        Col("effect", "effect", definition="Doubly robust average effect in the group (treated minus untreated)."),
        Col("ci_low", "effect"), Col("ci_high", "effect"),
    ], d["gates"]))

    rate = d["rate"]
    s.section("RATE: rank-weighted average treatment effect")
    s.blocks.append(TableBlock("RATE", [
        Col("measure"), Col("estimate", "effect"), Col("ci_low", "effect"), Col("ci_high", "effect"),
        Col("bootstrap", "int"),
    ], [{"measure": label, "estimate": rate[key], "ci_low": rate[f"{key}_low"], "ci_high": rate[f"{key}_high"],
         "bootstrap": rate["bootstrap"]} for label, key in (("AUTOC", "autoc"), ("Qini", "qini"))]))
    s.blocks.append(_kv_table("Cross-fitting", [
        _kv("Standard errors of calibration, GATES and RATE multiplied by (1.414 when the effect models were "
            "fitted out of fold among the people judged, which makes the naive errors too small; 1 when they were "
            "judged on people no effect model saw)", d["heterogeneity_se_factor"], "general"),
    ]))

    ov = d["overlap"]
    low, high = ov["bounds"]
    s.section("Overlap (probability of treatment)")
    quantile_names = {0.0: "minimum", 1.0: "maximum", 0.5: "median"}
    s.blocks.append(_kv_table("Overlap", [
        _kv("Probability of treatment known (randomised design)", ov["known"], "bool"),
        _kv("Overlap bounds: low", low, "share"),
        _kv("Overlap bounds: high", high, "share"),
        _kv("Share of people outside the bounds", ov["share_outside"], "share"),
        _kv("People whose probability was bounded", ov["n_bounded"], "int"),
        *(_kv(f"Probability of treatment: {quantile_names.get(q['q']) or _percentile(q['q']) + ' percentile'}",
              q["value"], "share") for q in ov["quantiles"]),
    ]))

    cs = d["cate_summary"]
    s.section("Individual effects (CATE) distribution")
    s.blocks.append(_kv_table("CATE summary", [
        _kv("Estimator used", d["estimator_label"], "text"),
        _kv("Individual intervals available", d["individual_intervals"], "bool"),
        _kv("Differences from the average shrunk to (the calibration slope, between 0.1 and 1; 1: not shrunk)",
            d["effect_shrinkage"], "share"),
        _kv("Mean individual effect", cs["mean"], "effect"),
        _kv("SD of individual effects", cs["sd"], "effect"),
        *(_kv(f"{_percentile(q['q'])} percentile of individual effects", q["value"], "effect")
          for q in cs["quantiles"]),
        _kv("Share of individuals estimated harmed", cs["share_harmed"], "share"),
        _kv("  95% CI low", cs["share_harmed_low"], "share"),
        _kv("  95% CI high", cs["share_harmed_high"], "share"),
    ]))

    truth = d["truth"]  # only when the data carry the true effects (simulations)
    if truth is not None:
        s.section("Accuracy against the known true effects (simulation)")
        s.blocks.append(_kv_table("Truth accuracy", [
            _kv("Correlation of estimated and true individual effects", truth["correlation"], "effect"),
            _kv("Root mean squared error", truth["rmse"], "effect"),
            _kv("Mean absolute error", truth["mae"], "effect"),
            _kv("True mean effect", truth["true_mean_effect"], "effect"),
            _kv("Coverage of the individual 95% intervals", truth["coverage"], "share"),
        ]))

    s.section("Findings")
    findings = [{"severity": f["severity"], "code": f["code"], "message": f["message"],
                 "values": "; ".join(f"{k} = {plain(v)}" for k, v in f["values"].items())}
                for f in report["findings"]]
    s.blocks.append(TableBlock("Findings", [Col("severity"), Col("code"), Col("message"), Col("values")],
                               findings, empty_message="No findings."))
    return s


def _settings_sheet(report: dict) -> SheetSpec:
    s = SheetSpec("Settings & provenance")
    s.blocks.append(TableBlock("Settings", [
        Col("setting"),
        Col("value", "row", definition="Effective value (empty = not set / default behaviour)."),
    ], [{"setting": k, "value": plain(v), "_kind": auto_kind(v)} for k, v in report["config"].items()]))
    rows = []
    for k, v in report["provenance"].items():
        if k == "packages":
            rows += [_kv(f"package: {pkg}", ver, "text") for pkg, ver in v.items()]
        else:
            rows.append(_kv(k, plain(v), auto_kind(v)))
    rows.append(_kv("schema_version", report["schema_version"], "text"))
    s.section("Provenance")
    s.blocks.append(_kv_table("Provenance", rows))
    return s
