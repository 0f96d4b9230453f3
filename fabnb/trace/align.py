"""Validated as-of joins and timestamp checks shared by the trace package.

``pandas.merge_asof`` silently returns wrong matches when the keys are unsorted, when one
side is timezone-naive and the other aware, or when the datetime units differ (a
``datetime64[s]`` key against a ``datetime64[ns]`` key).  :func:`align_asof` checks all
three up front and raises :class:`fabnb.FabDataError` naming the table, column and row.
"""

from __future__ import annotations

import pandas as pd

from .._params import check_option
from ..errors import FabDataError
from ._time import duration

DIRECTIONS = ("backward", "forward", "nearest")


def check_timestamps(df: pd.DataFrame, column: str, table: str, *, sorted_by=None,
                     aware: bool = True) -> None:
    """Raise ``FabDataError`` unless ``df[column]`` is datetime, free of NaT, tz-aware
    (when ``aware``) and non-decreasing (within each ``sorted_by`` group if given).

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"t": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)})
    >>> check_timestamps(df, "t", "events")
    """
    if column not in df.columns:
        raise FabDataError(f"{table}: missing column {column!r} (have {list(df.columns)})")
    col = df[column]
    if not isinstance(col.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(col):
        raise FabDataError(f"{table}.{column}: expected datetimes, got dtype {col.dtype}")
    if aware and not isinstance(col.dtype, pd.DatetimeTZDtype):
        raise FabDataError(f"{table}.{column}: timezone-naive timestamps; localize them first "
                           "(e.g. df[col].dt.tz_localize('UTC'))")
    if col.isna().any():
        row = df.index[col.isna().to_numpy()][0]
        raise FabDataError(f"{table}.{column}: missing timestamp (NaT) at row {row!r}")
    if sorted_by is None:
        bad = col.diff() < pd.Timedelta(0)
    else:
        bad = col.groupby(df[sorted_by], sort=False).diff() < pd.Timedelta(0)
    if bad.any():
        row = df.index[bad.to_numpy()][0]
        raise FabDataError(f"{table}.{column}: not sorted (timestamp goes backwards at row "
                           f"{row!r}); sort by {column!r} first")


def _unit(col: pd.Series) -> str:
    dtype = col.dtype
    return dtype.unit if hasattr(dtype, "unit") else str(dtype)


def align_asof(high_freq: pd.DataFrame, low_freq: pd.DataFrame, on: str = "timestamp",
               tolerance="2s", direction: str = "backward", by=None,
               suffixes=("", "_low")) -> pd.DataFrame:
    """``pandas.merge_asof(high_freq, low_freq)`` after checking both keys.

    Each row of ``high_freq`` (e.g. 100 Hz sensor samples) gets the row of ``low_freq``
    (e.g. MES events) whose ``on`` is the nearest one in ``direction`` within
    ``tolerance``.  Both ``on`` columns must be tz-aware datetimes of the same unit and
    timezone, sorted ascending (within ``by`` groups when given), else
    :class:`fabnb.FabDataError` names the table and row.

    Example
    -------
    >>> import pandas as pd
    >>> t = pd.date_range("2026-01-01", periods=4, freq="1s", tz="UTC")
    >>> hf = pd.DataFrame({"timestamp": t, "value": [1.0, 2, 3, 4]})
    >>> lf = pd.DataFrame({"timestamp": t[[0, 2]], "event": ["a", "b"]})
    >>> align_asof(hf, lf)["event"].tolist()
    ['a', 'a', 'b', 'b']
    """
    check_option("align_asof", "direction", direction, DIRECTIONS)
    tol = None if tolerance is None else duration("align_asof", "tolerance", tolerance, allow_zero=True)
    for name, df in (("high_freq", high_freq), ("low_freq", low_freq)):
        check_timestamps(df, on, name)
    tz_hi, tz_lo = high_freq[on].dt.tz, low_freq[on].dt.tz
    if str(tz_hi) != str(tz_lo):
        raise FabDataError(f"align_asof: timezones differ (high_freq.{on} {tz_hi}, "
                           f"low_freq.{on} {tz_lo}); convert one with .dt.tz_convert")
    if _unit(high_freq[on]) != _unit(low_freq[on]):
        raise FabDataError(f"align_asof: time units differ (high_freq.{on} "
                           f"{_unit(high_freq[on])}, low_freq.{on} {_unit(low_freq[on])}); "
                           "cast one with .astype")
    return pd.merge_asof(high_freq, low_freq, on=on, by=by, tolerance=tol,
                         direction=direction, suffixes=suffixes)
