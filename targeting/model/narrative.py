"""Every sentence a reader sees that is built from results: the summary, comparisons, the headline
rule, the harm method, and the findings' messages.

Compute stages return numbers; the words are made here, from those numbers, so they cannot drift
apart between the brief, the pack and report.json. Numbers inside sentences come from
:mod:`targeting.format`.
"""

from __future__ import annotations

from targeting.evaluate.diagnostics import SMD_IMBALANCE
from targeting.evaluate.subgroups import ALPHA
from targeting.format import fmt_change, fmt_change_ci, fmt_ci, fmt_money, fmt_num, fmt_per_1000
from targeting.model.findings import Code, Finding, Severity, finding
from targeting.model.glossary import INTERVALS_NOT_CALIBRATED
from targeting.model.report import BalanceRow, Calibration, Comparison, Interval, Policy, Recommendation, Subgroup

POLICY_LABELS = {
    "targeted": "Targeted (policy tree)",
    "treat_all": "Treat everyone",
    "treat_none": "Treat no one",
    "random_at_budget": "Random selection, same budget",
    "ranking": "Best ranking by estimated effect, same budget",
    "safer": "Best rule treating no one in a harmed group, same budget",
}

# How each reference reads inside a sentence ("... than treating everyone").
POLICY_PHRASES = {
    "treat_all": "treating everyone",
    "treat_none": "treating no one",
    "random_at_budget": "a random selection of the same size",
    "ranking": "the best ranking by estimated effect at the same budget",
}

# Findings that change the decision: they go on page 1, beside the recommendation (a rule treating
# harmed people is said in the harm box, an unsupported rule by the recommendation's status).
DECISION_CAVEATS = frozenset({Code.UNSTABLE_TREE.value, Code.NO_HETEROGENEITY.value, Code.WEAK_OVERLAP.value})

# The verdict on a group in words, by its shown flag (see :func:`shown_flag`).
VERDICT_WORDS = {"harmed": "⚠ HARMED", "possibly_harmed": "possibly harmed", "benefits": "benefits",
                 "leans_harmful": "no clear effect", "no_clear_effect": "no clear effect"}


def group_words(group: Subgroup) -> str:
    """A group's name for prose: a pre-specified group is named by its expression, said in words."""
    return expression_words(group.name) if group.family == "prespecified" else group.name


def shown_flag(group) -> str:
    """The flag a reader is shown: ``possibly_harmed`` only when the group's own one-sided test of
    harm is below 5% before adjustment; an estimate merely on the harmful side of zero is
    ``leans_harmful`` and is drawn like no clear effect, since the colour would say more than the
    evidence."""
    if group["flag"] != "possibly_harmed":
        return group["flag"]
    p = group["p_value"]
    return "possibly_harmed" if p is not None and p < ALPHA else "leans_harmful"


_CODE_LABELS = {True: {"1", "1.0", "true"}, False: {"0", "0.0", "false"}}


def arm_label(label: str, treated: bool) -> str:
    """An arm as a reader says it: a data label (``Placebo``) as it is, a code (``1``/``0``,
    ``True``/``False``) as ``Treated``/``Untreated``."""
    if str(label).strip().lower() in _CODE_LABELS[treated]:
        return "Treated" if treated else "Untreated"
    return str(label)


def budget_words(kind: str, value: float, description: str, currency: str | None) -> str:
    """The budget as the brief says it; a money budget carries the currency (``a total spend of €300,000``)."""
    return f"a total spend of {fmt_money(value, currency)}" if kind == "money" else description


# Fewer fold trees than this share splitting first where the drawn tree does: the rule is fragile.
STABLE_SHARE = 0.6


def outcome_words(outcome: str) -> str:
    """A column name as a reader says it (``savings_rate`` -> ``savings rate``)."""
    return outcome.replace("_", " ").strip()


