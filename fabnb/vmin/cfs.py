r"""Correlation-based Feature Selection (Hall 1999), the paper's feature selector.

The merit of a subset S of k features is

.. math::  M_S = \frac{k\,\overline{r_{cf}}}{\sqrt{k + k(k-1)\,\overline{r_{ff}}}}

with :math:`\overline{r_{cf}}` the mean |Pearson correlation| between the features in S
and the target and :math:`\overline{r_{ff}}` the mean |correlation| between pairs of
features in S: good subsets hold features correlated with the target and not with each
other.  The search is Hall's best-first (start empty, always expand the best open subset
by one feature, stop after ``max_stale`` expansions without a better subset) or plain
greedy forward selection.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
>>> X["a_copy"] = X["a"] + 0.05 * rng.normal(size=300)
>>> y = X["a"] + X["b"] + 0.3 * rng.normal(size=300)
>>> sorted(cfs_select(X, y))
['a', 'b']
"""

from __future__ import annotations

import heapq

import numpy as np
import pandas as pd

from .._params import Integral, Interval, StrOptions, check_params
from ..errors import FabDataError, FabFitError
from ._inputs import Groups, feature_names

SEARCHES = ("best_first", "forward")
PARAMETERS = {
    "search": [StrOptions(set(SEARCHES))],
    "max_stale": [Interval(Integral, 1, None, closed="left")],
    "max_features": [None, Interval(Integral, 1, None, closed="left")],
}


def _correlations(X, y, groups=None):
    names = feature_names(X)
    Xa = np.asarray(X, dtype=float)
    ya = np.asarray(y, dtype=float).ravel()
    if Xa.ndim != 2 or Xa.shape[0] != ya.size:
        raise FabDataError(f"X must be (n, p) with n = len(y) = {ya.size}; got {Xa.shape}")
    if groups is not None:
        labels = pd.MultiIndex.from_arrays(groups) if isinstance(groups, (list, tuple)) \
            else pd.Index(groups)
        if len(labels) != ya.size:
            raise FabDataError(f"groups has {len(labels)} labels, y has {ya.size}")
        g = Groups.of(labels)
        Xa, ya = g.demean(Xa), g.demean(ya)
    if Xa.shape[0] < 3:
        raise FabFitError(f"CFS needs at least 3 samples, got {Xa.shape[0]}")
    for j in np.flatnonzero(~np.isfinite(Xa).all(axis=0)):
        raise FabDataError(f"feature {names[j]!r} has missing/non-finite values")
    if not np.isfinite(ya).all():
        raise FabDataError("target y has missing/non-finite values")
    data = np.column_stack([Xa, ya])
    sd = data.std(axis=0)
    for j in np.flatnonzero(sd == 0):
        raise FabFitError(f"{'target y' if j == len(names) else f'feature {names[j]!r}'} is "
                          "constant; it has no correlation")
    corr = np.abs(np.corrcoef(data, rowvar=False))
    return names, corr[:-1, -1], corr[:-1, :-1]


def _merit(subset, r_cf, r_ff) -> float:
    k = len(subset)
    if k == 0:
        return 0.0
    idx = list(subset)
    pair_sum = r_ff[np.ix_(idx, idx)].sum() - k  # off-diagonal sum = k(k-1) mean r_ff
    return float(r_cf[idx].sum() / np.sqrt(k + pair_sum))


def cfs_merit(X, y, subset) -> float:
    """Hall's merit of ``subset`` (feature names for a DataFrame, else column indices).

    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 4.0], [4.0, 3.0]])
    >>> round(cfs_merit(X, X[:, 0], [0]), 6)
    1.0
    """
    names, r_cf, r_ff = _correlations(X, y)
    idx = [names.index(str(s)) if isinstance(X, pd.DataFrame) else int(s) for s in subset]
    return _merit(idx, r_cf, r_ff)


def cfs_select(X, y, search="best_first", max_stale=5, max_features=None, groups=None):
    """Select features by CFS.

    Parameters
    ----------
    X, y
        (n, p) features (DataFrame or array) and the n-vector target.
    search
        ``"best_first"`` (Hall's search) or ``"forward"`` (greedy, stop when no single
        addition improves the merit).
    max_stale
        Best-first stops after this many expansions without a better subset.
    max_features
        Optional cap on the subset size.
    groups
        Optional group labels (n,) or a list of label arrays, e.g. ``[wafer, zone]`` for
        the wafer × zone cell of each die: correlations
        are then computed within groups (X and y demeaned per group), i.e. on the
        variation that BA's shared weights must explain rather than on wafer-to-wafer
        offsets that the biases absorb.

    Returns
    -------
    list
        Selected column names (DataFrame input) or column indices, in order of entry.
    """
    check_params("cfs_select", PARAMETERS, locals())
    names, r_cf, r_ff = _correlations(X, y, groups)
    p = len(names)
    cap = p if max_features is None else int(max_features)
    best = _forward(r_cf, r_ff, cap) if search == "forward" else \
        _best_first(r_cf, r_ff, cap, int(max_stale))
    return [names[j] for j in best] if isinstance(X, pd.DataFrame) else list(best)


def _forward(r_cf, r_ff, cap):
    chosen, merit = [], 0.0
    while len(chosen) < cap:
        options = [(_merit(chosen + [j], r_cf, r_ff), j) for j in range(len(r_cf)) if j not in chosen]
        if not options:
            break
        score, j = max(options)
        if score <= merit:
            break
        chosen, merit = chosen + [j], score
    return chosen


def _best_first(r_cf, r_ff, cap, max_stale):
    best, best_merit = [], 0.0
    open_list = [(-0.0, ())]
    seen = {frozenset()}
    stale = 0
    while open_list and stale < max_stale:
        _, subset = heapq.heappop(open_list)
        improved = False
        if len(subset) < cap:
            for j in range(len(r_cf)):
                child = subset + (j,)
                key = frozenset(child)
                if j in subset or key in seen:
                    continue
                seen.add(key)
                merit = _merit(child, r_cf, r_ff)
                heapq.heappush(open_list, (-merit, child))
                if merit > best_merit + 1e-12:
                    best, best_merit, improved = list(child), merit, True
        stale = 0 if improved else stale + 1
    return best
