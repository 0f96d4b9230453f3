"""Run charts of a run-to-run simulation (output, recipe, error over wafers)."""

from __future__ import annotations

import matplotlib.pyplot as plt


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
