"""What every column of the report's tables means, in words, for the reader of the pack (and the brief).

Plain data keyed by the column's key in the report model (``Rule.leaf``, ``Subgroup.p_adjusted``,
``CurvePoint.tree_gain`` ...), so a renderer looks a column's meaning up by the key it shows.
Where a key means something else in one table (``p_value`` of the balance table, say) the renderer
gives that table's own definition instead.

Two definitions are derived rather than written out, so they cannot drift from what the report
holds: the severities come from :class:`targeting.model.findings.Severity`, and the subgroup
families from the report's own ``harm_summary["family_labels"]`` (see :func:`family_definition`).
"""

from __future__ import annotations

from typing import Mapping

from targeting.model.findings import Severity

__all__ = ["COLUMNS", "HEADERS", "INDIVIDUAL_COLUMNS", "INDIVIDUAL_INTERVAL_COVERAGE", "INTERVALS_NOT_CALIBRATED",
           "OTHER_INDIVIDUAL_COLUMN", "SEVERITY", "family_definition", "header"]


def _one_of(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


#: The severities a finding can have, in words (``info, warning or serious``).
SEVERITY = _one_of([s.value for s in Severity]) + "."

#: Meaning of each column key of the report's tables.
COLUMNS: dict[str, str] = {
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
    "n_estimated": "People whose outcomes estimate the effect: the group's members who did not take part in "
                   "finding it (for the rule's leaves and the harm search: the estimation people; for groups fixed in "
                   "advance: everyone in the group).",
    "query_on": "Which table the query selects from: 'input' = the input's data sheet, 'individuals' = "
                "individuals.csv / the Individuals sheet (for baseline-risk strata).",
    "item": "What the value describes.",
    "value": "The value.",
    "policy": "Short key of the policy.",
    "label": "The policy or estimator in words.",
    "mean_outcome": "Expected mean outcome per person if this policy were applied to people like these "
                    "(doubly robust estimate on the estimation people, whose outcomes did not choose the rule).",
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
    "severity": SEVERITY,
    "code": "Stable code of the finding.",
    "message": "The finding in words.",
    "values": "The numbers behind the finding.",
    "setting": "Configuration setting (effective value after defaults, workbook config sheet, TOML file and "
               "command-line flags).",
    "sheet": "Sheet of this workbook.",
    "table": "Table on that sheet.",
    "column": "Column header.",
    "definition": "What the column holds.",
    "source": "The column's name in report.json (or individuals.csv), where the same numbers are stored.",
}

#: The header a reader sees for a column key of the report's tables (the Notes sheet maps each back to
#: its report.json name); a key not listed reads as itself in words (``cate_sd`` -> ``Cate sd``).
HEADERS: dict[str, str] = {
    "leaf": "Leaf (path: L/R)", "rule": "Rule", "query": "Query (pandas)", "treat": "Treated", "n": "People",
    "share": "Share of people", "cost": "Cost", "effect": "Effect", "ci_low": "95% interval: low",
    "ci_high": "95% interval: high", "n_estimated": "People estimating it", "query_on": "Query selects from",
    "item": "Item", "value": "Value", "policy": "Policy (key)", "label": "Policy", "mean_outcome": "Mean outcome",
    "treated_share": "Share treated", "treated_n": "People treated", "total_cost": "Total cost",
    "versus": "Compared with (key)", "difference": "Rule better by", "per_1000": "Rule better by, per 1,000",
    "per_1000_low": "Per 1,000: low", "per_1000_high": "Per 1,000: high", "p_value": "p",
    "sentence": "In words", "budget_share": "Budget (share of cost)", "tree_gain": "Rule: gain",
    "tree_low": "Rule: low", "tree_high": "Rule: high", "ranking_gain": "Ranking: gain",
    "ranking_low": "Ranking: low", "ranking_high": "Ranking: high", "random_gain": "Random: gain",
    "name": "Group", "p_adjusted": "Adjusted p (harm)", "shrunk_effect": "Effect pulled to the average",
    "flag": "Verdict (code)", "exploratory": "Exploratory", "family": "Family",
    "mean_risk": "Mean predicted outcome untreated", "cate_mean": "Mean individual effect",
    "cate_sd": "SD of individual effects", "covariate": "Covariate", "level": "Level", "control": "Control",
    "treated": "Treated arm", "smd": "Standardised difference", "dr_loss": "Held-out loss",
    "loss_vs_constant": "Loss vs one effect for all", "loss_vs_constant_se": "Its standard error",
    "correlation_with_truth": "Correlation with true effects", "selected": "Selected", "estimate": "Estimate",
    "se": "Standard error", "slope": "Slope", "mean_effect": "Average benefit", "detected": "Detected",
    "verdict": "Verdict", "group": "Fifth of predicted benefit", "predicted": "Predicted effect",
    "measure": "Measure", "bootstrap": "Bootstrap samples", "severity": "Severity", "code": "Code",
    "message": "Finding", "values": "Numbers behind it", "setting": "Setting", "sheet": "Sheet",
    "table": "Table", "column": "Column", "definition": "Definition", "source": "report.json name",
}


def header(key: str) -> str:
    """The header a reader sees for the column ``key``."""
    return HEADERS.get(key) or key.replace("_", " ").capitalize()


#: Share of people whose true effect lay inside their individual 95% interval, lowest and highest
#: mean over the simulations of bench/null_size.py (bleeding trial, financial literacy, CATE lesson).
INDIVIDUAL_INTERVAL_COVERAGE = {"causal_forest": (0.40, 0.78), "dr": (0.41, 0.94)}
#: What those intervals are worth, in words (the pack's column notes and the findings).
INTERVALS_NOT_CALIBRATED = (
    "These per-person intervals are not calibrated: in our simulations the causal forest's held the true effect "
    "for {:.0%} to {:.0%} of people and the linear doubly robust learner's for {:.0%} to {:.0%}, not 95%".format(
        *INDIVIDUAL_INTERVAL_COVERAGE["causal_forest"], *INDIVIDUAL_INTERVAL_COVERAGE["dr"]))

#: Meaning of each column of the per-person table (``individuals.csv``, the pack's Individuals sheet).
INDIVIDUAL_COLUMNS: dict[str, str] = {
    "row": "Row number of the person in the input data sheet.",
    "id": "The person's identifier from the input.",
    "cate": "Estimated individual effect (CATE) of the treatment for this person, on the outcome's scale "
            "(treated minus untreated), estimated out of fold.",
    "cate_low": "Lower end of the person's nominal 95% interval (empty when the estimator gives no individual "
                "intervals). " + INTERVALS_NOT_CALIBRATED + ".",
    "cate_high": "Upper end of the person's nominal 95% interval (empty when the estimator gives no individual "
                 "intervals). " + INTERVALS_NOT_CALIBRATED + ".",
    "treat": "Yes if the recommended policy (the tree) treats this person.",
    "leaf": "The policy-tree leaf the person falls in (see the Policy sheet).",
    "baseline_risk_fifth": "Fifth of predicted outcome without treatment (baseline risk), 1 = lowest; the "
                           "baseline-risk strata's queries select on this column.",
}

#: Meaning of any other column of the per-person table.
OTHER_INDIVIDUAL_COLUMN = "Column of the individuals table, as computed by the pipeline."


def family_definition(family_labels: Mapping[str, str]) -> str:
    """Meaning of a subgroup's ``family``: every family the report knows, with its label.

    Parameters
    ----------
    family_labels : mapping of str to str
        Family key to its label in words, as in the report's ``harm_summary["family_labels"]``.

    Returns
    -------
    str
        One sentence naming each family, e.g. ``covariate = By covariate (screen)``.
    """
    families = "; ".join(f"{key} = {label}" for key, label in family_labels.items())
    return f"Family of subgroups: {families}. Multiplicity is controlled within and across families."
