"""Colour scales of the parametric maps: which values the colours span, how the dies
beyond are drawn, and a label that says which scale was used.

One definition for every view: :func:`fabnb.plot.wafer_map`, :func:`fabnb.plot.wafer_gallery`,
:func:`fabnb.plot.stacked_map` and the :class:`fabnb.widgets.WaferMap` widget all call
:func:`color_scale`, so the same data get the same colours and the same legend
everywhere.  Dies below the scale are drawn in ``UNDER_COLOR``, dies above in
``OVER_COLOR`` (never in the colour map's end colours, so a saturated die cannot pass
for an extreme but in-range one), and the scale counts them.

Modes
-----
``"robust"`` (default)
    Tukey's *adjacent values*: the most extreme values inside the fences

        F_lo = Q1 − k·IQR,   F_hi = Q3 + k·IQR,   IQR = Q3 − Q1,

    i.e. ``vmin = min{v : v ≥ F_lo}``, ``vmax = max{v : v ≤ F_hi}``, with k = 3
    (Tukey's outer fences: values beyond are "far out"; J. W. Tukey, *Exploratory Data
    Analysis*, Addison-Wesley 1977, ch. 2; the rule's false-alarm rates are studied in
    Hoaglin, Iglewicz & Tukey, "Performance of some resistant rules for outlier
    labeling", JASA 81 (1986) 991–999).  These are the whisker ends of a box plot with
    ``whis=k`` (:func:`matplotlib.cbook.boxplot_stats`).  The quartiles break down only
    when a quarter of the dies are outliers, and the limits are values *inside* the
    fences, so a few far outliers cannot stretch the scale at all: they are drawn in the
    over/under colours.  Clean data keep their full range (for normal data the outer
    fences sit at ±4.72 σ: one die in 430,000 falls beyond).  P1–P99, the old
    default, is saturated by 1 % of the dies: 8 outliers on a 730-die wafer.  When
    half the dies or more share one value (IQR = 0) the fences collapse onto it and
    the full range is used.
``"spec"``
    ``[LSL, USL]`` of the test: dies out of spec are exactly the under/over dies.  A
    missing limit (NaN or None) is replaced by the data's extreme on that side, so
    nothing is drawn as out of spec on a side without a limit; with neither limit the
    scale is the data's range.
``"range"``
    ``[min, max]`` of the values.
fixed
    ``vmin`` and/or ``vmax`` given by the caller fix that end of any mode; with both,
    the scale is ``"fixed"``.

The label names the mode, the numbers that are not obvious from the colour bar and
where the limits come from, e.g. ``"spec limits LSL 1.2 – USL 1.8 V"``,
``"fixed 0 – 5 V (clim)"``, ``"robust (Tukey fences, 3 IQR) over the test"``,
``"range over the shown wafer"``.

Example
-------
>>> import numpy as np
>>> v = np.r_[np.linspace(1.3, 1.7, 40), 9.0]  # one far outlier
>>> s = color_scale(v, unit="V", where="the wafer")
>>> (s.vmin, s.vmax, s.n_over, s.extend)
(1.3, 1.7, 1, 'max')
>>> s.label
'robust (Tukey fences, 3 IQR) over the wafer'
>>> color_scale(v, "spec", lsl=1.2, usl=1.8, unit="V").label
'spec limits LSL 1.2 – USL 1.8 V'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from matplotlib.colors import Colormap, Normalize

from .._params import Interval, Real, check_option, check_params
from ..errors import FabParameterError
from . import _draw

MODES = ("robust", "spec", "range")
#: Tukey's outer fences: beyond Q1 − 3 IQR / Q3 + 3 IQR a value is "far out"
FENCE = 3.0
UNDER_COLOR = _draw.UNDER_COLOR
OVER_COLOR = _draw.OVER_COLOR
_LIMIT = [Interval(Real, -np.inf, np.inf, closed="neither"), None]  # a finite number or None


@dataclass(frozen=True)
class ColorScale:
    """A colour scale: limits, how many shown dies fall below/above them, the colours
    they are drawn in and the label of the scale (what :func:`color_scale` returns).

    ``vmin``/``vmax`` are NaN when there was nothing to scale (no finite value and no
    fixed limit); ``extend`` is matplotlib's colour-bar ``extend`` ("neither", "min",
    "max", "both"): the sides where dies fall beyond, plus the spec limits' sides.
    """

    vmin: float
    vmax: float
    mode: str
    label: str
    n_under: int
    n_over: int
    extend: str
    lower: str  # the lower end in words: "LSL 1.2", "1.21" (legend: "below LSL 1.2")
    upper: str
    spec_low: bool = False  # the lower end is the test's LSL (spec mode)
    spec_high: bool = False
    under_color: str = UNDER_COLOR
    over_color: str = OVER_COLOR

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.vmin) and np.isfinite(self.vmax))

    def norm(self) -> Normalize:
        """``Normalize(vmin, vmax)`` (0–1 when there was nothing to scale: every die is
        then NaN and drawn in the "bad" colour anyway)."""
        return Normalize(self.vmin, self.vmax) if self.finite else Normalize(0.0, 1.0)

    def cmap(self, cmap="viridis") -> Colormap:
        """``cmap`` with this scale's under/over colours and the missing-die grey for NaN."""
        return _draw.colormap(cmap).with_extremes(under=self.under_color, over=self.over_color)

    def under_text(self) -> str:
        """Legend text of the dies below the scale, e.g. ``"below LSL 1.2 (3)"``."""
        return f"below {self.lower} ({self.n_under})"

    def over_text(self) -> str:
        """Legend text of the dies above the scale, e.g. ``"above USL 1.8 (5)"``."""
        return f"above {self.upper} ({self.n_over})"

    def side(self, values) -> np.ndarray:
        """Per value: -1 below the scale, +1 above, 0 inside or NaN (int8, shape of
        ``values``); all 0 when there is no scale."""
        v = np.asarray(values, dtype=float)
        if not self.finite:
            return np.zeros(v.shape, dtype=np.int8)
        with np.errstate(invalid="ignore"):  # NaN compares False: inside
            return (v > self.vmax).astype(np.int8) - (v < self.vmin).astype(np.int8)

    def recount(self, shown) -> ColorScale:
        """The same limits with the under/over counts of ``shown`` (e.g. the one wafer a
        widget shows of a scale computed over the whole test)."""
        side = self.side(shown)
        n_under, n_over = int((side < 0).sum()), int((side > 0).sum())
        extend = _extend(n_under or self.spec_low, n_over or self.spec_high)
        return replace(self, n_under=n_under, n_over=n_over, extend=extend)


