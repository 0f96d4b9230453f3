"""Density and HVM yield estimation (the yield half of the spatio-temporal GP paper).

* :class:`KDE` — Epanechnikov / Gaussian kernel density in d dimensions, fixed or
  adaptive bandwidth (pilot f̂, geometric mean g, λᵢ = (f̂(tᵢ)/g)^−α), exact sampling;
  Numba kernels exploiting the Epanechnikov kernel's compact support.
* :class:`Histogram` — the paper's eq. 5 histogram density.
* :func:`estimate_yield` — empirical / histogram / KDE yield with a bootstrap interval,
  joint over several tests.
* bandwidth rules by their literature names (:mod:`fabnb.density.bandwidth`):
  Silverman's and Scott's rules of thumb (R's ``bw.nrd0``/``bw.nrd``), SciPy's factors
  (``"scipy_silverman"``, the default, and ``"scipy_scott"``), improved Sheather–Jones.
* :func:`ks_distance` — Kolmogorov–Smirnov distance between samples and densities.
* :mod:`fabnb.density.study` — the Section V-B study (early silicon → HVM yield).

Example
-------
>>> import numpy as np
>>> import fabnb
>>> x = np.random.default_rng(0).normal(10.0, 1.0, size=500)
>>> kde = fabnb.density.KDE(adaptive=True).fit(x)
>>> res = fabnb.density.estimate_yield(x, 7.0, 13.0, n_bootstrap=0, seed=0)
>>> round(res.estimate, 3)  # truth 0.997: the KDE's smoothing puts extra mass in the tails
0.986
"""

from .bandwidth import isj_bandwidth, rule_bandwidth, rule_factor, rule_of_thumb
from .histogram import Histogram
from .kde import KDE
from .ks import ks_distance
from .yield_ import YieldEstimate, estimate_yield

__all__ = [
    "KDE",
    "Histogram",
    "YieldEstimate",
    "estimate_yield",
    "isj_bandwidth",
    "ks_distance",
    "rule_bandwidth",
    "rule_factor",
    "rule_of_thumb",
]