def _events(outcome: str) -> str:
    """What a 0/1 outcome counts: ``bleeding events``, or plain ``events`` for a column named so."""
    words = outcome_words(outcome)
    return "events" if words.lower() in {"event", "events", "y", "outcome"} else f"{words} events"


def comparison_sentence(diff: float, low: float, high: float, versus: str, *, outcome: str, binary: bool,
                        sign: float) -> str:
    """One plain sentence in the outcome's units, e.g. "Targeting gives 17 fewer events per 1,000
    people than treating everyone (95% interval 34 fewer to 0.2 fewer)."

    ``diff`` is oriented so positive is better; the words follow the outcome's own direction.
    """
    change, lo, hi = (sign * v for v in (diff, low, high))
    lo, hi = min(lo, hi), max(lo, hi)
    clear = low > 0 or high < 0
    verdict = "" if clear else "; not distinguishable from no difference"
    if binary:
        amount = f"{fmt_per_1000(abs(change)).lstrip('+')} {'fewer' if change < 0 else 'more'} {_events(outcome)} per 1,000 people"
        ci = f"95% interval {fmt_per_1000(lo)} to {fmt_per_1000(hi)} per 1,000"
    else:
        amount = f"a mean {outcome_words(outcome)} {fmt_num(abs(change))} {'lower' if change < 0 else 'higher'} per person"
        ci = f"95% interval {fmt_ci(lo, hi)}"
    return f"Targeting gives {amount} than {POLICY_PHRASES[versus]} ({ci}{verdict})."


def headline_rule(leaves) -> str:
    """The rule in one line: "Treat if ...", "Treat everyone" or "Treat no one"."""
    treated = [leaf for leaf in leaves if leaf["treat"]]
    if not treated:
        return "Treat no one"
    if len(treated) == len(leaves):
        return "Treat everyone"
    return "Treat if " + "; or if ".join(leaf["rule"] for leaf in treated)


RISK_FIFTHS = ("lowest fifth", "second fifth", "middle fifth", "fourth fifth", "highest fifth")


def risk_group_name(k: int, low: float, high: float) -> str:
    """Name of the k-th (0-based) fifth of predicted untreated outcome; its range is in the risk table
    (``low`` and ``high`` are kept for callers, the name stays short enough for every chart)."""
    del low, high
    return f"predicted outcome untreated: {RISK_FIFTHS[k]}"


# Query operators as words, longest first so ``>=`` is read before ``>``.
_OPERATOR_WORDS = (("==", " is "), ("!=", " is not "), (">=", " at least "), ("<=", " at most "),
                   (">", " over "), ("<", " under "), (" not in ", " is not one of "), (" in ", " is one of "))


def expression_words(expression: str) -> str:
    """A subgroup expression as words for prose (``anticoagulant == 'Yes'`` -> ``anticoagulant is Yes``);
    the expression itself stays in the pack and report.json as the group's query."""
    text = expression
    for operator, words in _OPERATOR_WORDS:
        text = text.replace(operator, words)
    text = text.replace("`", "").replace("'", "").replace('"', "").replace("[", "").replace("]", "")
    return " ".join(text.split())


def harm_method(n_families: int) -> str:
    """How harm flags are controlled, in one sentence."""
    return ("One-sided test of harm per group on doubly robust scores; Holm adjustment within each family, "
            f"Bonferroni across the {n_families} families, so the chance of any false harm flag is at most "
            f"{ALPHA:.0%}.")


