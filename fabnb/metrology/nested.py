r"""Nested (hierarchical) gauge studies, check standards, probe bias and the
uncertainty budget, in the style of the NIST/SEMATECH e-Handbook of Statistical
Methods, ch. 2.4 ("Gauge R & R studies"), 2.5 ("Uncertainty analysis") and the
resistivity case studies of 2.6.

**Nested model.**  Levels ``A ⊃ B ⊃ …`` (outermost first: operators ⊃ parts, runs ⊃
days, lots ⊃ wafers) with ``r`` repeatability measurements in each innermost cell::

    y = μ + A_a + B_b(a) + … + ε,   every term N(0, σ²_level), independent

In a balanced study level ``i`` has ``G_i`` groups of ``c_i = N / G_i`` observations.
The nested ANOVA (sequential sums of squares, what ``statsmodels`` ``anova_lm`` gives for
``y ~ C(A) + C(A):C(B)``) has::

    SS_i = c_i Σ_groups (ȳ_group − ȳ_parent)²,   df_i = G_i − G_(i−1)   (G_(−1) = 1)
    SS_E = Σ (y − ȳ_cell)²,                      df_E = N − G_last
    E[MS_E] = σ²_E,     E[MS_i] = σ²_E + Σ_{j ≥ i} c_j σ²_j

so the variance components follow by back-substitution (negative ones set to 0 and
reported)::

    σ²_E = MS_E,   σ²_last = (MS_last − MS_E)/c_last,   σ²_i = (MS_i − MS_(i+1))/c_i

each with Satterthwaite's degrees of freedom
``ν_i = (MS_i − MS_(i+1))² / (MS_i²/df_i + MS_(i+1)²/df_(i+1))``; ``F_i = MS_i/MS_(i+1)``.
With a ``part`` level (Minitab's nested gage R&R: parts within operators) the part
component is part-to-part variation and the other levels are reproducibility;
without one (a check standard measured over runs and days) every level is part of the
measurement process.

**Check standards** (e-Handbook §2.4.4.1–2.4.4.3): a check standard measured ``J``
times a day on ``K`` days in each of ``L`` runs, recorded as daily averages and
short-term standard deviations.  Level-1 (repeatability) ``s₁`` pools the short-term
standard deviations (``L·K·(J−1)`` df), level-2 ``s₂`` pools the standard deviations of
the daily averages within runs (``L(K−1)`` df) and level-3 ``s₃`` is the standard
deviation of the run averages (``L−1`` df).  These are the nested ANOVA on the averages:
``MS_E = s₁²``, ``MS_day = J s₂²``, ``MS_run = J K s₃²``.

**Uncertainty** (e-Handbook §2.5.3, §2.5.6, §2.5.7).  A value reported as the average
of ``n_E`` repetitions on ``n_B`` days in ``n_A`` runs has variance
``σ²_A/n_A + σ²_B/(n_A n_B) + σ²_E/(n_A n_B n_E)``; each term is a row of the budget with
its standard uncertainty ``u_i`` and degrees of freedom ``ν_i``; Type B rows (probe bias,
a reference's certificate) are added as given.  Then::

    u_c = √(Σ u_i²),   ν_eff = u_c⁴ / Σ (u_i⁴/ν_i)   (Welch–Satterthwaite),
    U = k·u_c,   k = t_(1−(1−level)/2, ν_eff)   (or a fixed k such as 2)

**Probe bias** (e-Handbook §2.4.5.1): with ``P`` probes each measuring ``Q`` check
standards, ``d_pq = ȳ_pq − ȳ_·q`` (or minus the reference probe's ``ȳ_ref,q``) and::

    bias_p = mean_q d_pq,   u(bias_p) = sd_q(d_pq)/√Q,   t = bias_p / u(bias_p), df Q − 1
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .._params import Integral, Interval, Real, check_params
from ..errors import FabDataError, FabFitError, FabParameterError
from ._summary import Summary, pct_table

POSITIVE = [Interval(Real, 0, None, closed="neither")]


@dataclass(repr=False)
class NestedGauge:
    """Result of :func:`gauge_nested` / :func:`check_standard`.

    ``anova``: per level and ``repeatability`` the ``df``, ``sum_sq``, ``mean_sq``,
    ``F`` (against the level below), ``p_value`` and ``EMS`` (expected mean square).
    ``components``: per level, ``repeatability``, ``gauge_rr`` (measurement
    variation), ``part`` (when a part level is given) and ``total``; columns
    ``variance``, ``sd``, ``df`` (Satterthwaite), ``pct_contribution``,
    ``pct_study_var``.  ``levels`` outermost first; ``counts`` the number of groups of
    each level within one group of its parent, ``n_replicates`` per innermost cell.
    """

    anova: pd.DataFrame
    components: pd.DataFrame
    levels: tuple
    counts: dict
    n_replicates: int
    part: str | None = None
    tolerance: float | None = None
    k: float = 6.0
    ndc: int | None = None
    percent_grr: float = 100.0
    percent_tolerance: float = np.nan
    truncated: list = field(default_factory=list)
    nist_levels: pd.DataFrame | None = None

    @property
    def sigma2_grr(self) -> float:
        return float(self.components.loc["gauge_rr", "variance"])

    def __repr__(self) -> str:
        shape = " > ".join(f"{lv} ({self.counts[lv]})" for lv in self.levels)
        return (f"NestedGauge({shape} > repeatability ({self.n_replicates}); "
                f"%GRR {self.percent_grr:.2f} %)")

    def summary(self) -> Summary:
        """Minitab-style report: the nested ANOVA with expected mean squares, the
        variance components with %Contribution, the gage evaluation (StdDev, Study Var,
        %Study Var, %Tolerance), the NIST level-1/2/3 standard deviations for a check
        standard, and ndc when a part level is given."""
        fmt = {"DF": "d", "SS": ".6g", "MS": ".6g", "F": ".5g", "P": ".3f"}
        table = self.anova.rename(columns={"df": "DF", "sum_sq": "SS", "mean_sq": "MS",
                                           "p_value": "P"})
        table.index = [_label(i, self.levels) for i in table.index]
        tables = [("Nested ANOVA", table, fmt)]
        comp = self.components
        var = pd.DataFrame({"VarComp": comp["variance"], "DF (Satterthwaite)": comp["df"],
                            "%Contribution (of VarComp)": comp["pct_contribution"]})
        var.index = [_label(i, self.levels) for i in comp.index]
        tables.append(("Variance components", var, {"VarComp": ".6g", "DF (Satterthwaite)": ".4g",
                                                    "%Contribution (of VarComp)": ".2f"}))
        ev = pct_table(comp, self.k, self.tolerance)
        ev.index = var.index
        tables.append(("Gage Evaluation", ev, {c: (".2f" if c.startswith("%") else ".6g") for c in ev}))
        if self.nist_levels is not None:
            tables.append(("NIST level standard deviations (e-Handbook 2.4.4)", self.nist_levels,
                           {"sd": ".6g", "df": "d"}))
        notes = []
        if self.ndc is not None:
            notes.append(f"Number of Distinct Categories = {self.ndc}")
        else:
            notes.append("No part level: every component is measurement variation.")
        if self.truncated:
            notes.append("Negative variance estimates set to 0: " + ", ".join(self.truncated) + ".")
        levels = " > ".join(map(str, self.levels))
        return Summary(f"Nested Gage Study ({levels} > repeatability)", tables, notes)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def uncertainty(self, averaged: dict | None = None, extra: pd.DataFrame | None = None, *,
                    level: float = 0.95, k: float | None = None) -> UncertaintyBudget:
        """Uncertainty budget of a value reported as an average (see module docstring).

        ``averaged`` maps a level (or ``"repeatability"``) to the number of its groups
        averaged within one group of its parent (default 1 each: a single measurement);
        e.g. ``{"repeatability": 6}`` is the average of 6 repetitions on one day of one
        run.  ``extra`` holds further rows (``source``, ``type``, ``u``, ``df``), e.g.
        a probe bias.  The part level, if any, is not part of the measurement
        uncertainty and is left out.
        """
        averaged = dict(averaged or {})
        unknown = set(averaged) - set(self.levels) - {"repeatability"}
        if unknown:
            raise FabParameterError(f"The 'averaged' parameter of NestedGauge.uncertainty names "
                                    f"{sorted(unknown)}, which are not levels of this study "
                                    f"({list(self.levels)} or 'repeatability').")
        rows, n = [], 1.0
        for lv in (*self.levels, "repeatability"):
            count = averaged.get(lv, 1)
            if not (isinstance(count, (int, np.integer)) and count >= 1):
                raise FabParameterError(f"The 'averaged' parameter of NestedGauge.uncertainty needs "
                                        f"a positive integer for {lv!r}. Got {count!r} instead.")
            n *= count
            if lv == self.part:
                continue
            comp = self.components.loc[lv]
            rows.append({"source": lv, "type": "A", "u": float(np.sqrt(comp["variance"] / n)),
                         "df": float(comp["df"])})
        table = pd.DataFrame(rows)
        if extra is not None:
            table = pd.concat([table, extra[["source", "type", "u", "df"]]], ignore_index=True)
        return uncertainty_budget(table, level=level, k=k)


def _label(name, levels):
    if name in levels:
        i = levels.index(name)
        return name if i == 0 else f"{name}({levels[i - 1]})"
    return {"repeatability": "Repeatability", "gauge_rr": "Total Gage R&R", "part": "Part-To-Part",
            "total": "Total Variation"}.get(name, name)


def _check_columns(owner, df, columns):
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise FabDataError(f"{owner}: missing column(s) {missing} (have {list(df.columns)})")


def _numeric(owner, df, column):
    y = pd.to_numeric(df[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(y)
    if bad.any():
        raise FabDataError(f"{owner}: {column!r} is missing, infinite or not numeric at row "
                           f"{df.index[np.flatnonzero(bad)[0]]!r}")
    return y


def _cells(owner, df, levels):
    """Balanced nesting check: every group of a level has the same number of children.
    Returns the child count of each level."""
    reserved = sorted(set(levels) & {"repeatability", "gauge_rr", "total"})
    if reserved:
        raise FabParameterError(f"The 'levels' parameter of {owner} may not use the names {reserved}: "
                                "they label rows of the result. Rename those columns.")
    for c in levels:
        if df[c].isna().any():
            raise FabDataError(f"{owner}: {c!r} is missing at row {df.index[df[c].isna().to_numpy()][0]!r}")
    counts = {}
    for i, lv in enumerate(levels):
        children = (df.groupby(list(levels[:i]), observed=True)[lv].nunique() if i
                    else pd.Series([df[lv].nunique()]))
        if children.nunique() != 1:
            worst = children.idxmin()
            raise FabDataError(f"{owner}: unbalanced nesting: {levels[i - 1]} {worst!r} holds "
                               f"{children.min()} {lv} groups where others hold {children.max()}; "
                               "the nested ANOVA needs equal counts")
        counts[lv] = int(children.iloc[0])
        if counts[lv] < 2:
            raise FabFitError(f"{owner}: level {lv!r} has {counts[lv]} group(s) per parent; need >= 2 "
                              "to estimate its variance")
    return counts


def _nested(cells: pd.DataFrame, levels, counts, r, within_ss, within_df):
    """Nested ANOVA and variance components from innermost cell means (column
    ``mean``, one row per cell, keyed by the level columns) and the pooled within-cell
    sum of squares."""
    n_obs = len(cells) * r
    rows, parent = [], np.full(len(cells), cells["mean"].mean())
    groups_before = 1
    for i, lv in enumerate(levels):
        keys = list(levels[: i + 1])
        group_mean = cells.groupby(keys, observed=True)["mean"].transform("mean").to_numpy()
        groups = groups_before * counts[lv]
        per_group = n_obs // groups
        # each group mean is the mean of its cells (balanced), so weighting the squared
        # deviation of every cell by r gives c_i × Σ over groups
        ss = r * ((group_mean - parent) ** 2).sum()
        rows.append((lv, groups - groups_before, ss, per_group))
        parent, groups_before = group_mean, groups
    rows.append(("repeatability", within_df, within_ss, 1))
    anova = pd.DataFrame(rows, columns=["name", "df", "sum_sq", "c"]).set_index("name")
    anova.index.name = None
    anova["mean_sq"] = anova["sum_sq"] / anova["df"]
    ms, dfs, c = anova["mean_sq"].to_numpy(), anova["df"].to_numpy(float), anova["c"].to_numpy()
    if not ms[-1] > 0:
        raise FabFitError("nested gauge study: every cell reads identically on every repetition "
                          "(repeatability SS = 0); the F tests are undefined")
    below = np.r_[ms[1:], np.nan]
    anova["F"] = ms / below
    anova["p_value"] = [stats.f.sf(f, d1, d2) for f, d1, d2 in
                        zip(anova["F"], dfs, np.r_[dfs[1:], np.nan])]
    anova["EMS"] = ["σ²(repeatability)" + "".join(
        f" + {int(c[j])}·σ²({anova.index[j]})" for j in range(i, len(levels)))
        for i in range(len(levels))] + ["σ²(repeatability)"]
    variance = np.r_[(ms[:-1] - below[:-1]) / c[:-1], ms[-1]]
    sat_df = np.r_[(ms[:-1] - below[:-1]) ** 2 / (ms[:-1] ** 2 / dfs[:-1] + below[:-1] ** 2 / dfs[1:]),
                   dfs[-1]]
    anova = anova.drop(columns="c")
    return anova, variance, sat_df


def _result(anova, variance, sat_df, levels, counts, r, part, tolerance, k, nist=None):
    names = list(anova.index)
    truncated = [n for n, v in zip(names, variance) if v < 0]
    var = dict(zip(names, np.maximum(variance, 0.0)))
    dof = dict(zip(names, sat_df))
    total = sum(var.values())
    if not total > 0:
        raise FabFitError("nested gauge study: total variance 0, nothing to apportion")
    # the part level is reported once, as part-to-part variation
    rows = {n: (var[n], dof[n]) for n in names if n != part}
    rows["gauge_rr"] = (sum(v for n, v in var.items() if n != part), np.nan)
    if part is not None:
        rows["part"] = (var[part], dof[part])
    rows["total"] = (total, np.nan)
    comp = pd.DataFrame.from_dict(rows, orient="index", columns=["variance", "df"])
    comp["sd"] = np.sqrt(comp["variance"])
    comp["pct_contribution"] = 100 * comp["variance"] / total
    comp["pct_study_var"] = 100 * comp["sd"] / np.sqrt(total)
    sd_grr = comp.loc["gauge_rr", "sd"]
    ndc = None
    if part is not None:
        sd_p = comp.loc["part", "sd"]
        ndc = np.iinfo(np.int64).max if sd_grr == 0 else max(int(np.floor(1.41 * sd_p / sd_grr)), 1)
    return NestedGauge(anova=anova, components=comp[["variance", "sd", "df", "pct_contribution",
                                                     "pct_study_var"]],
                       levels=tuple(levels), counts=counts, n_replicates=r, part=part,
                       tolerance=tolerance, k=float(k), ndc=ndc,
                       percent_grr=float(comp.loc["gauge_rr", "pct_study_var"]),
                       percent_tolerance=np.nan if tolerance is None else 100 * k * sd_grr / tolerance,
                       truncated=truncated, nist_levels=nist)


def gauge_nested(df: pd.DataFrame, levels, value: str = "value", *, part: str | None = None,
                 tolerance: float | None = None, k: float = 6.0) -> NestedGauge:
    """Nested gauge study by the nested ANOVA (see module docstring).

    Parameters
    ----------
    df
        Long table, one row per measurement, balanced.
    levels
        Column names, outermost first: ``("operator", "part")`` for Minitab's nested
        gage R&R (each part measured by one operator, as in destructive tests),
        ``("run", "day")`` for a check standard, ``("probe", "day")`` ...  Group labels
        are read within their parent (part 1 of operator A is not part 1 of B).
    part
        The level holding part-to-part variation (reported apart from the gauge, with
        ndc); ``None`` when every level is measurement variation.
    tolerance, k
        ``USL − LSL`` and the study-variation multiplier for %Tolerance.

    Example
    -------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> op, part = np.repeat(np.arange(3), 10), np.tile(np.repeat(np.arange(5), 2), 3)
    >>> y = rng.normal(0, .3, 3)[op] + rng.normal(0, 2, 15)[op * 5 + part] + rng.normal(0, .4, 30)
    >>> g = gauge_nested(pd.DataFrame({"operator": op, "part": part, "value": y}),
    ...                  ("operator", "part"), part="part")
    >>> list(g.components.index)
    ['operator', 'repeatability', 'gauge_rr', 'part', 'total']
    """
    check_params("gauge_nested", {"df": [pd.DataFrame], "levels": [list, tuple],
                                  "part": [None, str], "tolerance": [None, *POSITIVE], "k": POSITIVE},
                 locals())
    levels = tuple(levels)
    if not levels or len(set(levels)) != len(levels):
        raise FabParameterError(f"The 'levels' parameter of gauge_nested must name one or more distinct "
                                f"columns. Got {list(levels)!r} instead.")
    if part is not None and part not in levels:
        raise FabParameterError(f"The 'part' parameter of gauge_nested must be one of the levels "
                                f"{list(levels)}. Got {part!r} instead.")
    _check_columns("gauge_nested", df, (*levels, value))
    y = _numeric("gauge_nested", df, value)
    frame = df[list(levels)].assign(_y=y)
    counts = _cells("gauge_nested", frame, levels)
    cell = frame.groupby(list(levels), observed=True)["_y"]
    sizes = cell.size()
    if sizes.nunique() != 1 or sizes.iloc[0] < 2:
        worst = sizes.idxmin()
        raise FabDataError(f"gauge_nested: cell {worst!r} has {sizes.min()} measurements where "
                           f"others have {sizes.max()}; need the same number (>= 2) in every cell")
    r = int(sizes.iloc[0])
    within = float(((y - cell.transform("mean").to_numpy()) ** 2).sum())
    cells = cell.mean().rename("mean").reset_index()
    anova, variance, sat_df = _nested(cells, levels, counts, r, within, len(y) - len(cells))
    return _result(anova, variance, sat_df, levels, counts, r, part,
                   None if tolerance is None else float(tolerance), k)


def check_standard(df: pd.DataFrame, run: str | None = "run", *, mean: str = "average",
                   sd: str = "stddev", n: int = 6, day: str | None = None) -> NestedGauge:
    """Check-standard analysis from daily averages and short-term standard deviations
    (NIST e-Handbook §2.4.4): level-1, level-2 and level-3 standard deviations and the
    variance components repeatability, day(run) and run.

    ``df`` has one row per day: the average of ``n`` repetitions (``mean``) and their
    standard deviation (``sd``), with the ``run`` it belongs to (``run=None``: a single
    run, e.g. 25 days of one check standard, §2.6.2).  ``day`` names a day column if
    there is one; otherwise each row is its own day.

    Returns a :class:`NestedGauge` (no part level) with ``nist_levels``: rows
    ``level-1 (repeatability)``, ``level-2 (days)``, ``level-3 (runs)``, columns ``sd``,
    ``df``.

    Example
    -------
    >>> import pandas as pd
    >>> days = pd.DataFrame({"run": [1, 1, 1, 2, 2, 2],
    ...                      "average": [96.08, 96.00, 96.01, 96.08, 96.11, 96.08],
    ...                      "stddev": [0.10, 0.09, 0.06, 0.10, 0.05, 0.04]})
    >>> cs = check_standard(days, n=6)
    >>> cs.nist_levels["df"].tolist()
    [30, 4, 1]
    """
    check_params("check_standard", {"df": [pd.DataFrame], "run": [None, str], "day": [None, str],
                                    "n": [Interval(Integral, 2, None, closed="left")]}, locals())
    _check_columns("check_standard", df, tuple(c for c in (run, day, mean, sd) if c is not None))
    if day is None:  # each row is its own day
        day = "day" if run != "day" else "day_"
        frame = df[[run]].copy() if run is not None else pd.DataFrame(index=df.index)
        frame[day] = np.arange(len(df))
    else:
        frame = df[[c for c in (run, day) if c is not None]].copy()
    levels = tuple(c for c in (run, day) if c is not None)
    frame["mean"] = _numeric("check_standard", df, mean)
    s = _numeric("check_standard", df, sd)
    if (s < 0).any():
        raise FabDataError(f"check_standard: negative standard deviation in {sd!r} at row "
                           f"{df.index[np.flatnonzero(s < 0)[0]]!r}")
    counts = _cells("check_standard", frame, levels)
    if frame.duplicated(list(levels)).any():
        row = df.index[frame.duplicated(list(levels)).to_numpy()][0]
        raise FabDataError(f"check_standard: row {row!r} repeats a day already listed in its run")
    within_df = len(frame) * (n - 1)
    anova, variance, sat_df = _nested(frame, levels, counts, n, float(((n - 1) * s ** 2).sum()),
                                      within_df)
    # NIST's level-k standard deviations are the nested mean squares rescaled to one
    # daily average (level 2) and one run average (level 3)
    ms = anova["mean_sq"]
    nist = {"level-1 (repeatability)": (np.sqrt(ms["repeatability"]), within_df)}
    inner = levels[-1]
    nist["level-2 (days)"] = (np.sqrt(ms[inner] / n), int(anova.loc[inner, "df"]))
    if run is not None:
        nist["level-3 (runs)"] = (np.sqrt(ms[run] / (n * counts[inner])), int(anova.loc[run, "df"]))
    table = pd.DataFrame.from_dict(nist, orient="index", columns=["sd", "df"])
    return _result(anova, variance, sat_df, levels, counts, n, None, None, 6.0, nist=table)


@dataclass(repr=False)
class UncertaintyBudget:
    """Result of :func:`uncertainty_budget`: the ``table`` (one row per source with
    ``type``, ``u``, ``df``, ``u2`` and ``pct_of_u2``), the combined standard
    uncertainty ``u_c``, the effective degrees of freedom ``df_eff``, the coverage
    factor ``k`` and the expanded uncertainty ``U = k·u_c`` at ``level``."""

    table: pd.DataFrame
    u_c: float
    df_eff: float
    k: float
    U: float
    level: float

    def __repr__(self) -> str:
        return (f"UncertaintyBudget(u_c={self.u_c:.5g}, df_eff={self.df_eff:.4g}, k={self.k:.4g}, "
                f"U={self.U:.5g})")

    def summary(self) -> Summary:
        """The budget table in the layout of the NIST e-Handbook §2.5.6/2.5.7."""
        t = self.table.rename(columns={"type": "Type", "u": "Std uncertainty u_i", "df": "DF",
                                       "pct_of_u2": "% of u_c²"}).drop(columns="u2")
        notes = [f"Combined standard uncertainty u_c = {self.u_c:.5g} with {self.df_eff:.4g} "
                 "effective degrees of freedom (Welch–Satterthwaite).",
                 f"Expanded uncertainty U = k·u_c = {self.k:.4g} × {self.u_c:.5g} = {self.U:.5g}"
                 f" ({100 * self.level:g} % coverage)." if np.isfinite(self.level) else
                 f"Expanded uncertainty U = k·u_c = {self.k:.4g} × {self.u_c:.5g} = {self.U:.5g}."]
        return Summary("Uncertainty budget", [("Components", t, {"Std uncertainty u_i": ".5g",
                                                                "DF": ".4g", "% of u_c²": ".1f"})],
                       notes)

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()


def uncertainty_budget(components: pd.DataFrame, *, level: float = 0.95,
                       k: float | None = None) -> UncertaintyBudget:
    """Combine standard uncertainties (see module docstring for the formulas).

    ``components`` has one row per source: ``source``, ``type`` ("A" or "B"), ``u``
    (standard uncertainty already multiplied by its sensitivity coefficient) and
    ``df`` (``inf`` for a Type B value taken as exact).  ``k`` fixes the coverage
    factor (e.g. 2); by default ``k = t_(1−(1−level)/2, ν_eff)``.

    Example
    -------
    >>> import pandas as pd
    >>> b = uncertainty_budget(pd.DataFrame({"source": ["repeatability", "day"], "type": ["A", "A"],
    ...                                      "u": [0.03, 0.04], "df": [60, 10]}))
    >>> round(b.u_c, 6), round(b.df_eff, 2)
    (0.05, 23.19)
    """
    check_params("uncertainty_budget", {"components": [pd.DataFrame],
                                        "level": [Interval(Real, 0, 1, closed="neither")],
                                        "k": [None, *POSITIVE]}, locals())
    _check_columns("uncertainty_budget", components, ("source", "type", "u", "df"))
    table = components[["source", "type", "u", "df"]].set_index("source")
    u = _numeric("uncertainty_budget", table, "u")
    dof = pd.to_numeric(table["df"], errors="coerce").to_numpy(float)
    if (u < 0).any():
        raise FabDataError(f"uncertainty_budget: negative standard uncertainty for source "
                           f"{table.index[np.flatnonzero(u < 0)[0]]!r}")
    if np.isnan(dof).any() or (dof <= 0).any():
        bad = table.index[np.flatnonzero(np.isnan(dof) | (dof <= 0))[0]]
        raise FabDataError(f"uncertainty_budget: source {bad!r} needs positive degrees of freedom "
                           "(use inf for a Type B value taken as exact)")
    u_c = float(np.sqrt((u ** 2).sum()))
    if not u_c > 0:
        raise FabFitError("uncertainty_budget: every standard uncertainty is 0")
    df_eff = float(u_c ** 4 / np.sum(u ** 4 / dof))
    coverage = float(k) if k is not None else float(stats.t.ppf(0.5 + level / 2, df_eff))
    table = table.assign(u=u, df=dof, u2=u ** 2, pct_of_u2=100 * u ** 2 / u_c ** 2)
    return UncertaintyBudget(table=table, u_c=u_c, df_eff=df_eff, k=coverage, U=coverage * u_c,
                             level=float(level) if k is None else np.nan)


def probe_bias(df: pd.DataFrame, probe: str = "probe", standard: str = "standard",
               value: str = "value", *, reference=None, alpha: float = 0.05) -> pd.DataFrame:
    """Bias of each probe (gauge) on a set of check standards, with its uncertainty
    (NIST e-Handbook §2.4.5.1; formulas in the module docstring).

    Every probe must measure every standard (repeats are averaged).  ``reference``:
    a probe id to compare against (its own row is dropped); default the average of
    all probes on each standard.  With a reference probe the t statistic is the
    paired t test of the probe's and the reference's standard averages.

    Returns a DataFrame indexed by probe with ``bias``, ``u`` (standard uncertainty),
    ``df``, ``t``, ``p_value``, ``ci_lo``, ``ci_hi`` (``1 − alpha``) and ``n_standards``.

    Example
    -------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"probe": ["a"] * 3 + ["b"] * 3, "standard": [1, 2, 3] * 2,
    ...                    "value": [10.0, 20.0, 30.0, 10.2, 20.1, 30.3]})
    >>> round(float(probe_bias(df, reference="a").loc["b", "bias"]), 3)
    0.2
    """
    check_params("probe_bias", {"df": [pd.DataFrame],
                                "alpha": [Interval(Real, 0, 1, closed="neither")]}, locals())
    _check_columns("probe_bias", df, (probe, standard, value))
    y = _numeric("probe_bias", df, value)
    means = df[[probe, standard]].assign(_y=y).pivot_table(index=standard, columns=probe,
                                                            values="_y", aggfunc="mean")
    if means.isna().any().any():
        q, p = next((q, p) for q in means.index for p in means.columns if pd.isna(means.loc[q, p]))
        raise FabDataError(f"probe_bias: probe {p!r} has no measurement on standard {q!r}; every "
                           "probe must measure every standard")
    if reference is not None and reference not in means.columns:
        raise FabParameterError(f"The 'reference' parameter of probe_bias must be one of the probes "
                                f"{list(means.columns)}. Got {reference!r} instead.")
    n_std = len(means)
    if n_std < 2:
        raise FabFitError(f"probe_bias: {n_std} check standard; need >= 2 to estimate the bias "
                          "uncertainty")
    ref = means.mean(axis=1) if reference is None else means[reference]
    diff = means.sub(ref, axis=0)
    if reference is not None:
        diff = diff.drop(columns=reference)
    bias = diff.mean()
    u = diff.std(ddof=1) / np.sqrt(n_std)
    if (u == 0).any():
        raise FabFitError(f"probe_bias: probe {u.index[(u == 0).to_numpy()][0]!r} differs from the "
                          "reference by the same amount on every standard; its bias uncertainty "
                          "cannot be estimated")
    dof = n_std - 1
    t = bias / u
    half = stats.t.ppf(1 - alpha / 2, dof) * u
    out = pd.DataFrame({"bias": bias, "u": u, "df": dof, "t": t,
                        "p_value": 2 * stats.t.sf(np.abs(t), dof), "ci_lo": bias - half,
                        "ci_hi": bias + half, "n_standards": n_std})
    out.index.name = probe
    out.attrs["reference"] = "average of probes" if reference is None else reference
    return out
