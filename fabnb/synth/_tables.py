"""Long tables of the synthetic fab: MES history, 1 Hz sensor traces and tool states.

- ``mes``: one row per wafer per step (``lot, wafer, step, tool_id, start_time,
  end_time``) in MES time (whole seconds).
- ``trace``: ``tool_id, parameter_id, timestamp, value, quality`` for the chambers of the
  traced steps ``S05, S14, S22, S30, S37``; three parameters per chamber, sampled at
  1 Hz *of the tool's clock* while a wafer runs.  A tool stamps MES time ``m`` as
  ``m + offset + drift_ppm·1e-6·(m − epoch)`` (``truth(ds)["clock_offset"]``,
  ``["clock_drift_ppm"]``, ``["clock_epoch"]``).  A sample ``i`` seconds into a run is
  ``baseline·(1 + N(0, 1 %)) [chamber] + N(0, run sd) [run] + 3·run sd·exp(−i/4)
  [settling] + N(0, noise sd)``; the killer chamber's pressure also oscillates
  (``3·noise sd·sin(2π i/7)``).  About 0.3 % of samples are ``quality="bad"`` spikes.
- ``tool_state``: ``tool_id, start_time, end_time, state`` in the tool's clock,
  PRODUCTIVE while a wafer runs, IDLE in between, MAINTENANCE blocks of 2-8 h in some
  idle gaps longer than 12 h.  Trace is logged only while PRODUCTIVE, so gaps during
  IDLE/MAINTENANCE are explained; a few unexplained data-loss gaps (10-40 s inside
  runs, ``truth(ds)["trace_data_loss"]``) are not.

Example
-------
>>> import fabnb
>>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
>>> sorted(t)
['mes', 'tool_state', 'trace']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._catalog import STEPS, TRACE_PARAMETERS, TRACED_STEPS
from ._routing import KILLER_TOOL, Routing, to_datetime

BAD_QUALITY_RATE = 0.003
MIN_GAP_FOR_MAINTENANCE_S = 12 * 3600.0


def mes_table(rt: Routing) -> pd.DataFrame:
    """One row per wafer per step, MES time."""
    n_w, n_s = rt.tool.shape
    return pd.DataFrame({
        "lot": np.repeat(rt.lot, n_s),
        "wafer": np.repeat(rt.wafer, n_s),
        "step": np.tile(np.asarray(STEPS), n_w),
        "tool_id": rt.tool.ravel(),
        "start_time": to_datetime(rt.epoch, rt.start.ravel()),
        "end_time": to_datetime(rt.epoch, rt.end.ravel()),
    })


def traced_windows(rt: Routing) -> pd.DataFrame:
    """Runs on traced chambers with start/end in MES and tool seconds and sample count."""
    cols = [STEPS.index(s) for s in TRACED_STEPS]
    wafer_idx, step_col = np.meshgrid(np.arange(rt.tool.shape[0]), cols, indexing="ij")
    tool = rt.tool[wafer_idx, step_col].ravel()
    start, end = rt.start[wafer_idx, step_col].ravel(), rt.end[wafer_idx, step_col].ravel()
    tool_start, tool_end = rt.tool_clock(tool, start), rt.tool_clock(tool, end)
    df = pd.DataFrame({
        "wafer": wafer_idx.ravel(), "step": np.asarray(STEPS)[step_col.ravel()], "tool_id": tool,
        "start": start, "end": end, "tool_start": tool_start, "tool_end": tool_end,
        "n_samples": np.floor(tool_end - tool_start).astype(np.int64) + 1,
    })
    return df.sort_values(["tool_id", "start"], kind="stable").reset_index(drop=True)


def plan_data_loss(rng, windows: pd.DataFrame) -> pd.DataFrame:
    """Choose the unexplained trace gaps: window row, first missing sample, count."""
    n = max(2, round(0.01 * len(windows)))
    rows = np.sort(rng.choice(len(windows), size=min(n, len(windows)), replace=False))
    length = rng.integers(10, 41, size=rows.size)
    room = np.maximum(windows["n_samples"].to_numpy()[rows] - length - 10, 6)
    first = rng.integers(5, room)
    length = np.minimum(length, windows["n_samples"].to_numpy()[rows] - first - 1)
    return pd.DataFrame({"window": rows, "first": first, "length": length})


def data_loss_table(rt: Routing, windows: pd.DataFrame, loss: pd.DataFrame) -> pd.DataFrame:
    """The data-loss gaps in the tool's clock (first and last missing sample)."""
    w = windows.iloc[loss["window"].to_numpy()]
    first = w["tool_start"].to_numpy() + loss["first"].to_numpy()
    last = first + loss["length"].to_numpy() - 1
    return pd.DataFrame({
        "tool_id": w["tool_id"].to_numpy(), "wafer": rt.wafer[w["wafer"].to_numpy()],
        "step": w["step"].to_numpy(),
        "start": to_datetime(rt.epoch, first), "end": to_datetime(rt.epoch, last),
    })