def summary(*, outcome: str, sign: float, ate: Interval, budget_kind: str, policy: Policy,
            comparisons: dict[str, Comparison], subgroups: list[Subgroup], supported: bool,
            calibration: Calibration, binary: bool) -> list[str]:
    """The brief's opening sentences: what to do, what it gains, and whether anyone is harmed.

    ``binary``: the outcome is 0/1, so effects read as percentage points.
    """
    sentences = []
    overall = ate.estimate
    verb = "lowers" if overall < 0 else "raises"
    size = (fmt_change(abs(overall), True).lstrip("+").replace("pp", "percentage points") if binary
            else f"{fmt_num(abs(overall))} per person")
    what = ("the share of people with " + ("an event" if _events(outcome) == "events" else f"{outcome_words(outcome)}")
            if binary else outcome_words(outcome))
    ate_words = (f"On average the treatment {verb} {what} by {size} "
                 f"(95% interval {fmt_change_ci(ate.ci_low, ate.ci_high, binary)})")
    if not supported:
        everyone = policy.budget.value >= 1 and budget_kind == "share"
        good = sign * overall > 0
        if everyone:
            advice = ("treating everyone is as good as any rule we can learn" if good
                      else "treating no one is as good as any rule we can learn")
        else:
            advice = "a random selection within the budget is as good as any rule we can learn"
        if calibration.detected:
            sentences.append(f"Effects seem to differ between people, but no rule we can learn does reliably better "
                             f"than simpler choices: {advice}. {ate_words}.")
        else:
            sentences.append(f"No reliable differences in effect found; {advice}. {ate_words}.")
    else:
        sentences.append(f"{policy.headline_rule} ({policy.treated_share:.0%} of people; "
                         f"budget {policy.budget.description}).")
        sentences.append(f"{ate_words}. " + comparisons["treat_all"].sentence)
        if policy.treated_share < 1:
            sentences.append(comparisons["random_at_budget"].sentence)
    if supported and policy.treated_in_harmed and policy.safer is not None and policy.safer.preferred:
        sentences.append(f"The rule treats {policy.treated_in_harmed:,} people in groups flagged harmed; "
                         f"{policy.safer.headline_rule} avoids them at no clear loss and is recommended instead.")
    harmed = [s for s in subgroups if s.flag == "harmed"]
    if harmed:
        sentences.append("Harm: the treatment makes things worse for " + "; ".join(group_words(s) for s in harmed[:4])
                         + (" and others" if len(harmed) > 4 else "") + ".")
    else:
        sentences.append(f"No group was found to be harmed ({len(subgroups)} groups tested, with a {ALPHA:.0%} "
                         "chance of any false alarm in this report).")
    return sentences


def recommendation(*, supported: bool, policy: Policy, calibration: Calibration) -> Recommendation:
    """The rule's one status and the words for it."""
    if not supported:
        why = ("no reliable differences in effect were found" if not calibration.detected else
               "the rule does not reliably beat the simple choices on people who did not learn it")
        return Recommendation("not_supported", "best rule found (not recommended)", f"Not recommended: {why}.")
    if policy.treated_in_harmed and policy.safer is not None and policy.safer.preferred:
        return Recommendation("safer_recommended", "drawn rule (the safer rule is recommended)",
                              "The drawn rule treats people in groups flagged harmed; the best rule that does not "
                              "gives up no clear value, so it is recommended instead.")
    return Recommendation("recommended", "recommended rule",
                          "Recommended: effects differ between people and the rule beats the simple choices on "
                          "people who did not learn it.")


# The calibration test is the report's one pre-specified test of heterogeneity: it alone lets the
# brief say that effects differ (a 5% test: bench/null_size.py measures its size on null trials).
# GATES and RATE are further 5% tests; counting any of the three would fire far more often.
PRIMARY_TEST = ("This calibration test is the report's one pre-specified test of whether effects differ; the group "
                "effects by fifth of predicted benefit (GATES) and the ranking test (RATE) are shown in support, "
                "not as separate verdicts.")


