"""Control-chart and T²/Q figures for :mod:`fabnb.spc` results."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._params import check_option


def control_chart(scored, ax=None, stat=None, title=None):
    """Plot a chart's ``apply`` output: the statistic, centre and limits, ±1σ/±2σ zones
    for Shewhart charts, and alarms as red markers.

    Works for :class:`~fabnb.spc.ShewhartChart` (``statistic``), :class:`EwmaChart`
    (``ewma``) and :class:`CusumChart` (``c_plus``/``c_minus`` against ``h``).

    Example
    -------
    >>> import numpy as np
    >>> from fabnb.spc import ShewhartChart
    >>> x = np.random.default_rng(0).normal(size=60)
    >>> ax = control_chart(ShewhartChart().fit(x[:30]).apply(x[30:]))
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2), constrained_layout=True)
    t = np.arange(len(scored))
    if "c_plus" in scored:
        ax.plot(t, scored["c_plus"], lw=1.2, label="C⁺")
        ax.plot(t, scored["c_minus"], lw=1.2, label="C⁻")
        h = scored["h"].iloc[0]
        ax.axhline(h, color="red", ls="--", lw=1, label="h")
        y = np.maximum(scored["c_plus"], scored["c_minus"])
        ax.set_ylim(0, max(3 * h, min(float(np.nanmax(y)), 6 * h)) * 1.05)  # the signal, not its runaway
    else:
        if stat is not None:  # a column of the scored table, named before a KeyError would
            check_option("control_chart", "stat", stat, list(scored.columns))
        col = stat or ("statistic" if "statistic" in scored else "ewma")
        y = scored[col]
        ax.plot(t, y, "-o", ms=2.5, lw=1, label=col)
        ax.plot(t, scored["ucl"], color="red", ls="--", lw=1, label="limits")
        ax.plot(t, scored["lcl"], color="red", ls="--", lw=1)
        if "center" in scored:
            c, half = scored["center"].iloc[0], scored["ucl"].iloc[0] - scored["center"].iloc[0]
            ax.axhline(c, color="k", lw=0.8)
            for k in (1, 2):
                ax.axhspan(c - k * half / 3, c + k * half / 3, color="tab:green", alpha=0.06)
    alarm = scored["alarm"].to_numpy()
    ax.plot(t[alarm], np.asarray(y)[alarm], "o", color="red", ms=5, mfc="none", label="alarm")
    ax.set_xlabel("sample")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    if title:
        ax.set_title(title)
    return ax


def t2q_chart(monitor, scores, axes=None):
    """T² and Q of :meth:`PCAMonitor.score` output against their limits (log scale)."""
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True, constrained_layout=True)
    t = np.arange(len(scores))
    for ax, col, limit in ((axes[0], "t2", monitor.t2_limit_), (axes[1], "q", monitor.q_limit_)):
        ax.semilogy(t, scores[col], lw=1)
        ax.axhline(limit, color="red", ls="--", lw=1)
        hit = scores[f"{col}_alarm"].to_numpy()
        ax.semilogy(t[hit], scores[col].to_numpy()[hit], "o", color="red", ms=4, mfc="none")
        ax.set_ylabel("T²" if col == "t2" else "Q (SPE)")
    axes[1].set_xlabel("sample")
    return axes


def contribution_chart(contributions, ax=None, which="q"):
    """Bar chart of per-sensor contributions (:meth:`PCAMonitor.contributions`)."""
    check_option("contribution_chart", "which", which, ("q", "t2"))
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3), constrained_layout=True)
    values = contributions[which]
    colours = ["tab:red" if v == values.max() else "tab:blue" for v in values]
    ax.bar(values.index.astype(str), values.to_numpy(), color=colours)
    ax.set_ylabel(f"{'Q' if which == 'q' else 'T²'} contribution")
    ax.tick_params(axis="x", rotation=45)
    return ax


def hotelling_chart(chart, scored=None, ax=None, title=None):
    """A fitted :class:`~fabnb.spc.HotellingT2Chart`: the Phase I T² against the Phase I
    limit, then (if given) its ``apply`` output against the Phase II limit; alarms as
    red circles.

    Example
    -------
    >>> import numpy as np
    >>> from fabnb.spc import HotellingT2Chart
    >>> rng = np.random.default_rng(0)
    >>> chart = HotellingT2Chart().fit(rng.normal(size=(25, 5, 2)))
    >>> ax = hotelling_chart(chart, chart.apply(rng.normal(size=(10, 5, 2))))
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 3.2), constrained_layout=True)
    parts = [("Phase I", chart.phase1_, 0)]
    if scored is not None:
        parts.append(("Phase II", scored, len(chart.phase1_)))
    for i, (name, table, start) in enumerate(parts):
        t = start + np.arange(len(table))
        ax.plot(t, table["t2"], "-o", ms=2.5, lw=1, color=f"C{i}", label=f"T² {name}")
        ax.plot([t[0] - 0.5, t[-1] + 0.5], [table["ucl"].iloc[0]] * 2, color="red", ls="--", lw=1,
                label="UCL" if i == 0 else None)
        hit = table["alarm"].to_numpy()
        ax.plot(t[hit], table["t2"].to_numpy()[hit], "o", color="red", ms=5, mfc="none",
                label="alarm" if i == 0 else None)
    if scored is not None:
        ax.axvline(len(chart.phase1_) - 0.5, color="k", lw=0.8)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("subgroup" if chart.n_ > 1 else "sample")
    ax.set_ylabel("T²")
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    if title:
        ax.set_title(title)
    return ax
