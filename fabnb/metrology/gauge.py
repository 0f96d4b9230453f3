r"""Gauge R&R of a crossed study by the ANOVA method or the AIAG average-and-range
method, with Minitab's report, and the R² ceiling the gauge puts on virtual metrology.

A balanced study measures each of ``p`` parts ``r`` times by each of ``o`` operators::

    y_ijk = μ + P_i + O_j + (PO)_ij + ε_ijk,   P ~ N(0, σ²_P), O ~ N(0, σ²_O),
                                               PO ~ N(0, σ²_PO), ε ~ N(0, σ²)

**ANOVA method** (Montgomery, *Introduction to Statistical Quality Control*, 6th ed.,
§8.7; AIAG *Measurement Systems Analysis*, 4th ed., 2010, ch. III §B, Tables III-B 7/8).
With the mean squares ``MS_P, MS_O, MS_PO, MS_E`` of the two-way ANOVA and their
expectations ``E[MS_E] = σ²``, ``E[MS_PO] = σ² + r σ²_PO``,
``E[MS_O] = σ² + r σ²_PO + p r σ²_O``, ``E[MS_P] = σ² + r σ²_PO + o r σ²_P``::

    σ²_repeatability = MS_E
    σ²_PO  = (MS_PO − MS_E) / r
    σ²_O   = (MS_O − MS_PO) / (p·r)
    σ²_P   = (MS_P − MS_PO) / (o·r)
    σ²_reproducibility = σ²_O + σ²_PO,   σ²_GRR = σ²_repeatability + σ²_reproducibility
    σ²_total = σ²_GRR + σ²_P

Negative estimates are set to 0 (as Minitab and AIAG do) and the report says which.
When the interaction is not significant (p-value > ``alpha``; Minitab's default alpha
to remove the interaction term is 0.05, older releases used 0.25) it is pooled into
the error: the reduced model has ``MS_E' = (SS_PO + SS_E)/(df_PO + df_E)`` in place of
both ``MS_PO`` and ``MS_E``.

**Average-and-range method** (AIAG MSA-4, ch. III §B, "Average and Range Method", and
its GRR report form; the interaction is not estimable and assumed zero)::

    EV = R̿ · K1                      R̿: mean over operators of the mean range over parts
    AV = √((X̄_diff · K2)² − EV²/(p·r))      X̄_diff: max − min operator average (AV = 0
                                              when the radicand is negative)
    GRR = √(EV² + AV²),   PV = R_p · K3,   TV = √(GRR² + PV²)
    %EV = 100 EV/TV, %AV = 100 AV/TV, %GRR = 100 GRR/TV, %PV = 100 PV/TV

with ``K = 1/d₂*``: ``K1 = 1/d₂(r)`` (m = r trials, g = o·p ranges, taken as large, so
d₂* = d₂), ``K2 = 1/d₂*(o, 1)``, ``K3 = 1/d₂*(p, 1)``, where
``d₂*(m, g) = √(d₂(m)² + d₃(m)²/g)`` is Duncan's constant (AIAG MSA-4 Appendix C).  d₂ and
d₃ are the mean and standard deviation of the range of m standard normal variables,
computed here by quadrature, so any study size has its constants (MSA-4's table:
K1 = 0.8862, 0.5908 for 2, 3 trials; K2 = 0.7071, 0.5231 for 2, 3 appraisers;
K3 = 0.3146 for 10 parts).  Ranges above ``UCL_R = D₄ R̿`` (``D₄ = 1 + 3 d₃/d₂``) are
reported and warned about: AIAG asks for them to be remeasured.

Summary figures (both methods)::

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

import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import special, stats

from .._params import Integral, Interval, Real, StrOptions, check_params
from ..errors import FabDataError, FabFitError, FabParameterError
from ._summary import Summary, pct_table
from .._warn import user_stacklevel

POSITIVE = [Interval(Real, 0, None, closed="neither")]
METHODS = ("anova", "average_range")


@lru_cache(maxsize=None)
def range_moments(m: int) -> tuple[float, float]:
    r"""``(d₂, d₃)``: mean and standard deviation of the range of ``m`` independent
    standard normal variables.

    With ``F_W(w) = m ∫ φ(x) [Φ(x + w) − Φ(x)]^(m−1) dx`` the distribution of the range,
    ``d₂ = ∫₀^∞ (1 − F_W) dw`` and ``E[W²] = 2 ∫₀^∞ w (1 − F_W) dw``; both integrals by
    Gauss–Legendre quadrature (|x| ≤ 10, w ≤ 18), accurate to ~1e-11.

    Example
    -------
    >>> d2, d3 = range_moments(2)      # d₂(2) = 2/√π, d₃(2)² = 2 − 4/π
    >>> round(d2, 6), round(d3, 6)
    (1.128379, 0.852502)
    """
    check_params("range_moments", {"m": [Interval(Integral, 2, None, closed="left")]}, {"m": m})
    x, wx = np.polynomial.legendre.leggauss(200)
    x, wx = 10 * x, 10 * wx
    w, ww = np.polynomial.legendre.leggauss(150)
    w, ww = 9 * (w + 1), 9 * ww
    inc = special.ndtr(x[None, :] + w[:, None]) - special.ndtr(x)[None, :]
    survival = 1 - m * (inc ** (m - 1) * stats.norm.pdf(x) * wx).sum(axis=1)
    d2 = float((survival * ww).sum())
    second = float(2 * (w * survival * ww).sum())
    return d2, float(np.sqrt(second - d2 * d2))


def d2_star(m: int, g: float = np.inf) -> float:
    r"""Duncan's ``d₂*(m, g) = √(d₂(m)² + d₃(m)²/g)`` for the mean of ``g`` ranges of
    ``m`` values (AIAG MSA-4 Appendix C; ``g = inf`` gives d₂).

    >>> round(d2_star(3, 1), 5), round(d2_star(10, 1), 5)   # MSA-4 App. C: 1.91155, 3.17905
    (1.91154, 3.17905)
    """
    d2, d3 = range_moments(int(m))
    return float(np.sqrt(d2 * d2 + d3 * d3 / g))


def k_constants(n_trials: int, n_operators: int, n_parts: int) -> dict:
    """AIAG MSA-4 constants of the average-and-range method for a study size:
    ``K1 = 1/d₂(trials)``, ``K2 = 1/d₂*(operators, 1)``, ``K3 = 1/d₂*(parts, 1)`` and
    ``D4 = 1 + 3 d₃/d₂`` (trials) for the range chart.

    >>> {k: round(v, 4) for k, v in k_constants(3, 3, 10).items()}
    {'K1': 0.5908, 'K2': 0.5231, 'K3': 0.3146, 'D4': 2.5746}
    """
    d2, d3 = range_moments(int(n_trials))
    return {"K1": 1 / d2, "K2": 1 / d2_star(n_operators, 1), "K3": 1 / d2_star(n_parts, 1),
            "D4": 1 + 3 * d3 / d2}


@dataclass(repr=False)
class GaugeRR:
    """Result of :func:`gauge_rr`: ``anova`` table (full model; ``None`` for the
    average-and-range method), ``anova_reduced`` (interaction pooled into
    repeatability), variance ``components``, ``percent_grr`` (of study variation),
    ``percent_tolerance`` (NaN without a tolerance), ``ndc``, and whether the
    interaction was ``pooled``.  ``details`` holds the average-and-range worksheet
    (operator averages and ranges, R̿, X̄_diff, R_p, K constants, UCL_R, ranges above
    it).  ``summary()`` prints Minitab's tables."""

    anova: pd.DataFrame | None
    components: pd.DataFrame
    percent_grr: float
    percent_tolerance: float
    ndc: int
    pooled: bool
    n_parts: int
    n_operators: int
    n_replicates: int
    method: str = "anova"
    anova_reduced: pd.DataFrame | None = None
    alpha: float | None = 0.05
    k: float = 6.0
    tolerance: float | None = None
    details: dict = field(default_factory=dict)

    @property
    def sigma2_grr(self) -> float:
        return float(self.components.loc["gauge_rr", "variance"])

    @property
    def sigma2_total(self) -> float:
        return float(self.components.loc["total", "variance"])

    def __repr__(self) -> str:
        return (f"GaugeRR({self.method}: {self.n_parts} parts x {self.n_operators} operators x "
                f"{self.n_replicates} replicates; %GRR {self.percent_grr:.2f} %, ndc {self.ndc})")

    def summary(self) -> Summary:
        """Minitab's report: the ANOVA table with the interaction and without it
        (pooled), the variance components with %Contribution, the gage evaluation with
        StdDev, Study Var (k × SD), %Study Var and %Tolerance, and the number of
        distinct categories.

        Example
        -------
        >>> import numpy as np, pandas as pd
        >>> parts, ops = np.repeat(np.arange(5), 4), np.tile(np.repeat([0, 1], 2), 5)
        >>> y = np.random.default_rng(0).normal(0, 1, 5)[parts] + np.random.default_rng(1).normal(0, .2, 20)
        >>> g = gauge_rr(pd.DataFrame({"part": parts, "operator": ops, "value": y}))
        >>> print(g.summary())  # doctest: +ELLIPSIS
        Gage R&R Study - ANOVA Method
        ...
        """
        return _summary(self)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


