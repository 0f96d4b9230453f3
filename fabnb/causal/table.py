"""The wafer table a killer-tool analysis runs on: response, routing context, tool usage.

One row per wafer: the response ``y`` (default: wafer yield from ``hbin``), the routing
context (categorical confounders: route family, period, queue lane, ... whatever the
data holds), the continuous confounders (float wafer coordinates such as a chamber
temperature or a queue time: adjusted linearly, in quantile strata or by the logistic
propensity, never cut into one stratum per value) and one 0/1 *indicator* column per
candidate (step, tool) -- a multi-level tool is never coded as a number.  Bad input is
reported, never silently dropped: wafers without a tool record, without a context value
(a non-finite continuous one included) or with a NaN response are
excluded with a warning that counts them; steps where every remaining wafer ran the
same tool carry no information and are skipped with a warning.

Example
-------
>>> import fabnb
>>> from fabnb.causal.table import wafer_table
>>> t = wafer_table(fabnb.synth.fab("small", seed=0))
>>> t.context.columns.tolist(), t.indicators.shape[0] == t.y.size
(['route', 'lot', 'period'], True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Integral, Interval, check_params
from ..errors import FabDataError, FabFitError
from .._warn import user_stacklevel

#: Wafer coordinates that describe the routing context when present (``"auto"``).
CONTEXT_NAMES = ("route", "product", "lane", "queue", "priority", "lot")
PERIOD = "period"


@dataclass(frozen=True)
class WaferTable:
    """Analysis-ready wafers.

    ``y`` (n,) response; ``wafer``/``lot`` (n,) ids; ``context`` DataFrame of string
    confounder columns; ``indicators`` (n, K) float 0/1 with ``candidates`` (K rows:
    ``step``, ``tool``) describing its columns; ``excluded`` counts by reason;
    ``covariates`` DataFrame of the continuous (float) confounder columns.
    """

    y: np.ndarray
    wafer: np.ndarray
    lot: np.ndarray
    context: pd.DataFrame
    indicators: np.ndarray
    candidates: pd.DataFrame
    excluded: dict
    covariates: pd.DataFrame

    def context_codes(self) -> np.ndarray:
        """Integer id of each wafer's routing stratum (combination of context levels)."""
        if self.context.shape[1] == 0:
            return np.zeros(self.y.size, dtype=np.int64)
        return self.context.groupby(list(self.context.columns), sort=True).ngroup().to_numpy()

    def design(self) -> tuple[np.ndarray, np.ndarray]:
        """Estimator columns ``[indicators | covariates]`` (n, K + C) and their names (the
        candidates' tool names, then the covariate names)."""
        names = np.array([*self.candidates["tool"], *map(str, self.covariates.columns)], dtype=object)
        return np.column_stack([self.indicators, self.covariates.to_numpy(dtype=float)]), names

    def context_dummies(self) -> np.ndarray:
        """Intercept plus treatment-coded (drop-first) dummies of every context column."""
        cols = [np.ones(self.y.size)]
        for name in self.context.columns:
            levels = np.unique(self.context[name].to_numpy())
            cols += [(self.context[name].to_numpy() == lv).astype(float) for lv in levels[1:]]
        return np.column_stack(cols)


def wafer_yield(ds: xr.Dataset) -> np.ndarray:
    """Per-wafer yield ``#(hbin == 1) / #(hbin != -1)`` (via :mod:`fabnb.summary`)."""
    from ..summary import yield_by_wafer

    return yield_by_wafer(ds)["yield"].to_numpy(dtype=float)


def _wafer_values(ds: xr.Dataset, name: str) -> np.ndarray | None:
    if name in ds.variables and ds[name].dims == ("wafer",):
        return np.asarray(ds[name].values)
    return None


def _response(ds: xr.Dataset, response) -> np.ndarray:
    if isinstance(response, str):
        if response == "yield" and "yield" not in ds.variables:
            if "hbin" not in ds:
                raise FabDataError("response='yield' needs the variable 'hbin' (wafer, die)")
            return wafer_yield(ds)
        values = _wafer_values(ds, response)
        if values is None:
            raise FabDataError(
                f"response {response!r} is neither 'yield' nor a (wafer,) variable or coordinate "
                f"of the dataset")
        return values.astype(float)
    if isinstance(response, (pd.Series, xr.DataArray)):
        series = response.to_series() if isinstance(response, xr.DataArray) else response
        return series.reindex(ds["wafer"].values.astype(str)).to_numpy(dtype=float)
    values = np.asarray(response, dtype=float)
    if values.shape != (ds.sizes["wafer"],):
        raise FabDataError(
            f"response array has shape {values.shape}, expected ({ds.sizes['wafer']},) wafers")
    return values


def _period(ds: xr.Dataset, n_periods: int) -> np.ndarray:
    """Equal-count time bins ``P1..Pn`` of the wafers' process time."""
    time = pd.Series(pd.to_datetime(ds["time"].values))
    rank = time.rank(method="first").to_numpy() - 1
    bins = np.floor(rank * n_periods / max(len(time), 1)).astype(int) + 1
    labels = np.array([f"P{b}" for b in bins], dtype=object)
    labels[time.isna().to_numpy()] = ""
    return labels


