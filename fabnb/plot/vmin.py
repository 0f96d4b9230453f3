"""Vmin charts: estimated against true shifts, and RMSE by zone per model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def shift_vs_truth(estimated, true, ax=None, label="shift", scale=1e3, unit="mV"):
    """Scatter of estimated against true shifts (two pandas Series sharing an index),
    both centred on their means, with the identity line.

    Example
    -------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> ax = shift_vs_truth(pd.Series([0.01, 0.02]), pd.Series([0.011, 0.019]))
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4), constrained_layout=True)
    est = (estimated - estimated.mean()) * scale
    tru = (true.reindex(estimated.index) - true.reindex(estimated.index).mean()) * scale
    ax.plot(tru, est, "o", ms=4, alpha=0.7)
    lim = np.nanmax(np.abs(np.concatenate([est.to_numpy(), tru.to_numpy()]))) * 1.1
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set_xlabel(f"true {label} ({unit})")
    ax.set_ylabel(f"estimated {label} ({unit})")
    ax.set_aspect("equal")
    return ax


def rmse_by_zone(table, vmin_test, ax=None, scale=1e3):
    """Bars of the pooled test RMSE per zone and model from
    :func:`fabnb.vmin.study.rmse_table` for one Vmin test.

    Example
    -------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import pandas as pd
    >>> t = pd.DataFrame({"vmin_test": "v", "model": ["LR", "BA"], "wafer": "a",
    ...                   "zone": "edge", "n_test": 2, "rmse": [0.01, 0.005]})
    >>> ax = rmse_by_zone(t, "v")
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5), constrained_layout=True)
    part = table[table["vmin_test"] == vmin_test]
    ss = part.assign(ss=part["rmse"] ** 2 * part["n_test"]).groupby(
        ["zone", "model"], sort=False)[["ss", "n_test"]].sum()
    wide = (np.sqrt(ss["ss"] / ss["n_test"]) * scale).unstack("model")
    wide = wide.reindex(_in_order(part["zone"]))[_in_order(part["model"])]
    wide.plot.bar(ax=ax, rot=0)
    ax.set_ylabel("test RMSE (mV)")
    ax.set_title(vmin_test)
    return ax


def _in_order(values):
    """Unique values in order of appearance."""
    return list(dict.fromkeys(values))