_LABELS = {"part": "Part", "operator": "Operator", "operator:part": "Part * Operator",
           "repeatability": "Repeatability", "total": "Total"}
_COMPONENT_LABELS = {"gauge_rr": "Total Gage R&R", "repeatability": "  Repeatability",
                     "reproducibility": "  Reproducibility", "operator": "    Operator",
                     "operator:part": "    Operator*Part", "part": "Part-To-Part",
                     "total": "Total Variation"}


def _anova_display(table):
    total = pd.DataFrame({"df": [table["df"].sum()], "sum_sq": [table["sum_sq"].sum()]},
                         index=["total"])
    out = pd.concat([table, total])
    out.index = [_LABELS[i] for i in out.index]
    return out.rename(columns={"df": "DF", "sum_sq": "SS", "mean_sq": "MS", "p_value": "P"})


def _summary(g: GaugeRR) -> Summary:
    name = "ANOVA Method" if g.method == "anova" else "Xbar/R (AIAG average and range) Method"
    tables, notes = [], []
    fmt = {"DF": "d", "SS": ".6g", "MS": ".6g", "F": ".5g", "P": ".3f"}
    if g.anova is not None:
        tables.append(("Two-Way ANOVA Table With Interaction", _anova_display(g.anova), fmt))
        tables.append(("Two-Way ANOVA Table Without Interaction (interaction pooled into "
                       "repeatability)", _anova_display(g.anova_reduced), fmt))
        rule = ("always kept" if g.alpha is None else f"alpha to remove interaction term = {g.alpha:g}")
        used = "without" if g.pooled else "with"
        notes.append(f"{rule}: the variance components use the table {used} interaction "
                     f"(Part * Operator P = {g.anova.loc['operator:part', 'p_value']:.3f}).")
    order = ["gauge_rr", "repeatability", "reproducibility", "operator", "operator:part", "part",
             "total"]
    if g.pooled or g.method != "anova":
        order.remove("operator:part")
    if g.method != "anova":
        order.remove("operator")
    comp = g.components.loc[order]
    var = pd.DataFrame({"VarComp": comp["variance"], "%Contribution (of VarComp)":
                        comp["pct_contribution"]})
    var.index = [_COMPONENT_LABELS[i] for i in order]
    tables.append(("Gage R&R", var, {"VarComp": ".6g", "%Contribution (of VarComp)": ".2f"}))
    ev = pct_table(comp, g.k, g.tolerance)
    ev.index = var.index
    tables.append(("Gage Evaluation", ev, {c: (".2f" if c.startswith("%") else ".6g") for c in ev}))
    notes.append(f"Number of Distinct Categories = {g.ndc}")
    truncated = g.details.get("truncated", [])
    if truncated:
        notes.append("Negative variance estimates set to 0: " + ", ".join(truncated) + ".")
    if g.method != "anova":
        d = g.details
        sheet = pd.DataFrame({"X̄ (average)": d["operator_mean"], "R̄ (mean range)": d["operator_range"]})
        tables.insert(0, ("Average and range worksheet (per operator)", sheet, {}))
        notes.insert(0, f"R̿ = {d['r_double_bar']:.5g}, X̄_diff = {d['x_diff']:.5g}, R_p = "
                        f"{d['r_p']:.5g}; K1 = {d['K1']:.4f}, K2 = {d['K2']:.4f}, K3 = "
                        f"{d['K3']:.4f}; UCL_R = D4·R̿ = {d['ucl_r']:.5g}.")
        bad = d["ranges_out_of_control"]
        if len(bad):
            notes.insert(1, "Ranges above UCL_R (AIAG: remeasure these cells): " + "; ".join(
                f"operator {o!s}, part {p!s}: {r:.5g}" for (p, o), r in bad.items()) + ".")
    title = f"Gage R&R Study - {name}"
    return Summary(title, tables, notes)


