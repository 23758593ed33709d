"""The order the people are analysed in: fixed by what each row holds, never by where it sits.

Several fits sample by position (forest bootstraps, gradient boosting's early-stopping split, the
stack's inner folds), so the same people in another row order would give other numbers. Putting
the people in this order before anything is fitted makes the whole result independent of the
order of the rows in the file (and of the columns' names); outputs keyed by person are put back
in the file's order (`Prepared.input_order`).

The cross-fitting folds and the honest split are drawn over the people in this order, so each
person gets the same parts whatever the file's row order. The order hashes the covariates in their
file order: moving a column therefore still re-draws the folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def canonical_order(data: pd.DataFrame, covariates: Sequence[str], t: np.ndarray, y: np.ndarray,
                    ids: np.ndarray | None) -> np.ndarray:
    """A permutation of the rows that depends only on their content.

    Parameters
    ----------
    data : DataFrame
        The analysed rows, without the outcome column.
    covariates : sequence of str
        The covariate columns, in the analysis' order.
    t, y : ndarray
        Arm (0/1) and outcome per row.
    ids : ndarray or None
        The identifier per row, if there is one.

    Returns
    -------
    ndarray of int
        Rows ordered by a hash of their covariates, arm and id (a pseudo-random order, so that
        fits splitting by position still see mixed people), then by outcome (so rescaling the
        outcome keeps the order), then by a hash of every other column. Rows still tied are
        identical in every column, so their order cannot change anything.
    """
    keys = data[list(covariates)].assign(_arm=t)
    if ids is not None:
        keys = keys.assign(_id=ids)
    people = pd.util.hash_pandas_object(keys, index=False).to_numpy()
    order = np.lexsort((y, people))
    if not ((np.diff(people[order]) == 0) & (np.diff(y[order]) == 0)).any():
        return order  # no ties (always so with an id): the other columns need no hashing
    others = pd.util.hash_pandas_object(data, index=False).to_numpy()
    return np.lexsort((others, y, people))
