"""Checks on valid data that warn rather than refuse: repeated identifiers, covariates that give
the outcome away, values copied from other workbooks. Each returns findings, shown in the brief
and the pack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from targeting.data.covariates import Covariate
from targeting.data.xlsx_parts import cell_ref, external_references
from targeting.errors import rows_phrase
from targeting.model.findings import Code, Finding, Severity, finding

#: Share of the outcome's variation one covariate may explain on its own before it is suspect.
#: Baseline characteristics explain far less; a value this high means the covariate was measured
#: after the outcome, or derived from it.
LEAKAGE_SHARE = 0.9
# Numeric covariates are compared with the outcome through this many quantile groups.
_GROUPS = 20


def duplicate_id_findings(ids: np.ndarray | None, column: str | None, rows: np.ndarray) -> list[Finding]:
    """A warning when the identifier column repeats values (one person counted twice?)."""
    if ids is None:
        return []
    series = pd.Series(ids)
    repeated = series.duplicated(keep=False).to_numpy()
    if not repeated.any():
        return []
    values = pd.unique(series[repeated])
    first = values[0]
    return [finding(
        Code.DUPLICATE_IDS, Severity.WARNING,
        f"Identifier column '{column}' repeats {len(values):,} value{'s' if len(values) > 1 else ''} over "
        f"{int(repeated.sum()):,} rows (e.g. {str(first)[:40]!r} in "
        f"{rows_phrase(rows[(series == first).to_numpy()])}). Each row is analysed as a separate person; if a "
        "person appears more than once, their outcome counts twice and intervals are too narrow. Keep one row "
        "per person.",
        column=column, n_values=len(values), n_rows=int(repeated.sum()),
    )]


def external_link_findings(path: Path, sheet_name: str) -> list[Finding]:
    """A warning when the data sheet's values come from formulas reading other workbooks."""
    cells, workbooks = external_references(path, sheet_name)
    if not cells:
        return []
    shown = ", ".join(cell_ref(r, c) for r, c in cells[:3]) + (f" and {len(cells) - 3:,} more" if len(cells) > 3 else "")
    return [finding(
        Code.EXTERNAL_LINKS, Severity.WARNING,
        f"Sheet '{sheet_name}' of '{path.name}' has {len(cells):,} cell{'s' if len(cells) > 1 else ''} ({shown}) whose "
        f"formulas read other workbooks ({', '.join(repr(w) for w in workbooks[:3])}). Their values are the copies "
        "Excel saved when it last updated the links, so they may be stale. To analyse current values, open the "
        "workbook in Excel, update the links (Data > Edit Links > Update Values) and save it, or paste the values.",
        sheet=sheet_name, cells=len(cells), workbooks=workbooks,
    )]


def explained_share(y: np.ndarray, codes: np.ndarray, numeric: bool) -> float:
    """Share of the variance of ``y`` explained by the groups of one covariate (eta squared).

    Groups are the covariate's levels, or quantile groups of a numeric one; missing values form
    their own group. 1 means the covariate determines the outcome.
    """
    codes = np.asarray(codes, dtype=float)
    if numeric:
        present = ~np.isnan(codes)
        groups = np.full(len(codes), -1.0)
        if present.any():
            edges = np.unique(np.quantile(codes[present], np.linspace(0, 1, _GROUPS + 1)[1:-1]))
            groups[present] = np.searchsorted(edges, codes[present], side="right")
    else:
        groups = np.where(np.isnan(codes), -1.0, codes)
    total = float(np.var(y))
    if total == 0:
        return 0.0
    _, index = np.unique(groups, return_inverse=True)
    means = np.bincount(index, weights=y) / np.bincount(index)
    return 1.0 - float(np.mean((y - means[index]) ** 2)) / total


def leakage_findings(y: np.ndarray, covariates: Sequence[Covariate], x_codes: np.ndarray,
                     outcome: str) -> list[Finding]:
    """A warning naming each covariate that predicts the outcome almost perfectly on its own."""
    suspects = []
    for j, covariate in enumerate(covariates):
        share = explained_share(y, x_codes[:, j], covariate.kind == "numeric")
        if share >= LEAKAGE_SHARE:
            suspects.append((covariate.name, share))
    if not suspects:
        return []
    named = ", ".join(f"'{name}' ({share:.0%})" for name, share in suspects)
    return [finding(
        Code.OUTCOME_LEAKAGE, Severity.SERIOUS,
        f"Covariate{'s' if len(suspects) > 1 else ''} {named} on {'their' if len(suspects) > 1 else 'its'} own "
        f"explain almost all of the variation in the outcome '{outcome}'. A baseline characteristic does not; a "
        "value recorded after treatment or derived from the outcome does (leakage), and it makes the effects, the "
        "rule and the harm groups meaningless. Check how each was recorded, and leave it out with --exclude "
        "unless it was measured before treatment.",
        columns=[name for name, _ in suspects], shares=[round(share, 4) for _, share in suspects],
    )]
