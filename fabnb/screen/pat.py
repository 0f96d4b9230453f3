"""Part Average Testing (AEC-Q001): static and dynamic PAT limits.

Static PAT, per test, from reference data (the passing parts inside spec)::

    μ̃ = median,   σ̃ = IQR / 1.35,   [PAT_L, PAT_U] = [μ̃ − k σ̃, μ̃ + k σ̃] ∩ [LSL, USL]

(IQR/1.35 is the normal distribution's σ; quantiles are NumPy's default, linear
interpolation, R's type 7).  ``method="mean_sd"`` uses the mean and the sample sd
(ddof=1) instead, which the guideline allows.

Dynamic PAT recomputes the same limits per wafer (or per lot) from that wafer's parts
that pass spec *and* static PAT, and intersects them with the static limits, so a
dynamic limit is never wider than the static one.

A test whose reference holds fewer than ``min_parts`` values, or whose σ̃ is 0 (e.g.
quantised readings), gets no PAT limits of its own: its PAT limits fall back to the spec
limits, its ``status`` says why, and a warning names it (``errors="raise"`` raises
:class:`FabFitError` instead).  A dynamic group with too few parts keeps the static
limits (counted in ``n``, status ``"static"``).

Example
-------
>>> import fabnb
>>> from fabnb.screen import pat_limits
>>> ds = fabnb.synth.fab("small", seed=0)
>>> lim = pat_limits(ds, ["T01", "T02"])
>>> bool((lim["pat_lsl"] >= lim["lsl"]).all() and (lim["pat_usl"] <= lim["usl"]).all())
True
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Integral, Interval, Real, StrOptions, check_params
from ..errors import FabDataError, FabFitError
from . import _select
from ._robust import median_sigma
from .._warn import user_stacklevel
METHODS = ("robust", "mean_sd")
RULES = {
    "k": [Interval(Real, 0, None, closed="neither")],
    "method": [StrOptions(set(METHODS))],
    "min_parts": [Interval(Integral, 4, None, closed="left")],
    "errors": [StrOptions({"warn", "raise"})],
    "by": [StrOptions({"wafer", "lot"})],
}


def location_scale(v: np.ndarray, keep: np.ndarray, method: str, axis) -> tuple[np.ndarray, ...]:
    """(centre, sigma, n) of the kept values along ``axis``."""
    x = np.where(keep, v, np.nan)
    n = keep.sum(axis=axis)
    if method == "robust":
        centre, sigma = median_sigma(x, axis)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # empty slices: their n says so
            centre = np.nanmean(x, axis=axis)
            sigma = np.nanstd(x, axis=axis, ddof=1)
    return centre, sigma, n


def _status(n, sigma, min_parts) -> np.ndarray:
    return np.where(n < min_parts, "too_few_parts", np.where(~(sigma > 0), "zero_sigma", "ok"))


def pat_limits(ds: xr.Dataset, tests=None, k: float = 6.0, *, method: str = "robust", min_parts: int = 30,
               kind: str = "hbin", errors: str = "warn") -> pd.DataFrame:
    """Static PAT limits per test, computed on ``ds`` (the reference set).

    Reference values: finite values of dies the tester passed (``kind`` bin 1) that lie
    inside the test's spec limits.  Returns a DataFrame indexed by test with ``pat_lsl``,
    ``pat_usl``, ``center``, ``sigma``, ``n``, ``lsl``, ``usl`` and ``status``
    (``"ok"``, ``"too_few_parts"``, ``"zero_sigma"``); ``attrs["reference"]`` records the
    reference set (product, lots, wafers) and the settings, so saved limits say where
    they came from (:func:`save_limits`).
    """
    check_params("pat_limits", RULES, {"k": k, "method": method, "min_parts": min_parts, "errors": errors})
    names = _select.select_tests(ds, tests)
    return static_limits(ds, names, _select.values(ds, names), _select.passing(ds, kind), k, method=method,
                         min_parts=min_parts, kind=kind, errors=errors)


def static_limits(ds, names, v, passing, k, *, method, min_parts, kind, errors) -> pd.DataFrame:
    """:func:`pat_limits` on the value cube ``v`` (wafer, die, test) already taken from ``ds``."""
    lsl, usl = _select.spec_limits(ds, names)
    keep = passing[:, :, None] & _select.inside(v, lsl, usl)
    flat = (v.reshape(-1, len(names)), keep.reshape(-1, len(names)))
    centre, sigma, n = location_scale(*flat, method, axis=0)
    status = _status(n, sigma, min_parts)
    ok = status == "ok"
    with np.errstate(invalid="ignore"):
        lo = np.where(ok, np.fmax(centre - k * sigma, lsl), lsl)
        hi = np.where(ok, np.fmin(centre + k * sigma, usl), usl)
    table = pd.DataFrame({"pat_lsl": lo, "pat_usl": hi, "center": centre, "sigma": sigma, "n": n,
                          "lsl": lsl, "usl": usl, "status": status}, index=pd.Index(names, name="test"))
    _fallback_notice(table, "static PAT", errors)
    table.attrs["reference"] = {
        "product": str(ds.attrs.get("product", "")),
        "lots": sorted({str(x) for x in np.atleast_1d(ds["lot"].values)}) if "lot" in ds.coords else [],
        "wafers": [str(w) for w in ds["wafer"].values],
        "k": float(k), "method": method, "min_parts": int(min_parts), "bin": kind,
    }
    return table


def _fallback_notice(table: pd.DataFrame, what: str, errors: str) -> None:
    bad = table[table["status"] != "ok"]
    if bad.empty:
        return
    listing = ", ".join(f"{t} ({s}, n={n})" for t, s, n in zip(bad.index, bad["status"], bad["n"]))
    msg = (f"{what}: {len(bad)} test(s) have no robust limits of their own and fall back to the spec "
           f"limits: {listing}")
    if errors == "raise":
        raise FabFitError(msg + "; lower min_parts, add reference wafers or leave these tests out")
    warnings.warn(msg, stacklevel=user_stacklevel())


def pat_flags(ds: xr.Dataset, limits: pd.DataFrame) -> xr.DataArray:
    """Dies (wafer, die, test) whose value lies outside the PAT limits of ``limits``.

    ``limits`` is what :func:`pat_limits` (or :func:`load_limits`) returns; every test
    in it must be in ``ds``.  Unmeasured values (NaN) are never flagged.
    """
    names = limit_tests(ds, limits)
    out = outside(_select.values(ds, names), limits["pat_lsl"].to_numpy(float), limits["pat_usl"].to_numpy(float))
    return xr.DataArray(out, dims=("wafer", "die", "test"),
                        coords={"wafer": ds["wafer"].values, "test": names}, name="pat_fail")


def limit_tests(ds: xr.Dataset, limits: pd.DataFrame) -> list[str]:
    """The tests of a PAT-limits table, each checked to be in ``ds``."""
    for col in ("pat_lsl", "pat_usl"):
        if col not in limits:
            raise FabDataError(f"PAT limits lack the column {col!r}; use pat_limits() or load_limits()")
    missing = [t for t in limits.index if t not in set(map(str, ds["test"].values))]
    if missing:
        raise FabDataError(f"PAT limits name tests the dataset does not have: {missing}")
    return [str(t) for t in limits.index]


def outside(v: np.ndarray, lo, hi) -> np.ndarray:
    """Measured values (finite) outside [lo, hi]; a NaN limit does not bound."""
    with np.errstate(invalid="ignore"):
        return (v < lo) | (v > hi)


def dynamic_pat_limits(ds: xr.Dataset, static: pd.DataFrame, *, by: str = "wafer", k: float | None = None,
                       method: str = "robust", min_parts: int = 30, kind: str = "hbin") -> xr.Dataset:
    """Dynamic PAT limits per wafer (``by="wafer"``) or lot, over (wafer, test).

    Each group's reference is its parts that pass (bin 1), lie inside spec and inside
    the ``static`` PAT limits; limits are centre ± k·sigma of those (``k`` defaults to
    the static limits' k), intersected with the static limits.  Lot limits are given on
    each wafer of the lot.  Returns ``dpat_lsl``, ``dpat_usl``, ``n`` and ``status``
    (``"dynamic"`` or ``"static"`` where the group had too few parts or sigma 0).
    """
    k = float(static.attrs.get("reference", {}).get("k", 6.0)) if k is None else k
    check_params("dynamic_pat_limits", RULES, {"k": k, "method": method, "min_parts": min_parts, "by": by})
    names = limit_tests(ds, static)
    return dynamic_limits(ds, names, _select.values(ds, names), _select.passing(ds, kind), static, by=by, k=k,
                          method=method, min_parts=min_parts)


def dynamic_limits(ds, names, v, passing, static, *, by, k, method, min_parts) -> xr.Dataset:
    """:func:`dynamic_pat_limits` on the value cube ``v`` (wafer, die, test) already taken
    from ``ds``."""
    s_lo, s_hi = static["pat_lsl"].to_numpy(float), static["pat_usl"].to_numpy(float)
    keep = passing[:, :, None] & _select.inside(v, s_lo, s_hi)
    if by == "wafer":  # every wafer at once: one pass along the die axis
        groups = np.arange(ds.sizes["wafer"])
        centre, sigma, n = location_scale(v, keep, method, axis=1)
    elif "lot" not in ds.coords:
        raise FabDataError("dynamic PAT by lot needs the 'lot' coordinate on wafers")
    else:
        groups = pd.factorize(np.asarray(ds["lot"].values).astype(str))[0]
        shape = (groups.max() + 1, len(names))
        centre, sigma, n = (np.empty(shape), np.empty(shape), np.empty(shape, dtype=np.int64))
        for g in range(shape[0]):  # one pass per lot (a handful)
            members = groups == g
            centre[g], sigma[g], n[g] = location_scale(v[members].reshape(-1, len(names)),
                                                       keep[members].reshape(-1, len(names)), method, axis=0)
    ok = _status(n, sigma, min_parts) == "ok"
    with np.errstate(invalid="ignore"):
        lo = np.where(ok, np.fmax(centre - k * sigma, s_lo), s_lo)
        hi = np.where(ok, np.fmin(centre + k * sigma, s_hi), s_hi)
    coords = {"wafer": ds["wafer"].values, "test": names}
    dims = ("wafer", "test")
    return xr.Dataset({"dpat_lsl": (dims, lo[groups]), "dpat_usl": (dims, hi[groups]),
                       "n": (dims, n[groups]),
                       "status": (dims, np.where(ok, "dynamic", "static")[groups])},
                      coords=coords, attrs={"by": by, "k": k, "method": method, "min_parts": min_parts})


def dynamic_pat_flags(ds: xr.Dataset, dynamic: xr.Dataset) -> xr.DataArray:
    """Dies (wafer, die, test) outside their wafer's dynamic PAT limits."""
    names = [str(t) for t in dynamic["test"].values]
    out = outside(_select.values(ds, names), dynamic["dpat_lsl"].values[:, None, :],
                  dynamic["dpat_usl"].values[:, None, :])
    return xr.DataArray(out, dims=("wafer", "die", "test"),
                        coords={"wafer": ds["wafer"].values, "test": names}, name="dpat_fail")


def save_limits(limits: pd.DataFrame, path) -> None:
    """Write PAT limits with their reference set to a JSON file (atomically), so they
    can be re-applied to new lots with :func:`load_limits` and :func:`pat_flags`."""
    from ..io.store import atomic_path

    def plain(v):  # JSON has no NaN and no NumPy scalars; Python floats round-trip exactly
        v = v.item() if isinstance(v, np.generic) else v
        return None if isinstance(v, float) and not np.isfinite(v) else v

    records = [{k: plain(v) for k, v in row.items()} for row in limits.reset_index().to_dict("records")]
    doc = {"format": "fabnb-pat-limits", "version": 1, "reference": limits.attrs.get("reference", {}),
           "limits": records}
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)


def load_limits(path) -> pd.DataFrame:
    """PAT limits written by :func:`save_limits`, with ``attrs["reference"]``."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FabDataError(f"{path}: cannot read PAT limits ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != "fabnb-pat-limits":
        raise FabDataError(f"{path}: not a fabnb PAT-limits file (no 'format': 'fabnb-pat-limits')")
    table = pd.DataFrame(doc["limits"]).set_index("test")
    for col in ("pat_lsl", "pat_usl", "center", "sigma", "lsl", "usl"):
        if col in table:
            table[col] = table[col].astype(float)  # JSON null -> NaN
    table.attrs["reference"] = doc.get("reference", {})
    return table
