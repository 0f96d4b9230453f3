"""Numba kernel of the nearest-neighbour residual, for every wafer, die and test in one
pass over the value cube as the dataset stores it (wafer, die, test)."""

import numpy as np
from numba import njit


@njit(cache=True)
def _median8(b):
    """Median of the eight values ``b[:8]``: Batcher's 19-comparator sorting network on
    registers (branch-free min/max), then the mean of the two middle values."""
    a0, a1, a2, a3, a4, a5, a6, a7 = b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
    a0, a2 = min(a0, a2), max(a0, a2)
    a1, a3 = min(a1, a3), max(a1, a3)
    a4, a6 = min(a4, a6), max(a4, a6)
    a5, a7 = min(a5, a7), max(a5, a7)
    a0, a4 = min(a0, a4), max(a0, a4)
    a1, a5 = min(a1, a5), max(a1, a5)
    a2, a6 = min(a2, a6), max(a2, a6)
    a3, a7 = min(a3, a7), max(a3, a7)
    a0, a1 = min(a0, a1), max(a0, a1)
    a2, a3 = min(a2, a3), max(a2, a3)
    a4, a5 = min(a4, a5), max(a4, a5)
    a6, a7 = min(a6, a7), max(a6, a7)
    a2, a4 = min(a2, a4), max(a2, a4)
    a3, a5 = min(a3, a5), max(a3, a5)
    a1, a4 = min(a1, a4), max(a1, a4)
    a3, a6 = min(a3, a6), max(a3, a6)
    a1, a2 = min(a1, a2), max(a1, a2)
    a3, a4 = min(a3, a4), max(a3, a4)
    a5, a6 = min(a5, a6), max(a5, a6)
    return 0.5 * (a3 + a4)


@njit(cache=True)
def _median(b, m):
    """Median of ``b[:m]``: eight values (an interior die with every neighbour measured,
    the common case) through :func:`_median8`, other counts by insertion sort (in place)."""
    if m == 8:
        return _median8(b)
    for i in range(1, m):
        x = b[i]
        k = i - 1
        while k >= 0 and b[k] > x:
            b[k + 1] = b[k]
            k -= 1
        b[k + 1] = x
    h = m // 2
    return b[h] if m % 2 else 0.5 * (b[h - 1] + b[h])


@njit(cache=True)
def neighbour_residual(values, table, min_count):
    """``values`` (wafer, die, test), ``table`` (die, offsets) of neighbour indices (-1
    none): ``value − median`` of the finite neighbour values, NaN where the die is not
    measured or has fewer than ``min_count`` measured neighbours.

    A die's neighbours are whole (test,) rows of the cube, read once per die for all
    tests; each test's neighbourhood is at most a few dozen values.
    """
    n_w, n_d, n_t = values.shape
    n_o = table.shape[1]
    out = np.full((n_w, n_d, n_t), np.nan)
    buf = np.empty(n_o)
    for w in range(n_w):
        cube = values[w]
        for d in range(n_d):
            for t in range(n_t):
                x = cube[d, t]
                if not np.isfinite(x):
                    continue
                m = 0
                for j in range(n_o):
                    nb = table[d, j]
                    if nb >= 0:
                        y = cube[nb, t]
                        if np.isfinite(y):
                            buf[m] = y
                            m += 1
                if m >= min_count:
                    out[w, d, t] = x - _median(buf, m)
    return out

