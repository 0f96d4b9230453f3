"""Numba kernels of the stationary correlation functions and their length-scale gradients.

All functions take plain float64 arrays and an integer ``kind`` (0 = squared
exponential, 1 = Matérn 3/2, 2 = Matérn 5/2), so each compiles to one signature.

With scaled distance ``r² = Σ_k (Δ_k / ℓ_k)²`` the unit-variance correlations are

* RBF:        ``R = exp(−r²/2)``
* Matérn 3/2: ``R = (1 + √3 r) exp(−√3 r)``
* Matérn 5/2: ``R = (1 + √5 r + 5r²/3) exp(−√5 r)``

and their derivatives with respect to a log length scale are
``∂R/∂log ℓ_k = D(r) (Δ_k/ℓ_k)²`` with ``D = R`` (RBF), ``D = 3 exp(−√3 r)``
(Matérn 3/2) and ``D = (5/3)(1 + √5 r) exp(−√5 r)`` (Matérn 5/2).
"""

import math

import numpy as np
from numba import njit

SQRT3 = math.sqrt(3.0)
SQRT5 = math.sqrt(5.0)


@njit(cache=True, inline="always")
def _corr_and_dfactor(r2, kind):
    """Correlation R(r²) and the factor D(r²) of its log-length-scale derivative."""
    if kind == 0:
        c = math.exp(-0.5 * r2)
        return c, c
    r = math.sqrt(r2)
    if kind == 1:
        e = math.exp(-SQRT3 * r)
        return (1.0 + SQRT3 * r) * e, 3.0 * e
    e = math.exp(-SQRT5 * r)
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * e, (5.0 / 3.0) * (1.0 + SQRT5 * r) * e


@njit(cache=True, inline="always")
def _sq_dist(A, i, B, j):
    """Squared Euclidean distance between row i of A and row j of B."""
    r2 = 0.0
    for k in range(A.shape[1]):
        diff = A[i, k] - B[j, k]
        r2 += diff * diff
    return r2


@njit(cache=True)
def correlation(X1, X2, inv_ls, kind):
    """Cross-correlation matrix ``R[i, j] = R(x1_i, x2_j)`` of shape (n1, n2)."""
    n1 = X1.shape[0]
    n2 = X2.shape[0]
    out = np.empty((n1, n2))
    A = X1 * inv_ls
    B = X2 * inv_ls
    for i in range(n1):
        for j in range(n2):
            r2 = _sq_dist(A, i, B, j)
            out[i, j] = _corr_and_dfactor(r2, kind)[0]
    return out


@njit(cache=True)
def correlation_sym(X, inv_ls, kind):
    """Symmetric correlation matrix of the rows of ``X`` (both triangles filled)."""
    n = X.shape[0]
    out = np.empty((n, n))
    A = X * inv_ls
    for i in range(n):
        out[i, i] = 1.0
        for j in range(i):
            r2 = _sq_dist(A, i, A, j)
            c = _corr_and_dfactor(r2, kind)[0]
            out[i, j] = c
            out[j, i] = c
    return out


@njit(cache=True)
def lengthscale_grad(X, inv_ls, alpha, Kinv_lower, kind, R):
    """``g_k = Σ_{i≠j} (α_i α_j − K⁻¹_ij) ∂R_ij/∂log ℓ_k`` from the lower triangle of K⁻¹.

    Multiplied by ``σ_f²/2`` this is the gradient of the log marginal likelihood with
    respect to ``log ℓ_k`` (the diagonal contributes nothing: Δ = 0 there).  ``R`` is the
    correlation matrix itself: for the squared exponential ``D = R``, so no exponential
    is re-evaluated.
    """
    n, d = X.shape
    A = X * inv_ls
    g = np.zeros(d)
    for i in range(n):
        for j in range(i):
            D = R[i, j] if kind == 0 else _corr_and_dfactor(_sq_dist(A, i, A, j), kind)[1]
            w = 2.0 * (alpha[i] * alpha[j] - Kinv_lower[i, j]) * D
            for k in range(d):
                diff = A[i, k] - A[j, k]
                g[k] += w * diff * diff
    return g


