r"""Kolmogorov–Smirnov distance ``D = sup_x |F_a(x) − F_b(x)|``.

* two samples: the empirical CDFs are compared at every observed value (the statistic
  of ``scipy.stats.ks_2samp``);
* a fitted 1-D density (anything with ``.cdf``, or a callable CDF) and a sample: the
  one-sample statistic ``max_i max(i/n − F(x_(i)), F(x_(i)) − (i−1)/n)`` (``kstest``).

Example
-------
>>> import numpy as np
>>> from fabnb.density import ks_distance
>>> ks_distance([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
0.0
>>> ks_distance([0.0, 1.0], [2.0, 3.0])
1.0
"""

from __future__ import annotations

import numpy as np

from ..errors import FabDataError


def _cdf_of(obj):
    if hasattr(obj, "cdf"):
        return obj.cdf
    if callable(obj):
        return obj
    return None


def _sample(x, name: str) -> np.ndarray:
    arr = np.asarray(getattr(x, "values", x), dtype=float)
    if arr.ndim != 1:
        arr = arr.squeeze()
    if arr.ndim != 1:
        raise FabDataError(f"{name} must be a 1-D sample; got shape {np.shape(x)}")
    if arr.size == 0:
        raise FabDataError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise FabDataError(f"{name} has {int((~np.isfinite(arr)).sum())} NaN/inf value(s)")
    return np.sort(arr)


def ks_distance(a, b) -> float:
    """KS distance between a sample or fitted 1-D density ``a`` and a sample or density ``b``.

    At least one of the two must be a sample.

    >>> import numpy as np
    >>> from scipy.stats import norm
    >>> x = np.random.default_rng(0).normal(size=5000)
    >>> ks_distance(norm.cdf, x) < 0.03
    True
    """
    cdf_a, cdf_b = _cdf_of(a), _cdf_of(b)
    if cdf_a is not None and cdf_b is not None:
        raise FabDataError("ks_distance needs at least one sample; both arguments are fitted densities")
    if cdf_a is not None or cdf_b is not None:
        cdf, x = (cdf_a, _sample(b, "b")) if cdf_a is not None else (cdf_b, _sample(a, "a"))
        f = np.asarray(cdf(x), dtype=float)
        n = x.size
        upper = np.arange(1, n + 1) / n - f
        lower = f - np.arange(n) / n
        return float(max(upper.max(), lower.max()))
    xa, xb = _sample(a, "a"), _sample(b, "b")
    grid = np.concatenate([xa, xb])
    fa = np.searchsorted(xa, grid, side="right") / xa.size
    fb = np.searchsorted(xb, grid, side="right") / xb.size
    return float(np.abs(fa - fb).max())