def tukey_range(values, fence: float = FENCE) -> tuple[float, float]:
    """Tukey's adjacent values of the finite ``values``: the smallest value at or above
    ``Q1 − fence·IQR`` and the largest at or below ``Q3 + fence·IQR`` (quartiles by
    linear interpolation, :func:`numpy.quantile`'s default); the full range when
    IQR = 0; ``(nan, nan)`` without finite values.

    >>> tukey_range([1.0, 2.0, 3.0, 4.0, 100.0])
    (1.0, 4.0)
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    q1, q3 = np.quantile(v, [0.25, 0.75])
    iqr = q3 - q1
    if not iqr > 0:
        return float(v.min()), float(v.max())
    inside = v[(v >= q1 - fence * iqr) & (v <= q3 + fence * iqr)]  # holds the median
    return float(inside.min()), float(inside.max())


def check_limits(owner: str, vmin, vmax) -> None:
    """Colour limits are finite numbers (or None) with ``vmin < vmax`` when both are given;
    else :class:`~fabnb.errors.FabParameterError` naming ``owner``."""
    check_params(owner, {"vmin": _LIMIT, "vmax": _LIMIT}, {"vmin": vmin, "vmax": vmax})
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise FabParameterError(f"{owner}: vmin={vmin} must be below vmax={vmax}")


def color_scale(values, scale: str = "robust", *, lsl=None, usl=None, vmin=None, vmax=None,
                shown=None, unit: str = "", where: str = "the values",
                fixed_by: str = "vmin/vmax", fence: float = FENCE,
                owner: str = "color_scale") -> ColorScale:
    """The colour scale of ``values`` (see the module docstring for the math).

    Parameters
    ----------
    values
        The values the limits come from (any shape, NaN = not measured, ignored).
    scale : {"robust", "spec", "range"}
        How the limits are found (the mode); ``vmin``/``vmax`` fix either end in any mode.
    lsl, usl
        The test's spec limits (None or NaN = none); used by ``"spec"``.
    shown
        The values drawn with this scale (default ``values``): the under/over counts are
        of these (e.g. one wafer on a scale computed over every wafer of the test).
    unit, where, fixed_by
        Words for the label: the values' unit, where the limits come from ("the test",
        "the shown wafer", "8 wafers"), and what fixed them ("clim", "vmin/vmax").
    fence
        Tukey's k for ``"robust"`` (3 = outer fences).
    owner
        The function or widget named in a parameter error.

    Returns a :class:`ColorScale`.

    >>> import numpy as np
    >>> s = color_scale(np.arange(10.0), vmin=0, vmax=5, unit="V", fixed_by="clim")
    >>> (s.label, s.n_over)
    ('fixed 0 – 5 V (clim)', 4)
    """
    check_option(owner, "scale", scale, MODES)
    check_params(owner, {"fence": [Interval(Real, 0, None, closed="neither")]}, {"fence": fence})
    check_limits(owner, vmin, vmax)
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    lsl, usl = (_limit(x) for x in (lsl, usl))
    unit_text = f" {unit}" if unit else ""
    mode, spec_low, spec_high = scale, False, False
    if vmin is not None and vmax is not None:
        mode, lo, hi = "fixed", float(vmin), float(vmax)
        lower, upper = f"{lo:g}", f"{hi:g}"
        label = f"fixed {lo:g} – {hi:g}{unit_text} ({fixed_by})"
    else:
        lo, hi, lower, upper, label = _limits(v, mode, lsl, usl, unit_text, where, fence)
        if mode == "spec":
            spec_low, spec_high = lsl is not None and vmin is None, usl is not None and vmax is None
        fixed = []
        if vmin is not None:
            lo, lower = float(vmin), f"{float(vmin):g}"
            fixed.append(f"vmin fixed at {lower}")
        if vmax is not None:
            hi, upper = float(vmax), f"{float(vmax):g}"
            fixed.append(f"vmax fixed at {upper}")
        if fixed:
            label = f"{label}, {', '.join(fixed)} ({fixed_by})"
        lo, hi = _widen(lo, hi, lo_fixed=vmin is not None or spec_low,
                        hi_fixed=vmax is not None or spec_high)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            label = f"no measured values over {where}"
    result = ColorScale(lo, hi, mode, label, 0, 0, "neither", lower, upper, spec_low, spec_high)
    return result.recount(v if shown is None else shown)


def dataset_scale(ds, test: str, values, scale: str = "robust", **kw) -> ColorScale:
    """:func:`color_scale` of one test of a contract Dataset: its ``lsl``/``usl`` and
    ``unit`` coordinates (when present) fill in the limits and the label's unit."""
    def coord(name):
        return ds[name].sel(test=test).values if name in ds.coords else None

    unit = coord("unit")
    return color_scale(values, scale, lsl=coord("lsl"), usl=coord("usl"),
                       unit="" if unit is None else str(unit), **kw)


