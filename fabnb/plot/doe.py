"""Plots for designed experiments: half-normal (Daniel) plot with Lenth's margins,
main-effects, interaction and cube plots, residual diagnostics, response-surface contours.

Every function draws with matplotlib, keeps no state, and takes the outputs of
:mod:`fabnb.doe` (a design DataFrame, a :class:`fabnb.doe.DoeResult`); ``ax=`` draws
into an existing Axes where the plot is one Axes. Import it as ``fabnb.plot.doe``.

>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb.doe as doe, fabnb.plot.doe as dplot
>>> d = doe.full_factorial(["A", "B", "C", "D"])
>>> d["y"] = 3 * d["A"] + 2 * d["A"] * d["B"] + 0.1 * d["std_order"] % 1
>>> ax = dplot.half_normal_plot(doe.analyze(d, "y", model="full"))
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from .._params import check_option
from ..errors import FabParameterError

__all__ = ["contour_plot", "cube_plot", "half_normal_plot", "interaction_plot",
           "main_effects_plot", "residual_plots"]


def _axes(ax, figsize=(5.2, 4.2)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def half_normal_quantiles(m):
    """Half-normal plotting positions ``Φ⁻¹(0.5 + 0.5 (i - 0.5) / m)``, i = 1..m."""
    return stats.norm.ppf(0.5 + 0.5 * (np.arange(1, m + 1) - 0.5) / m)


def half_normal_plot(result, ax=None, label_all=False):
    """Daniel's half-normal plot of |effects| with Lenth's ME and SME as vertical lines
    (when the model is saturated and Lenth's method applies); effects beyond ME are
    labelled (all with ``label_all``, or when there is no Lenth margin).

    Only the one-degree-of-freedom effects are plotted (``result.one_df_effects``, the
    ones Lenth's method pools): the treatment contrasts of a categorical factor with more
    than two levels are correlated, so they are not independent draws of the half-normal
    distribution; the title says how many were left out. The i-th smallest of ``m``
    absolute effects is plotted at the half-normal quantile
    ``Φ⁻¹(0.5 + 0.5 (i - 0.5) / m)`` (Montgomery, *Design and Analysis of Experiments*,
    Sec. 6.5).

    The sorted absolute effects are the x data of the Axes' first line (gid
    ``"effects"``); the margins are lines with gids ``"lenth-me"`` and ``"lenth-sme"``.
    """
    ax = _axes(ax)
    effects = result.effects[result.one_df_effects].abs().sort_values()
    left_out = len(result.effects) - len(effects)
    q = half_normal_quantiles(len(effects))
    ax.plot(effects.to_numpy(), q, "o", color="#1f77b4", gid="effects")
    if result.lenth is not None:
        me, sme = result.lenth.me, result.lenth.sme
        ax.axvline(me, color="#d62728", ls="--", gid="lenth-me", label=f"Lenth ME = {me:.3g}")
        ax.axvline(sme, color="#9467bd", ls=":", gid="lenth-sme", label=f"SME = {sme:.3g}")
        # reference line through the origin with slope 1/PSE (inactive effects lie on it)
        top = q.max() * 1.05
        ax.plot([0, top * result.lenth.pse], [0, top], color="grey", lw=0.8)
        ax.legend(loc="lower right", fontsize=8)
    threshold = -np.inf if label_all or result.lenth is None else result.lenth.me
    for (name, value), y in zip(effects.items(), q):
        if value > threshold:
            ax.annotate(name, (value, y), xytext=(4, 0), textcoords="offset points", fontsize=8)
    ax.set_xlabel("|effect|")
    ax.set_ylabel("half-normal quantile")
    note = f" ({left_out} categorical contrast(s) not shown)" if left_out else ""
    ax.set_title(f"Half-normal plot: {result.response}{note}")
    return ax


def main_effects_plot(design, response, factors=None):
    """Mean response at each level of each factor (one panel per factor, shared y)."""
    factors = factors or design.attrs["doe"]["factors"]
    fig, axes = plt.subplots(1, len(factors), figsize=(2.4 * len(factors), 3), sharey=True,
                             squeeze=False)
    grand = design[response].mean()
    for ax, factor in zip(axes[0], factors):
        means = design.groupby(factor)[response].mean()
        ax.plot(means.index, means.to_numpy(), "o-", color="#1f77b4")
        ax.axhline(grand, color="grey", lw=0.8, ls=":")
        ax.set_xlabel(factor)
    axes[0][0].set_ylabel(f"mean {response}")
    fig.suptitle("Main effects")
    fig.tight_layout()
    return fig


def interaction_plot(design, response, a, b, ax=None):
    """Mean response against factor ``a``, one line per level of ``b``: non-parallel
    lines are an interaction."""
    ax = _axes(ax)
    table = design.groupby([b, a])[response].mean().unstack(a)
    for level, row in table.iterrows():
        text = f"{level:g}" if isinstance(level, (int, float, np.number)) else str(level)
        ax.plot(row.index, row.to_numpy(), "o-", label=f"{b} = {text}")
    ax.set_xlabel(a)
    ax.set_ylabel(f"mean {response}")
    ax.legend(fontsize=8)
    ax.set_title(f"Interaction {a} × {b}")
    return ax


def cube_plot(design, response, factors=None, ax=None):
    """Mean response at the 8 corners of three two-level factors, drawn as a cube."""
    factors = list(factors or design.attrs["doe"]["factors"][:3])
    ax = _axes(ax, (5, 4.6))
    corners = design[~design["center_point"]].groupby(factors)[response].mean()
    depth = np.array([0.45, 0.3])

    def where(x, y, z):
        return np.array([x, y]) + (z + 1) / 2 * depth

    for x, y, z in [(x, y, z) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]:
        for dx, dy, dz in ((2, 0, 0), (0, 2, 0), (0, 0, 2)):
            if x + dx <= 1 and y + dy <= 1 and z + dz <= 1:
                p, q = where(x, y, z), where(x + dx, y + dy, z + dz)
                ax.plot([p[0], q[0]], [p[1], q[1]], color="grey", lw=0.8)
        if (x, y, z) in corners.index:
            p = where(x, y, z)
            ax.annotate(f"{corners[(x, y, z)]:.4g}", p, ha="center", va="center", fontsize=9,
                        bbox={"boxstyle": "round", "fc": "white", "ec": "#1f77b4"})
    ax.set_xlabel(f"{factors[0]}  (- → +)")
    ax.set_ylabel(f"{factors[1]}  (- → +)")
    ax.set_title(f"Cube plot of {response}; depth: {factors[2]}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlim(-1.4, 1.8)
    ax.set_ylim(-1.4, 1.7)
    return ax


def residual_plots(result):
    """Four residual diagnostics: normal probability, vs fitted, vs run order, histogram."""
    resid = np.asarray(result.fit.resid)
    fitted = np.asarray(result.fit.fittedvalues)
    fig, axes = plt.subplots(2, 2, figsize=(8, 6))
    (osm, osr), (slope, intercept, _) = stats.probplot(resid)
    axes[0, 0].plot(osm, osr, "o")
    axes[0, 0].plot(osm, slope * osm + intercept, color="grey")
    axes[0, 0].set(title="Normal probability", xlabel="normal quantile", ylabel="residual")
    axes[0, 1].plot(fitted, resid, "o")
    axes[0, 1].axhline(0, color="grey")
    axes[0, 1].set(title="Residuals vs fitted", xlabel="fitted", ylabel="residual")
    order = result.run_order if result.run_order is not None else np.arange(1, len(resid) + 1)
    idx = np.argsort(order)
    axes[1, 0].plot(np.asarray(order)[idx], resid[idx], "o-")
    axes[1, 0].axhline(0, color="grey")
    axes[1, 0].set(title="Residuals vs run order", xlabel="run order", ylabel="residual")
    axes[1, 1].hist(resid, bins="auto", color="#1f77b4")
    axes[1, 1].set(title="Histogram", xlabel="residual")
    fig.tight_layout()
    return fig


def contour_plot(result, x, y, hold=None, ax=None, extent=None, levels=15):
    """Contours of the fitted response over coded numeric factors ``x`` and ``y``; marks
    the stationary point when there is one.

    The other factors are held at ``hold`` (factor -> coded value, or level label for a
    categorical factor); a numeric factor not in ``hold`` is held at its centre (0), a
    categorical factor not in ``hold`` is averaged over its levels (0.0 need not be one
    of its levels, see :meth:`fabnb.doe.DoeResult.predict`)."""
    factors = list(result.factors)
    numeric = [f for f in factors if f not in result.categorical]
    check_option("contour_plot", "x", x, numeric)
    check_option("contour_plot", "y", y, [f for f in numeric if f != x])
    unknown = sorted(set(hold or {}) - set(factors))
    if unknown:  # a misspelt factor would silently be held at 0
        raise FabParameterError(f"The 'hold' parameter of contour_plot names unknown factor(s) "
                                f"{unknown}; the factors are {factors}.")
    lo, hi = extent or (-1.5, 1.5)
    if not lo < hi:
        raise FabParameterError(f"The 'extent' parameter of contour_plot must be (low, high) "
                                f"with low < high. Got {extent!r} instead.")
    ax = _axes(ax)
    gx, gy = np.meshgrid(np.linspace(lo, hi, 81), np.linspace(lo, hi, 81))
    held = {f: (hold or {}).get(f, 0.0) for f in numeric}
    held.update({f: v for f, v in (hold or {}).items() if f in result.categorical})
    points = {f: np.full(gx.size, v, dtype=object if isinstance(v, str) else float) for f, v in held.items()}
    points[x], points[y] = gx.ravel(), gy.ravel()
    z = result.predict(points).reshape(gx.shape)
    cs = ax.contourf(gx, gy, z, levels=levels, cmap="viridis")
    ax.contour(gx, gy, z, levels=levels, colors="k", linewidths=0.4)
    ax.figure.colorbar(cs, ax=ax, label=result.response)  # the Axes' figure, not pyplot's current one
    sp = result.stationary
    if sp is not None and lo <= sp.coded[x] <= hi and lo <= sp.coded[y] <= hi:
        ax.plot(sp.coded[x], sp.coded[y], "r*", ms=12, label=f"stationary ({sp.kind})")
        ax.legend(fontsize=8)
    averaged = [f for f in result.categorical if f not in held]
    title = f"Fitted {result.response}" + (f" (averaged over {', '.join(averaged)})" if averaged else "")
    ax.set(xlabel=f"{x} (coded)", ylabel=f"{y} (coded)", title=title)
    return ax
