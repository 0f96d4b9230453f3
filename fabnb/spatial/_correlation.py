"""Correlation matrices of the stationary kernels: dense, or by look-up on grids.

Every entry of a dense correlation matrix costs one exponential.  The squared
exponential factorises by input, ``exp(−½ Σ_k r_k²) = Π_k exp(−½ r_k²)``, and wafer data
sit on a lattice: die centres take a few dozen distinct x and y values and wafer order a
few distinct t.  Then each factor is tabulated once per pair of distinct values and the
matrix is a product of look-ups (:func:`._kernels.separable_correlation`), which is the
same matrix to rounding (≤ 1e-15 relative) at a fraction of the cost.  Matérn kernels do
not factorise and random (off-grid) sites gain nothing, so those take the dense path.

Example
-------
>>> import numpy as np
>>> from fabnb.spatial import _kernels
>>> g = np.arange(10.0)
>>> X = np.c_[np.repeat(g, 10), np.tile(g, 10)]          # a 10 × 10 grid
>>> inv_ls = np.array([0.3, 0.5])
>>> bool(np.allclose(correlation(X, None, inv_ls, 0), _kernels.correlation_sym(X, inv_ls, 0), rtol=1e-14))
True
"""

from __future__ import annotations

import numpy as np

from . import _kernels

_LOOKUP_GAIN = 8  # take the look-up path when it needs 8x fewer exponentials than dense


def correlation(X1: np.ndarray, X2: np.ndarray | None, inv_ls: np.ndarray, kind: int,
                levels1: list | None = None) -> np.ndarray:
    """``R(X1, X2)`` of shape (n1, n2); ``X2=None`` gives the symmetric ``R(X1, X1)``.
    ``levels1``: :func:`levels` of ``X1`` if known (an optimiser evaluates one ``X1`` often)."""
    symmetric = X2 is None
    if kind == 0:
        levels1 = levels(X1) if levels1 is None else levels1
        levels2 = levels1 if symmetric else levels(X2)
        n_exp = sum(len(u1) * len(u2) for (u1, _), (u2, _) in zip(levels1, levels2))
        n2 = X1.shape[0] if symmetric else X2.shape[0]
        if _LOOKUP_GAIN * n_exp <= X1.shape[0] * n2:
            return _kernels.separable_correlation(_tables(levels1, levels2, inv_ls),
                                                  _codes(levels1), _codes(levels2))
    if symmetric:
        return _kernels.correlation_sym(X1, inv_ls, kind)
    return _kernels.correlation(X1, X2, inv_ls, kind)


def levels(X: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per input column: its distinct values and each row's index among them."""
    return [np.unique(col, return_inverse=True) for col in X.T]


def level_table(u1: np.ndarray, u2: np.ndarray, inv_ls: float) -> np.ndarray:
    """``T[a, b] = exp(−½ ((u1_a − u2_b) / ℓ)²)``: one input's factor of the squared exponential."""
    scaled = (u1[:, None] - u2[None, :]) * inv_ls
    return np.exp(-0.5 * scaled * scaled)


def _tables(levels1, levels2, inv_ls) -> np.ndarray:
    """Every input's :func:`level_table`, padded into one (d, max L1, max L2) array."""
    width1 = max(len(u) for u, _ in levels1)
    width2 = max(len(u) for u, _ in levels2)
    tables = np.ones((len(levels1), width1, width2))
    for k, ((u1, _), (u2, _)) in enumerate(zip(levels1, levels2)):
        tables[k, : len(u1), : len(u2)] = level_table(u1, u2, inv_ls[k])
    return tables


def _codes(levels) -> np.ndarray:
    """(d, n) index of each point's value among its input's distinct values."""
    return np.stack([inverse.ravel() for _, inverse in levels]).astype(np.int64)
