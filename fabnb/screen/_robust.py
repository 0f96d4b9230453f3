"""Robust location and scale of many slices at once.

``median`` and ``σ̃ = IQR / 1.35`` (AEC-Q001's robust sigma; the IQR of N(0, 1) is
1.349) with NumPy's default quantile definition (linear interpolation between order
statistics, R's type 7: ``q`` sits at position ``q (n − 1)`` of the sorted finite
values).  One sort of the whole array replaces ``np.nanquantile``'s per-slice loop.
"""

from __future__ import annotations

import numpy as np

ROBUST_SIGMA_IQR = 1.35


def nan_quantiles(x: np.ndarray, qs, axis: int) -> np.ndarray:
    """Quantiles ``qs`` of the finite values of ``x`` along ``axis`` (NaN where none);
    the result has the quantiles first, then ``x``'s shape without ``axis``.

    >>> x = np.array([[1.0, np.nan, 3.0, 2.0], [np.nan] * 4])
    >>> nan_quantiles(x, [0.5], axis=1).tolist()
    [[2.0, nan]]
    """
    # Sort along a contiguous last axis (several times faster than a strided one);
    # non-finite values become +inf and sort last.
    s = np.ascontiguousarray(np.moveaxis(np.where(np.isfinite(x), x, np.inf), axis, -1))
    s.sort(axis=-1)
    n = np.isfinite(s).sum(axis=-1)
    out = np.full((len(qs),) + n.shape, np.nan)
    have = n > 0
    for i, q in enumerate(qs):
        pos = q * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        a = np.take_along_axis(s, lo[..., None], -1)[..., 0]
        b = np.take_along_axis(s, hi[..., None], -1)[..., 0]
        with np.errstate(invalid="ignore"):
            out[i] = np.where(have, a + (pos - lo) * (b - a), np.nan)
    return out


def median_sigma(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(median, IQR / 1.35) of the finite values along ``axis``."""
    q1, med, q3 = nan_quantiles(x, (0.25, 0.5, 0.75), axis)
    return med, (q3 - q1) / ROBUST_SIGMA_IQR
