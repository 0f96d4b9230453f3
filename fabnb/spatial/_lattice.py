"""Posterior mean and variance of a squared-exponential GP at lattice sites, by separability.

Dies sit on a lattice: input ``k`` takes ``L_k`` distinct values.  The squared exponential
factorises over inputs, so the correlation between query ``q`` and training site ``i`` is

    r(q, i) = Π_k T_k[a_k(q), p_k(i)],   T_k[a, p] = exp(−½ ((u_a − v_p) / ℓ_k)²),

with ``u``/``v`` the distinct query/training values of input ``k`` and ``a_k``/``p_k`` each
point's index among them.  Two sums over the training sites then need no n × m matrix.

**Weighted sums** (the posterior mean ``Σ_i r(q, i) α_i``, and ``Hᵀ K⁻¹ k*`` for the mean
basis).  Scatter the weights ``w`` (n, c) onto the training lattice, ``M[p(i)] = w_i``
(shape L_1 × … × L_d × c), and contract one input at a time:

    s(q) = (T_1 ×_1 T_2 ×_2 … T_d ×_d M)[a(q)],

d small tensor products instead of n · m correlations.

**Quadratic forms**, two inputs (the posterior variance ``r(q)ᵀ W r(q)``, W symmetric):

    Q(q) = Σ_ij r(q, i) W_ij r(q, j) = Σ_{s,s'} T_y[b, s] G[s, s', a] T_y[b, s'],
    G[s, s', a] = Σ_{i: p_y(i) = s} Σ_{j: p_y(j) = s'} T_x[a, p_x(i)] W_ij T_x[a, p_x(j)],

for the query at lattice position (a, b).  Building G costs ``L_x · n²`` multiply-adds
(:func:`._kernels.lattice_gram`) and the second step ``L_x L_y^q L_y²``; the direct form is
one triangular solve per query, ``n² m``.  On a 300 mm wafer of 3.5 mm dies (n = 550
training dies, m = 5,356 queries, ~86 values per axis) that is about 0.07 G against
1.6 G multiply-adds.  It needs ``W = (R + ηI)⁻¹`` explicitly, which the likelihood's
gradient has already computed at the optimum.  ``Q`` from an explicit inverse carries a
rounding error of about ``0.2 n ε / η`` at most (η the noise ratio; measured for
n = 150–1,000, η = 1e-6–0.1, ℓ = 4–30 die pitches), which matters only where ``1 − Q``, the
variance in units of σ_f², is itself tiny: at and next to training dies when η is small.
:func:`cancels` flags the queries where twice that error could exceed 1e-6 of ``1 − Q``
(5e-7 of the std); the caller computes those by the triangular solve.

Example
-------
>>> import numpy as np
>>> from fabnb.spatial._correlation import correlation
>>> g = np.arange(8.0)
>>> Xq = np.c_[np.repeat(g, 8), np.tile(g, 8)]; Xt = Xq[::3]
>>> inv_ls = np.array([0.4, 0.25]); w = np.arange(len(Xt), dtype=float)[:, None]
>>> bool(np.allclose(Lattice(Xq, Xt).weighted_sum(inv_ls, w), correlation(Xq, Xt, inv_ls, 0) @ w))
True
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from . import _kernels
from ._correlation import level_table, levels

_GAIN = 2  # take a lattice path when it needs at most half the work of the direct one
_VARIANCE_RTOL = 1e-6  # relative accuracy of 1 − Q that the lattice variance must keep
_ROUNDING = 0.4  # rounding error of Q in units of n ε / η: twice the largest measured


class Lattice:
    """Query rows ``Xq`` and training rows ``Xt`` split into per-input levels, once."""

    def __init__(self, Xq: np.ndarray, Xt: np.ndarray):
        self.Xq, self.Xt = Xq, Xt
        self.m, self.n, self.d = Xq.shape[0], Xt.shape[0], Xt.shape[1]

    @cached_property
    def query(self):
        return levels(self.Xq)

    @cached_property
    def train(self):
        return levels(self.Xt)

    def _tables(self, inv_ls):
        return [level_table(u, v, inv_ls[k]) for k, ((u, _), (v, _)) in enumerate(zip(self.query, self.train))]

    def mean_applies(self, kind: int) -> bool:
        """Whether :meth:`weighted_sum` beats the dense ``R(Xq, Xt) @ w`` (squared exponential only)."""
        if kind != 0:
            return False
        cost, shape = 0, [len(v) for v, _ in self.train]
        for k, (u, _) in enumerate(self.query):  # contracting one input at a time
            cost += math.prod(shape) * len(u)
            shape[k] = len(u)
        return _GAIN * cost <= self.m * self.n * self.d

    def variance_applies(self, kind: int, have_inverse: bool) -> bool:
        """Whether :meth:`quadratic_form` beats one triangular solve per query: two inputs,
        squared exponential, and fewer multiply-adds (counting the inverse when it still
        has to be formed)."""
        if kind != 0 or self.d != 2:
            return False
        n, (ux, _), (uy, _) = self.n, *self.query
        n_y = len(self.train[1][0])
        cost = len(ux) * n * n // 2 + len(ux) * len(uy) * n_y * n_y // 2 + (0 if have_inverse else 2 * n**3 // 3)
        return _GAIN * cost <= n * n * self.m

    def weighted_sum(self, inv_ls: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``Σ_i r(q, i) w[i, :]`` for every query row: (m, c), equal to ``R(Xq, Xt) @ w``."""
        M = np.zeros(tuple(len(v) for v, _ in self.train) + (w.shape[1],))
        np.add.at(M, tuple(p for _, p in self.train), w)
        for k, table in enumerate(self._tables(inv_ls)):
            M = np.moveaxis(np.tensordot(table, M, axes=(1, k)), 0, k)
        return M[tuple(a for _, a in self.query)]

    def quadratic_form(self, inv_ls: np.ndarray, W_lower: np.ndarray) -> np.ndarray:
        """``r(q)ᵀ W r(q)`` for every query row of two-input data; ``W`` symmetric (n, n),
        given by its lower triangle."""
        (_, ax), (_, ay) = self.query
        (_, px), (vy, py) = self.train
        Tx, Ty = self._tables(inv_ls)
        order = np.argsort(py, kind="stable")  # training sites grouped by their y value
        segments = np.searchsorted(py[order], np.arange(len(vy) + 1))
        G = _kernels.lattice_gram(W_lower, np.ascontiguousarray(Tx.T[px[order]]), order.astype(np.int64),
                                  py[order].astype(np.int64), segments.astype(np.int64))  # (L_y, L_y, L_x)
        # Q[a, b] = Σ_{s,s'} Ty[b, s] Ty[b, s'] G[s, s', a], over s ≤ s' (G is symmetric)
        s, t = np.triu_indices(len(vy))
        pairs = Ty[:, s] * Ty[:, t] * np.where(s == t, 1.0, 2.0)
        Q = pairs @ G[s, t]  # (L_y^q, L_x^q)
        return Q[ay, ax]


def cancels(one_minus_q: np.ndarray, n: int, noise_ratio: float, scale: float = 1.0) -> np.ndarray:
    """Queries whose ``1 − Q`` (from :meth:`Lattice.quadratic_form` with an explicit
    ``(R + ηI)⁻¹``) may be off by more than 1e-6 relative, given a rounding error of ``Q``
    below ``0.4 n ε / η``.  ``scale`` multiplies that error when the quadratic form's
    vector is larger than a correlation: ``(1 + ω)²`` for ``r + ω g`` with a group
    effect (:class:`~fabnb.spatial.GaussianProcess`), whose ``1 − Q`` is then the whole
    variance in units of σ_f²."""
    return one_minus_q < _ROUNDING * scale * n * np.finfo(float).eps / noise_ratio / _VARIANCE_RTOL
