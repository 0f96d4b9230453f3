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
>>> fabnb.plot.bin_palette([1, 2])[1] == fabnb.plot.bin_palette([1, 7])[1]  # keyed on the code
True
"""

from ._draw import bin_hex, bin_palette
from .charts import bin_pareto, radial_profile
from .maps import bin_map, stacked_map, wafer_gallery, wafer_map
from .histogram import limits_histogram

__all__ = ["bin_hex", "bin_map", "bin_palette", "bin_pareto", "radial_profile", "stacked_map",
           "limits_histogram", "wafer_gallery", "wafer_map"]
