"""Null calibration of the harm flags: share of do-nothing trials whose report flags any harm.

Usage: python bench/harm_null.py [N_DATASETS]   (default 200; bleeding-trial covariates, n = 2,000)
"""

import sys
import time

from scipy import stats

from targeting.sim.studies import null_harm_study

if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    start = time.perf_counter()
    study = null_harm_study(count)
    low, high = stats.binomtest(study.n_with_harm_flag, study.n_datasets).proportion_ci(0.95)
    print("| data sets | with any harm flag | rate | 95% CI | groups per report | minutes |")
    print("|---:|---:|---:|---|---:|---:|")
    print(f"| {study.n_datasets} | {study.n_with_harm_flag} | {study.rate:.3f} | {low:.3f} to {high:.3f} | "
          f"{study.groups_per_report:.1f} | {(time.perf_counter() - start) / 60:.1f} |")
