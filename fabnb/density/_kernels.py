"""Numba kernels of the KDE: mixture sums with one bandwidth per data point.

Everything arrives in standardised coordinates ``z`` (the caller divides by the
bandwidth), so kernel ``j`` is the unit kernel scaled by its own factor.

Epanechnikov in 1-D: a polynomial sweep (:func:`epanechnikov_sweep_1d`), O(n log m + m)
for the pdf and the CDF whatever the overlap.

Epanechnikov in d > 1 (compact support, radius ``R_j``): the sums are *scattered* from the data
to the evaluation points.  Evaluation points are sorted on their first coordinate, so
data point ``j`` finds the points it touches, those with ``|x_0 − t_j0| < R_j``, by two
binary searches and visits only them: the cost is ``n log m`` plus the number of
(point, data) pairs that actually overlap, ~linear in ``n`` for a fixed density of
points, whatever the spread of the per-point radii.  Each thread scatters its own
block of the data into its own row of the output, rows summed at the end (no races).

Gaussian (no compact support): a plain gather over every data point, parallel over
evaluation points — exact, no truncation, O(n·m); the log density by log-sum-exp.
"""

import math

import numpy as np
from numba import njit, prange


@njit(cache=True)
def epanechnikov_norm(d):
    """Normalising constant ``(d + 2) / (2 V_d)`` of ``K(u) = c (1 − ‖u‖²)`` on the unit ball."""
    vd = math.pi ** (d / 2.0) / math.gamma(d / 2.0 + 1.0)
    return (d + 2.0) / (2.0 * vd)


@njit(cache=True)
def epanechnikov_block(data, radius, points, key, j0, j1, out):
    """Add Σ_{j0 ≤ j < j1} c·(1 − ‖x − t_j‖²/R_j²)₊ / R_j^d to ``out`` at each point.

    ``key`` is ``points[:, 0]`` sorted ascending (``points`` sorted the same way).
    Serial: small problems call it directly (no thread start-up cost).
    """
    d = data.shape[1]
    c = epanechnikov_norm(d)
    for j in range(j0, j1):
        r = radius[j]
        scale = c / r**d
        lo = np.searchsorted(key, data[j, 0] - r, side="right")
        hi = np.searchsorted(key, data[j, 0] + r, side="left")
        for i in range(lo, hi):
            u2 = 0.0
            for k in range(d):
                diff = (points[i, k] - data[j, k]) / r
                u2 += diff * diff
                if u2 >= 1.0:
                    break
            if u2 < 1.0:
                out[i] += scale * (1.0 - u2)


