"""Positivity (overlap) of each candidate tool within the routing strata.

A backdoor-adjusted effect compares treated and untreated wafers *inside* each routing
stratum ``c`` (a combination of context levels).  Only strata holding both arms,
``0 < n₁(c) < n(c)``, carry information; if no stratum does, the tool never varies
given its routing context, ``P(T = 1 | c) ∈ {0, 1}`` everywhere, and the effect is not
identifiable: no number is reported.  ``overlap`` is the share of wafers in mixed
strata (1 = full overlap); the estimate extrapolates over the rest.

Example
-------
>>> import numpy as np, pandas as pd
>>> strata = np.array([0, 0, 0, 0, 1, 1])
>>> used = np.array([[1, 0], [1, 0], [0, 0], [0, 0], [1, 1], [1, 1]], dtype=float)
>>> positivity(used, strata)["identifiable"].tolist()
[True, False]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

#: Fewest treated and untreated wafers in mixed strata for an effect to be estimated.
MIN_ARM = 2


def stratum_matrix(strata: np.ndarray) -> sparse.csr_matrix:
    """One-hot (wafer x stratum) sparse matrix of integer stratum ids."""
    _, ids = np.unique(strata, return_inverse=True)
    return sparse.csr_matrix((np.ones(ids.size), (np.arange(ids.size), ids)))


def positivity(indicators: np.ndarray, strata: np.ndarray) -> pd.DataFrame:
    """Overlap diagnostics of every indicator column within the strata.

    Returns one row per column: ``n_strata``, ``n_mixed`` (strata with both arms),
    ``overlap`` (share of wafers in mixed strata), ``n_treated_mixed``,
    ``n_control_mixed``, ``identifiable`` (both arms >= ``MIN_ARM`` wafers in mixed strata).

    >>> positivity(np.array([[1.], [0.], [1.]]), np.array([0, 0, 1]))["overlap"].round(2).tolist()
    [0.67]
    """
    one_hot = stratum_matrix(strata)
    size = np.asarray(one_hot.sum(axis=0)).ravel()
    treated = np.asarray(one_hot.T @ indicators)  # (strata, K)
    mixed = (treated > 0) & (treated < size[:, None])
    n_treated = (treated * mixed).sum(axis=0)
    n_control = ((size[:, None] - treated) * mixed).sum(axis=0)
    return pd.DataFrame({
        "n_strata": np.full(indicators.shape[1], size.size),
        "n_mixed": mixed.sum(axis=0),
        "overlap": (size[:, None] * mixed).sum(axis=0) / strata.size,
        "n_treated_mixed": n_treated.astype(int),
        "n_control_mixed": n_control.astype(int),
        "identifiable": (n_treated >= MIN_ARM) & (n_control >= MIN_ARM),
    })