def _balanced(df, part, operator, value):
    for c in (part, operator, value):
        if c not in df.columns:
            raise FabDataError(f"gauge_rr: missing column {c!r} (have {list(df.columns)})")
    y = pd.to_numeric(df[value], errors="coerce")
    bad = y.isna() | ~np.isfinite(y.to_numpy(float, na_value=np.nan))
    if bad.any():
        row = df.index[bad.to_numpy()][0]
        raise FabDataError(f"gauge_rr: {value!r} is missing, infinite or not numeric at row {row!r}")
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


def _components(var: dict, truncated: list) -> pd.DataFrame:
    """Variance table from the non-negative components; ``truncated`` names those that
    were negative and set to 0."""
    for key, v in list(var.items()):
        if v < 0:
            truncated.append(key)
            var[key] = 0.0
    if "operator" in var:
        var["reproducibility"] = var["operator"] + var["operator:part"]
    var["gauge_rr"] = var["repeatability"] + var["reproducibility"]
    var["total"] = var["gauge_rr"] + var["part"]
    order = [n for n in ("repeatability", "reproducibility", "operator", "operator:part",
                         "gauge_rr", "part", "total") if n in var]
    comp = pd.DataFrame({"variance": [var[n] for n in order]}, index=order)
    comp["sd"] = np.sqrt(comp["variance"])
    if not var["total"] > 0:
        raise FabFitError("gauge_rr: every measurement in the study is identical (total "
                          "variance 0); there is nothing to apportion")
    comp["pct_contribution"] = 100 * comp["variance"] / var["total"]
    comp["pct_study_var"] = 100 * comp["sd"] / np.sqrt(var["total"])
    return comp


