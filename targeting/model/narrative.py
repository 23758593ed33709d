"""Every sentence a reader sees that is built from results: the summary, comparisons, the headline
rule, the harm method, and the findings' messages.

Compute stages return numbers; the words are made here, from those numbers, so they cannot drift
apart between the brief, the pack and report.json. Numbers inside sentences come from
:mod:`targeting.format`.
"""

from __future__ import annotations

from targeting.evaluate.diagnostics import SMD_IMBALANCE
from targeting.evaluate.subgroups import ALPHA
from targeting.format import fmt_num
from targeting.model.findings import Code, Finding, Severity, finding
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

# Fewer fold trees than this share splitting first where the drawn tree does: the rule is fragile.
STABLE_SHARE = 0.6


def comparison_sentence(diff: float, low: float, high: float, versus: str, *, outcome: str, binary: bool,
                        sign: float) -> str:
    """One plain sentence in the outcome's units, e.g. "Targeting gives 6.1 fewer 'event' events per 1,000 people ...".

    ``diff`` is oriented so positive is better; the words follow the outcome's own direction.
    """
    change, lo, hi = (sign * v for v in (diff, low, high))
    lo, hi = min(lo, hi), max(lo, hi)
    clear = low > 0 or high < 0
    verdict = "" if clear else "; not distinguishable from no difference"
    if binary:
        amount = f"{abs(1000 * change):.3g} {'fewer' if change < 0 else 'more'} '{outcome}' events per 1,000 people"
        ci = f"95% CI {1000 * lo:+.3g} to {1000 * hi:+.3g} per 1,000"
    else:
        amount = f"a mean '{outcome}' {abs(change):.3g} {'lower' if change < 0 else 'higher'} per person"
        ci = f"95% CI {lo:+.3g} to {hi:+.3g}"
    return f"Targeting gives {amount} than {POLICY_PHRASES[versus]} ({ci}{verdict})."


def headline_rule(leaves) -> str:
    """The rule in one line: "Treat if ...", "Treat everyone" or "Treat no one"."""
    treated = [leaf for leaf in leaves if leaf["treat"]]
    if not treated:
        return "Treat no one"
    if len(treated) == len(leaves):
        return "Treat everyone"
    return "Treat if " + " — or — ".join(leaf["rule"] for leaf in treated)


def risk_group_name(k: int, low: float, high: float) -> str:
    """Name of the k-th (0-based) baseline-risk fifth, with its range of predicted untreated outcome."""
    return f"baseline risk Q{k + 1} (predicted untreated outcome {low:.3g} to {high:.3g})"


def harm_method(n_families: int) -> str:
    """How harm flags are controlled, in one sentence."""
    return ("One-sided test of harm per group on doubly robust scores; Holm adjustment within each family, "
            f"Bonferroni across the {n_families} families, so the chance of any false harm flag is at most "
            f"{ALPHA:.0%}.")


def summary(*, outcome: str, sign: float, ate: Interval, budget_kind: str, policy: Policy,
            comparisons: dict[str, Comparison], subgroups: list[Subgroup], supported: bool,
            calibration: Calibration) -> list[str]:
    """The brief's opening sentences: what to do, what it gains, and whether anyone is harmed."""
    sentences = []
    overall = ate.estimate
    verb = "lowers" if overall < 0 else "raises"
    ate_words = (f"On average the treatment {verb} '{outcome}' by {fmt_num(abs(overall))} per person "
                 f"(95% CI {fmt_num(ate.ci_low)} to {fmt_num(ate.ci_high)})")
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
        sentences.append("Harm: the treatment makes things worse for " + "; ".join(s.name for s in harmed[:4])
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


def result_findings(*, calibration: Calibration, estimator_label: str, has_intervals: bool, policy: Policy,
                    subgroups: list[Subgroup]) -> list[Finding]:
    """Findings about the results: heterogeneity, intervals, the tree's stability, harm."""
    out = []
    if calibration.detected:
        out.append(finding(Code.HETEROGENEITY_DETECTED, Severity.INFO,
                           "Heterogeneity " + calibration.verdict + ".", slope=calibration.slope))
    else:
        out.append(finding(Code.NO_HETEROGENEITY, Severity.WARNING,
                           "Heterogeneity " + calibration.verdict + ". No reliable differences in effect were "
                           "found, so a targeting rule cannot be supported by this data.",
                           slope=calibration.slope))
    if not has_intervals:
        out.append(finding(Code.NO_INTERVALS, Severity.INFO,
                           f"The chosen estimator ({estimator_label}) gives no individual intervals; individual "
                           "effects are shown without them. Group effects always carry intervals."))
    if policy.stability < STABLE_SHARE:
        out.append(finding(Code.UNSTABLE_TREE, Severity.WARNING,
                           f"Only {policy.stability:.0%} of the trees learned on subsets of the data split first on "
                           "the same covariate as the reported tree: the exact rule is fragile, although its value "
                           "is estimated honestly.", stability=policy.stability))
    if policy.treated_in_harmed:
        safer = policy.safer
        advice = ""
        if safer is not None:
            advice = (f" The best rule that treats no one in those groups ({safer.headline_rule}) gives up "
                      f"{fmt_num(safer.given_up.estimate)} per person (95% CI {fmt_num(safer.given_up.ci_low)} to "
                      f"{fmt_num(safer.given_up.ci_high)})"
                      + ("; the difference is not clear, so it is preferred." if safer.preferred
                         else "; the drawn rule is clearly better, but weigh the harm."))
        out.append(finding(Code.RULE_TREATS_HARMED, Severity.SERIOUS,
                           f"The rule treats {policy.treated_in_harmed:,} people who are in groups flagged harmed."
                           + advice, treated_in_harmed=policy.treated_in_harmed))
    harmed = [s for s in subgroups if s.flag == "harmed"]
    if harmed:
        out.append(finding(Code.HARM_FOUND, Severity.SERIOUS,
                           f"{len(harmed)} group(s) are harmed by the treatment: "
                           + "; ".join(s.name for s in harmed[:6]) + ".", groups=[s.name for s in harmed]))
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

