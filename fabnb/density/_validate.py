"""Input checks shared by the density estimators, yield and KS functions."""

from __future__ import annotations

import numpy as np
from .._arrays import real_array
from ..errors import FabDataError, FabFitError


def as_matrix(x, name: str = "x", n_features: int | None = None, owner: str = "the estimator") -> np.ndarray:
    """``x`` as a finite float64 C-contiguous (n, d) array; 1-D input is one column.

    ``n_features`` (the fitted d) makes a 1-D array of length d mean one point; a
    mismatch is reported in scikit-learn's words, naming ``owner``.
    """
    arr = real_array(x, name, min_features=0)  # the 0-feature case gets its own message below
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1) if n_features not in (None, 1) and arr.size == n_features else arr[:, None]
    elif arr.ndim != 2:
        raise FabDataError(f"{name} must be 1-D (n,) or 2-D (n, d); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise FabDataError(f"{name} is empty")
    if arr.shape[1] == 0:
        raise FabDataError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise FabDataError(f"{name} has {int(bad.sum())} NaN/inf value(s), first at row {row}, column {col}")
    if n_features is not None and arr.shape[1] != n_features:
        raise FabDataError(f"{name} has {arr.shape[1]} features, but {owner} is expecting {n_features} features "
                           f"as input (d={arr.shape[1]} against the fitted d={n_features})")
    return np.ascontiguousarray(arr)


def check_spread(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Per-dimension std (ddof=1) of training data; constant or single-row data cannot be fitted."""
    if x.shape[0] < 2:
        raise FabFitError(f"{name} has n_samples = {x.shape[0]}; a density needs at least 2 rows")
    std = x.std(axis=0, ddof=1)
    flat = np.flatnonzero(~(std > 0))
    if flat.size:
        raise FabFitError(f"{name} is constant in dimension(s) {flat.tolist()}; no density to estimate")
    return std


def check_limits(lsl, usl, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Spec limits as length-d arrays; NaN means no limit (±inf); lsl > usl is an error."""
    lo = np.broadcast_to(np.asarray(lsl, dtype=float), (d,)).copy() if np.ndim(lsl) == 0 else np.asarray(lsl, float)
    hi = np.broadcast_to(np.asarray(usl, dtype=float), (d,)).copy() if np.ndim(usl) == 0 else np.asarray(usl, float)
    if lo.shape != (d,) or hi.shape != (d,):
        raise FabDataError(f"lsl/usl need one value per test (d={d}); got shapes {lo.shape} and {hi.shape}")
    lo = np.where(np.isnan(lo), -np.inf, lo)
    hi = np.where(np.isnan(hi), np.inf, hi)
    wrong = np.flatnonzero(lo > hi)
    if wrong.size:
        k = int(wrong[0])
        raise FabDataError(f"lsl > usl for test column {k}: lsl={lo[k]}, usl={hi[k]}")
    return lo, hi