def _anova(frame, p, o, r):
    y = frame["y"].to_numpy()
    grand = y.mean()
    mp = frame.groupby("p")["y"].mean()
    mo = frame.groupby("o")["y"].mean()
    cell = frame.groupby(["p", "o"])["y"].mean()
    ss_p = o * r * ((mp - grand) ** 2).sum()
    ss_o = p * r * ((mo - grand) ** 2).sum()
    cell_dev = cell.to_numpy() - mp.reindex(cell.index.get_level_values(0)).to_numpy() \
        - mo.reindex(cell.index.get_level_values(1)).to_numpy() + grand
    ss_po = r * (cell_dev ** 2).sum()
    ss_e = ((y - cell.reindex(pd.MultiIndex.from_frame(frame[["p", "o"]])).to_numpy()) ** 2).sum()
    df_p, df_o, df_po, df_e = p - 1, o - 1, (p - 1) * (o - 1), p * o * (r - 1)
    ms_p, ms_o, ms_po, ms_e = ss_p / df_p, ss_o / df_o, ss_po / df_po, ss_e / df_e
    if not ms_e > 0:
        raise FabFitError("gauge_rr: every part reads identically on every replicate "
                          "(repeatability SS = 0); the F tests of the ANOVA are undefined")
    f = [ms_p / ms_po, ms_o / ms_po, ms_po / ms_e, np.nan] if ms_po > 0 else \
        [np.inf, np.inf, 0.0, np.nan]
    full = pd.DataFrame({"df": [df_p, df_o, df_po, df_e], "sum_sq": [ss_p, ss_o, ss_po, ss_e],
                         "mean_sq": [ms_p, ms_o, ms_po, ms_e], "F": f},
                        index=["part", "operator", "operator:part", "repeatability"])
    full["p_value"] = [stats.f.sf(f[0], df_p, df_po), stats.f.sf(f[1], df_o, df_po),
                       stats.f.sf(f[2], df_po, df_e), np.nan]
    df_pooled = df_po + df_e
    ms_pooled = (ss_po + ss_e) / df_pooled
    reduced = pd.DataFrame({"df": [df_p, df_o, df_pooled], "sum_sq": [ss_p, ss_o, ss_po + ss_e],
                            "mean_sq": [ms_p, ms_o, ms_pooled],
                            "F": [ms_p / ms_pooled, ms_o / ms_pooled, np.nan]},
                           index=["part", "operator", "repeatability"])
    reduced["p_value"] = [stats.f.sf(reduced["F"].iloc[0], df_p, df_pooled),
                          stats.f.sf(reduced["F"].iloc[1], df_o, df_pooled), np.nan]
    return full, reduced