def result_findings(*, calibration: Calibration, estimator_label: str, has_intervals: bool, policy: Policy,
                    subgroups: list[Subgroup], binary: bool) -> list[Finding]:
    """Findings about the results: heterogeneity, intervals, the tree's stability, harm.

    ``binary``: the outcome is 0/1, so effects read as percentage points.
    """
    out = []
    if calibration.detected:
        out.append(finding(Code.HETEROGENEITY_DETECTED, Severity.INFO,
                           "Heterogeneity " + calibration.verdict + ". " + PRIMARY_TEST, slope=calibration.slope))
    else:
        out.append(finding(Code.NO_HETEROGENEITY, Severity.WARNING,
                           "Heterogeneity " + calibration.verdict + ". No reliable differences in effect were "
                           "found, so a targeting rule cannot be supported by this data. " + PRIMARY_TEST,
                           slope=calibration.slope))
    if not has_intervals:
        out.append(finding(Code.NO_INTERVALS, Severity.INFO,
                           f"The chosen estimator ({estimator_label}) gives no individual intervals; individual "
                           "effects are shown without them. Group effects always carry intervals."))
    else:
        out.append(finding(Code.INTERVALS_NOT_CALIBRATED, Severity.WARNING,
                           f"The chosen estimator ({estimator_label}) gives individual intervals. "
                           + INTERVALS_NOT_CALIBRATED + ": read them as a rough sign of how uncertain each estimate "
                           "is, not as 95% intervals. Group effects carry calibrated intervals."))
    if policy.stability < STABLE_SHARE:
        out.append(finding(Code.UNSTABLE_TREE, Severity.WARNING,
                           f"{_share_of_trees(policy.stability)} of the trees learned on subsets of the data split first "
                           "on the same covariate as this rule: its exact form is fragile (another sample could give "
                           "another rule), although its value is estimated honestly.", stability=policy.stability))
    if policy.treated_in_harmed:
        safer = policy.safer
        advice = ""
        if safer is not None:
            advice = (f" The best rule that treats no one in those groups ({safer.headline_rule}) gives up "
                      f"{fmt_change(safer.given_up.estimate, binary)} per person (95% interval "
                      f"{fmt_change_ci(safer.given_up.ci_low, safer.given_up.ci_high, binary)})"
                      + ("; the difference is not clear, so it is preferred." if safer.preferred
                         else "; the drawn rule is clearly better, but weigh the harm."))
        out.append(finding(Code.RULE_TREATS_HARMED, Severity.SERIOUS,
                           f"The rule treats {policy.treated_in_harmed:,} people who are in groups flagged harmed."
                           + advice, treated_in_harmed=policy.treated_in_harmed))
    harmed = [s for s in subgroups if s.flag == "harmed"]
    if harmed:
        out.append(finding(Code.HARM_FOUND, Severity.SERIOUS,
                           f"{len(harmed)} group(s) are harmed by the treatment: "
                           + "; ".join(group_words(s) for s in harmed[:6]) + ".", groups=[s.name for s in harmed]))
    return out


def design_findings(*, randomised: bool, balance: list[BalanceRow], supported: bool) -> list[Finding]:
    """Findings about the design: imbalance between arms, and whether targeting is supported."""
    out = []
    imbalanced = sorted({row.covariate for row in balance if row.imbalanced})
    if imbalanced:
        why = ("by chance (the design is randomised); the doubly robust scores adjust for it" if randomised else
               "as expected without randomisation; the estimated propensity adjusts for these, not for unmeasured ones")
        out.append(finding(Code.IMBALANCE, Severity.INFO if randomised else Severity.WARNING,
                           f"Treated and untreated people differ on {', '.join(imbalanced)} "
                           f"(standardised difference above {SMD_IMBALANCE}), {why}.", covariates=imbalanced))
    if not supported:
        out.append(finding(Code.TARGETING_NOT_SUPPORTED, Severity.WARNING,
                           "The data do not support a targeting rule: the rule learned does not reliably beat the "
                           "simple alternatives on held-out people. It is shown for transparency only."))
    return out


def _share_of_trees(share: float) -> str:
    """"None", or "Only 40%": a share of 0 printed as "Only 0%" reads as a typo."""
    return "None" if share == 0 else f"Only {share:.0%}"
