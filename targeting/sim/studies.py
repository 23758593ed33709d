"""Repeated-simulation studies shared by the slow tests and the benchmarks.

Kept in the package (not in tests/) so `bench/` and `tests/` run exactly the same study.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from targeting.config import merge_sources
from targeting.pipeline import run
from targeting.data.read import RawInput
from targeting.sim.simulate import null_effect

TRIAL_SETTINGS = {"outcome": "event", "treatment": "treatment", "treated_value": "Treatment", "id": "subject_id",
                  "direction": "lower-is-better", "propensity": 0.5, "true_effect": "true_effect"}


def run_frame(frame: pd.DataFrame, **settings):
    """Run the whole pipeline on an in-memory frame (no files)."""
    raw = RawInput(frame, {}, "simulated", "", None)
    return run(raw, merge_sources(("study", settings)))


@dataclass(frozen=True)
class NullStudy:
    """How often a report on a do-nothing treatment raises any harm flag."""

    n_datasets: int
    n_with_harm_flag: int
    groups_per_report: float

    @property
    def rate(self) -> float:
        return self.n_with_harm_flag / self.n_datasets


def null_harm_study(n_datasets: int, *, n: int = 2000, first_seed: int = 1000, folds: int = 5) -> NullStudy:
    """Simulate ``n_datasets`` bleeding trials where the drug does nothing and count false harm flags."""
    flagged, groups = 0, 0
    for k in range(n_datasets):
        result = run_frame(null_effect(n, seed=first_seed + k), **TRIAL_SETTINGS, estimator="logistic_t",
                           folds=folds, seed=first_seed + k, subgroup=["age > 65"])
        subgroups = result.report.subgroups
        groups += len(subgroups)
        flagged += any(s.flag == "harmed" for s in subgroups)
    return NullStudy(n_datasets, flagged, groups / n_datasets)