@njit(cache=True)
def separable_correlation(tables, idx1, idx2):
    """``R[i, j] = Π_k T_k[idx1[k, i], idx2[k, j]]`` for a kernel that factorises by input.

    The squared exponential is ``exp(−½ Σ_k r_k²) = Π_k exp(−½ r_k²)``.  Dies sit on a
    grid and wafers have integer order, so each input takes few distinct values: the
    exponentials are tabulated once per pair of distinct values (``tables[k]``) and the
    matrix is a product of look-ups, without an exponential per entry.
    """
    d = tables.shape[0]
    n1 = idx1.shape[1]
    n2 = idx2.shape[1]
    out = np.empty((n1, n2))
    for i in range(n1):
        row = tables[0, idx1[0, i]]
        for j in range(n2):
            out[i, j] = row[idx2[0, j]]
        for k in range(1, d):
            row = tables[k, idx1[k, i]]
            for j in range(n2):
                out[i, j] *= row[idx2[k, j]]
    return out


@njit(cache=True)
def min_sq_dist(C, S):
    """For each row of ``C`` the smallest squared Euclidean distance to a row of ``S``."""
    n = C.shape[0]
    out = np.full(n, np.inf)
    for i in range(n):
        for j in range(S.shape[0]):
            r2 = _sq_dist(C, i, S, j)
            out[i] = min(out[i], r2)
    return out


@njit(cache=True)
def nearest_neighbour_sq(X):
    """Squared Euclidean distance from each row of ``X`` to its nearest other row."""
    n = X.shape[0]
    out = np.full(n, np.inf)
    for i in range(n):
        for j in range(i):
            r2 = _sq_dist(X, i, X, j)
            out[i] = min(out[i], r2)
            out[j] = min(out[j], r2)
    return out


@njit(cache=True)
def greedy_far_and_uncertain(C, var, d2, k):
    """Pick ``k`` rows of ``C`` one at a time by ``argmax var · d2``, updating ``d2`` (the
    squared distance to the nearest sampled site, ``inf`` when none) after each pick.
    ``var`` and ``d2`` are modified in place; returns the picked row numbers."""
    n = C.shape[0]
    picked = np.empty(k, dtype=np.int64)
    for p in range(k):
        best, best_score = 0, -np.inf
        for i in range(n):
            score = var[i] * (1.0 if d2[i] == np.inf else d2[i])
            if score > best_score:
                best, best_score = i, score
        picked[p] = best
        var[best] = -1.0  # never re-pick
        for i in range(n):
            d2[i] = min(d2[i], _sq_dist(C, i, C, best))
    return picked


@njit(cache=True)
def lattice_gram(W_lower, Bt, order, segment_of, segments):
    """``G[s, s', a] = Σ_{i ∈ s} Σ_{j ∈ s'} Bt[i, a] W[o_i, o_j] Bt[j, a]`` for the symmetric
    ``W`` given by its lower triangle, with rows taken in the order ``o = order`` that groups
    them into contiguous segments (``segments`` holds the boundaries, ``segment_of[i]`` the
    segment of position i).  See :mod:`._lattice`.

    Only the blocks s' ≤ s are summed, then mirrored; the innermost loop runs over ``a``
    (contiguous), so it vectorises."""
    n, n_a = Bt.shape
    n_seg = segments.size - 1
    G = np.zeros((n_seg, n_seg, n_a))
    acc = np.empty(n_a)
    for i in range(n):
        s = segment_of[i]
        oi = order[i]
        bi = Bt[i]
        for t in range(s + 1):
            acc[:] = 0.0
            for j in range(segments[t], segments[t + 1]):
                oj = order[j]
                w = W_lower[oi, oj] if oi >= oj else W_lower[oj, oi]
                bj = Bt[j]
                for a in range(n_a):
                    acc[a] += w * bj[a]
            g = G[s, t]
            for a in range(n_a):
                g[a] += bi[a] * acc[a]
    for s in range(n_seg):
        for t in range(s):
            G[t, s] = G[s, t]
    return G


@njit(cache=True)
def same_group_sum(W_lower, groups):
    """``Σ_{i,j: g_i = g_j} W_ij`` for the symmetric ``W`` given by its lower triangle:
    the trace of ``W Z Zᵀ`` that the group random effect's gradient needs."""
    n = groups.size
    total = 0.0
    for i in range(n):
        total += W_lower[i, i]
        gi = groups[i]
        for j in range(i):
            if groups[j] == gi:
                total += 2.0 * W_lower[i, j]
    return total
