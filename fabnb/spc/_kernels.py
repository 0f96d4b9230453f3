"""Numba kernels of the SPC/FDC statistics.  The streaming paths call the batch kernels
on one sample, so a stream and a batch run the same compiled code (two separately
compiled copies of one step may differ in the last bit, e.g. where one fuses a
multiply-add and the other does not)."""

import numpy as np
from numba import njit


@njit(cache=True)
def cusum_step(cp, cm, z, k):
    """One tabular-CUSUM step on a standardised sample ``z``."""
    return max(0.0, cp + z - k), max(0.0, cm - z - k)


@njit(cache=True)
def cusum_batch(z, k, cp0, cm0):
    n = z.shape[0]
    cp = np.empty(n)
    cm = np.empty(n)
    a, b = cp0, cm0
    for t in range(n):
        if np.isnan(z[t]):  # a missing sample leaves the statistic as it was
            cp[t] = np.nan
            cm[t] = np.nan
            continue
        a, b = cusum_step(a, b, z[t], k)
        cp[t] = a
        cm[t] = b
    return cp, cm


@njit(cache=True)
def ewma_step(prev, x, lam):
    return lam * x + (1.0 - lam) * prev


@njit(cache=True)
def ewma_batch(x, lam, z0):
    n = x.shape[0]
    out = np.empty(n)
    z = z0
    for t in range(n):
        if np.isnan(x[t]):
            out[t] = np.nan
            continue
        z = ewma_step(z, x[t], lam)
        out[t] = z
    return out


@njit(cache=True)
def t2q_step(x, mean, scale, loadings, eigvals, t2_contrib, q_contrib):
    """Hotelling T² and Q (SPE) of one sample, filling per-variable contributions.

    ``xs = (x − mean)/scale``, scores ``t = Pᵀ xs``, ``T² = Σ_a t_a² / λ_a``; the
    T² contribution of variable j is ``xs_j Σ_a p_ja t_a / λ_a`` (they sum to T²);
    residual ``e = xs − P t``, ``Q = Σ_j e_j²`` with contribution ``e_j²``.
    """
    p, a = loadings.shape
    xs = (x - mean) / scale
    t = np.zeros(a)
    for c in range(a):
        s = 0.0
        for j in range(p):
            s += loadings[j, c] * xs[j]
        t[c] = s
    t2 = 0.0
    for c in range(a):
        t2 += t[c] * t[c] / eigvals[c]
    q = 0.0
    for j in range(p):
        rec = 0.0
        w = 0.0
        for c in range(a):
            rec += loadings[j, c] * t[c]
            w += loadings[j, c] * t[c] / eigvals[c]
        e = xs[j] - rec
        q_contrib[j] = e * e
        t2_contrib[j] = xs[j] * w
        q += e * e
    return t2, q


@njit(cache=True)
def t2q_batch(X, mean, scale, loadings, eigvals):
    n, p = X.shape
    t2 = np.empty(n)
    q = np.empty(n)
    c1 = np.empty(p)
    c2 = np.empty(p)
    for i in range(n):
        t2[i], q[i] = t2q_step(X[i], mean, scale, loadings, eigvals, c1, c2)
    return t2, q
