"""Wafer maps and charts (matplotlib, no global state; every function accepts ``ax=``
where it draws one Axes and returns what it drew on).

All numbers come from :mod:`fabnb.summary` and :mod:`fabnb.geometry`; this package only
maps them to colours.

Example
-------
>>> import matplotlib; matplotlib.use("Agg")
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ax = fabnb.plot.bin_map(ds)
>>> fig = fabnb.plot.wafer_gallery(ds, "T01", ncols=6)
>>> ax = fabnb.plot.limits_histogram(ds, "T01")
>>> ax = fabnb.plot.yield_trend(ds)
>>> fabnb.plot.bin_palette([1, 2])[1] == fabnb.plot.bin_palette([1, 7])[1]  # keyed on the code
True
"""

from . import color_scale  # the module: its function of the same name stays fabnb.plot.color_scale.color_scale
from ._draw import bin_hex, bin_palette
from .charts import bin_pareto, radial_profile
from .color_scale import ColorScale
from .maps import bin_map, stacked_map, wafer_gallery, wafer_map
from .histogram import limits_histogram
from .trend import yield_trend

__all__ = ["ColorScale", "bin_hex", "bin_map", "bin_palette", "bin_pareto", "radial_profile", "stacked_map",
           "color_scale", "limits_histogram", "wafer_gallery", "wafer_map", "yield_trend"]
