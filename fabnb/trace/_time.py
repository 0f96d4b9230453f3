"""Timestamp columns as int64 nanoseconds since 1970 UTC, with the naive-time policy, and
duration parameters."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd

from .._params import check_params
from ..errors import FabDataError, FabParameterError

#: what a duration parameter may be; bare numbers are refused (``pd.Timedelta(3)`` is 3 ns)
DURATION = [str, datetime.timedelta, np.timedelta64]


def duration(owner: str, name: str, value, allow_zero: bool = False) -> pd.Timedelta:
    """The duration parameter ``name`` of ``owner`` (``"3s"``, a Timedelta, ...) as a
    positive ``pd.Timedelta`` (zero too with ``allow_zero``); else ``FabParameterError``.

    >>> duration("fab_join", "tolerance", "10ms")
    Timedelta('0 days 00:00:00.010000')
    """
    check_params(owner, {name: DURATION}, {name: value})
    try:
        td = pd.Timedelta(value)
    except ValueError:
        td = pd.NaT
    if td is pd.NaT or td < pd.Timedelta(0) or (td == pd.Timedelta(0) and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise FabParameterError(f"The {name!r} parameter of {owner} must be a {kind} duration such as "
                                f"'3s' or a pandas Timedelta. Got {value!r} instead.")
    return td


def utc_ns(df: pd.DataFrame, column: str, table: str, tz) -> np.ndarray:
    """``df[column]`` as int64 ns UTC.  Naive times are read as wall time in ``tz``;
    ``tz=None`` refuses them.  NaT raises, naming the first bad row."""
    if column not in df.columns:
        raise FabDataError(f"{table}: missing column {column!r} (have {list(df.columns)})")
    col = df[column]
    if not (isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(col)):
        raise FabDataError(f"{table}.{column}: expected datetimes, got dtype {col.dtype}")
    if col.isna().any():
        row = df.index[col.isna().to_numpy()][0]
        raise FabDataError(f"{table}.{column}: missing timestamp (NaT) at row {row!r}")
    if not isinstance(col.dtype, pd.DatetimeTZDtype):
        if tz is None:
            raise FabDataError(f"{table}.{column}: timezone-naive timestamps and tz=None; "
                               "pass tz='UTC' (or the fab's zone) or localize the column")
        if str(tz) != "UTC":
            col = col.dt.tz_localize(tz)
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    return col.to_numpy().astype("datetime64[ns]").view("int64")


def to_timestamps(ns: np.ndarray) -> pd.DatetimeIndex:
    """int64 ns UTC -> tz-aware DatetimeIndex (UTC)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype="int64").view("datetime64[ns]"), tz="UTC")


def epoch_ns(epoch, default_ns: int) -> int:
    """An epoch given as anything ``pd.Timestamp`` takes (naive = UTC), or the default."""
    if epoch is None:
        return int(default_ns)
    ts = pd.Timestamp(epoch)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.as_unit("ns").value)
