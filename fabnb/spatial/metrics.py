"""Virtual-probe accuracy: the spec-range error ε and δ-MRE.

``ε_i = |t'_i − t_i| / spec range`` for each *unsampled* die ``i`` of a wafer, with the
spec range the range (max − min) of the wafer's measurements after removing values more
than ``n_sigma`` (3) standard deviations from the wafer mean.  A method's figure is the
mean ε over the wafer's unsampled dies (then over wafers and tests).

``δ-MRE`` of a method against a baseline is the relative improvement of the mean error,
``(ε̄_baseline − ε̄_method) / ε̄_baseline``; with ``dim`` it is computed per item along
``dim`` (e.g. per test) and averaged.

Example
-------
>>> import numpy as np
>>> from fabnb.spatial import spec_range_error, delta_mre
>>> true = np.linspace(0, 1, 11); pred = true + 0.05
>>> round(spec_range_error(true, pred), 3)
0.05
>>> round(delta_mre(0.045, 0.05), 2)
0.1
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import FabDataError


def spec_range(values: np.ndarray, n_sigma: float = 3.0) -> float:
    """Range of ``values`` (NaN ignored) after dropping points beyond mean ± n_sigma·std."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return np.nan
    keep = np.abs(v - v.mean()) <= n_sigma * v.std()
    kept = v[keep] if keep.sum() >= 2 else v
    return float(kept.max() - kept.min())


def _wafer_error(true, pred, sampled, n_sigma):
    rng = spec_range(true, n_sigma)
    use = np.isfinite(true) & np.isfinite(pred) & ~sampled
    if not use.any() or not rng > 0:
        return np.nan
    return float(np.mean(np.abs(pred[use] - true[use])) / rng)


def spec_range_error(true, pred, sampled=None, n_sigma: float = 3.0, dim: str = "die"):
    """Mean spec-range error ε of predictions on the unsampled dies.

    Parameters
    ----------
    true, pred : array (n_dies,) or DataArray with a ``dim`` dimension
        Measured and predicted values of one wafer (numpy) or of many (xarray: ε is
        computed separately for every combination of the other dims, e.g. wafer × test).
    sampled : bool array/DataArray like ``true``, optional
        Dies used for training; excluded from the error.
    n_sigma : float
        Outlier filter of the spec range.

    Returns
    -------
    float for numpy input, DataArray over the remaining dims for xarray input.  NaN where
    the wafer has no spread or no unsampled measured die.

    Example
    -------
    >>> import numpy as np
    >>> eps = spec_range_error(np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.0, 1.4, 2.0, 4.0]),
    ...                        sampled=np.array([True, False, True, True]))
    >>> round(eps, 12)  # |1.4 − 1.0| / (4 − 0)
    0.1
    """
    if isinstance(true, xr.DataArray):
        pred = xr.DataArray(pred) if not isinstance(pred, xr.DataArray) else pred
        sampled = xr.zeros_like(true, dtype=bool) if sampled is None else sampled
        if dim not in true.dims:
            raise FabDataError(f"spec_range_error: 'true' has no '{dim}' dimension (dims {true.dims})")
        true, pred, sampled = xr.broadcast(true, pred, sampled)
        return xr.apply_ufunc(
            _wafer_error, true, pred, sampled.astype(bool), kwargs={"n_sigma": n_sigma},
            input_core_dims=[[dim]] * 3, vectorize=True, dask="parallelized", output_dtypes=[float],
        )
    true = np.asarray(true, dtype=float)
    pred = np.asarray(pred, dtype=float)
    if true.shape != pred.shape or true.ndim != 1:
        raise FabDataError(f"true and pred must be 1-D of one shape, got {true.shape} and {pred.shape}")
    sampled = np.zeros(true.shape, bool) if sampled is None else np.asarray(sampled, dtype=bool)
    return _wafer_error(true, pred, sampled, n_sigma)


def delta_mre(error, baseline, dim: str | None = None) -> float:
    """Relative improvement of mean error over a baseline, ``(ε̄_b − ε̄) / ε̄_b``.

    ``error`` and ``baseline`` are scalars, arrays or DataArrays of per-item ε (NaN
    ignored).  With ``dim`` (DataArrays only) the improvement is computed per label along
    ``dim`` after averaging the other dims, then averaged.

    Example
    -------
    >>> delta_mre(0.059, 0.073) > 0
    True
    """
    if dim is not None:
        other = [d for d in error.dims if d != dim]
        e, b = error.mean(other, skipna=True), baseline.mean(other, skipna=True)
        return float(((b - e) / b).mean(skipna=True))
    e = float(np.nanmean(np.asarray(error, dtype=float)))
    b = float(np.nanmean(np.asarray(baseline, dtype=float)))
    return (b - e) / b
