"""The pipeline a newcomer writes with EconML defaults, as the baseline for `targeting`'s speed.

CausalForestDML (first-stage models chosen by EconML's 'auto' selection, 2-fold cross-fitting,
100 trees) for the CATE, then DRPolicyTree (again with its own 'auto' nuisance models) for the
policy. Nothing else: no budget, no held-out evaluation, no report.
Usage: python bench/plain_econml.py [--sizes 20000] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import pandas as pd

COVARIATES_EXCLUDED = ("subject_id", "treatment", "event", "true_effect")


def plain_pipeline(frame: pd.DataFrame, seed: int = 0) -> dict:
    """Fit CausalForestDML and DRPolicyTree with EconML defaults; time each and score the CATE.

    Returns seconds per step and the correlation of the (in-sample) CATE with the true effect.
    """
    from econml.dml import CausalForestDML
    from econml.policy import DRPolicyTree

    x = pd.get_dummies(frame.drop(columns=list(COVARIATES_EXCLUDED)), dtype=float).to_numpy()
    y = frame["event"].to_numpy(dtype=float)
    t = (frame["treatment"] == "Treatment").to_numpy(dtype=int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        forest = CausalForestDML(discrete_treatment=True, random_state=seed).fit(y, t, X=x)
        cate = np.ravel(forest.effect(x))
        middle = time.perf_counter()
        DRPolicyTree(random_state=seed).fit(y, t, X=x).predict(x)
        end = time.perf_counter()
    # The outcome is an event (lower is better): the true effect column is on the same scale as the CATE.
    corr = float(np.corrcoef(cate, frame["true_effect"].to_numpy())[0, 1])
    return {"cate_seconds": middle - start, "policy_seconds": end - middle, "total_seconds": end - start,
            "correlation": corr}


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from cate import wide_trial

    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="20000")
    parser.add_argument("--json", action="store_true", help="one JSON line per size (for bench/scale.py)")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        result = plain_pipeline(wide_trial(n))
        print(json.dumps({"n": n, **result}) if args.json else f"{n:,} rows: {result}", flush=True)
