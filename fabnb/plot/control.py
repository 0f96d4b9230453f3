"""Run charts of a run-to-run simulation (output, recipe, error over wafers), MSE
against λ, and the double EWMA's stability region in (λ₁, λ₂)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..control.tuning import stability_region


def r2r_run_chart(sims: dict, target=None, axes=None):
    """Output, recipe and measurement of one or more :func:`fabnb.control.simulate`
    results, sharing the run axis; ``sims`` maps a label to a simulation Dataset.

    Example
    -------
    >>> from fabnb.control import EWMAController, LinearProcess, simulate
    >>> sim = simulate(LinearProcess(gain=1.0, drift=0.02), EWMAController(1.0, 0.0, 0.3), 100)
    >>> axes = r2r_run_chart({"EWMA": sim})
    """
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True, constrained_layout=True)
    ax_out, ax_rec = axes
    for label, sim in sims.items():
        line, = ax_out.plot(sim["run"], sim["output"], lw=1.2, label=f"{label} (MSE {sim.attrs['mse']:.3g})")
        ax_out.plot(sim["run"], sim["measured"], ".", ms=3, color=line.get_color())
        ax_rec.plot(sim["run"], sim["recipe"], lw=1.2, color=line.get_color(), label=label)
    tgt = target if target is not None else next(iter(sims.values())).attrs["target"]
    ax_out.axhline(tgt, color="k", ls="--", lw=0.8, label="target")
    ax_out.set_ylabel("output")
    ax_rec.set_ylabel("recipe")
    ax_rec.set_xlabel("wafer (run)")
    ax_out.legend(loc="best", fontsize=8)
    return axes


def mse_vs_lambda_plot(table, ax=None):
    """MSE against λ from :func:`fabnb.control.mse_vs_lambda`, unstable λ marked."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), constrained_layout=True)
    stable = table[table["stable"]]
    ax.plot(stable["lam"], stable["mse"], "o-", label="stable")
    unstable = table[~table["stable"]]
    if len(unstable):
        ax.plot(unstable["lam"], unstable["mse"], "x", color="red", label="unstable (λξ ≥ 2)")
    ax.set_yscale("log")
    ax.set_xlabel("λ")
    ax.set_ylabel("MSE about target")
    ax.legend()
    return ax


def stability_region_plot(xis=(0.5, 1.0, 1.5, 2.0, 3.0), form="butler_stefani", n=201, ax=None):
    """Stability regions of the double-EWMA loop in (λ₁, λ₂) for several gain ratios ξ.

    Each ξ's region (:func:`fabnb.control.stability_region`) is shaded and its boundary
    drawn (unless the whole square is stable, as for ξ ≤ 1); regions shrink as
    ξ (true gain / model gain) grows.  Returns the Axes.

    Example
    -------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = stability_region_plot((1.0, 2.0), n=51)
    >>> len(ax.get_legend().get_texts())
    2
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5), constrained_layout=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, xi in enumerate(sorted(xis, reverse=True)):
        region = stability_region(xi, form, n)
        lam1, lam2 = region["lam1"].values, region["lam2"].values
        colour = colours[k % len(colours)]
        stable = region.values.T.astype(float)  # rows: λ₂, columns: λ₁
        share = float(np.mean(stable))
        if share < 1:  # a region that is the whole square would only grey out the others
            ax.contourf(lam1, lam2, stable, levels=[0.5, 1.5], colors=[colour], alpha=0.15)
            ax.contour(lam1, lam2, stable, levels=[0.5], colors=[colour], linewidths=1.5)
        ax.plot([], [], color=colour, lw=6, alpha=0.5,
                label=f"ξ = {xi:g}: " + ("all stable" if share == 1 else f"{100 * share:.0f} % stable"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("λ₁ (level)")
    ax.set_ylabel("λ₂ (drift)")
    ax.set_title(f"double EWMA ({form.replace('_', '–').title()}) stable region")
    ax.legend(fontsize=8, loc="upper right")
    return ax