def _limit(x) -> float | None:
    """A spec limit as a float, or None when absent (None or NaN)."""
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _limits(v, mode, lsl, usl, unit_text, where, fence):
    """``(lo, hi, lower, upper, label)`` of ``mode`` on the finite values ``v``."""
    data_lo, data_hi = (float(v.min()), float(v.max())) if v.size else (np.nan, np.nan)
    if mode == "spec" and (lsl is not None or usl is not None):
        lo, lower = (lsl, f"LSL {lsl:g}") if lsl is not None else (data_lo, f"min {data_lo:.4g}")
        hi, upper = (usl, f"USL {usl:g}") if usl is not None else (data_hi, f"max {data_hi:.4g}")
        missing = " (no LSL)" if lsl is None else " (no USL)" if usl is None else ""
        return lo, hi, lower, upper, f"spec limits {lower} – {upper}{unit_text}{missing}"
    if mode == "robust":
        lo, hi = tukey_range(v, fence)
        label = f"robust (Tukey fences, {fence:g} IQR) over {where}"
    else:  # range, or spec without limits
        lo, hi = data_lo, data_hi
        label = f"range over {where}" + (" (no spec limits)" if mode == "spec" else "")
    if v.size and data_lo == data_hi:
        label += f" (all values {data_lo:g}{unit_text})"
    return lo, hi, f"{lo:.4g}", f"{hi:.4g}", label


def _widen(lo, hi, lo_fixed, hi_fixed):
    """A window with ``lo < hi``: a constant map (or a fixed end past the data) is
    widened on its free side by 5 % of the value (at least 0.05)."""
    if not (np.isfinite(lo) and np.isfinite(hi)) or hi > lo:
        return lo, hi
    pad = 0.05 * max(abs(lo), abs(hi), 1.0)
    if lo_fixed and not hi_fixed:
        return lo, lo + 2 * pad
    if hi_fixed and not lo_fixed:
        return hi - 2 * pad, hi
    mid = (lo + hi) / 2
    return mid - pad, mid + pad


def _extend(low, high) -> str:
    return {(False, False): "neither", (True, False): "min", (False, True): "max",
            (True, True): "both"}[(bool(low), bool(high))]