def _average_range(frame, p, o, r):
    """AIAG MSA-4 average-and-range worksheet and its variance components."""
    cells = frame.groupby(["p", "o"])["y"]
    ranges = (cells.max() - cells.min()).rename_axis(["part", "operator"])
    r_bar = ranges.groupby(level="operator").mean()  # R̄: mean range over parts
    x_bar = frame.groupby("o")["y"].mean().rename_axis("operator")
    r_double_bar = float(r_bar.mean())
    x_diff = float(x_bar.max() - x_bar.min())
    part_means = frame.groupby("p")["y"].mean()
    r_p = float(part_means.max() - part_means.min())
    kc = k_constants(r, o, p)
    ucl = kc["D4"] * r_double_bar
    above = ranges[ranges > ucl]
    if len(above):
        warnings.warn(f"gauge_rr: {len(above)} range(s) above UCL_R = {ucl:.5g} (first: part "
                      f"{above.index[0][0]}, operator {above.index[0][1]}, range "
                      f"{above.iloc[0]:.5g}); AIAG asks for these cells to be remeasured",
                      stacklevel=user_stacklevel())
    ev2 = (r_double_bar * kc["K1"]) ** 2
    var = {"repeatability": ev2, "reproducibility": (x_diff * kc["K2"]) ** 2 - ev2 / (p * r),
           "part": (r_p * kc["K3"]) ** 2}
    details = {"operator_mean": x_bar, "operator_range": r_bar, "r_double_bar": r_double_bar,
               "x_diff": x_diff, "r_p": r_p, "ucl_r": ucl, "ranges_out_of_control": above, **kc}
    return var, details


