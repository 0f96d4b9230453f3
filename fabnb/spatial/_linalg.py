"""Cholesky factorisation and inverse of symmetric positive-definite matrices (LAPACK
``dpotrf`` / ``dpotri``), shared by the GP's likelihood, fit and prediction.

A factorisation that fails is retried with a diagonal jitter growing tenfold from 1e-10
to 1e-4 of the mean diagonal (the usual remedy for near-duplicate sites or a tiny noise
level, Rasmussen & Williams, *Gaussian Processes for Machine Learning*, 2006, §A.4);
after that :class:`~fabnb.errors.FabFitError` says why.  Large factorisations get the
caller's BLAS threads (:func:`._threads.factor_threads`).

Example
-------
>>> import numpy as np
>>> L, jitter = cholesky(np.array([[4.0, 2.0], [2.0, 3.0]]))
>>> bool(np.allclose(L @ L.T, [[4, 2], [2, 3]])), jitter
(True, 0.0)
>>> inv = cholesky_inverse(L)  # lower triangle of the inverse
>>> round(float(inv[0, 0]), 6)
0.375
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

from ..errors import FabFitError
from ._threads import factor_threads

_JITTERS = (0.0, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4)


def cholesky(K: np.ndarray, what: str = "kernel matrix") -> tuple[np.ndarray, float]:
    """Lower Cholesky factor of ``K`` (LAPACK dpotrf) with jitter escalation.

    Returns ``(L, jitter)`` where ``jitter`` is the relative diagonal jitter that was
    needed (0 if none).  Raises :class:`FabFitError` naming ``what``, its size and
    condition number when even the largest jitter fails.
    """
    scale = float(np.mean(np.diag(K)))
    for jitter in _JITTERS:
        A = K if jitter == 0 else K + np.eye(K.shape[0]) * (jitter * scale)
        with factor_threads(K.shape[0]):
            L, info = lapack.dpotrf(A, lower=1, clean=1)
        if info == 0:
            return L, jitter
    if not np.isfinite(K).all():
        raise FabFitError(f"{what} (n={K.shape[0]}) has non-finite entries")
    cond = np.linalg.cond(K) if K.shape[0] <= 3000 else float("nan")
    raise FabFitError(
        f"{what} (n={K.shape[0]}) is not positive definite even with jitter "
        f"{_JITTERS[-1]:g} x diagonal (condition number {cond:.3g}): near-duplicate sites "
        "or a noise level too small for the data"
    )


def cholesky_inverse(L: np.ndarray) -> np.ndarray:
    """``(L Lᵀ)⁻¹`` from a lower Cholesky factor (LAPACK dpotri); lower triangle only."""
    with factor_threads(L.shape[0]):
        inverse, info = lapack.dpotri(L, lower=1)
    if info != 0:
        raise FabFitError(f"inverting the correlation matrix failed (LAPACK info {info})")
    return inverse
