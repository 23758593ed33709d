"""What the analysed data look like: counts, the outcome by arm, the design, the covariates."""

from __future__ import annotations

from targeting.data.prepare import Prepared
from targeting.model.report import CovariateSummary, DataSummary


def data_summary(prepared: Prepared, *, rows_in_file: int) -> DataSummary:
    """The Data part of the report for the validated data (``rows_in_file`` before any were dropped)."""
    y, t = prepared.y, prepared.t
    return DataSummary(
        n=prepared.n, n_rows_in_file=rows_in_file, n_treated=int(t.sum()), n_control=int((1 - t).sum()),
        outcome=prepared.outcome, outcome_type="binary" if prepared.outcome_binary else "continuous",
        outcome_mean=float(y.mean()), outcome_sd=float(y.std(ddof=1)),
        outcome_min=float(y.min()), outcome_max=float(y.max()),
        outcome_mean_treated=float(y[t == 1].mean()), outcome_mean_control=float(y[t == 0].mean()),
        treatment=prepared.treatment, treated_label=prepared.treated_label, control_label=prepared.control_label,
        direction="higher-is-better" if prepared.sign > 0 else "lower-is-better",
        design=("randomised (known propensity)" if prepared.propensity is not None
                else "observational (estimated propensity)"),
        covariates=[CovariateSummary(c.name, c.kind, [str(level) for level in c.levels], int(c.n_missing))
                    for c in prepared.covariates],
        cost_source=prepared.cost_source, total_cost=float(prepared.cost.sum()),
    )
