r"""Per-tool clock offset and drift from matched Step_Start / Step_End events.

A tool stamps MES time ``m`` (seconds after ``epoch``) as::

    tool(m) = m + offset + drift_ppm·1e-6·m

Each tool event ``e`` (a Step_Start seen in the tool's log) is matched to the nearest
MES event of the same kind on the same tool, giving ``d = e − m``.  Wrong matches
(an event MES never saw, an MES event the tool never logged, a run split by a data
gap) scatter; right matches lie on the line ``d = offset + drift·m``.  The estimate is

1. the mode of ``d`` in blocks of ``block`` (drift is negligible within a block),
2. a weighted straight line through the block modes,
3. re-matching every event with that line and keeping matches within ``tolerance``,
4. ordinary least squares of ``d`` on ``m`` over those inliers (twice).

So missing events only lower ``n_matched``; they do not bias the line.  Matching by
nearest event needs ``|offset|`` below half the typical spacing of a tool's steps.
Corrected time is ``m = (tool − offset) / (1 + drift_ppm·1e-6)`` (seconds after epoch).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import FabDataError
from ._time import duration, epoch_ns, to_timestamps, utc_ns

EVENT_KINDS = ("Step_Start", "Step_End")


def tool_events(table: pd.DataFrame, *, max_gap=None, tz="UTC") -> pd.DataFrame:
    """Step events in the tool's clock from an event log, a tool-state table or a trace.

    - ``(tool_id, event, timestamp)``: used as is (``event`` in Step_Start/Step_End);
    - ``(tool_id, start_time, end_time, state)``: each PRODUCTIVE interval gives a
      Step_Start and a Step_End;
    - a trace ``(tool_id, parameter_id, timestamp, ...)``: the first sample after a
      silence longer than ``max_gap`` (default 5 median sample periods) is a
      Step_Start.  Ends are not taken from traces: the last sample falls up to one
      period before the real end.

    Duplicate events (same tool, kind and time) are dropped; the count is in
    ``attrs["n_duplicates"]``.

    Example
    -------
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small")
    >>> ev = tool_events(fabnb.synth.tables(ds)["tool_state"])
    >>> sorted(ev["event"].unique())
    ['Step_End', 'Step_Start']
    """
    gap = None if max_gap is None else duration("tool_events", "max_gap", max_gap)
    cols = set(table.columns)
    if {"tool_id", "event", "timestamp"} <= cols:
        bad = ~table["event"].isin(EVENT_KINDS)
        if bad.any():
            row = table.index[bad.to_numpy()][0]
            raise FabDataError(f"events.event: unknown kind {table['event'][row]!r} at row "
                               f"{row!r}; expected one of {EVENT_KINDS}")
        ev = pd.DataFrame({"tool_id": table["tool_id"].astype(str).to_numpy(),
                           "event": table["event"].astype(str).to_numpy(),
                           "ns": utc_ns(table, "timestamp", "events", tz)})
    elif {"tool_id", "start_time", "end_time", "state"} <= cols:
        prod = table[table["state"] == "PRODUCTIVE"]
        tools = prod["tool_id"].astype(str).to_numpy()
        ev = pd.DataFrame({
            "tool_id": np.concatenate([tools, tools]),
            "event": np.repeat(EVENT_KINDS, len(prod)),
            "ns": np.concatenate([utc_ns(prod, "start_time", "tool_state", tz),
                                  utc_ns(prod, "end_time", "tool_state", tz)])})
    elif {"tool_id", "parameter_id", "timestamp"} <= cols:
        ev = _trace_starts(table, gap, tz)
    else:
        raise FabDataError(f"tool_events: cannot read events from columns {sorted(cols)}; "
                           "need (tool_id, event, timestamp), a tool_state table or a trace")
    n0 = len(ev)
    ev = ev.drop_duplicates().sort_values(["tool_id", "ns"], kind="stable").reset_index(drop=True)
    out = pd.DataFrame({"tool_id": ev["tool_id"], "event": ev["event"],
                        "timestamp": to_timestamps(ev["ns"].to_numpy())})
    out.attrs["n_duplicates"] = int(n0 - len(ev))
    return out


def _trace_starts(trace: pd.DataFrame, max_gap, tz) -> pd.DataFrame:
    ns = pd.DataFrame({"tool_id": trace["tool_id"].astype(str).to_numpy(),
                       "ns": utc_ns(trace, "timestamp", "trace", tz)}).drop_duplicates()
    ns = ns.sort_values(["tool_id", "ns"], kind="stable")
    tool, t = ns["tool_id"].to_numpy(), ns["ns"].to_numpy()
    new_tool = np.r_[True, tool[1:] != tool[:-1]]
    step = np.diff(t, prepend=t[:1])
    if max_gap is None:
        period = np.median(step[~new_tool]) if (~new_tool).any() else 1e9
        gap_ns = 5 * period
    else:
        gap_ns = max_gap.value
    start = new_tool | (step > gap_ns)
    return pd.DataFrame({"tool_id": tool[start], "event": "Step_Start", "ns": t[start]})


def mes_events(mes: pd.DataFrame, tz="UTC") -> pd.DataFrame:
    """Step_Start / Step_End events of an MES table (rows with no end give no Step_End)."""
    for c in ("tool_id", "start_time", "end_time"):
        if c not in mes.columns:
            raise FabDataError(f"mes: missing column {c!r} (have {list(mes.columns)})")
    has_end = mes["end_time"].notna().to_numpy()
    ended = mes[has_end]
    return pd.DataFrame({
        "tool_id": np.concatenate([mes["tool_id"].astype(str).to_numpy(),
                                   ended["tool_id"].astype(str).to_numpy()]),
        "event": np.repeat(EVENT_KINDS, [len(mes), len(ended)]),
        "ns": np.concatenate([utc_ns(mes, "start_time", "mes", tz),
                              utc_ns(ended, "end_time", "mes", tz)])})


def _nearest(sorted_ref: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index into ``sorted_ref`` of the nearest value to each ``x``."""
    i = np.clip(np.searchsorted(sorted_ref, x), 1, sorted_ref.size - 1)
    left = sorted_ref[i - 1]
    return np.where(np.abs(x - left) <= np.abs(sorted_ref[i] - x), i - 1, i)


