"""Killer-tool rankings: backdoor-adjusted (the answer), naive and gradient-boosting
importance (the usual, confounded, views shown beside it).

``killer_tools`` per candidate (step, tool): the adjusted average treatment effect of
running on this tool rather than the other tools of its step (:mod:`.estimate`), its
bootstrap percentile CI and standard error ``se`` (wafers resampled with replacement),
``p = 2 Φ(−|τ̂| / se)``, Benjamini-Hochberg q-values across all identifiable candidates,
positivity diagnostics (:mod:`.positivity`), and refutations for the top candidates.
Beside the effect: the interventional means ``E[Y | do(tool)]`` and ``E[Y | do(other
tools)]`` with bootstrap CIs and, for a nonnegative response such as yield, their ratio;
beside those the naive (unadjusted) means and difference.  :func:`stratum_rates` gives
the per-stratum table behind the stratification estimate of one candidate.

Example
-------
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> r = killer_tools(ds, n_bootstrap=20, progress=False, identify="graph")
>>> {"step", "tool", "effect", "ci_low", "q_value", "identifiable"} <= set(r.columns)
True
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .._params import Integral, Interval, Real, StrOptions, check_option, check_params
from ..errors import FabDataError
from . import _dowhy
from .adjustment import co_routed
from .estimate import (CLIP, METHODS, bootstrap_weights, interventional_means, quantile_bins, refute,
                       regression_effects)
from .positivity import positivity
from .table import WaferTable, wafer_table
from .._warn import user_stacklevel

REFUTE_COLUMNS = ("placebo_effect", "placebo_p", "random_cause_effect", "subset_effect")
WORSE = ("lower", "higher")
#: A bootstrap se at most this share of max |y| is rounding noise, not sampling noise.
ROUNDING = 1e-10
KILLER_TOOLS_PARAMS = {
    "method": [StrOptions(set(METHODS))],
    "n_bootstrap": [Interval(Integral, 20, None, closed="left")],
    "refute_top": [Interval(Integral, 0, None, closed="left")],
    "refute_with": [StrOptions({"native", "dowhy"})],
    "n_simulations": [Interval(Integral, 1, None, closed="left")],
    "co_routing_threshold": [Interval(Real, 0, None, closed="left")],
    "max_co_routed": [Interval(Integral, 0, None, closed="left")],
    "identify": [StrOptions({"dowhy", "graph"})],
    "worse": [StrOptions(set(WORSE))],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "n_periods": [Interval(Integral, 1, None, closed="left")],
    "progress": ["boolean"],
}


def _naive(table: WaferTable) -> tuple[np.ndarray, np.ndarray]:
    """Plain mean response of the wafers on each candidate tool and of the others."""
    treated = table.indicators
    n1 = treated.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (table.y @ treated) / n1, (table.y @ (1 - treated)) / (table.y.size - n1)


def _ratio(treated: np.ndarray, untreated: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``μ₁ / μ₀`` for a nonnegative response (yield, counts); NaN for a response taking
    negative values (a ratio of means is meaningless there) or where ``μ₀ = 0``."""
    ok = bool((y >= 0).all()) & (untreated > 0)
    return np.where(ok, treated / np.where(ok, untreated, 1.0), np.nan)


def _harm_order(values: np.ndarray, worse: str) -> np.ndarray:
    key = values if worse == "lower" else -values
    return np.argsort(np.where(np.isfinite(key), key, np.inf), kind="stable")


def _base(table: WaferTable) -> pd.DataFrame:
    frame = table.candidates.copy()
    treated = table.indicators.astype(bool)
    frame["n_wafers"] = treated.sum(axis=0)
    frame["n_lots"] = [np.unique(table.lot[treated[:, k]]).size for k in range(treated.shape[1])]
    frame["naive_treated"], frame["naive_untreated"] = _naive(table)
    frame["naive"] = frame["naive_treated"] - frame["naive_untreated"]
    return frame


