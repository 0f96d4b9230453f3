r"""Metrology fleet matching: each tool's offset and slope against a reference tool.

On wafers measured by both tool ``T`` and the reference ``R`` (shared wafers), fit by
ordinary least squares (statsmodels formula API)::

    offset model:  y_T − y_R = a_T + e                 (slope fixed at 1)
    linear model:  y_T       = a_T + b_T · y_R + e

with t-based confidence intervals.  The reference's own measurement noise attenuates
``b_T`` by ``Var(true)/(Var(true) + σ²_R)`` (errors in variables), so use the linear model
only when the shared wafers span a range much wider than the gauge noise.
:func:`apply_fleet_correction` maps every tool onto the reference scale,
``y ← y − a_T`` or ``y ← (y − a_T)/b_T``, so labels from a mixed fleet become one
population.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from .._params import Interval, Real, check_params
from ..errors import FabDataError, FabFitError


def _check_labels(df, wafer, tool, value):
    for c in (wafer, tool, value):
        if c not in df.columns:
            raise FabDataError(f"metrology labels: missing column {c!r} (have {list(df.columns)})")
    no_tool = df[tool].isna() | (df[tool].astype(str).str.strip() == "")
    if no_tool.any():
        rows = list(df.index[no_tool.to_numpy()][:5])
        raise FabDataError(f"metrology labels without a tool id in column {tool!r}: "
                           f"{int(no_tool.sum())} rows (first {rows})")
    if pd.to_numeric(df[value], errors="coerce").isna().any():
        row = df.index[pd.to_numeric(df[value], errors="coerce").isna().to_numpy()][0]
        raise FabDataError(f"metrology labels: {value!r} missing or not numeric at row {row!r}")


def fleet_match(df: pd.DataFrame, tool: str = "tool", reference_tool=None, *,
                wafer: str = "wafer", value: str = "value", slope: bool = False,
                alpha: float = 0.05) -> pd.DataFrame:
    """Offset (and slope) of each metrology tool against ``reference_tool``.

    ``df`` is long: one row per (wafer, tool) measurement (repeats are averaged).
    ``reference_tool`` defaults to the tool that measured the most wafers.

    Returns a DataFrame indexed by tool (reference excluded) with ``offset``,
    ``offset_lo``, ``offset_hi`` and, with ``slope=True``, ``slope``, ``slope_lo``,
    ``slope_hi`` (``1 − alpha`` intervals), ``n_shared``, ``resid_sd``; attrs
    ``reference_tool`` and ``model``.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(1)
    >>> true = rng.normal(100, 5, 30)
    >>> df = pd.DataFrame({"wafer": np.tile(np.arange(30), 2), "tool": np.repeat(["A", "B"], 30),
    ...                    "value": np.r_[true, true + 2.0] + rng.normal(0, 0.2, 60)})
    >>> fm = fleet_match(df, reference_tool="A")
    >>> bool(fm.loc["B", "offset_lo"] < 2.0 < fm.loc["B", "offset_hi"])
    True
    """
    check_params("fleet_match", {"df": [pd.DataFrame], "slope": ["boolean"],
                                 "alpha": [Interval(Real, 0, 1, closed="neither")]}, locals())
    _check_labels(df, wafer, tool, value)
    wide = df.assign(**{value: pd.to_numeric(df[value])}).pivot_table(
        index=wafer, columns=tool, values=value, aggfunc="mean")
    if reference_tool is None:
        reference_tool = wide.notna().sum().idxmax()
    if reference_tool not in wide.columns:
        raise FabDataError(f"fleet_match: reference tool {reference_tool!r} has no measurements")
    rows = {}
    for t in wide.columns:
        if t == reference_tool:
            continue
        pair = wide[[reference_tool, t]].dropna()
        pair.columns = ["ref", "y"]
        need = 3 if slope else 2
        if len(pair) < need:
            raise FabFitError(f"fleet_match: tool {t!r} shares {len(pair)} wafers with "
                              f"{reference_tool!r}; need >= {need}")
        formula = "y ~ ref" if slope else "I(y - ref) ~ 1"
        fit = smf.ols(formula, data=pair).fit()
        ci = fit.conf_int(alpha)
        row = {"offset": fit.params["Intercept"], "offset_lo": ci.loc["Intercept", 0],
               "offset_hi": ci.loc["Intercept", 1]}
        if slope:
            row.update(slope=fit.params["ref"], slope_lo=ci.loc["ref", 0],
                       slope_hi=ci.loc["ref", 1])
        row.update(n_shared=len(pair), resid_sd=float(np.sqrt(fit.scale)))
        rows[t] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = tool
    out.attrs.update(reference_tool=reference_tool, model="linear" if slope else "offset")
    return out


def apply_fleet_correction(df: pd.DataFrame, match: pd.DataFrame, tool: str = "tool",
                           value: str = "value") -> pd.DataFrame:
    """A copy of ``df`` with ``value`` mapped onto the reference tool's scale.

    Tools absent from ``match`` other than the reference raise ``FabDataError``.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"wafer": [1, 1, 2, 2, 3, 3], "tool": ["A", "B"] * 3,
    ...                    "value": [1.0, 3.0, 2.0, 4.1, 3.0, 4.9]})
    >>> fixed = apply_fleet_correction(df, fleet_match(df, reference_tool="A"))
    >>> fixed.loc[fixed["tool"] == "B", "value"].round(2).tolist()
    [1.0, 2.1, 2.9]
    """
    if tool not in df.columns or df[tool].isna().any():
        raise FabDataError(f"apply_fleet_correction: labels need a tool id in column {tool!r}")
    ref = match.attrs.get("reference_tool")
    unknown = sorted(set(df[tool].astype(str)) - set(map(str, match.index)) - {str(ref)})
    if unknown:
        raise FabDataError(f"apply_fleet_correction: no fleet match for tools {unknown}")
    keys = df[tool].astype(str)
    idx = match.index.astype(str)
    offset = keys.map(pd.Series(match["offset"].to_numpy(), index=idx)).fillna(0.0)
    gain = (keys.map(pd.Series(match["slope"].to_numpy(), index=idx)).fillna(1.0)
            if "slope" in match.columns else 1.0)
    return df.assign(**{value: (pd.to_numeric(df[value]) - offset) / gain})