def _context(ds: xr.Dataset, confounders, n_periods: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Categorical context columns (strings, "" = missing) and continuous (float) ones."""
    available = [n for n in ds.variables if ds[n].dims == ("wafer",) and n != "wafer"]
    if confounders == "auto":
        names = [n for n in CONTEXT_NAMES if n in available]
        names += [PERIOD] if "time" in available else []
    elif confounders is None:
        names = []
    else:
        names = [confounders] if isinstance(confounders, str) else list(confounders)
        unknown = [n for n in names if n not in available and not (n == PERIOD and "time" in available)]
        if unknown:
            raise FabDataError(
                f"confounder column(s) {unknown} are not wafer coordinates of the dataset; "
                f"available: {sorted(available) + ([PERIOD] if 'time' in available else [])}")
    columns, covariates = {}, {}
    for name in names:
        raw = _period(ds, n_periods) if name == PERIOD else _wafer_values(ds, name)
        if np.asarray(raw).dtype.kind == "f":  # a measured quantity: a level per value would leave no overlap
            covariates[name] = np.asarray(raw, dtype=float)
        else:
            columns[name] = pd.Series(raw).astype(object).where(pd.notna(raw), "").astype(str)
    index = pd.RangeIndex(ds.sizes["wafer"])
    return pd.DataFrame(columns, index=index), pd.DataFrame(covariates, index=index)


def _warn_excluded(reason: str, mask: np.ndarray, wafers: np.ndarray, where: str = "") -> None:
    if mask.any():
        shown = ", ".join(wafers[mask][:5]) + (", ..." if mask.sum() > 5 else "")
        warnings.warn(f"{int(mask.sum())} wafer(s) excluded: {reason}{where} ({shown})",
                      UserWarning, stacklevel=user_stacklevel())


def wafer_table(ds: xr.Dataset, response="yield", steps=None, confounders="auto",
                n_periods: int = 4) -> WaferTable:
    """Build the :class:`WaferTable` of a contract Dataset.

    Parameters
    ----------
    ds : xarray.Dataset with ``tool`` (wafer, step)
    response : ``"yield"`` (per-wafer yield from ``hbin``), the name of a (wafer,)
        variable/coordinate, or per-wafer values (array, or Series indexed by wafer id).
    steps : list of step names, default all.
    confounders : ``"auto"`` (the routing context present among route, product, lane,
        queue, priority, lot, and ``period`` = ``n_periods`` equal-count bins of ``time``),
        None (no context), or a list of (wafer,) coordinate names.  Float coordinates are
        continuous confounders (``covariates``), every other one categorical.

    >>> import fabnb
    >>> t = wafer_table(fabnb.synth.fab("small", seed=0), steps=["S22"])
    >>> t.candidates["tool"].str.startswith("S22").all()
    np.True_
    """
    check_params("wafer_table", {"n_periods": [Interval(Integral, 1, None, closed="left")]},
                 {"n_periods": n_periods})
    if not isinstance(ds, xr.Dataset) or "tool" not in ds or ds["tool"].dims != ("wafer", "step"):
        raise FabDataError("killer-tool analysis needs a Dataset with variable 'tool' (wafer, step)")
    all_steps = [str(s) for s in ds["step"].values]
    steps = all_steps if steps is None else [steps] if isinstance(steps, str) else list(steps)
    unknown = [s for s in steps if s not in all_steps]
    if unknown:
        raise FabDataError(f"step(s) {unknown} are not in the dataset's 'step' coordinate")
    wafers = ds["wafer"].values.astype(str)
    y = _response(ds, response)
    context, covariates = _context(ds, confounders, n_periods)
    tool = pd.DataFrame(ds["tool"].sel(step=steps).values, columns=steps).astype(object)
    tool = tool.where(pd.notna(tool), "").astype(str)

    no_tool = (tool == "").to_numpy()
    missing_route = ((context == "").to_numpy().any(axis=1)
                     | ~np.isfinite(covariates.to_numpy(dtype=float)).all(axis=1))
    nan_y = ~np.isfinite(y)
    per_step = {s: int(n) for s, n in zip(steps, no_tool.sum(axis=0)) if n}
    where = " at " + ", ".join(f"{s}: {n}" for s, n in list(per_step.items())[:8]) if per_step else ""
    _warn_excluded("no tool recorded", no_tool.any(axis=1), wafers, where)
    _warn_excluded(f"missing routing context {list(context.columns) + list(covariates.columns)}",
                   missing_route & ~no_tool.any(axis=1), wafers)
    _warn_excluded(f"response {response if isinstance(response, str) else 'values'} is NaN",
                   nan_y & ~no_tool.any(axis=1) & ~missing_route, wafers)
    keep = ~(no_tool.any(axis=1) | missing_route | nan_y)
    excluded = {"no_tool": int(no_tool.any(axis=1).sum()), "no_context": int(missing_route.sum()),
                "nan_response": int(nan_y.sum()), "kept": int(keep.sum())}
    if keep.sum() < 3:
        raise FabFitError(f"only {int(keep.sum())} usable wafer(s) after exclusions {excluded}")
    tool = tool[keep].reset_index(drop=True)
    context = context[keep].reset_index(drop=True)
    covariates = covariates[keep].reset_index(drop=True)

    single = [s for s in steps if tool[s].nunique() < 2]
    if single:
        warnings.warn(f"{len(single)} step(s) with a single tool skipped (no comparison "
                      f"possible): {', '.join(single[:10])}{', ...' if len(single) > 10 else ''}",
                      UserWarning, stacklevel=user_stacklevel())
    rows, columns = [], []
    for step in (s for s in steps if s not in single):
        for name in sorted(tool[step].unique()):
            rows.append((step, name))
            columns.append((tool[step].to_numpy() == name).astype(float))
    if not rows:
        raise FabFitError("no step has more than one tool among the usable wafers")
    lot = ds["lot"].values.astype(str)[keep] if "lot" in ds.variables else wafers[keep]
    return WaferTable(y=y[keep], wafer=wafers[keep], lot=lot, context=context,
                      indicators=np.column_stack(columns),
                      candidates=pd.DataFrame(rows, columns=["step", "tool"]), excluded=excluded,
                      covariates=covariates)
