"""Candidate split points for the policy tree, and the rules they read as.

Numeric covariates are cut at up to ``max_bins - 1`` quantiles (actual data values, so rules read
in the data's own units); missing values get their own last bin and so always follow the upper
side of a cut. Categorical covariates are ordered by the training people's mean benefit, so a
threshold on that order selects a set of levels ("region is North or East"); this is the exact
best set for a single split without a budget and a documented heuristic with one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .prepare import Covariate

MISSING = "(missing)"


@dataclass(frozen=True)
class FeatureBins:
    """How one covariate maps to bins."""

    covariate: Covariate
    cuts: tuple[float, ...] = ()           # numeric: bin = number of cuts <= x
    order: tuple[int, ...] = ()            # categorical: codes in bin order (len(levels) = missing)
    has_missing: bool = False

    @property
    def n_bins(self) -> int:
        if self.covariate.kind == "numeric":
            return len(self.cuts) + 1 + int(self.has_missing)
        return len(self.order)

    def to_bins(self, codes: np.ndarray) -> np.ndarray:
        """Bin index of each value (``codes`` as in `Prepared.x_codes`)."""
        missing = np.isnan(codes)
        if self.covariate.kind == "numeric":
            out = np.searchsorted(np.asarray(self.cuts), np.where(missing, 0, codes), side="right")
            return np.where(missing, len(self.cuts) + 1, out)
        code = np.where(missing, len(self.covariate.levels), codes).astype(int)
        rank = np.full(len(self.covariate.levels) + 1, len(self.order), dtype=int)
        rank[list(self.order)] = np.arange(len(self.order))
        return rank[code]

    def left_levels(self, threshold: int) -> list[str]:
        """Categorical: the level names sent left by a split at ``threshold``."""
        names = list(self.covariate.levels) + [MISSING]
        return [names[c] for c in self.order[:threshold]]


def make_bins(x_codes: np.ndarray, covariates, benefit: np.ndarray, max_bins: int):
    """Bin every covariate using only the rows given (a training set).

    Returns
    -------
    bins : ndarray of int, shape (n, p)
    n_bins : ndarray of int, shape (p,)
    specs : list of FeatureBins
    """
    specs = []
    for j, cov in enumerate(covariates):
        column = x_codes[:, j]
        missing = np.isnan(column)
        if cov.kind == "numeric":
            present = column[~missing]
            if present.size == 0:
                specs.append(FeatureBins(cov, (), (), bool(missing.any())))
                continue
            quantiles = np.quantile(present, np.linspace(0, 1, max_bins + 1)[1:-1], method="lower")
            cuts = np.unique(quantiles)
            cuts = cuts[cuts > present.min()]
            specs.append(FeatureBins(cov, tuple(float(v) for v in cuts), (), bool(missing.any())))
        else:
            code = np.where(missing, len(cov.levels), column).astype(int)
            counts = np.bincount(code, minlength=len(cov.levels) + 1)
            sums = np.bincount(code, weights=benefit, minlength=len(cov.levels) + 1)
            present = np.nonzero(counts)[0]
            means = sums[present] / counts[present]
            order = tuple(int(c) for c in present[np.lexsort((present, means))])
            specs.append(FeatureBins(cov, (), order, bool(missing.any())))
    bins = np.column_stack([s.to_bins(x_codes[:, j]) for j, s in enumerate(specs)])
    return bins, np.array([max(1, s.n_bins) for s in specs]), specs


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _quote(name: str) -> str:
    return "`" + name.replace("`", "") + "`"


def condition(spec: FeatureBins, threshold: int, left: bool, column_has_missing: bool) -> tuple[str, str]:
    """Plain-words text and pandas ``query`` text for one side of a split."""
    name = spec.covariate.name
    col = _quote(name)
    if spec.covariate.kind == "numeric":
        if threshold > len(spec.cuts):  # the split separates missing from recorded values
            return (f"{name} is recorded", f"{col} == {col}") if left else (f"{name} is missing", f"{col} != {col}")
        cut = spec.cuts[threshold - 1]
        if left:
            return f"{name} under {_number(cut)}", f"{col} < {_number(cut)}"
        if column_has_missing:
            return f"{name} {_number(cut)} or over (or missing)", f"({col} >= {_number(cut)} or {col} != {col})"
        return f"{name} {_number(cut)} or over", f"{col} >= {_number(cut)}"
    left_set = set(spec.left_levels(threshold))
    names = list(spec.covariate.levels)
    chosen = [l for l in names if (l in left_set) == left]
    with_missing = (MISSING in left_set) == left and column_has_missing
    words = " or ".join(chosen + (["missing"] if with_missing else []))
    listed = "[" + ", ".join(repr(l) for l in chosen) + "]"
    query = f"{col} in {listed}" if chosen else ""
    if with_missing:
        query = f"({query} or {col} != {col})" if query else f"{col} != {col}"
    return f"{name} is {words}", query
