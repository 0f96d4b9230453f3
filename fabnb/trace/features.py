r"""Per-wafer, per-step, per-parameter summary features of joined trace samples.

Features come from additive sufficient statistics, so chunks of a streamed join are
reduced one by one and merged (sums add, minima take the min) — memory grows with the
number of (wafer, step, parameter) groups, not with the number of samples.  With
``t`` the seconds since step start and ``x`` the value over the ``n`` good samples::

    mean  = Σx / n
    std   = sqrt((Σx² − n·mean²) / (n − 1))
    slope = (n·Σtx − Σt·Σx) / (n·Σt² − (Σt)²)          (least squares, units / s)
    duration_s   = t_last − t_first
    time_above_s = (number of samples with x > threshold) · sample period

A group with one sample has NaN ``std`` and ``slope``; a group with no samples is NaN
throughout (``n_samples`` = 0).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Interval, Real, check_option, check_params
from ..errors import FabDataError
from ._time import DURATION, duration

KEYS = ["wafer", "step", "parameter_id"]
SUMS = ["n", "st", "stt", "sx", "sxx", "stx", "n_above"]
STATS = ("mean", "std", "slope", "min", "max", "duration_s", "time_above_s")


def _partial(chunk: pd.DataFrame, thresholds: dict | None) -> pd.DataFrame:
    missing = [c for c in KEYS + ["t_rel_s", "value"] if c not in chunk.columns]
    if missing:
        raise FabDataError(f"trace_features: joined table lacks {missing}; pass the output "
                           "of fab_join")
    t, x = chunk["t_rel_s"].to_numpy(float), chunk["value"].to_numpy(float)
    above = np.zeros(x.size)
    if thresholds:
        thr = chunk["parameter_id"].map(thresholds).to_numpy(dtype=float)
        above = (x > thr).astype(float)  # NaN threshold (parameter not listed) -> False
    frame = pd.DataFrame({k: chunk[k].array for k in KEYS})
    frame = frame.assign(n=1.0, st=t, stt=t * t, sx=x, sxx=x * x, stx=t * x, n_above=above,
                         vmin=x, vmax=x, tmin=t, tmax=t)
    return _combine(frame.groupby(KEYS, sort=False, observed=True))


def _combine(g) -> pd.DataFrame:
    return g.agg(**{c: (c, "sum") for c in SUMS}, vmin=("vmin", "min"), vmax=("vmax", "max"),
                 tmin=("tmin", "min"), tmax=("tmax", "max"))


def trace_features(joined: pd.DataFrame | Iterable[pd.DataFrame], thresholds: dict | None = None,
                   sample_period=None) -> xr.Dataset:
    """Summary features of joined trace samples as a Dataset on ``(wafer, step, parameter)``.

    Parameters
    ----------
    joined
        Output of :func:`fab_join`, or an iterable of :func:`fab_join_stream` chunks.
    thresholds
        ``{parameter_id: level}`` for ``time_above_s``; parameters not listed get NaN.
    sample_period
        Nominal sample spacing for ``time_above_s``, seconds or a Timedelta string
        (default: the median spacing of
        ``t_rel_s`` within groups of the first chunk).

    Returns
    -------
    xarray.Dataset with variables ``mean, std, slope, min, max, duration_s,
    time_above_s, n_samples``, dims ``wafer, step, parameter`` and coordinate ``lot``
    (wafer) and ``tool`` (wafer, step) when the join carries them.

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
    >>> j = fabnb.trace.fab_join(t["mes"], t["trace"], step=["S05", "S22"])
    >>> f = trace_features(j, thresholds={"rf_power_W": 850.0})
    >>> dict(f["mean"].sizes)
    {'wafer': 18, 'step': 2, 'parameter': 3}
    """
    check_params("trace_features", {"thresholds": [None, dict],
                                    "sample_period": [None, Interval(Real, 0, None, closed="neither"), *DURATION]},
                 locals())
    period_s = (sample_period if sample_period is None or isinstance(sample_period, Real)
                else duration("trace_features", "sample_period", sample_period).total_seconds())
    chunks = [joined] if isinstance(joined, pd.DataFrame) else joined
    partials, context = [], []
    for chunk in chunks:
        if chunk.empty:
            continue
        if period_s is None:
            period_s = _median_spacing(chunk)
        partials.append(_partial(chunk, thresholds))
        cols = [c for c in ("wafer", "lot", "step", "tool_id") if c in chunk.columns]
        context.append(chunk[cols].drop_duplicates())
    if not partials:
        raise FabDataError("trace_features: no joined samples (did fab_join exclude all?)")
    acc = _combine(pd.concat(partials).groupby(level=list(range(len(KEYS))), sort=True,
                                                observed=True))
    period_s = float(period_s)
    n = acc["n"]
    mean = acc["sx"] / n
    var = (acc["sxx"] - n * mean ** 2) / (n - 1)
    denom = n * acc["stt"] - acc["st"] ** 2
    table = pd.DataFrame({
        "mean": mean,
        "std": np.sqrt(var.clip(lower=0)).where(n > 1),
        "slope": ((n * acc["stx"] - acc["st"] * acc["sx"]) / denom).where((n > 1) & (denom > 0)),
        "min": acc["vmin"], "max": acc["vmax"],
        "duration_s": acc["tmax"] - acc["tmin"],
        "time_above_s": acc["n_above"] * period_s,
        "n_samples": n.astype(np.int64),
    })
    if thresholds is None:
        table = table.drop(columns="time_above_s")
    elif missing := set(table.index.get_level_values("parameter_id")) - set(thresholds):
        mask = table.index.get_level_values("parameter_id").isin(list(missing))
        table.loc[mask, "time_above_s"] = np.nan
    table.index = table.index.set_names(["wafer", "step", "parameter"])
    ds = xr.Dataset.from_dataframe(table)
    ds = ds.assign_coords({d: ds[d].values.astype(str).astype(object) for d in ds.dims})
    ds["n_samples"] = ds["n_samples"].fillna(0).astype(np.int64)
    ctx = pd.concat(context).drop_duplicates()
    if "lot" in ctx:
        ctx = ctx.astype({c: str for c in ctx.columns})
        ds = ds.assign_coords(lot=("wafer", ctx.drop_duplicates("wafer").set_index("wafer")
                                   ["lot"].reindex(ds["wafer"].values).to_numpy(dtype=object)))
    if "tool_id" in ctx:
        tool = ctx.drop_duplicates(["wafer", "step"]).set_index(["wafer", "step"])["tool_id"]
        ds = ds.assign_coords(tool=xr.DataArray.from_series(tool).reindex_like(
            ds[["wafer", "step"]]).fillna(""))
    ds.attrs["sample_period_s"] = period_s
    return ds


def _median_spacing(chunk: pd.DataFrame) -> float:
    t = chunk.sort_values(KEYS + ["t_rel_s"])
    same = (t[KEYS].shift() == t[KEYS]).all(axis=1).to_numpy()
    dt = np.diff(t["t_rel_s"].to_numpy(), prepend=np.nan)[same]
    dt = dt[dt > 0]
    if dt.size == 0:
        raise FabDataError("trace_features: cannot infer the sample period; pass sample_period")
    return float(np.median(dt))


def feature_matrix(features: xr.Dataset, stats=STATS) -> pd.DataFrame:
    """Flatten :func:`trace_features` to a wafer × feature table for modelling.

    Columns are ``"{step}:{parameter}:{stat}"``; features that are NaN for every wafer
    (e.g. ``time_above_s`` of an unthresholded parameter) are dropped.

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
    >>> f = trace_features(fabnb.trace.fab_join(t["mes"], t["trace"], step="S22"))
    >>> feature_matrix(f).shape
    (18, 18)
    """
    for s in stats:
        check_option("feature_matrix", "stats", s, (*STATS, "n_samples"))
    stats = [s for s in stats if s in features]  # time_above_s exists only with thresholds
    frames = []
    for s in stats:
        wide = features[s].to_dataframe(name=s)[s].unstack(["step", "parameter"])
        wide.columns = [f"{st}:{p}:{s}" for st, p in wide.columns]
        frames.append(wide)
    out = pd.concat(frames, axis=1)
    return out.loc[:, out.notna().any()]