@njit(cache=True, parallel=True)
def epanechnikov_sum(data, radius, points, key, n_blocks):
    """:func:`epanechnikov_block` over all data, ``n_blocks`` blocks in parallel."""
    n = data.shape[0]
    n_blocks = max(min(n_blocks, n), 1)
    partial = np.zeros((n_blocks, points.shape[0]))
    for b in prange(n_blocks):
        epanechnikov_block(data, radius, points, key, b * n // n_blocks, (b + 1) * n // n_blocks, partial[b])
    return partial.sum(axis=0)


@njit(cache=True, inline="always")
def _scaled_sq(points, i, data, j, h):
    """‖(x_i − t_j) / h‖², the squared distance in bandwidths."""
    u2 = 0.0
    for k in range(data.shape[1]):
        diff = (points[i, k] - data[j, k]) / h
        u2 += diff * diff
    return u2


@njit(cache=True, parallel=True)
def gaussian_sum(data, bw, points):
    """Σ_j φ_d((x − t_j) / h_j) / h_j^d at each point."""
    n, d = data.shape
    m = points.shape[0]
    out = np.zeros(m)
    c = (2.0 * math.pi) ** (-d / 2.0)
    for i in prange(m):
        s = 0.0
        for j in range(n):
            h = bw[j]
            s += math.exp(-0.5 * _scaled_sq(points, i, data, j, h)) / h**d
        out[i] = c * s
    return out


@njit(cache=True, parallel=True)
def gaussian_logsum(data, bw, points):
    """log Σ_j φ_d((x − t_j) / h_j) / h_j^d at each point, by a running log-sum-exp.

    The plain sum underflows to 0 (log −inf) ~38 bandwidths from the data; here each
    term enters as its log relative to the running maximum, so the log is exact far out.
    """
    n, d = data.shape
    m = points.shape[0]
    out = np.empty(m)
    c = -0.5 * d * math.log(2.0 * math.pi)
    for i in prange(m):
        top = -np.inf
        s = 0.0
        for j in range(n):
            h = bw[j]
            e = -0.5 * _scaled_sq(points, i, data, j, h) - d * math.log(h)
            if e > top:
                s = s * math.exp(top - e) + 1.0
                top = e
            else:
                s += math.exp(e - top)
        out[i] = c + top + math.log(s)
    return out


@njit(cache=True)
def _add_terms(sums, s, r, cumulative, sign):
    """Add (sign = ±1) kernel ``j``'s pdf or CDF as a polynomial in ``y = x − a``, ``s = (a − t_j)/R_j``."""
    if cumulative:  # F(u) = 1/2 + 3u/4 − u³/4 with u = s + y/R
        sums[0] += sign * (0.5 + 0.75 * s - 0.25 * s * s * s)
        sums[1] += sign * (0.75 - 0.75 * s * s) / r
        sums[2] += sign * (-0.75 * s) / (r * r)
        sums[3] += sign * (-0.25) / (r * r * r)
    else:  # K(u)/R = 3/4 (1 − u²) / R
        sums[0] += sign * 0.75 * (1.0 - s * s) / r
        sums[1] += sign * (-1.5 * s) / (r * r)
        sums[2] += sign * (-0.75) / (r * r * r)


@njit(cache=True)
def epanechnikov_sweep_1d(data, radius, key, cumulative, block):
    """1-D Σ_j K((x − t_j)/R_j)/R_j (or Σ_j F((x − t_j)/R_j)) at sorted points ``key``.

    Inside its support a kernel is a polynomial in ``x`` (quadratic pdf, cubic CDF), so a
    sweep over the sorted points keeps the summed coefficients of the kernels whose
    support covers the current point: a kernel enters at the first point inside its
    support and leaves after the last (two binary searches each), a finished kernel adds
    a full 1 to the CDF.  Cost O(n log m + m + n·m/block), independent of how many
    kernels overlap.  For accuracy the polynomials are in ``y = x − a`` with an anchor
    ``a`` renewed every ``block`` points (the coefficients are then recomputed from the
    active set), so no large ``t_j/R_j`` ever cancels.
    """
    n = data.shape[0]
    m = key.shape[0]
    first = np.empty(n, dtype=np.int64)
    last = np.empty(n, dtype=np.int64)
    for j in range(n):
        first[j] = np.searchsorted(key, data[j] - radius[j], side="right")
        last[j] = np.searchsorted(key, data[j] + radius[j], side="left")
    starts = np.argsort(first, kind="mergesort")
    ends = np.argsort(last, kind="mergesort")
    active = np.zeros(n, dtype=np.bool_)
    n_active = 0
    sums = np.zeros(4)
    out = np.empty(m)
    next_start = 0
    next_end = 0
    finished = 0.0
    for b0 in range(0, m, block):
        anchor = key[b0]
        sums[:] = 0.0
        for j in range(n):
            if active[j]:
                _add_terms(sums, (anchor - data[j]) / radius[j], radius[j], cumulative, 1.0)
        for i in range(b0, min(b0 + block, m)):
            while next_start < n and first[starts[next_start]] <= i:
                j = starts[next_start]
                if last[j] > i:
                    active[j] = True
                    n_active += 1
                    _add_terms(sums, (anchor - data[j]) / radius[j], radius[j], cumulative, 1.0)
                next_start += 1
            while next_end < n and last[ends[next_end]] <= i:
                j = ends[next_end]
                if active[j]:
                    active[j] = False
                    n_active -= 1
                    _add_terms(sums, (anchor - data[j]) / radius[j], radius[j], cumulative, -1.0)
                    if n_active == 0:  # no kernel left: exactly 0, not the rounding residue of ±terms
                        sums[:] = 0.0
                finished += 1.0
                next_end += 1
            y = key[i] - anchor
            value = sums[0] + y * (sums[1] + y * (sums[2] + y * sums[3]))
            out[i] = value + finished if cumulative else value
    return out
