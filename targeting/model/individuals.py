"""The per-person table written to ``individuals.csv`` and the pack's Individuals sheet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.data.prepare import Prepared
from targeting.estimate.cate import CateResult
from targeting.evaluate.diagnostics import RISK_COLUMN


def individuals_table(prepared: Prepared, cate: CateResult, treat: np.ndarray, path: np.ndarray,
                      risk_fifth: np.ndarray) -> pd.DataFrame:
    """One row per analysed person: 1-based data row, id, out-of-fold CATE with its interval (NaN
    when the estimator gives none), the rule's decision, the leaf ("root" for a tree without splits)
    and the fifth of predicted untreated outcome (the baseline-risk strata's queries select on it).

    The arrays are in the analysis' order of people (`Prepared`); the table is in the file's."""
    frame = pd.DataFrame({"row": prepared.rows})
    if prepared.ids is not None:
        frame["id"] = prepared.ids
    frame["cate"] = cate.cate
    frame["cate_low"] = cate.cate_low if cate.cate_low is not None else np.nan
    frame["cate_high"] = cate.cate_high if cate.cate_high is not None else np.nan
    frame["treat"] = treat.astype(int)
    frame["leaf"] = np.where(path == "", "root", path)
    frame[RISK_COLUMN] = risk_fifth
    return frame.iloc[prepared.input_order].reset_index(drop=True)