def _mode(d: np.ndarray, width: float) -> tuple[float, int]:
    """Centre and size of the densest window of ``width`` in ``d``."""
    s = np.sort(d)
    count = np.searchsorted(s, s + width, side="right") - np.arange(s.size)
    k = int(np.argmax(count))
    return float(np.median(s[k: k + count[k]])), int(count[k])


def _fit_tool(e: np.ndarray, kind: np.ndarray, ref: dict, tol: float, block: float,
              min_span: float):
    """(offset, drift, inlier mask, m of inliers) for one tool; e and ref in s after epoch."""
    m_near = np.full(e.size, np.nan)
    for k, r in ref.items():
        sel = kind == k
        if sel.any() and r.size:
            m_near[sel] = r[_nearest(r, e[sel])] if r.size > 1 else r[0]
    ok = np.isfinite(m_near)
    if not ok.any():
        return None
    d = e - m_near
    blocks = np.floor((m_near - np.nanmin(m_near)) / block)
    centres, modes, weights = [], [], []
    for b in np.unique(blocks[ok]):
        sel = ok & (blocks == b)
        mode, n = _mode(d[sel], tol)
        centres.append(np.median(m_near[sel]))
        modes.append(mode)
        weights.append(n)
    centres, modes, weights = map(np.asarray, (centres, modes, weights))
    if np.ptp(centres) >= min_span:
        slope, offset = np.polyfit(centres, modes, 1, w=np.sqrt(weights))
    else:
        slope, offset = 0.0, float(modes[np.argmax(weights)])
    for _ in range(3):
        m_hat = (e - offset) / (1 + slope)
        m_near = np.full(e.size, np.nan)
        for k, r in ref.items():
            sel = kind == k
            if sel.any() and r.size:
                m_near[sel] = r[_nearest(r, m_hat[sel])] if r.size > 1 else r[0]
        inl = np.isfinite(m_near) & (np.abs(m_hat - m_near) <= tol)
        if not inl.any():
            return None
        d, m = (e - m_near)[inl], m_near[inl]
        if np.ptp(m) >= min_span:
            slope, offset = np.polyfit(m, d, 1)
        else:
            slope, offset = 0.0, float(np.median(d))
    return offset, slope, inl, m, d


