"""PDF and CDF of estimated densities against the actual distribution (the paper's Fig. 8).

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import numpy as np
>>> from fabnb.density import KDE, Histogram
>>> from fabnb.plot.density import pdf_cdf_plot
>>> rng = np.random.default_rng(0)
>>> early, actual = rng.normal(size=200), rng.normal(size=5000)
>>> fig = pdf_cdf_plot(actual, {"KDE": KDE(adaptive=True).fit(early),
...                             "Hist": Histogram().fit(early)}, lsl=-3, usl=3)
>>> len(fig.axes)
2
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._params import Integral, Interval, check_option, check_params


def pdf_cdf_plot(actual, estimates: dict, lsl=None, usl=None, axes=None, title=None, n_grid=512):
    """Two panels: PDFs (actual as a histogram) and CDFs (actual as the empirical CDF).

    ``estimates`` maps a label to a fitted 1-D density (``.pdf`` and ``.cdf``, e.g.
    :class:`fabnb.density.KDE` or :class:`fabnb.density.Histogram`).  Spec limits, when
    given, are drawn as dashed vertical lines.  Returns the Figure.
    """
    check_params("pdf_cdf_plot", {"n_grid": [Interval(Integral, 2, None, closed="left")]},
                 {"n_grid": n_grid})
    actual = np.sort(np.asarray(actual, dtype=float).ravel())
    actual = actual[np.isfinite(actual)]
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    fig = axes[0].figure
    lo, hi = np.percentile(actual, [0.05, 99.95])
    pad = 0.15 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, n_grid)
    axes[0].hist(actual, bins=60, range=(grid[0], grid[-1]), density=True, color="0.8", label="actual (HVM)")
    axes[1].step(actual, np.arange(1, actual.size + 1) / actual.size, where="post", color="0.3", lw=2,
                 label="actual (HVM)")
    for label, model in estimates.items():
        (line,) = axes[0].plot(grid, model.pdf(grid), lw=1.4, label=label)
        axes[1].plot(grid, model.cdf(grid), lw=1.4, color=line.get_color(), label=label)
    for ax, ylabel in zip(axes, ("PDF", "CDF")):
        for limit in (lsl, usl):
            if limit is not None and np.isfinite(limit):
                ax.axvline(limit, color="k", ls="--", lw=0.8)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_ylabel(ylabel)
        ax.set_xlabel("value")
    axes[1].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    return fig


def study_error_plot(table, ax=None, value="abs_yield_error", title=None):
    """Per-test bars of a study column (``abs_yield_error`` in %, or ``ks``) per method.

    ``table`` is :func:`fabnb.density.study.yield_study`'s output.  Returns the Axes.
    """
    check_option("study_error_plot", "value", value,
                 [c for c in table.columns if c not in ("test", "method")])
    wide = table.pivot(index="test", columns="method", values=value)
    wide = wide[list(dict.fromkeys(table["method"]))]
    if value == "abs_yield_error":
        wide = 100 * wide
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.28 * len(wide)), 3.6), constrained_layout=True)
    width = 0.8 / wide.shape[1]
    pos = np.arange(len(wide))
    for k, method in enumerate(wide.columns):
        ax.bar(pos + (k - (wide.shape[1] - 1) / 2) * width, wide[method], width, label=method)
    ax.set_xticks(pos, wide.index, rotation=90, fontsize=7)
    ax.set_ylabel("|yield error| (%)" if value == "abs_yield_error" else value)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax
