r"""The "great fab join": trace samples -> (lot, wafer, step) by MES step windows.

Each sample of tool ``T`` at corrected time ``t`` belongs to the MES row of ``T`` whose
window holds it, ``start_time ≤ t ≤ end_time`` — the same as
``align_asof(trace, mes, on=start_time, by="tool_id", direction="backward")`` followed
by the end check, done here with one ``searchsorted`` per tool so that the trace can be
streamed in chunks (it never needs to be sorted or held in memory at once).

Samples that cannot be placed are excluded and *counted*, never silently dropped:
``tool_not_in_mes``, ``other_steps`` (tools of steps not joined), ``no_clock_estimate``,
``bad_quality``, ``outside_windows``; MES
rows without an end are excluded as ``missing_step_end``.  The counts are in
``result.attrs["fab_join"]``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._params import Integral, Interval, check_params
from ..errors import FabDataError
from ._time import duration, to_timestamps, utc_ns
from .clocks import correct_to_mes, estimate_clock_offsets

MES_COLUMNS = ("lot", "wafer", "step", "tool_id", "start_time", "end_time")
TRACE_COLUMNS = ("tool_id", "parameter_id", "timestamp", "value")
PARAMETERS = {
    "step": [None, str, "array-like"],
    "offsets": [None, pd.DataFrame],
    "quality": [None, str],
    "correct_clocks": ["boolean"],
    "chunksize": [Interval(Integral, 1, None, closed="left")],
    "progress": ["boolean"],
    "counts": [None, Counter],
}


def _require(df, columns, table):
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FabDataError(f"{table}: missing columns {missing} (have {list(df.columns)})")


class _Windows:
    """MES windows of the chosen steps, sorted per tool, validated once."""

    def __init__(self, mes: pd.DataFrame, step, tz):
        _require(mes, MES_COLUMNS, "mes")
        self.all_tools = np.unique(mes["tool_id"].astype(str).to_numpy())
        dup = mes.duplicated(["wafer", "step"], keep=False)
        if dup.any():
            row = mes[dup].iloc[0]
            raise FabDataError(f"mes: duplicate rows for wafer {row['wafer']!r} step "
                               f"{row['step']!r} ({int(dup.sum())} duplicated rows)")
        if step is not None:
            steps = [step] if isinstance(step, str) else list(step)
            unknown = sorted(set(steps) - set(mes["step"].astype(str)))
            if unknown:
                raise FabDataError(f"mes: no rows for step(s) {unknown}")
            mes = mes[mes["step"].isin(steps)]
        no_end = mes["end_time"].isna().to_numpy()
        self.missing_step_end = mes.loc[no_end, ["wafer", "step"]].reset_index(drop=True)
        mes = mes[~no_end].reset_index(drop=True)
        start, end = utc_ns(mes, "start_time", "mes", tz), utc_ns(mes, "end_time", "mes", tz)
        if (end < start).any():
            row = mes[end < start].iloc[0]
            raise FabDataError(f"mes: end_time before start_time for wafer {row['wafer']!r} "
                               f"step {row['step']!r}")
        order = np.lexsort((start, mes["tool_id"].astype(str).to_numpy()))
        self.mes = mes.iloc[order].reset_index(drop=True)
        self.start, self.end = start[order], end[order]
        self.tools = {}
        tool = self.mes["tool_id"].astype(str).to_numpy()
        for t in np.unique(tool):
            idx = np.flatnonzero(tool == t)
            overlap = self.start[idx[1:]] < self.end[idx[:-1]]
            if overlap.any():
                k = idx[1:][overlap][0]
                raise FabDataError(f"mes: overlapping windows on tool {t!r} (wafers "
                                   f"{self.mes['wafer'][k - 1]!r} and {self.mes['wafer'][k]!r}); "
                                   "a windowed join needs one wafer at a time per tool")
            self.tools[t] = idx
        self.tool_index = pd.Index(list(self.tools))
        self.labels = {c: pd.factorize(self.mes[c].astype(str)) for c in
                       ("lot", "wafer", "step", "tool_id")}

    def locate(self, code: np.ndarray, t_ns: np.ndarray, tol_ns: int = 0) -> np.ndarray:
        """Row of ``self.mes`` whose window, widened by ``tol_ns``, holds each sample
        (the latest-starting one), -1 when none.  ``code`` indexes ``tool_index``."""
        row = np.full(t_ns.size, -1, dtype=np.int64)
        order = np.argsort(code, kind="stable")
        bounds = np.searchsorted(code[order], np.arange(len(self.tool_index) + 1))
        for c, t in enumerate(self.tool_index):
            sel = order[bounds[c]: bounds[c + 1]]
            if sel.size == 0:
                continue
            idx = self.tools[t]
            k = np.searchsorted(self.start[idx], t_ns[sel] + tol_ns, side="right") - 1
            hit = k >= 0
            k = np.where(hit, k, 0)
            hit &= t_ns[sel] <= self.end[idx][k] + tol_ns
            row[sel[hit]] = idx[k[hit]]
        return row


def fab_join_stream(mes: pd.DataFrame, chunks: Iterable[pd.DataFrame], *, step=None,
                    offsets: pd.DataFrame | None = None, quality: str | None = "good",
                    tolerance="10ms", tz="UTC",
                    counts: Counter | None = None) -> Iterator[pd.DataFrame]:
    """Join trace chunks one at a time (the streaming form of :func:`fab_join`).

    ``offsets`` (from :func:`estimate_clock_offsets`, e.g. on the small tool-state
    table) corrects each tool's clock; ``None`` joins on the raw tool clock.  Pass a
    ``collections.Counter`` as ``counts`` to receive the exclusion counts.

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
    >>> est = fabnb.trace.estimate_clock_offsets(t["mes"], t["tool_state"])
    >>> chunks = (t["trace"].iloc[i:i + 10_000] for i in range(0, len(t["trace"]), 10_000))
    >>> sum(len(c) for c in fab_join_stream(t["mes"], chunks, offsets=est)) > 0
    True
    """
    check_params("fab_join_stream", PARAMETERS, locals())
    tol = duration("fab_join_stream", "tolerance", tolerance, allow_zero=True)
    # not a generator function itself, so bad parameters and MES tables raise here
    return _stream(_Windows(mes, step, tz), chunks, offsets, quality, tz,
                   Counter() if counts is None else counts, tol)


def _stream(windows, chunks, offsets, quality, tz, counts, tolerance):
    counts["missing_step_end"] += len(windows.missing_step_end)
    known = pd.Index(windows.all_tools)
    clock = None
    if offsets is not None:
        clock = (offsets["offset_s"].reindex(windows.tool_index).to_numpy(),
                 offsets["drift_ppm"].reindex(windows.tool_index).to_numpy(),
                 offsets.attrs["epoch"].value)
    tol_ns = tolerance.value
    for chunk in chunks:
        yield _join_chunk(windows, chunk, clock, quality, tz, known, counts, tol_ns)


def _codes(series: pd.Series, index: pd.Index) -> np.ndarray:
    """Position of each id in ``index`` (-1 if absent); fast for categorical columns."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        lookup = np.r_[index.get_indexer(series.cat.categories.astype(str)), -1]
        return lookup[series.cat.codes.to_numpy()]  # code -1 (NaN) picks the trailing -1
    return index.get_indexer(series.astype(str))


def _join_chunk(windows, chunk, clock, quality, tz, known, counts, tol_ns) -> pd.DataFrame:
    _require(chunk, TRACE_COLUMNS, "trace")
    counts["n_trace"] += len(chunk)
    keep = _codes(chunk["tool_id"], known) >= 0
    counts["tool_not_in_mes"] += int((~keep).sum())
    code = _codes(chunk["tool_id"], windows.tool_index)
    in_steps = code >= 0
    counts["other_steps"] += int((keep & ~in_steps).sum())
    keep &= in_steps
    if clock is not None:
        has_clock = np.zeros(code.size, dtype=bool)
        has_clock[in_steps] = np.isfinite(clock[0][code[in_steps]])
        counts["no_clock_estimate"] += int((keep & ~has_clock).sum())
        keep &= has_clock
    if quality is not None and "quality" in chunk.columns:
        good = (chunk["quality"] == quality).to_numpy()
        counts["bad_quality"] += int((keep & ~good).sum())
        keep &= good
    chunk, code = chunk[keep], code[keep]
    raw = utc_ns(chunk, "timestamp", "trace", tz)
    t_ns = raw if clock is None else correct_to_mes(raw, clock[0][code], clock[1][code], clock[2])
    row = windows.locate(code, t_ns, tol_ns)
    hit = row >= 0
    counts["outside_windows"] += int((~hit).sum())
    row, t_ns, chunk = row[hit], t_ns[hit], chunk[hit]
    counts["n_joined"] += len(row)
    out = {c: pd.Categorical.from_codes(codes[row], categories=cats)
           for c, (codes, cats) in windows.labels.items()}
    out.update({
        "parameter_id": chunk["parameter_id"].to_numpy(),
        "timestamp": to_timestamps(t_ns), "tool_timestamp": to_timestamps(raw[hit]),
        "t_rel_s": (t_ns - windows.start[row]) / 1e9,
        "step_duration_s": (windows.end[row] - windows.start[row]) / 1e9,
        "value": chunk["value"].to_numpy(dtype=float),
    })
    return pd.DataFrame(out)


