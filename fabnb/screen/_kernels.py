"""Numba kernel of the nearest-neighbour residual's estimate, for every wafer, test and
die in one pass."""

import numpy as np
from numba import njit


@njit(cache=True)
def neighbour_median(values, table, min_count):
    """``values`` (wafer, test, die), ``table`` (die, offsets) of neighbour indices (-1
    none): the median of the finite neighbour values, NaN with fewer than ``min_count``.

    Dies are the last axis so a die's neighbours (±1 and ±one map row away) sit close in
    memory; each neighbourhood is insertion-sorted as it is gathered (a few dozen values
    at most).
    """
    n_w, n_t, n_d = values.shape
    out = np.full((n_w, n_t, n_d), np.nan)
    buf = np.empty(table.shape[1])
    for w in range(n_w):
        for t in range(n_t):
            row = values[w, t]
            for d in range(n_d):
                m = 0
                for j in range(table.shape[1]):
                    nb = table[d, j]
                    if nb < 0:
                        continue
                    x = row[nb]
                    if not np.isfinite(x):
                        continue
                    i = m - 1
                    while i >= 0 and buf[i] > x:
                        buf[i + 1] = buf[i]
                        i -= 1
                    buf[i + 1] = x
                    m += 1
                if m >= min_count:
                    h = m // 2
                    out[w, t, d] = buf[h] if m % 2 else 0.5 * (buf[h - 1] + buf[h])
    return out
