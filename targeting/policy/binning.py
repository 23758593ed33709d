"""Candidate split points for the policy tree, and the rules they read as.

Numeric covariates are cut at up to ``max_bins - 1`` quantiles (actual data values, so rules read
in the data's own units); missing values get their own last bin and so always follow the upper
side of a cut. Categorical covariates are ordered by the training people's mean benefit, so a
threshold on that order selects a set of levels ("region is North or East"); this is the exact
best set for a single split without a budget and a documented heuristic with one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from targeting.data import query as q
from targeting.data.covariates import Covariate

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


# Pure and called for every cut of every binning (the rule, its fold trees, the curve, the harm
# search and the safer rule bin the same columns): remembered.
@lru_cache(maxsize=1 << 16)
def roundest_between(low: float, high: float) -> float:
    """The number with fewest significant digits in (low, high].

    Used as a split threshold it separates the data exactly as ``high`` does, but reads as
    "age under 50.5" instead of "age under 50.48580177".
    """
    if not low < high:
        return high
    magnitude = max(abs(low), abs(high), 1e-12)
    scale = 10.0 ** (np.floor(np.log10(magnitude)) + 1)
    while scale > 1e-12:
        candidate = float(f"{np.floor(high / scale) * scale:.12g}")
        if low < candidate <= high:
            return candidate
        scale /= 10
    return high


def numeric_binning(x_codes: np.ndarray, covariates, max_bins: int) -> tuple[dict[int, FeatureBins], np.ndarray]:
    """The numeric covariates' binning on the rows given: spec per covariate index, and their bins
    (rows x numeric covariates, in covariate order). It depends on no score, so searches with
    different scores on the same rows can share it."""
    specs = {}
    for j, cov in enumerate(covariates):
        if cov.kind != "numeric":
            continue
        column = x_codes[:, j]
        missing = np.isnan(column)
        present = column[~missing]
        if present.size == 0:
            specs[j] = FeatureBins(cov, (), (), bool(missing.any()))
            continue
        ordered = np.sort(present)  # one sort serves the quantiles and the distinct values
        quantiles = np.quantile(ordered, np.linspace(0, 1, max_bins + 1)[1:-1], method="lower")
        cuts = np.unique(quantiles)
        cuts = cuts[cuts > ordered[0]]
        values = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
        below = values[np.searchsorted(values, cuts) - 1]
        rounded = tuple(roundest_between(float(a), float(b)) for a, b in zip(below, cuts))
        specs[j] = FeatureBins(cov, rounded, (), bool(missing.any()))
    bins = np.empty((len(x_codes), len(specs)), dtype=np.int16)  # max_bins is at most 256
    for k, (j, spec) in enumerate(specs.items()):
        bins[:, k] = spec.to_bins(x_codes[:, j])
    return specs, bins


def make_bins(x_codes: np.ndarray, covariates, benefit: np.ndarray, max_bins: int, numeric=None):
    """Bin every covariate using only the rows given (a training set).

    ``numeric`` is `numeric_binning` of the same rows when already made.

    Returns
    -------
    bins : ndarray of int, shape (n, p)
    n_bins : ndarray of int, shape (p,)
    specs : list of FeatureBins
    """
    numeric_specs, numeric_bins = numeric if numeric is not None else numeric_binning(x_codes, covariates, max_bins)
    bins = np.empty((len(x_codes), len(covariates)), dtype=np.intp)
    bins[:, list(numeric_specs)] = numeric_bins
    specs = []
    for j, cov in enumerate(covariates):
        if j in numeric_specs:
            specs.append(numeric_specs[j])
            continue
        column = x_codes[:, j]
        code = np.where(np.isnan(column), len(cov.levels), column).astype(int)
        counts = np.bincount(code, minlength=len(cov.levels) + 1)
        sums = np.bincount(code, weights=benefit, minlength=len(cov.levels) + 1)
        present = np.nonzero(counts)[0]
        means = sums[present] / counts[present]
        order = tuple(int(c) for c in present[np.lexsort((present, means))])
        specs.append(FeatureBins(cov, (), order, bool(np.isnan(column).any())))
        bins[:, j] = specs[-1].to_bins(column)
    return bins, np.array([max(1, s.n_bins) for s in specs]), specs


def _tidy(value: float) -> int | float:
    """A threshold as rules show it: whole numbers without ``.0`` (the value is unchanged)."""
    return int(value) if float(value).is_integer() else float(value)


def _number(value: float) -> str:
    return q.literal(_tidy(value))


@dataclass
class Constraint:
    """What a path down the tree says about one covariate (merged, so a rule names each covariate once)."""

    spec: FeatureBins
    low: float | None = None          # numeric: value >= low
    high: float | None = None         # numeric: value < high
    missing_ok: bool = True           # numeric: a missing value satisfies the path
    only_missing: bool = False        # numeric: only missing values satisfy the path
    levels: set[str] | None = None    # categorical: allowed level names (MISSING for missing)

    def copy(self) -> "Constraint":
        """An independent copy (the level set is not shared)."""
        return replace(self, levels=None if self.levels is None else set(self.levels))

    def narrow(self, threshold: int, left: bool) -> None:
        """Apply one side of a split on this covariate."""
        if self.spec.covariate.kind == "numeric":
            if threshold > len(self.spec.cuts):      # the split separates recorded from missing
                if left:
                    self.missing_ok = False
                else:
                    self.only_missing = True
                return
            cut = self.spec.cuts[threshold - 1]
            if left:
                self.high = cut if self.high is None else min(self.high, cut)
                self.missing_ok = False
            else:
                self.low = cut if self.low is None else max(self.low, cut)
            return
        names = set(self.spec.covariate.levels) | {MISSING}
        side = set(self.spec.left_levels(threshold))
        chosen = side if left else names - side
        self.levels = chosen if self.levels is None else self.levels & chosen

    def render(self, column_has_missing: bool) -> tuple[str, str]:
        """Plain words and a pandas ``query`` for this covariate's condition."""
        name = self.spec.covariate.name
        col = q.column(name)
        if self.spec.covariate.kind == "categorical":
            chosen = [l for l in self.spec.covariate.levels if l in self.levels]
            with_missing = MISSING in self.levels and column_has_missing
            words = " or ".join(chosen + (["missing"] if with_missing else []))
            query = q.membership(q.stripped_text(col), "in", chosen) if chosen else ""
            if with_missing:
                query = q.any_of([query, q.is_missing(col)]) if query else q.is_missing(col)
            return f"{name} is {words}", query
        if self.only_missing:
            return f"{name} is missing", q.is_missing(col)
        low = None if self.low is None else q.compare(col, ">=", _tidy(self.low))
        high = None if self.high is None else q.compare(col, "<", _tidy(self.high))
        if low and high:
            return f"{name} from {_number(self.low)} to under {_number(self.high)}", q.all_of([low, high])
        if high:
            return f"{name} under {_number(self.high)}", high
        if low:
            if self.missing_ok and column_has_missing:
                return f"{name} {_number(self.low)} or over (or missing)", q.any_of([low, q.is_missing(col)])
            return f"{name} {_number(self.low)} or over", low
        return f"{name} is recorded", q.is_recorded(col)