def fab_join(mes: pd.DataFrame, trace: pd.DataFrame | Iterable[pd.DataFrame], step=None,
             correct_clocks: bool = True, *, offsets: pd.DataFrame | None = None,
             quality: str | None = "good", tolerance="10ms", chunksize: int = 2_000_000,
             tz="UTC",
             progress: bool = False) -> pd.DataFrame:
    """Trace samples with their lot, wafer and step, by MES step windows.

    Parameters
    ----------
    mes
        ``lot, wafer, step, tool_id, start_time, end_time`` (MES clock).
    trace
        ``tool_id, parameter_id, timestamp, value[, quality]`` in each tool's clock, as
        one DataFrame (processed in ``chunksize`` rows) or an iterable of chunks.
    step
        A step id or list of ids to join (default all).
    correct_clocks
        Move tool timestamps to MES time first, with ``offsets`` or, when not given,
        :func:`estimate_clock_offsets` on ``trace`` (needs a DataFrame).
    quality
        Keep only samples whose ``quality`` equals this (``None`` keeps all).
    tolerance
        Clock-skew slack: a sample this close outside a window still belongs to it
        (covers nanosecond rounding and the residual of the clock fit).
    tz
        Zone for naive timestamps (``None``: naive timestamps raise).

    Returns
    -------
    DataFrame ``lot, wafer, step, tool_id, parameter_id, timestamp`` (MES time, UTC),
    ``tool_timestamp``, ``t_rel_s`` (s since step start), ``step_duration_s``,
    ``value``; ``attrs["fab_join"]`` holds the exclusion counts, the wafers with no
    Step_End and the tools with no clock estimate.

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
    >>> j = fab_join(t["mes"], t["trace"], step="S05")
    >>> j.attrs["fab_join"]["outside_windows"]
    0
    """
    check_params("fab_join", PARAMETERS, locals())
    tol = duration("fab_join", "tolerance", tolerance, allow_zero=True)
    if correct_clocks and offsets is None:
        if not isinstance(trace, pd.DataFrame):
            raise FabDataError("fab_join: streaming chunks need offsets= (estimate them first "
                               "with estimate_clock_offsets on tool_state or an event log)")
        offsets = estimate_clock_offsets(mes, trace, tz=tz)
    if isinstance(trace, pd.DataFrame):
        chunks = (trace.iloc[i: i + chunksize] for i in range(0, max(len(trace), 1), chunksize))
        total = -(-len(trace) // chunksize)
    else:
        chunks, total = trace, None
    counts, windows = Counter(), _Windows(mes, step, tz)
    parts = list(tqdm(_stream(windows, chunks, offsets if correct_clocks else None, quality,
                              tz, counts, tol), total=total, disable=not progress, desc="fab_join"))
    if not parts:
        raise FabDataError("fab_join: trace is empty")
    out = pd.concat(parts, ignore_index=True)
    report = {k: int(counts[k]) for k in ("n_trace", "n_joined", "tool_not_in_mes",
                                           "other_steps", "no_clock_estimate", "bad_quality",
                                           "outside_windows", "missing_step_end")}
    report["missing_step_end_wafers"] = list(map(str, windows.missing_step_end["wafer"]))
    report["unmatched_tools"] = list(offsets.attrs.get("unmatched_tools", [])) if (
        correct_clocks) else []
    out.attrs["fab_join"] = report
    return out
