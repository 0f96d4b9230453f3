"""Charts for trace alignment, gauge R&R, fleet matching and virtual metrology.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import numpy as np, pandas as pd
>>> from fabnb.metrology import gauge_rr
>>> parts, ops = np.repeat(np.arange(10), 6), np.tile(np.repeat([0, 1, 2], 2), 10)
>>> y = np.random.default_rng(0).normal(0, 2, 10)[parts] + np.random.default_rng(1).normal(0, .5, 60)
>>> ax = gauge_components_plot(gauge_rr(pd.DataFrame({"part": parts, "operator": ops, "value": y})))
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax, size=(5, 3.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=size, constrained_layout=True)
    return ax


def clock_offset_plot(estimated, truth=None, ax=None):
    """Estimated clock offset per tool (s), with the true value when known."""
    ax = _axes(ax, (8, 3.5))
    x = np.arange(len(estimated))
    ax.bar(x, estimated["offset_s"], color="C0", label="estimated")
    if truth is not None:
        ax.plot(x, truth.reindex(estimated.index), "k_", ms=14, mew=2, label="true")
    ax.set_xticks(x, estimated.index, rotation=90, fontsize=7)
    ax.set_ylabel("clock offset at epoch (s)")
    ax.axhline(0, color="k", lw=0.6)
    ax.legend(fontsize=8)
    return ax


def gauge_components_plot(grr, ax=None):
    """Variance components of a gauge study (crossed :class:`~fabnb.metrology.GaugeRR`,
    either method, or nested :class:`~fabnb.metrology.NestedGauge`): % contribution
    and % study variation of every component but the total, with the AIAG 10 % and
    30 % lines."""
    ax = _axes(ax)
    comp = grr.components.drop(index="total")
    names = list(comp.index)
    x = np.arange(len(names))
    ax.bar(x - 0.2, comp["pct_contribution"], 0.4, label="% contribution")
    ax.bar(x + 0.2, comp["pct_study_var"], 0.4, label="% study variation")
    ax.axhline(10, color="g", ls=":", lw=0.8)
    ax.axhline(30, color="r", ls=":", lw=0.8)
    ax.set_xticks(x, names, rotation=30 if len(names) > 4 else 0, fontsize=8)
    ax.set_ylabel("%")
    ndc = "" if grr.ndc is None else f", ndc {grr.ndc}"
    ax.set_title(f"%GRR {grr.percent_grr:.1f} %{ndc}", fontsize=10)
    ax.legend(fontsize=8)
    return ax


def fleet_histogram(before, after, tool="tool", value="value", ax=None):
    """Label distribution per metrology tool before and after fleet correction."""
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True, constrained_layout=True)
    bins = np.histogram_bin_edges(np.r_[before[value], after[value]], 30)
    for a, df, title in ((ax[0], before, "raw labels"), (ax[1], after, "fleet-corrected")):
        for name, g in df.groupby(tool):
            a.hist(g[value], bins=bins, alpha=0.5, label=str(name))
        a.set_title(title, fontsize=10)
        a.set_xlabel(value)
    ax[0].legend(fontsize=8)
    return ax


def vm_parity_plot(vm, ax=None):
    """Cross-validated prediction vs label, with CV R² next to the gauge R² ceiling."""
    ax = _axes(ax, (4.5, 4.2))
    cv = vm.cv_predictions_
    ax.plot(cv["y"], cv["pred"], ".", ms=5)
    lo, hi = np.nanmin(cv[["y", "pred"]].to_numpy()), np.nanmax(cv[["y", "pred"]].to_numpy())
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    flag = "  ABOVE CEILING: fits noise" if vm.above_ceiling_ else ""
    ax.set_title(f"{vm.model}: CV R² {vm.cv_r2_:.3f}, ceiling {vm.r2_ceiling_:.3f}{flag}",
                 fontsize=9)
    ax.set_xlabel("label")
    ax.set_ylabel("time-ordered CV prediction")
    return ax