def gauge_rr(df: pd.DataFrame, part: str = "part", operator: str = "operator",
             value: str = "value", *, tolerance: float | None = None, k: float = 6.0,
             alpha: float | None = 0.05, method: str = "anova") -> GaugeRR:
    """Crossed gauge R&R study by the ANOVA or the average-and-range method (see the
    module docstring for the formulas and sources).

    Parameters
    ----------
    df
        Long table, one row per measurement; balanced (every part × operator cell has
        the same number of replicates).
    tolerance
        ``USL − LSL`` for %GRR of tolerance (P/T ratio).
    k
        Sigma multiplier of the study variation and the tolerance ratio (6; AIAG
        editions before 4 use 5.15).
    alpha
        Pool the part × operator interaction when its p-value exceeds ``alpha``
        (Minitab's default 0.05); ``None`` always keeps it.  ANOVA method only.
    method
        ``"anova"`` (default) or ``"average_range"`` (AIAG MSA-4 average-and-range,
        Minitab's "Xbar and R"; no interaction term, ``anova`` is ``None``).

    Returns
    -------
    GaugeRR with ``components`` indexed by ``repeatability, reproducibility, operator,
    operator:part, gauge_rr, part, total`` (average-and-range: ``repeatability,
    reproducibility, gauge_rr, part, total``; EV = sd of repeatability, AV = sd of
    reproducibility, PV = sd of part, TV = sd of total) and columns ``variance``,
    ``sd``, ``pct_contribution``, ``pct_study_var`` (%EV, %AV, %GRR, %PV of AIAG).

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> parts, ops = np.repeat(np.arange(10), 6), np.tile(np.repeat([0, 1, 2], 2), 10)
    >>> y = rng.normal(0, 2, 10)[parts] + rng.normal(0, 0.3, 3)[ops] + rng.normal(0, 0.5, 60)
    >>> g = gauge_rr(pd.DataFrame({"part": parts, "operator": ops, "value": y}))
    >>> bool(0 < g.percent_grr < 100), g.ndc >= 1
    (True, True)
    >>> ar = gauge_rr(pd.DataFrame({"part": parts, "operator": ops, "value": y}), method="average_range")
    >>> list(ar.components.index)
    ['repeatability', 'reproducibility', 'gauge_rr', 'part', 'total']
    """
    check_params("gauge_rr", {"df": [pd.DataFrame], "tolerance": [None, *POSITIVE], "k": POSITIVE,
                              "alpha": [None, Interval(Real, 0, 1, closed="neither")],
                              "method": [StrOptions(set(METHODS))]}, locals())
    y, p, o, r = _balanced(df, part, operator, value)
    frame = pd.DataFrame({"p": df[part].to_numpy(), "o": df[operator].to_numpy(), "y": y})
    truncated: list = []
    anova = reduced = None
    pooled = False
    if method == "anova":
        anova, reduced = _anova(frame, p, o, r)
        ms = anova["mean_sq"]
        pooled = alpha is not None and anova.loc["operator:part", "p_value"] > alpha
        if pooled:
            ms_e = reduced.loc["repeatability", "mean_sq"]
            var = {"repeatability": ms_e, "operator:part": 0.0,
                   "operator": (ms["operator"] - ms_e) / (p * r),
                   "part": (ms["part"] - ms_e) / (o * r)}
        else:
            var = {"repeatability": ms["repeatability"],
                   "operator:part": (ms["operator:part"] - ms["repeatability"]) / r,
                   "operator": (ms["operator"] - ms["operator:part"]) / (p * r),
                   "part": (ms["part"] - ms["operator:part"]) / (o * r)}
        details = {}
    else:
        var, details = _average_range(frame, p, o, r)
    comp = _components(var, truncated)
    details["truncated"] = truncated
    sd_grr, sd_p = comp.loc["gauge_rr", "sd"], comp.loc["part", "sd"]
    pct_tol = np.nan if tolerance is None else 100 * k * sd_grr / float(tolerance)
    # Minitab/AIAG convention: ndc is at least 1; a perfect gauge gets an unbounded ndc
    ndc = np.iinfo(np.int64).max if sd_grr == 0 else max(int(np.floor(1.41 * sd_p / sd_grr)), 1)
    return GaugeRR(anova=anova, components=comp,
                   percent_grr=float(comp.loc["gauge_rr", "pct_study_var"]),
                   percent_tolerance=float(pct_tol), ndc=ndc,
                   pooled=bool(pooled), n_parts=p, n_operators=o, n_replicates=r,
                   method=method, anova_reduced=reduced, alpha=alpha, k=float(k),
                   tolerance=None if tolerance is None else float(tolerance), details=details)


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
