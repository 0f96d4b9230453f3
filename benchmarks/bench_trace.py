"""Trace join throughput at the source's scale: one chamber-day is 50 parameters × 100 Hz.

Synthetic data generated here: ``n_tools`` chambers, 50 parameters sampled at 100 Hz in
each tool's clock (offset + drift), 60 s wafer runs separated by 15 s idle.  The same
chunks go through

- fabnb: ``fab_join_stream`` (clock correction + windowed join, chunk by chunk) and
  ``trace_features`` on the stream, and
- the anchor: pandas ``merge_asof`` (correct clocks, sort, as-of on step start by tool,
  end-of-window filter) on each chunk.

Printed: rows/s of each, their ratio, agreement of the wafer assignment, and the time
for one chamber-day (432 M rows) at the measured rate.  ``python -m benchmarks.bench_trace``
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pandas as pd

from fabnb.trace import fab_join_stream, trace_features

HZ, N_PARAMS, RUN_S, IDLE_S = 100, 50, 60, 15
ROWS_PER_DAY = HZ * N_PARAMS * 86_400


def make_data(minutes: float = 6.0, n_tools: int = 2, seed: int = 0):
    """MES windows, per-tool clock truth, and a trace generator in chunks of one run."""
    rng = np.random.default_rng(seed)
    epoch = pd.Timestamp("2026-03-01", tz="UTC")
    n_runs = int(minutes * 60 // (RUN_S + IDLE_S))
    tools = [f"CH{k + 1}" for k in range(n_tools)]
    offsets = pd.DataFrame({"offset_s": rng.uniform(-8, 8, n_tools),
                            "drift_ppm": rng.uniform(-1, 1, n_tools)}, index=tools)
    offsets.index.name = "tool_id"
    offsets.attrs["epoch"] = epoch
    rows = []
    for k, tool in enumerate(tools):
        for r in range(n_runs):
            start = epoch + pd.Timedelta(seconds=r * (RUN_S + IDLE_S) + 5 * k)
            rows.append((f"L{r:03d}", f"L{r:03d}-{k + 1:02d}", "ETCH", tool, start,
                         start + pd.Timedelta(seconds=RUN_S)))
    mes = pd.DataFrame(rows, columns=["lot", "wafer", "step", "tool_id", "start_time", "end_time"])
    params = pd.Categorical([f"P{p:02d}" for p in range(N_PARAMS)])

    def chunks():
        for k, tool in enumerate(tools):
            off, ppm = offsets.loc[tool]
            for start in mes.loc[mes["tool_id"] == tool, "start_time"]:
                m = (start - epoch).total_seconds() + np.arange(RUN_S * HZ) / HZ
                stamp = epoch.value + np.round((m + off + ppm * 1e-6 * m) * 1e9).astype("int64")
                n = stamp.size * N_PARAMS
                yield pd.DataFrame({
                    "tool_id": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [tool]),
                    "parameter_id": np.tile(params, stamp.size),
                    "timestamp": pd.DatetimeIndex(np.repeat(stamp, N_PARAMS), tz="UTC"),
                    "value": rng.normal(0, 1, n),
                })

    return mes, offsets, chunks


def pandas_anchor(mes, offsets, chunk):
    """Same join with pandas merge_asof: correct, sort, as-of by tool, filter by end."""
    tool = chunk["tool_id"].astype(str)
    off = tool.map(offsets["offset_s"]).to_numpy()
    ppm = tool.map(offsets["drift_ppm"]).to_numpy()
    e0 = offsets.attrs["epoch"]
    s = ((chunk["timestamp"] - e0).dt.total_seconds().to_numpy() - off) / (1 + ppm * 1e-6)
    fixed = chunk.assign(tool_id=tool, timestamp=(e0 + pd.to_timedelta(s, unit="s")).as_unit("ns"))
    fixed = fixed.sort_values("timestamp")
    windows = mes.assign(timestamp=mes["start_time"].astype("datetime64[ns, UTC]"),
                         end_time=mes["end_time"].astype("datetime64[ns, UTC]"))
    windows = windows.sort_values("timestamp")
    out = pd.merge_asof(fixed, windows[["timestamp", "tool_id", "wafer", "end_time"]],
                        on="timestamp", by="tool_id", direction="backward",
                        tolerance=pd.Timedelta("10ms") + pd.Timedelta(seconds=RUN_S))
    return out[out["timestamp"] <= out["end_time"] + pd.Timedelta("10ms")]


def main(minutes: float = 6.0):
    mes, offsets, chunks = make_data(minutes)
    batches = list(chunks())
    n_rows = sum(len(b) for b in batches)
    print(f"trace: {n_rows:,} rows ({len(batches)} runs of {RUN_S} s, {N_PARAMS} parameters "
          f"at {HZ} Hz, {mes['tool_id'].nunique()} tools)")

    counts = Counter()
    t0 = time.perf_counter()
    joined = list(fab_join_stream(mes, batches, offsets=offsets, counts=counts))
    t_fab = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = trace_features(fab_join_stream(mes, batches, offsets=offsets), sample_period=1 / HZ)
    t_feat = time.perf_counter() - t0

    t0 = time.perf_counter()
    anchor = [pandas_anchor(mes, offsets, b) for b in batches]
    t_pd = time.perf_counter() - t0

    ours = np.concatenate([j["wafer"].astype(str).to_numpy() for j in joined])
    theirs = np.concatenate([a.sort_index()["wafer"].astype(str).to_numpy() for a in anchor])
    agree = ours.size == theirs.size and bool((ours == theirs).all())
    r_fab, r_pd, r_feat = n_rows / t_fab, n_rows / t_pd, n_rows / t_feat
    print(f"{'':28s}{'rows/s':>14s}{'chamber-day (432 M rows)':>28s}")
    for name, rate in (("fabnb fab_join_stream", r_fab), ("pandas merge_asof anchor", r_pd),
                       ("fabnb join + features", r_feat)):
        print(f"{name:28s}{rate:14,.0f}{ROWS_PER_DAY / rate / 60:24.1f} min")
    print(f"speed ratio fabnb / pandas: {r_fab / r_pd:.2f}x; same wafer for every sample: {agree}; "
          f"joined {counts['n_joined']:,}, outside windows {counts['outside_windows']:,}")
    print(f"features: {dict(feats.sizes)}")


if __name__ == "__main__":
    main()