def trace_table(rng, rt: Routing, windows: pd.DataFrame, loss: pd.DataFrame) -> pd.DataFrame:
    """1 Hz samples of every parameter on every traced run, minus the data-loss gaps."""
    n = windows["n_samples"].to_numpy()
    run = np.repeat(np.arange(n.size), n)
    i = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)  # sample number in its run
    keep = np.ones(run.size, dtype=bool)
    run_offset = np.cumsum(n) - n
    for window, first, length in loss.itertuples(index=False):
        keep[run_offset[window] + first: run_offset[window] + first + length] = False
    run, i = run[keep], i[keep]
    tools = windows["tool_id"].to_numpy()
    chambers = pd.Index(np.unique(tools))
    chamber_of_run = chambers.get_indexer(tools)
    killer_run = tools == KILLER_TOOL
    stamp = to_datetime(rt.epoch, windows["tool_start"].to_numpy()[run] + i)
    frames = []
    for name, (base, run_sd, noise_sd) in TRACE_PARAMETERS.items():
        level = base * (1 + rng.normal(0, 0.01, chambers.size))[chamber_of_run]
        level = level + rng.normal(0, run_sd, n.size)
        value = (level[run] + 3 * run_sd * np.exp(-i / 4.0)
                 + rng.normal(0, noise_sd, run.size))
        if name == "pressure_mTorr":
            value += killer_run[run] * 3 * noise_sd * np.sin(2 * np.pi * i / 7.0)
        bad = rng.random(run.size) < BAD_QUALITY_RATE
        value[bad] += rng.choice([-1, 1], bad.sum()) * rng.uniform(20, 60, bad.sum()) * noise_sd
        frames.append(pd.DataFrame({
            "tool_id": tools[run], "parameter_id": name, "timestamp": stamp, "value": value,
            "quality": np.where(bad, "bad", "good"),
        }))
    trace = pd.concat(frames, ignore_index=True)
    trace = trace.sort_values(["tool_id", "timestamp", "parameter_id"], kind="stable")
    return trace.reset_index(drop=True)


def tool_state_table(rng, rt: Routing, windows: pd.DataFrame) -> pd.DataFrame:
    """PRODUCTIVE / IDLE / MAINTENANCE intervals of each traced chamber, tool clock."""
    rows = []
    for tool_id, runs in windows.groupby("tool_id", sort=True):
        starts, ends = runs["tool_start"].to_numpy(), runs["tool_end"].to_numpy()
        for k in range(starts.size):
            rows.append((tool_id, starts[k], ends[k], "PRODUCTIVE"))
            if k + 1 == starts.size:
                break
            gap_start, gap_end = ends[k], starts[k + 1]
            if gap_end - gap_start > MIN_GAP_FOR_MAINTENANCE_S and rng.random() < 0.3:
                m0 = gap_start + rng.uniform(0.5, 2.0) * 3600
                m1 = m0 + rng.uniform(2.0, 8.0) * 3600
                rows += [(tool_id, gap_start, m0, "IDLE"), (tool_id, m0, m1, "MAINTENANCE"),
                         (tool_id, m1, gap_end, "IDLE")]
            else:
                rows.append((tool_id, gap_start, gap_end, "IDLE"))
    df = pd.DataFrame(rows, columns=["tool_id", "start_time", "end_time", "state"])
    df["start_time"] = to_datetime(rt.epoch, df["start_time"].to_numpy())
    df["end_time"] = to_datetime(rt.epoch, df["end_time"].to_numpy())
    return df
