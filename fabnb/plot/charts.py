"""Charts beside the maps: the bin Pareto and radial profiles.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> from fabnb.plot import bin_pareto
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ax = bin_pareto(ds, top=5)
>>> len(ax.patches) <= 6  # five bins and "other"
True
"""

from __future__ import annotations

import numpy as np

from .. import summary
from .._params import Integral, Interval, StrOptions, check_params
from . import _draw
from .maps import _palette, _value_label

PARETO_CONSTRAINTS = {
    "kind": [StrOptions(set(summary.BIN_KINDS))],
    "top": [Interval(Integral, 1, None, closed="left"), None],
    "include_pass": ["boolean"],
}


def bin_pareto(ds, ax=None, kind="hbin", top=10, include_pass=False, title=None):
    """Bars of the ``top`` most frequent bins (pass excluded by default), then one grey
    ``other`` bar holding every remaining bin, with the cumulative share as a line on a
    second axis, from :func:`fabnb.summary.bin_counts`.

    The bars hold every counted die (the failing dies, plus the passing ones with
    ``include_pass=True``), so the bar heights sum to that count and the cumulative line
    ends at exactly 100 %: point ``k`` is ``100 · (n₁ + … + n_k) / Σ n``.  ``top=None``
    draws every bin, and so does a ``top`` that leaves a single bin over (no ``other``
    bar of one bin).

    Returns the bar Axes (the cumulative line lives on its twin, ``ax.cum_ax``).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = bin_pareto(ds, top=2)
    >>> ax.get_xticklabels()[-1].get_text().split()
    ['other', '2', 'bins']
    >>> float(ax.cum_ax.get_lines()[0].get_ydata()[-1])
    100.0
    """
    check_params("bin_pareto", PARETO_CONSTRAINTS,
                 {"kind": kind, "top": top, "include_pass": include_pass})
    table = summary.bin_counts(ds, kind, include_pass=include_pass)
    # one remaining bin is drawn as itself, not as an "other" of one
    split = len(table) if top is None or len(table) <= top + 1 else top
    shown, rest = table.iloc[:split], table.iloc[split:]
    counts = shown["count"].to_numpy()
    labels = [f"{b}\n{n}" if n else str(b) for b, n in zip(shown["bin"], shown["name"])]
    palette = _palette(ds, kind)
    colors = [palette[int(b)] for b in shown["bin"]]
    if len(rest):
        counts = np.append(counts, rest["count"].sum())
        labels.append(f"other\n{len(rest)} bins")
        colors.append(_draw.OTHER_COLOR)
    ax = _draw.new_axes(ax, figsize=(6.4, 3.8))
    positions = np.arange(counts.size)
    ax.bar(positions, counts, color=colors)
    ax.set_xticks(positions, labels)
    ax.set_xlabel(kind)
    ax.set_ylabel("dies")
    cum = ax.twinx()
    # integer running sums over the integer total: the last point is exactly 100
    cum.plot(positions, 100 * np.cumsum(counts) / max(counts.sum(), 1), "o-", color="black",
             lw=1.2, ms=4)
    cum.set_ylim(0, 105)
    cum.set_ylabel("cumulative share [%]")
    ax.cum_ax = cum
    if table.empty:
        ax.text(0.5, 0.5, "no failing dies", transform=ax.transAxes, ha="center")
    ax.set_title(f"{kind} Pareto over {ds.sizes['wafer']} wafers" if title is None else title)
    return ax


def radial_profile(ds, test, wafers=None, ax=None, n_rings=12, legend_max=10, title=None):
    """Radial profile (ring means vs radius) of ``test``, one line per wafer, from
    :func:`fabnb.summary.radial_signature`; spec limits dashed when the test has them.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = radial_profile(ds, "T01", wafers=list(ds.wafer.values[:3]))
    >>> len(ax.get_lines()) >= 3
    True
    """
    check_params("radial_profile", {"legend_max": [Interval(Integral, 0, None, closed="left")]},
                 {"legend_max": legend_max})
    ids = summary.resolve_wafers(ds, wafers)
    sig = summary.radial_signature(ds, test, wafer=ids, n_rings=n_rings)
    test = sig.attrs["test"]
    ax = _draw.new_axes(ax, figsize=(6.4, 3.8))
    colors = _draw.colormap("viridis")(np.linspace(0, 0.9, len(ids)))
    thin = len(ids) > legend_max
    for color, wafer in zip(colors, ids):
        profile = sig["profile"].sel(wafer=wafer).values
        ring = np.isfinite(profile)  # rings holding no die centre have no mean
        ax.plot(sig["ring_r"].values[ring], profile[ring], "-" if thin else "o-", color=color, ms=3,
                lw=0.8 if thin else 1.4, alpha=0.6 if thin else 1.0, label=wafer)
    for limit in ("lsl", "usl"):
        level = float(ds[limit].sel(test=test)) if limit in ds.coords else np.nan
        if np.isfinite(level):
            ax.axhline(level, ls="--", color="#555555", lw=0.8)
            ax.annotate(limit.upper(), (1, level), xycoords=("axes fraction", "data"),
                        xytext=(2, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel(f"radius [{_draw.length_unit(ds)}]")
    ax.set_ylabel(_value_label(ds, test))
    if not thin:
        ax.legend(fontsize="small", ncols=2 if len(ids) > 5 else 1)
    ax.set_title(f"radial profile of {summary.clean_test_name(test)}" if title is None else title)
    return ax