def estimate_clock_offsets(mes: pd.DataFrame, trace: pd.DataFrame, *, epoch=None,
                           tolerance="3s", block="7D", min_span="1D",
                           max_gap=None, tz="UTC") -> pd.DataFrame:
    """Clock offset (s) and drift (ppm) of every tool against MES time.

    ``trace`` is anything :func:`tool_events` reads: a trace table, a tool-state table
    or an event log, in the tool's clock.  ``epoch`` is the time at which ``offset_s``
    holds (default: the first MES start).  Naive timestamps are read in ``tz``.

    Returns a DataFrame indexed by ``tool_id`` with ``offset_s``, ``drift_ppm``,
    ``n_matched``, ``n_events`` (tool events seen), ``span_days`` (time covered by the
    matches), ``rms_residual_s`` and ``max_abs_residual_s``.  Drift is only
    identifiable from matches spread over at least ``min_span``; a tool seen over a
    shorter span gets ``drift_ppm = 0`` and the *local* offset (exact where the tool
    ran, extrapolated to ``epoch`` without drift).  ``attrs``: ``epoch`` (UTC Timestamp), ``unmatched_tools``
    (tools with events but no MES match, e.g. absent from MES), ``n_duplicates``.

    Example
    -------
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small")
    >>> t, truth = fabnb.synth.tables(ds), fabnb.synth.truth(ds)
    >>> est = estimate_clock_offsets(t["mes"], t["tool_state"], epoch=truth["clock_epoch"])
    >>> long = est[est["span_days"] > 30]  # drift identifiable: offset at epoch is exact
    >>> err = (long["offset_s"] - truth["clock_offset"].reindex(long.index)).abs()
    >>> bool(err.max() < 0.01)
    True
    """
    tol, blk, span = (duration("estimate_clock_offsets", name, value).total_seconds()
                      for name, value in (("tolerance", tolerance), ("block", block), ("min_span", min_span)))
    events = tool_events(trace, max_gap=max_gap, tz=tz)
    ref_events = mes_events(mes, tz)
    e0 = epoch_ns(epoch, ref_events.loc[ref_events["event"] == "Step_Start", "ns"].min())
    ev_ns = events["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    events = events.assign(s=(ev_ns.astype("datetime64[ns]").view("int64") - e0) / 1e9)
    ref_events = ref_events.assign(s=(ref_events["ns"].to_numpy() - e0) / 1e9)
    ref_by_tool = {}
    for tool, g in ref_events.groupby("tool_id", sort=False):
        kind, sec = g["event"].to_numpy(), g["s"].to_numpy()
        ref_by_tool[tool] = {k: np.sort(sec[kind == k]) for k in EVENT_KINDS}
    rows, unmatched = [], []
    for tool, g in events.groupby("tool_id", sort=True):
        fit = None
        if tool in ref_by_tool:
            fit = _fit_tool(g["s"].to_numpy(), g["event"].to_numpy(), ref_by_tool[tool], tol,
                            blk, span)
        if fit is None:
            unmatched.append(tool)
            continue
        offset, slope, inl, m, d = fit
        resid = d - (offset + slope * m)
        rows.append((tool, offset, slope * 1e6, int(inl.sum()), len(g), np.ptp(m) / 86400,
                     float(np.sqrt(np.mean(resid ** 2))), float(np.max(np.abs(resid)))))
    out = pd.DataFrame(rows, columns=["tool_id", "offset_s", "drift_ppm", "n_matched",
                                      "n_events", "span_days", "rms_residual_s", "max_abs_residual_s"])
    out = out.set_index("tool_id")
    out.attrs.update(epoch=pd.Timestamp(e0, unit="ns", tz="UTC"), unmatched_tools=unmatched,
                     n_duplicates=events.attrs.get("n_duplicates", 0))
    return out


def correct_to_mes(tool_ns: np.ndarray, offset_s, drift_ppm, epoch_ns: int) -> np.ndarray:
    """Tool-clock ns -> MES-clock ns: ``m = (tool − offset)/(1 + drift·1e-6)`` after epoch."""
    s = ((tool_ns - epoch_ns) / 1e9 - offset_s) / (1 + drift_ppm * 1e-6)
    return epoch_ns + np.round(s * 1e9).astype("int64")


def correct_timestamps(df: pd.DataFrame, offsets: pd.DataFrame, column: str = "timestamp",
                       tz="UTC") -> pd.DataFrame:
    """A copy of ``df`` with ``column`` moved from each tool's clock to MES time (UTC).

    Example
    -------
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small")
    >>> t = fabnb.synth.tables(ds)
    >>> est = estimate_clock_offsets(t["mes"], t["tool_state"])
    >>> fixed = correct_timestamps(t["trace"].head(3), est)
    >>> str(fixed["timestamp"].dt.tz)
    'UTC'
    """
    tools = df["tool_id"].astype(str)
    missing = sorted(set(tools) - set(offsets.index))
    if missing:
        raise FabDataError(f"correct_timestamps: no clock estimate for tools {missing[:5]}")
    fixed = correct_to_mes(utc_ns(df, column, "trace", tz),
                           offsets["offset_s"].reindex(tools).to_numpy(),
                           offsets["drift_ppm"].reindex(tools).to_numpy(),
                           offsets.attrs["epoch"].value)
    return df.assign(**{column: to_timestamps(fixed)})
