"""Histograms of a test against its spec limits.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ax = fabnb.plot.limits_histogram(ds, "T01")
>>> ax.get_xlabel()
'T01 [V]'
"""

from __future__ import annotations

import numpy as np

from .. import summary
from .._params import Integral, Interval, check_params
from . import _draw
from .color_scale import tukey_range
from .maps import _value_label

#: at most this many bars, so a few far outliers cannot turn "auto" bins into thousands
MAX_BARS = 100
_INSIDE_COLOR = "#9a9a9a"  # neutral: only the failing sides are coloured


def _window(values, lsl, usl):
    """The x range: the values inside Tukey's outer fences ``Q1 − 3 IQR``, ``Q3 + 3 IQR``
    (:func:`~fabnb.plot.color_scale.tukey_range`, the maps' robust colour scale) and
    both limits, padded by 5 %, so a few far outliers cannot squash the limits into one
    bar."""
    lo, hi = tukey_range(values)
    lo, hi = np.nanmin([lo, lsl]), np.nanmax([hi, usl])
    pad = 0.05 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
    return lo - pad, hi + pad


def limits_histogram(ds, test, wafer=None, ax=None, bins=None, title=None):
    """Histogram of one test's values with its LSL/USL and the dies failing each side.

    Bars are stacked by where the dies sit against the limits (below LSL and above USL
    in the colour scales' under/over colours, blue and magenta; inside grey), the limits
    are dashed vertical lines, and the legend states how many dies fail low and high out
    of how many were measured.  NaN (not measured) dies are left out and counted in the
    title.

    Parameters
    ----------
    test
        Anything :func:`fabnb.summary.resolve_test` accepts: name, test number, clean
        name or a unique part of it.
    wafer
        One wafer id, a list of them, or None for every wafer.
    bins
        Number of bars; default numpy's ``"auto"`` rule, capped at ``MAX_BARS``.

    The x range covers the values inside Tukey's outer fences (3 IQR beyond the
    quartiles) and both limits, padded by 5 %; dies beyond it are drawn in the end bars
    and counted in a note, so a few far outliers cannot squash the limits into one bar.

    Returns the Axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> ax = limits_histogram(ds, "t01", wafer=str(ds.wafer.values[0]))
    >>> [t.get_text().split(" (")[0] for t in ax.get_legend().get_texts()]
    ['LSL 0.31', 'USL 0.39']
    """
    check_params("limits_histogram", {"bins": [Interval(Integral, 1, None, closed="left"), None]},
                 {"bins": bins})
    name = summary.resolve_test(ds, test)
    ids = summary.resolve_wafers(ds, wafer)
    status = summary.spec_status(ds, name, ids).values.ravel()
    values = ds["value"].sel(test=name, wafer=ids).values.ravel().astype(float)
    measured = np.isfinite(values)
    lsl, usl = (float(ds[k].sel(test=name)) if k in ds.coords else np.nan for k in ("lsl", "usl"))
    shown = values[measured]
    ax = _draw.new_axes(ax, figsize=(6.4, 3.8))
    if shown.size:
        lo, hi = _window(shown, lsl, usl)
        clipped = np.clip(values, lo, hi)  # far outliers sit in the end bars, counted below
        span = np.concatenate([clipped[measured], [v for v in (lsl, usl) if np.isfinite(v)]])
        edges = np.histogram_bin_edges(span, bins if bins is not None else "auto")
        if edges.size > MAX_BARS + 1:
            edges = np.histogram_bin_edges(span, MAX_BARS)
        groups = [clipped[status == s] for s in (-1, 0, 1)]
        ax.hist(groups, bins=edges, stacked=True,
                color=[_draw.UNDER_COLOR, _INSIDE_COLOR, _draw.OVER_COLOR])
        for side, n, x, align in (("below", int((shown < lo).sum()), 0.01, "left"),
                                  ("above", int((shown > hi).sum()), 0.99, "right")):
            if n:
                ax.text(x, 0.97, f"{n} {side} {lo if side == 'below' else hi:.4g} in the end bar",
                        transform=ax.transAxes, ha=align, va="top", fontsize="x-small")
    else:
        ax.text(0.5, 0.5, "no measured values", transform=ax.transAxes, ha="center")
    n_low, n_high = int((status == -1).sum()), int((status == 1).sum())
    for level, label, count, color in ((lsl, "LSL", n_low, _draw.UNDER_COLOR),
                                       (usl, "USL", n_high, _draw.OVER_COLOR)):
        if np.isfinite(level):
            ax.axvline(level, ls="--", lw=1.2, color=color,
                       label=f"{label} {level:g} ({count} of {shown.size} dies "
                             f"{'below' if label == 'LSL' else 'above'})")
    if np.isfinite(lsl) or np.isfinite(usl):
        ax.legend(fontsize="small", loc="upper right", framealpha=0.85)
    ax.set_xlabel(_value_label(ds, name))
    ax.set_ylabel("dies")
    where = ids[0] if len(ids) == 1 else f"{len(ids)} wafers"
    missing = int((~measured).sum())
    default = f"{summary.clean_test_name(name)} · {where}" + (f" · {missing} dies not measured" if missing else "")
    ax.set_title(default if title is None else title, fontsize="medium")
    return ax