def naive_ranking(ds, response="yield", steps=None, worse="lower") -> pd.DataFrame:
    """Candidates ranked by the naive difference in mean response (no adjustment).

    Columns ``step, tool, n_wafers, n_lots, naive_treated, naive_untreated`` (plain mean
    response on the tool and on the other tools of its step), ``naive`` (their
    difference), ``p_value`` (Welch t test), ``rank``.

    >>> import fabnb
    >>> naive_ranking(fabnb.synth.fab("small", seed=0))["rank"].iloc[0]
    np.int64(1)
    """
    check_option("naive_ranking", "worse", worse, WORSE)
    table = ds if isinstance(ds, WaferTable) else wafer_table(ds, response, steps, None)
    frame = _base(table)
    treated = table.indicators.astype(bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # identical values: p is NaN/1
        frame["p_value"] = [stats.ttest_ind(table.y[t], table.y[~t], equal_var=False).pvalue
                            if 2 <= t.sum() <= t.size - 2 else np.nan for t in treated.T]
    frame = frame.iloc[_harm_order(frame["naive"].to_numpy(), worse)].reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def stratum_rates(ds, step, tool, response="yield", confounders="auto", adjusted_for=(),
                  steps=None, n_periods=4) -> pd.DataFrame:
    r"""Per-stratum table behind the stratification estimate of one candidate.

    One row per cell ``s`` = routing stratum (levels of the ``confounders``; a continuous
    confounder by its :data:`~.estimate.N_QUANTILES` equal-count bins ``q1, q2, ...``) ×
    on/off pattern of the co-routed tools ``adjusted_for`` (a list of tool names, or the
    comma-joined ``adjusted_for`` string of a :func:`killer_tools` row, whose continuous
    confounders are binned anyway and may be listed or not): ``n``,
    ``n_treated`` (wafers on ``tool``), ``n_untreated`` (on the other tools of ``step``),
    ``mean_treated``, ``mean_untreated`` (NaN where that arm has no wafer),
    ``difference``, ``mixed`` (both arms present) and ``weight = n_s / Σ n_s`` over the
    mixed cells (0 elsewhere: a cell with one arm has nothing to compare).  The adjustment
    formula (Pearl, Glymour & Jewell 2016, *Causal Inference in Statistics: A Primer*,
    §3.2) is the weighted sum of the columns::

        E[Y | do(tool)] = Σ_s weight_s · mean_treated_s
        E[Y | do(other)] = Σ_s weight_s · mean_untreated_s

    ``attrs["causal"]`` holds these two (``do_treated``, ``do_untreated``), their
    ``effect`` and the crude means ``naive_treated``, ``naive_untreated`` over all rows:
    the same numbers as :func:`killer_tools` with ``method="stratification"`` when
    ``adjusted_for`` is the row's adjustment set.

    Example: Charig et al. (1986) as Pearl et al. (2016) Table 1.1 print it, treatment A
    vs B on kidney stones by size (recovery 81/87, 192/263 on A; 234/270, 55/80 on B):

    >>> import xarray as xr
    >>> n = [87, 270, 263, 80]; recovered = [81, 234, 192, 55]
    >>> outcome = np.concatenate([np.arange(k) < r for k, r in zip(n, recovered)])
    >>> ds = xr.Dataset({"tool": (("wafer", "step"), np.repeat(["A", "B", "A", "B"], n)[:, None]),
    ...                  "recovered": ("wafer", outcome)},
    ...                 coords={"size": ("wafer", np.repeat(["small", "small", "large", "large"], n)),
    ...                         "step": ["treatment"], "wafer": np.arange(sum(n)).astype(str)})
    >>> t = stratum_rates(ds, "treatment", "A", response="recovered", confounders=["size"])
    >>> t[["size", "n", "mean_treated", "mean_untreated", "weight"]].round(2)
        size    n  mean_treated  mean_untreated  weight
    0  large  343          0.73            0.69    0.49
    1  small  357          0.93            0.87    0.51
    >>> names = ("do_treated", "do_untreated", "naive_treated", "naive_untreated")
    >>> {k: round(t.attrs["causal"][k], 4) for k in names}
    {'do_treated': 0.8325, 'do_untreated': 0.7789, 'naive_treated': 0.78, 'naive_untreated': 0.8257}
    """
    table = wafer_table(ds, response, steps, confounders, n_periods)
    tools = table.candidates["tool"].to_numpy()
    where = (table.candidates["step"].to_numpy() == step) & (tools == tool)
    if not where.any():
        raise FabDataError(f"stratum_rates: ({step!r}, {tool!r}) is not a candidate of the wafer "
                           f"table (steps with one tool, or excluded by 'steps', have none)")
    names = [a for a in adjusted_for.split(",") if a] if isinstance(adjusted_for, str) else list(adjusted_for)
    names = [a for a in names if a not in table.covariates.columns]
    unknown = [a for a in names if a not in tools]
    if unknown:
        raise FabDataError(f"stratum_rates: adjusted_for tool(s) {unknown} are not candidates of the "
                           "wafer table")
    treated = table.indicators[:, np.flatnonzero(where)[0]]
    frame = table.context.copy()
    for name in table.covariates.columns:  # the stratification's equal-count bins, labelled q1..
        frame[f"{name} bin"] = [f"q{b + 1}" for b in quantile_bins(table.covariates[name].to_numpy())]
    for name in names:
        frame[name] = table.indicators[:, np.flatnonzero(tools == name)[0]].astype(bool)
    keys = list(frame.columns)
    if not keys:  # no adjustment at all: one cell holding every wafer
        frame["stratum"], keys = "all wafers", ["stratum"]
    sums = frame.assign(n=1, n_treated=treated, y_treated=table.y * treated,
                        y_untreated=table.y * (1 - treated)).groupby(keys, sort=True).sum()
    out = sums[["n", "n_treated"]].astype(np.int64)
    out["n_untreated"] = out["n"] - out["n_treated"]
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty arm: NaN mean, said in the docstring
        out["mean_treated"] = sums["y_treated"] / out["n_treated"].where(out["n_treated"] > 0)
        out["mean_untreated"] = sums["y_untreated"] / out["n_untreated"].where(out["n_untreated"] > 0)
    out["difference"] = out["mean_treated"] - out["mean_untreated"]
    out["mixed"] = (out["n_treated"] > 0) & (out["n_untreated"] > 0)
    out["weight"] = np.where(out["mixed"], out["n"], 0) / max(int(out.loc[out["mixed"], "n"].sum()), 1)
    mixed = out[out["mixed"]]
    naive_treated, naive_untreated = (float(table.y @ treated / treated.sum()),
                                      float(table.y @ (1 - treated) / (1 - treated).sum()))
    do = {"do_treated": float(mixed["weight"] @ mixed["mean_treated"]) if len(mixed) else np.nan,
          "do_untreated": float(mixed["weight"] @ mixed["mean_untreated"]) if len(mixed) else np.nan}
    out = out.reset_index()
    out.attrs["causal"] = {"step": step, "tool": tool, **do,
                           "effect": do["do_treated"] - do["do_untreated"],
                           "naive_treated": naive_treated, "naive_untreated": naive_untreated,
                           "n_unmixed": int(out.loc[~out["mixed"], "n"].sum())}
    if not len(mixed):
        warnings.warn(f"stratum_rates: no stratum holds both {tool} and the other {step} tools: "
                      "the adjusted means are not identifiable (NaN)", UserWarning,
                      stacklevel=user_stacklevel())
    return out


def importance_ranking(ds, response="yield", steps=None, confounders="auto", seed=0,
                       n_estimators=150) -> pd.DataFrame:
    """Candidates ranked by gradient-boosting feature importance (scikit-learn).

    The model predicts the response from every tool indicator plus the context
    dummies and the continuous confounders; ``importance`` is the impurity importance of
    the tool's indicator.  It
    says which tools *predict* yield, not which *cause* it.

    >>> import fabnb
    >>> r = importance_ranking(fabnb.synth.fab("small", seed=0), n_estimators=20)
    >>> bool(r["importance"].is_monotonic_decreasing)
    True
    """
    from sklearn.ensemble import GradientBoostingRegressor

    check_params("importance_ranking", {"n_estimators": [Interval(Integral, 1, None, closed="left")]},
                 {"n_estimators": n_estimators})
    table = ds if isinstance(ds, WaferTable) else wafer_table(ds, response, steps, confounders)
    features = np.column_stack([table.design()[0], table.context_dummies()[:, 1:]])
    model = GradientBoostingRegressor(n_estimators=n_estimators, max_depth=3, learning_rate=0.05,
                                      subsample=0.8, random_state=seed).fit(features, table.y)
    frame = _base(table)
    frame["importance"] = model.feature_importances_[: table.indicators.shape[1]]
    frame = frame.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame


def _identified_adjustment(table, adjust, identify):
    """Adjustment sets after backdoor identification (DoWhy or the structural rule): the
    co-routed tools DoWhy keeps plus the continuous confounders (context nodes of the
    graph), as column indices of :meth:`WaferTable.design`."""
    covariates = list(table.covariates.columns)
    context = (["stratum"] if table.context.shape[1] else []) + covariates
    n_tools = table.indicators.shape[1]
    names = table.candidates["tool"].to_numpy()
    out, ok = [], np.ones(len(adjust), dtype=bool)
    for k, adj in enumerate(adjust):
        if identify == "graph":
            out.append(np.concatenate([adj, n_tools + np.arange(len(covariates))]).astype(np.int64))
            continue
        chosen = _dowhy.backdoor_set("__T__", "__Y__", context, list(names[adj]))
        ok[k] = chosen is not None
        chosen = chosen or []
        out.append(np.array([j for j in adj if names[j] in chosen]
                            + [n_tools + i for i, c in enumerate(covariates) if c in chosen], dtype=np.int64))
    return out, ok


def dowhy_frame(table: WaferTable, k: int, adjust) -> tuple[pd.DataFrame, list[str], list[str]]:
    """DataFrame, context names and co-routed names for DoWhy (candidate ``k``).

    Columns: ``treated`` (bool), ``response``, ``stratum`` (the routing stratum as one
    categorical column, so DoWhy's one-hot encoding gives stratum fixed effects) and
    ``co_<j>`` (column ``j`` of :meth:`WaferTable.design`: a 0/1 co-routed tool or a
    continuous confounder).
    """
    frame = pd.DataFrame({"treated": table.indicators[:, k].astype(bool), "response": table.y})
    context = []
    if table.context.shape[1]:
        frame["stratum"] = np.array([f"s{c}" for c in table.context_codes()], dtype=object)
        context.append("stratum")
    columns = table.design()[0]
    co = []
    for j in adjust:
        frame[f"co_{j}"] = columns[:, j]
        co.append(f"co_{j}")
    return frame, context, co


def _at_rounding_level(table: WaferTable, strata: np.ndarray, se: np.ndarray,
                       ok: np.ndarray) -> np.ndarray:
    """Candidates whose effect cannot be tested, with a warning: the response is constant
    within every routing stratum (every adjusted effect is 0; the bootstrap sees only
    rounding, amplified by ill-conditioned replicates), or the candidate's bootstrap se is
    rounding noise, ``se ≤ ROUNDING × max|y|`` (every replicate gives the same effect: an
    adjustment set that leaves no residual degrees of freedom, or a noiseless response)."""
    tol = ROUNDING * float(np.abs(table.y).max())
    _, ids = np.unique(strata, return_inverse=True)
    within = table.y - (np.bincount(ids, table.y) / np.bincount(ids))[ids]
    flat_response = np.abs(within).max() <= tol
    flat = ok & (flat_response | (se <= tol))
    if flat.any():
        names = ", ".join(table.candidates["tool"].to_numpy()[flat][:5]) + (", ..." if flat.sum() > 5 else "")
        why = (f"the response is constant ({table.y[0]:.6g}) on all {table.y.size} wafers"
               if np.ptp(table.y) <= tol else "the response does not vary within the routing strata"
               if flat_response else "their bootstrap se is at the rounding level of the "
               f"response (<= {ROUNDING:g} x max|y|): every replicate gives the same effect "
               "(a saturated adjustment set or a noiseless response), nothing to test it against")
        warnings.warn(f"{int(flat.sum())} candidate(s) cannot be tested: {why}; they get no p- or "
                      f"q-value and are no discovery (column 'degenerate'): {names}",
                      UserWarning, stacklevel=user_stacklevel())
    return flat


def _warn_clipped(trimmed: np.ndarray, ok: np.ndarray) -> None:
    """Say how many wafers had their IPW propensity clipped (column ``trimmed``)."""
    hit = ok & (trimmed > 0)
    if hit.any():
        warnings.warn(f"ipw: {int(hit.sum())} candidate(s) have wafers with a propensity outside "
                      f"[{CLIP}, {1 - CLIP}] (weak overlap; {int(trimmed[hit].sum())} wafer-candidate "
                      f"pairs), clipped: weights capped at {1 / CLIP:.3g}; see column 'trimmed'",
                      UserWarning, stacklevel=user_stacklevel())


def _wafer_sd(table: WaferTable) -> float:
    """Within-lot standard deviation of the response (for split-lot power)."""
    centred = table.y - pd.Series(table.y).groupby(table.lot).transform("mean").to_numpy()
    dof = table.y.size - np.unique(table.lot).size
    return float(np.sqrt((centred ** 2).sum() / dof)) if dof > 0 else float(np.std(table.y))


def killer_tools(ds, response="yield", steps=None, confounders="auto", method="regression",
                 n_bootstrap=200, seed=0, *, refute_top=3, refute_with="native",
                 n_simulations=50, co_routing_threshold=0.5, max_co_routed=5,
                 identify="dowhy", worse="lower", alpha=0.05, n_periods=4,
                 progress=True) -> pd.DataFrame:
    """Backdoor-adjusted effect of every (step, tool) on the response, ranked by harm.

    Parameters
    ----------
    ds : contract Dataset with ``tool`` (wafer, step) (and ``hbin`` for yield)
    response : ``"yield"`` (per-wafer yield), a (wafer,) variable name or per-wafer values
    steps : steps to screen (default all)
    confounders : ``"auto"`` (route, lot, period, lane/queue/priority/product where present),
        None, or a list of wafer coordinate names (see :func:`.table.wafer_table`); a float
        coordinate is a continuous confounder, adjusted by every method (regression:
        linearly; stratification: quantile bins; IPW: a logistic slope) and listed in
        ``adjusted_for``
    method : ``"regression"`` | ``"ipw"`` | ``"stratification"`` (:mod:`.estimate`)
    n_bootstrap, seed : wafer bootstrap replicates for SE, CI and p-value (>= 20)
    refute_top, refute_with, n_simulations : refute the ``refute_top`` most harmful
        identifiable candidates, natively (fast) or with DoWhy (``"dowhy"``, slow)
    co_routing_threshold, max_co_routed : co-routed tools joining the adjustment set
        (:mod:`.adjustment`)
    identify : ``"dowhy"`` (DoWhy backdoor identification on the candidate graph) or
        ``"graph"`` (the same set from the graph rule without importing DoWhy)
    worse : ``"lower"`` (yield: lower is harm) or ``"higher"``

    Returns
    -------
    DataFrame sorted by harm: harmful candidates significant at FDR ``alpha`` first, then
    the other identifiable ones, each by adjusted effect; non-identifiable last.  ``step,
    tool, n_wafers, n_lots, naive_treated, naive_untreated, naive, effect, se, ci_low,
    ci_high, do_treated[_low, _high], do_untreated[_low, _high], ratio[_low, _high],
    p_value, q_value, identifiable, degenerate, trimmed, overlap, n_mixed_strata,
    adjusted_for, naive_rank`` and the refutation columns
    ``placebo_effect, placebo_p, random_cause_effect, subset_effect, refutation_ok``
    (NaN/None below the top).  ``degenerate``: the response is constant within every
    routing stratum (e.g. the same yield on every wafer) or the bootstrap se is at its
    rounding level (``se ≤ 1e-10 × max|y|``), so the z test is meaningless: no p- or
    q-value, never a discovery (with a warning).  ``trimmed``: wafers whose IPW
    propensity fell outside ``[0.02, 0.98]`` (weak overlap) and was clipped, capping
    weights at 50 (with a warning; 0 for the other methods).  ``attrs["causal"]`` records
    the inputs, the excluded wafer counts and ``wafer_sd`` (within-lot response SD).

    ``naive_treated`` / ``naive_untreated``: plain mean response of the wafers on the tool
    and on the other tools of its step (``naive`` = their difference, confounded by
    routing).  ``do_treated`` = ``E[Y | do(step = tool)]`` and ``do_untreated`` =
    ``E[Y | do(step = another tool)]``, the interventional means whose difference is
    ``effect`` (regression: g-formula over all wafers; stratification/IPW: standardised
    to the wafers of strata holding both arms, see :mod:`.estimate`), with 95 % bootstrap
    percentile CIs.  ``ratio = do_treated / do_untreated`` (the yield ratio, a relative
    risk) is defined for a nonnegative response only: NaN when the response takes
    negative values.  All are NaN for non-identifiable candidates.

    Example
    -------
    >>> import fabnb
    >>> r = killer_tools(fabnb.synth.fab("small", seed=0), steps=["S14", "S22"],
    ...                  n_bootstrap=20, progress=False, identify="graph")
    >>> r["tool"].str[:3].isin(["S14", "S22"]).all()
    np.True_
    """
    check_params("killer_tools", KILLER_TOOLS_PARAMS, {
        "method": method, "n_bootstrap": n_bootstrap, "refute_top": refute_top,
        "refute_with": refute_with, "n_simulations": n_simulations,
        "co_routing_threshold": co_routing_threshold, "max_co_routed": max_co_routed,
        "identify": identify, "worse": worse, "alpha": alpha, "n_periods": n_periods,
        "progress": progress})
    table = wafer_table(ds, response, steps, confounders, n_periods)
    strata = table.context_codes()
    columns, names = table.design()  # candidate indicators, then continuous confounders
    targets = np.arange(table.indicators.shape[1])
    steps_of = table.candidates["step"].to_numpy()
    adjust = co_routed(table.indicators, steps_of, strata, co_routing_threshold, max_co_routed)
    adjust, identified = _identified_adjustment(table, adjust, identify)

    alias = regression_effects(table.y, strata, columns, targets, adjust, return_alias=True)[1]
    est = interventional_means(method, table.y, strata, columns, targets, adjust)
    point, trimmed = est.effect[0], est.trimmed[0]
    ratio = _ratio(est.treated[0], est.untreated[0], table.y)
    overlap = positivity(table.indicators, strata)
    ok = identified & overlap["identifiable"].to_numpy() & (alias > 1e-6) & np.isfinite(point)

    boot = interventional_means(method, table.y, strata, columns, targets, adjust,
                                weights=bootstrap_weights(table.y.size, n_bootstrap, seed),
                                progress=progress)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: not identifiable
        se = np.nanstd(boot.effect, axis=0, ddof=1)
        p_value = 2 * stats.norm.sf(np.abs(point) / se)
        (low, high), (t_low, t_high), (u_low, u_high), (r_low, r_high) = (
            np.nanpercentile(b, [2.5, 97.5], axis=0) for b in
            (boot.effect, boot.treated, boot.untreated, _ratio(boot.treated, boot.untreated, table.y)))
    ok &= np.isfinite(se)
    degenerate = _at_rounding_level(table, strata, se, ok)
    p_value = np.where(degenerate, np.nan, p_value)
    _warn_clipped(trimmed, ok)

    frame = _base(table)
    naive_rank = np.empty(len(frame), dtype=np.int64)
    naive_rank[_harm_order(frame["naive"].to_numpy(), worse)] = np.arange(1, len(frame) + 1)
    frame = frame.assign(
        effect=np.where(ok, point, np.nan), se=np.where(ok, se, np.nan),
        ci_low=np.where(ok, low, np.nan), ci_high=np.where(ok, high, np.nan),
        do_treated=np.where(ok, est.treated[0], np.nan), do_treated_low=np.where(ok, t_low, np.nan),
        do_treated_high=np.where(ok, t_high, np.nan), do_untreated=np.where(ok, est.untreated[0], np.nan),
        do_untreated_low=np.where(ok, u_low, np.nan), do_untreated_high=np.where(ok, u_high, np.nan),
        ratio=np.where(ok, ratio, np.nan), ratio_low=np.where(ok, r_low, np.nan),
        ratio_high=np.where(ok, r_high, np.nan),
        p_value=np.where(ok, p_value, np.nan), q_value=np.nan, identifiable=ok,
        degenerate=degenerate, trimmed=trimmed,
        overlap=overlap["overlap"].to_numpy(), n_mixed_strata=overlap["n_mixed"].to_numpy(),
        adjusted_for=[",".join(names[a]) for a in adjust], naive_rank=naive_rank)
    tested = ok & ~degenerate
    if tested.any():
        frame.loc[tested, "q_value"] = multipletests(frame.loc[tested, "p_value"], method="fdr_bh")[1]
    harmful = np.sign(frame["effect"].to_numpy()) == (-1 if worse == "lower" else 1)
    tier = np.where(ok & harmful & (frame["q_value"].to_numpy() < alpha), 0, np.where(ok, 1, 2))
    order = np.lexsort((_harm_order(frame["effect"].to_numpy(), worse).argsort(), tier))
    frame = frame.iloc[order].reset_index(drop=True)
    adjust = [adjust[i] for i in order]
    frame = _refute(frame, table, strata, adjust, method, refute_top, refute_with,
                    n_simulations, seed)
    frame.insert(len(frame.columns) - len(REFUTE_COLUMNS) - 1, "rank", np.arange(1, len(frame) + 1))
    frame.attrs["causal"] = {
        "response": response if isinstance(response, str) else "values", "method": method,
        "confounders": list(table.context.columns), "n_bootstrap": n_bootstrap, "seed": seed,
        "excluded": table.excluded, "wafer_sd": _wafer_sd(table), "worse": worse,
        "alpha": alpha, "identify": identify, "refute_with": refute_with}
    return frame


def _refute(frame, table, strata, adjust, method, top, refute_with, sims, seed):
    for name in REFUTE_COLUMNS:
        frame[name] = np.nan
    frame["refutation_ok"] = None
    index = {(s, t): k for k, (s, t) in enumerate(zip(table.candidates["step"], table.candidates["tool"]))}
    testable = frame["identifiable"].to_numpy() & ~frame["degenerate"].to_numpy()
    for row in np.flatnonzero(testable)[:top]:
        k = index[(frame.at[row, "step"], frame.at[row, "tool"])]
        effect = frame.at[row, "effect"]
        if refute_with == "dowhy":
            data, context, co = dowhy_frame(table, k, adjust[row])
            result = _dowhy.dowhy_refute(data, "treated", "response", context, co, method,
                                         n_simulations=sims, seed=seed)
        else:
            result = refute(method, table.y, strata, table.design()[0], k, adjust[row],
                            effect, n_simulations=sims, seed=seed)
        for name in REFUTE_COLUMNS:
            frame.at[row, name] = result[name]
        low, high = frame.at[row, "ci_low"], frame.at[row, "ci_high"]
        frame.at[row, "refutation_ok"] = bool(
            result["placebo_p"] <= 0.05 and low <= result["random_cause_effect"] <= high
            and low <= result["subset_effect"] <= high)
    return frame
