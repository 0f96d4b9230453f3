r"""Trace gaps explained by equipment state (GEM) versus real data loss.

Under SEMI E10/GEM, a tool logs process data only while PRODUCTIVE (processing); a
silence while it is IDLE or in MAINTENANCE (scheduled/unscheduled down) is expected.
For each gap — consecutive samples of a tool further apart than ``gap_factor`` sample
periods — the missing interval is ``(t_prev + period, t_next)``; the state table tells
how much of it the tool spent in each state (all in the tool's clock)::

    lost_s = seconds of the missing interval during PRODUCTIVE (or with no state known)

A gap with ``lost_s`` above half a period is **data loss** (unexplained); otherwise it is
explained by the states that cover it (``IDLE``, ``MAINTENANCE``, ``IDLE+MAINTENANCE``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._params import Interval, Real, check_params
from ..errors import FabDataError
from ._time import duration, to_timestamps, utc_ns


def _covered(starts, ends, a, b):
    """Seconds of each interval (a, b) covered by the disjoint sorted intervals (starts, ends)."""
    cum = np.r_[0.0, np.cumsum(ends - starts)]

    def before(t):  # covered time before t
        k = np.searchsorted(starts, t, side="right")
        full = cum[np.maximum(k - 1, 0)]
        partial = np.clip(t - starts[np.maximum(k - 1, 0)], 0, None)
        partial = np.minimum(partial, (ends - starts)[np.maximum(k - 1, 0)])
        return np.where(k == 0, 0.0, full + partial)

    return np.clip(before(b) - before(a), 0, None)


def explain_gaps(trace: pd.DataFrame, tool_state: pd.DataFrame, *, gap_factor: float = 1.5,
                 sample_period=None, tz="UTC") -> pd.DataFrame:
    """Every gap in each tool's trace, with the equipment state that explains it.

    ``trace`` and ``tool_state`` (``tool_id, start_time, end_time, state``) are in the
    tool's clock.  ``sample_period`` defaults to the median spacing of each tool.

    Returns one row per gap: ``tool_id, gap_start, gap_end`` (first missing sample time
    and next sample time, UTC), ``duration_s, lost_s, state, explained``.  Tools with
    traces but no state rows get ``state="UNKNOWN"``, ``explained=False``.

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
    >>> g = explain_gaps(t["trace"], t["tool_state"])
    >>> int((~g["explained"]).sum())
    2
    """
    # a gap factor of 1 or less would call ordinary sample spacing a gap
    check_params("explain_gaps", {"gap_factor": [Interval(Real, 1, None, closed="neither")]}, locals())
    period_s = None if sample_period is None else duration("explain_gaps", "sample_period",
                                                           sample_period).total_seconds()
    for c in ("tool_id", "start_time", "end_time", "state"):
        if c not in tool_state.columns:
            raise FabDataError(f"tool_state: missing column {c!r}")
    samples = pd.DataFrame({"tool_id": trace["tool_id"].astype(str).to_numpy(),
                            "ns": utc_ns(trace, "timestamp", "trace", tz)}).drop_duplicates()
    samples = samples.sort_values(["tool_id", "ns"], kind="stable")
    st = tool_state.assign(s0=utc_ns(tool_state, "start_time", "tool_state", tz) / 1e9,
                           s1=utc_ns(tool_state, "end_time", "tool_state", tz) / 1e9)
    st = st.assign(tool_id=st["tool_id"].astype(str), state=st["state"].astype(str))
    rows = []
    for tool, g in samples.groupby("tool_id", sort=True):
        t = g["ns"].to_numpy() / 1e9
        if t.size < 2:
            continue
        dt = np.diff(t)
        period = float(np.median(dt)) if period_s is None else period_s
        k = np.flatnonzero(dt > gap_factor * period)
        if k.size == 0:
            continue
        a, b = t[k] + period, t[k + 1]
        states = st[st["tool_id"] == tool].sort_values("s0")
        known = _covered(states["s0"].to_numpy(), states["s1"].to_numpy(), a, b)
        cover = {}
        for name, s in states.groupby("state"):
            cover[name] = _covered(s["s0"].to_numpy(), s["s1"].to_numpy(), a, b)
        lost = cover.pop("PRODUCTIVE", np.zeros(a.size)) + np.clip((b - a) - known, 0, None)
        names = sorted(cover)
        for i in range(a.size):
            explained = lost[i] <= 0.5 * period
            label = "+".join(n for n in names if cover[n][i] > 0.5 * period)
            if not explained:
                label = "DATA_LOSS" if states.size else "UNKNOWN"
            rows.append((tool, a[i], b[i], b[i] - a[i], lost[i], label or "UNKNOWN", explained))
    out = pd.DataFrame(rows, columns=["tool_id", "gap_start", "gap_end", "duration_s", "lost_s",
                                      "state", "explained"])
    for c in ("gap_start", "gap_end"):
        out[c] = to_timestamps(np.round(out[c].to_numpy(float) * 1e9).astype("int64"))
    return out
