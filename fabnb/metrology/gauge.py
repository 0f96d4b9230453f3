r"""Gauge R&R by the crossed two-way ANOVA method, and the R² ceiling it implies.

A balanced study measures each of ``p`` parts ``r`` times by each of ``o`` operators::

    y_ijk = μ + P_i + O_j + (PO)_ij + ε_ijk,   P ~ N(0, σ²_P), O ~ N(0, σ²_O),
                                               PO ~ N(0, σ²_PO), ε ~ N(0, σ²)

With mean squares ``MS_P, MS_O, MS_PO, MS_E`` of the two-way ANOVA, equating them to
their expectations (Montgomery, *Introduction to Statistical Quality Control*, §8.7)::

    σ²_repeatability = MS_E
    σ²_PO  = (MS_PO − MS_E) / r
    σ²_O   = (MS_O − MS_PO) / (p·r)
    σ²_P   = (MS_P − MS_PO) / (o·r)
    σ²_reproducibility = σ²_O + σ²_PO,   σ²_GRR = σ²_repeatability + σ²_reproducibility
    σ²_total = σ²_GRR + σ²_P

Negative estimates are set to 0.  When the interaction is not significant
(p-value > ``alpha``, the AIAG/Minitab rule) it is pooled into the error: the reduced
model has ``MS_E' = (SS_PO + SS_E)/(df_PO + df_E)`` and ``MS_PO`` replaced by ``MS_E'``.

Summary figures::

    %GRR (study)     = 100·σ_GRR / σ_total
    %GRR (tolerance) = 100·k·σ_GRR / (USL − LSL)     (k = 6, or 5.15 in older AIAG)
    ndc              = max(1, floor(1.41·σ_P / σ_GRR))    (number of distinct categories)

**R² ceiling.**  A virtual-metrology model predicts the true value; the label it is
scored against carries the gauge error, independent of everything the model sees.  So
``Var(label) = Var(true) + σ²_GRR`` and the best possible R² against labels is::

    R²_max = 1 − σ²_GRR / σ²_label

where ``σ²_label`` is the variance of the labels in the population being modelled (by
default the study's ``σ²_total``).  A cross-validated R² above it means the model fits
measurement noise (leakage or over-fitting).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .._params import Interval, Real, check_params
from ..errors import FabDataError, FabFitError, FabParameterError

POSITIVE = [Interval(Real, 0, None, closed="neither")]


@dataclass
class GaugeRR:
    """Result of :func:`gauge_rr`: ``anova`` table, variance ``components``,
    ``percent_grr`` (of study variation), ``percent_tolerance`` (NaN without a
    tolerance), ``ndc``, and whether the interaction was ``pooled``."""

    anova: pd.DataFrame
    components: pd.DataFrame
    percent_grr: float
    percent_tolerance: float
    ndc: int
    pooled: bool
    n_parts: int
    n_operators: int
    n_replicates: int

    @property
    def sigma2_grr(self) -> float:
        return float(self.components.loc["gauge_rr", "variance"])

    @property
    def sigma2_total(self) -> float:
        return float(self.components.loc["total", "variance"])


def _balanced(df, part, operator, value):
    for c in (part, operator, value):
        if c not in df.columns:
            raise FabDataError(f"gauge_rr: missing column {c!r} (have {list(df.columns)})")
    y = pd.to_numeric(df[value], errors="coerce")
    if y.isna().any():
        row = df.index[y.isna().to_numpy()][0]
        raise FabDataError(f"gauge_rr: {value!r} is missing or not numeric at row {row!r}")
    for c in (part, operator):
        if df[c].isna().any():
            row = df.index[df[c].isna().to_numpy()][0]
            raise FabDataError(f"gauge_rr: {c!r} is missing at row {row!r}")
    counts = df.groupby([part, operator], observed=True).size()
    p, o = df[part].nunique(), df[operator].nunique()
    if len(counts) != p * o or counts.nunique() != 1:
        full = counts.reindex(pd.MultiIndex.from_product(
            [df[part].unique(), df[operator].unique()]), fill_value=0)
        worst = full.idxmin()
        raise FabDataError(f"gauge_rr: unbalanced study (part {worst[0]!r}, operator "
                           f"{worst[1]!r} has {full.min()} of {full.max()} replicates); "
                           "the ANOVA method needs every part measured equally by everyone")
    r = int(counts.iloc[0])
    if p < 2 or o < 2 or r < 2:
        raise FabFitError(f"gauge_rr: need >= 2 parts, operators and replicates (got "
                          f"{p}, {o}, {r})")
    return y.to_numpy(float), p, o, r


def gauge_rr(df: pd.DataFrame, part: str = "part", operator: str = "operator",
             value: str = "value", *, tolerance: float | None = None, k: float = 6.0,
             alpha: float | None = 0.05) -> GaugeRR:
    """Crossed gauge R&R study by the ANOVA method (see module docstring).

    Parameters
    ----------
    df
        Long table, one row per measurement; balanced (every part × operator cell has
        the same number of replicates).
    tolerance
        ``USL − LSL`` for %GRR of tolerance (P/T ratio).
    k
        Sigma multiplier for the tolerance ratio (6; AIAG editions before 4 use 5.15).
    alpha
        Pool the part × operator interaction when its p-value exceeds ``alpha``;
        ``None`` always keeps it.

    Returns
    -------
    GaugeRR with ``components`` indexed by ``repeatability, reproducibility, operator,
    operator:part, gauge_rr, part, total`` (columns ``variance``, ``sd``,
    ``pct_contribution``, ``pct_study_var``).

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> parts, ops = np.repeat(np.arange(10), 6), np.tile(np.repeat([0, 1, 2], 2), 10)
    >>> y = rng.normal(0, 2, 10)[parts] + rng.normal(0, 0.3, 3)[ops] + rng.normal(0, 0.5, 60)
    >>> g = gauge_rr(pd.DataFrame({"part": parts, "operator": ops, "value": y}))
    >>> bool(0 < g.percent_grr < 100), g.ndc >= 1
    (True, True)
    """
    check_params("gauge_rr", {"df": [pd.DataFrame], "tolerance": [None, *POSITIVE], "k": POSITIVE,
                              "alpha": [None, Interval(Real, 0, 1, closed="neither")]}, locals())
    y, p, o, r = _balanced(df, part, operator, value)
    frame = pd.DataFrame({"p": df[part].to_numpy(), "o": df[operator].to_numpy(), "y": y})
    grand = y.mean()
    mp = frame.groupby("p")["y"].mean()
    mo = frame.groupby("o")["y"].mean()
    cell = frame.groupby(["p", "o"])["y"].mean()
    ss_p = o * r * ((mp - grand) ** 2).sum()
    ss_o = p * r * ((mo - grand) ** 2).sum()
    cell_dev = cell.to_numpy() - mp.reindex(cell.index.get_level_values(0)).to_numpy() \
        - mo.reindex(cell.index.get_level_values(1)).to_numpy() + grand
    ss_po = r * (cell_dev ** 2).sum()
    ss_e = ((frame["y"].to_numpy() - cell.reindex(pd.MultiIndex.from_frame(
        frame[["p", "o"]])).to_numpy()) ** 2).sum()
    df_p, df_o, df_po, df_e = p - 1, o - 1, (p - 1) * (o - 1), p * o * (r - 1)
    ms = {"part": ss_p / df_p, "operator": ss_o / df_o, "operator:part": ss_po / df_po,
          "repeatability": ss_e / df_e}
    f_po = ms["operator:part"] / ms["repeatability"]
    p_po = stats.f.sf(f_po, df_po, df_e)
    anova = pd.DataFrame({
        "df": [df_p, df_o, df_po, df_e],
        "sum_sq": [ss_p, ss_o, ss_po, ss_e],
        "mean_sq": [ms["part"], ms["operator"], ms["operator:part"], ms["repeatability"]],
    }, index=["part", "operator", "operator:part", "repeatability"])
    anova["F"] = [ms["part"] / ms["operator:part"], ms["operator"] / ms["operator:part"],
                  f_po, np.nan]
    anova["p_value"] = [stats.f.sf(anova["F"].iloc[0], df_p, df_po),
                        stats.f.sf(anova["F"].iloc[1], df_o, df_po), p_po, np.nan]
    pooled = alpha is not None and p_po > alpha
    if pooled:
        ms_e = (ss_po + ss_e) / (df_po + df_e)
        var = {"repeatability": ms_e, "operator:part": 0.0,
               "operator": (ms["operator"] - ms_e) / (p * r),
               "part": (ms["part"] - ms_e) / (o * r)}
    else:
        var = {"repeatability": ms["repeatability"],
               "operator:part": (ms["operator:part"] - ms["repeatability"]) / r,
               "operator": (ms["operator"] - ms["operator:part"]) / (p * r),
               "part": (ms["part"] - ms["operator:part"]) / (o * r)}
    var = {key: max(v, 0.0) for key, v in var.items()}
    var["reproducibility"] = var["operator"] + var["operator:part"]
    var["gauge_rr"] = var["repeatability"] + var["reproducibility"]
    var["total"] = var["gauge_rr"] + var["part"]
    order = ["repeatability", "reproducibility", "operator", "operator:part", "gauge_rr",
             "part", "total"]
    comp = pd.DataFrame({"variance": [var[n] for n in order]}, index=order)
    comp["sd"] = np.sqrt(comp["variance"])
    comp["pct_contribution"] = 100 * comp["variance"] / var["total"]
    comp["pct_study_var"] = 100 * comp["sd"] / np.sqrt(var["total"])
    sd_grr, sd_p = np.sqrt(var["gauge_rr"]), np.sqrt(var["part"])
    pct_tol = np.nan if tolerance is None else 100 * k * sd_grr / float(tolerance)
    # Minitab/AIAG convention: ndc is at least 1; a perfect gauge gets an unbounded ndc
    ndc = np.iinfo(np.int64).max if sd_grr == 0 else max(int(np.floor(1.41 * sd_p / sd_grr)), 1)
    return GaugeRR(anova=anova, components=comp,
                   percent_grr=float(comp.loc["gauge_rr", "pct_study_var"]),
                   percent_tolerance=float(pct_tol), ndc=ndc,
                   pooled=bool(pooled), n_parts=p, n_operators=o, n_replicates=r)


def r2_ceiling(grr, label_variance: float | None = None) -> float:
    """Best R² any model can reach against labels measured with this gauge:
    ``1 − σ²_GRR / σ²_label`` (see module docstring).

    ``grr`` is a :class:`GaugeRR` or a gauge variance σ²_GRR; ``label_variance`` is
    the variance of the labels being modelled (default: the study's σ²_total, needed
    when ``grr`` is a number).

    Example
    -------
    >>> r2_ceiling(0.25, label_variance=1.0)
    0.75
    """
    check_params("r2_ceiling", {"grr": [GaugeRR, Interval(Real, 0, None, closed="left")],
                                "label_variance": [None, *POSITIVE]}, locals())
    if isinstance(grr, GaugeRR):
        g = grr.sigma2_grr
        total = grr.sigma2_total if label_variance is None else float(label_variance)
    else:
        g = float(grr)
        if label_variance is None:
            raise FabParameterError("The 'label_variance' parameter of r2_ceiling is required when grr is "
                                    "a number (σ²_GRR). Got None instead.")
        total = float(label_variance)
    if not total > 0:  # a study whose parts and gauge do not vary at all
        raise FabFitError(f"r2_ceiling: the study's total variance is {total}; no ceiling without variation")
    return float(max(0.0, 1.0 - g / total))
