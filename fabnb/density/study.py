r"""The paper's Section V-B study: HVM yield from early silicon.

1. **Early silicon** (:func:`early_silicon`): the first wafer (lowest slot) of each of
   the first ``n_lots`` lots (by time); **HVM** (:func:`hvm_population`): every die of
   every other wafer — the "actual" distribution.
2. **Limits** (:func:`hvm_limits`): ``[L, U] = mean ± 3σ`` of the HVM values per test.
3. **Early measurements** (:func:`early_values`) under a ``budget`` (10 %) of the dies:
   ``"rs"`` random sampling — the measured values of a random ``budget`` of the dies of
   each early wafer; ``"gp-st-ps"`` — ``fabnb.spatial.virtual_probe(method="gp-st-ps")``
   on the early wafers, the measured values at the sampled dies plus a reconstruction
   of every other die (:func:`posterior_draws`): by default (``reconstruction="draw"``)
   one draw from the GP's posterior predictive distribution, with the paper's recipe,
   the posterior mean, as ``reconstruction="mean"``.  The early wafers come from
   different lots, so they are modelled as one sequence (lot ``"early"``, ``t`` = lot
   order): the temporal axis of GP-ST is the drift from lot to lot.  Draws are only
   as good as the predictive variance ``s² + σ_n²`` (on the default fab's early silicon
   the fitted ``σ_n`` was 1.0–2.9× the simulator's die noise: short-range structure
   filed under noise).  Measured there (39 tests, 2026-12-06, ``benchmarks/RESULTS.md``):
   the KDE of the drawn wafers stays 0.086 pp of yield from the KDE of every measured
   die, against 0.187 pp for the posterior mean and 0.169 pp for random sampling.
   ``"all"`` (a reference, not a method of the paper): every measured die of the early
   wafers.  It is the floor of any reconstruction: a perfect GP can at best give the
   early wafers' own yield, and what still separates that from the HVM yield is the
   drift between early silicon and production (and the density estimator itself).
4. **Density + synthetic dies** (:func:`yield_study`): histogram (20 bins, eq. 5) or
   adaptive Epanechnikov KDE on those values, 1,000,000 synthetic dies, yield = share
   inside ``[L, U]``; compared with the HVM yield (absolute error) and the HVM values
   (KS distance between the fitted distribution — the limit of its synthetic dies —
   and the actual dies' empirical CDF).

Example
-------
>>> import fabnb
>>> from fabnb.density.study import yield_study
>>> ds = fabnb.synth.fab("small", seed=0)
>>> table = yield_study(ds, tests=["T01"], methods=("hist-rs", "kde-rs"), n_lots=3,
...                     n_synthetic=10_000, progress=False)
>>> sorted(table.columns)[:3]
['abs_yield_error', 'ks', 'method']
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from .._params import Integral, Interval, Real, StrOptions, check_option, check_params
from ..errors import FabDataError
from ..summary import resolve_tests
from . import yield_
from .ks import ks_distance
from .yield_ import estimate_yield

METHODS = ("hist-rs", "hist-gp-st-ps", "kde-rs", "kde-gp-st-ps")
#: the same density estimators on every die of the early wafers: the floor of any sampling
REFERENCE_METHODS = ("hist-all", "kde-all")
PAPER_YIELD_ERROR = {"hist-rs": 1.16, "hist-gp-st-ps": 0.63, "kde-rs": 0.61, "kde-gp-st-ps": 0.21}
PAPER_KS = {"hist-rs": 0.25, "hist-gp-st-ps": 0.23, "kde-rs": 0.11, "kde-gp-st-ps": 0.087}
SAMPLINGS = ("rs", "gp-st-ps", "all")
RECONSTRUCTIONS = ("draw", "mean")
# the study's parameters, one rule each; every function checks the ones it takes
PARAMETERS = {
    "n_lots": [Interval(Integral, 1, None, closed="left")],
    "budget": [Interval(Real, 0, 1, closed="right")],
    "n_sigma": [Interval(Real, 0, None, closed="neither")],
    "sampling": [StrOptions(set(SAMPLINGS))],
    "reconstruction": [StrOptions(set(RECONSTRUCTIONS))],
    "bins": yield_.PARAMETERS["bins"],
    "n_synthetic": yield_.PARAMETERS["n_synthetic"],
    "kde_options": yield_.PARAMETERS["kde_options"],
    "progress": ["boolean"],
    "keep_models": ["boolean"],
}


def early_silicon(ds: xr.Dataset, n_lots: int = 5) -> xr.Dataset:
    """The first wafer (lowest slot) of each of the first ``n_lots`` lots (ordered by time).

    >>> import fabnb
    >>> early_silicon(fabnb.synth.fab("small", seed=0), n_lots=2).sizes["wafer"]
    2
    """
    check_params("early_silicon", PARAMETERS, {"n_lots": n_lots})
    for name in ("lot", "slot"):
        if name not in ds.coords:
            raise FabDataError(f"early_silicon needs the wafer coordinate {name!r}")
    order = np.argsort(ds["time"].values, kind="stable") if "time" in ds.coords else np.arange(ds.sizes["wafer"])
    lots = list(dict.fromkeys(np.asarray(ds["lot"].values, dtype=str)[order]))
    if len(lots) < n_lots:
        raise FabDataError(f"early_silicon needs {n_lots} lots; the dataset has {len(lots)}")
    lot_of, slot = np.asarray(ds["lot"].values, dtype=str), ds["slot"].values
    first = [int(np.flatnonzero(lot_of == lot)[np.argmin(slot[lot_of == lot])]) for lot in lots[:n_lots]]
    return ds.isel(wafer=first)


def hvm_population(ds: xr.Dataset, early: xr.Dataset) -> xr.Dataset:
    """Every wafer of ``ds`` that is not in ``early``."""
    keep = ~np.isin(ds["wafer"].values, early["wafer"].values)
    if not keep.any():
        raise FabDataError("no HVM wafers left after removing the early wafers")
    return ds.isel(wafer=np.flatnonzero(keep))


def _finite(values, test: str, what: str) -> np.ndarray:
    """The measured (non-NaN) values of one test, pooled; refuses fewer than two."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 2:
        raise FabDataError(f"{what} has {v.size} measured value(s) of test {test}")
    return v


def hvm_limits(hvm: xr.Dataset, tests, n_sigma: float = 3.0) -> pd.DataFrame:
    """Per test ``lsl, usl = mean ∓ n_sigma · std`` of the HVM values (columns lsl, usl)."""
    check_params("hvm_limits", PARAMETERS, {"n_sigma": n_sigma})
    rows = {}
    for test in tests:
        v = _finite(hvm["value"].sel(test=test), test, "the HVM population")
        rows[test] = (v.mean() - n_sigma * v.std(), v.mean() + n_sigma * v.std())
    return pd.DataFrame.from_dict(rows, orient="index", columns=["lsl", "usl"]).rename_axis("test")


def posterior_draws(measured, sampled, value_pred, value_std, noise_std, rng) -> np.ndarray:
    r"""Measured values at the sampled dies, one posterior predictive draw at every other die.

    At an unsampled die ``i`` the GP's posterior predictive distribution of its
    *measurement* is ``N(μᵢ, sᵢ² + σ_n²)``: ``μᵢ`` = ``value_pred``, ``sᵢ`` =
    ``value_std`` (the field's posterior std) and ``σ_n`` = ``noise_std`` (the fitted
    measurement noise, which every real measurement carries; Rasmussen & Williams,
    *Gaussian Processes for Machine Learning*, MIT Press 2006, §2.2, eqs. 2.23–2.24,
    p. 19: a noisy target ``y*`` adds ``σ_n²`` to the latent ``f*``'s variance).  Each
    die gets

    .. math::  \tilde v_i = \mu_i + \sqrt{s_i^2 + \sigma_n^2}\; z_i,\qquad z_i \sim N(0, 1)\ \text{i.i.d.}

    Why draws and not the mean: the pooled values feed a density estimate, and the
    posterior mean is smoother than measurements — its spread lacks
    ``mean(sᵢ² + σ_n²)``, which thins the tails and over-estimates yield.  Why
    independent draws are enough (no conditional simulation): a histogram or kernel
    estimate of pooled values ``f̂(x) = (1/N) Σᵢ K_h(x − ṽᵢ)`` has expectation
    ``(1/N) Σᵢ E K_h(x − ṽᵢ)``, which depends on each ``ṽᵢ``'s marginal distribution
    only; the joint posterior (the correlation between dies) changes the estimate's
    scatter, not its expectation.

    Parameters
    ----------
    measured, sampled, value_pred, value_std : arrays of one shape (e.g. wafer × die)
        The measurements (read only where ``sampled``), the sampled-die mask and the
        posterior mean and std of the field.
    noise_std : array broadcastable to that shape
        σ_n, e.g. one per wafer as ``noise_std[:, None]``.
    rng : numpy Generator or seed
        Source of ``z``; one normal per element, drawn whether sampled or not, so the
        draws do not depend on which dies were sampled.

    Returns
    -------
    Array of that shape: ``measured`` where sampled, draws elsewhere, NaN where
    ``value_pred`` is NaN (a failed prediction, reported by ``virtual_probe``).  A
    finite ``value_pred`` with a NaN, infinite or negative std raises
    :class:`FabDataError` naming the first such element.

    Example
    -------
    >>> import numpy as np
    >>> v = posterior_draws(np.array([1.0, np.nan]), np.array([True, False]), np.zeros(2),
    ...                     np.array([0.0, 0.3]), 0.4, rng=0)
    >>> float(v[0]), bool(np.isfinite(v[1]))
    (1.0, True)
    """
    measured, sampled = np.asarray(measured, dtype=float), np.asarray(sampled, dtype=bool)
    pred, std = np.asarray(value_pred, dtype=float), np.asarray(value_std, dtype=float)
    if not (measured.shape == sampled.shape == pred.shape == std.shape):
        raise FabDataError(f"posterior_draws needs measured, sampled, value_pred and value_std of one shape; got "
                           f"{measured.shape}, {sampled.shape}, {pred.shape}, {std.shape}")
    sd = np.sqrt(std**2 + np.broadcast_to(np.asarray(noise_std, dtype=float), pred.shape) ** 2)
    bad = ~sampled & np.isfinite(pred) & ~(np.isfinite(sd) & (std >= 0))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise FabDataError(f"posterior_draws: {int(bad.sum())} unsampled die(s) have a prediction but no valid "
                           f"predictive std (value_std or noise_std NaN, infinite or negative), first at index "
                           f"{where}; check the virtual probe's fit_error")
    z = np.random.default_rng(rng).standard_normal(pred.shape)
    return np.where(sampled, measured, pred + sd * z)


def early_values(early: xr.Dataset, tests, sampling: str = "rs", budget: float = 0.10, seed: int = 0,
                 progress: bool = False, reconstruction: str = "draw") -> dict[str, np.ndarray]:
    """Early-silicon values per test under a die budget, by ``"rs"`` or ``"gp-st-ps"``, or
    every measured die (``"all"``, the budget does not apply).

    ``reconstruction`` (GP-ST-PS only; random sampling has nothing to reconstruct):
    ``"draw"`` fills each unsampled die with one draw from the posterior predictive
    distribution (:func:`posterior_draws`), ``"mean"`` with the posterior mean (the
    paper's recipe).  Draws for test ``T`` come from ``SeedSequence([seed, crc32(T)])``
    (crc32 rather than a character sum, so anagram names such as T12 and T21 get
    independent draws).

    >>> import fabnb
    >>> e = early_silicon(fabnb.synth.fab("small", seed=0), n_lots=3)
    >>> v = early_values(e, ["T01"], "rs", budget=0.1)
    >>> v["T01"].size == round(0.1 * e.sizes["die"]) * 3
    True
    """
    check_params("early_values", PARAMETERS, {"sampling": sampling, "budget": budget, "progress": progress,
                                              "reconstruction": reconstruction})
    tests = list(tests)
    if sampling == "all":
        return {test: _finite(early["value"].sel(test=test), test, "the early wafers") for test in tests}
    if sampling == "rs":
        out = {}
        for test in tests:
            rng = np.random.default_rng(np.random.SeedSequence([seed, sum(map(ord, test))]))
            parts = []
            for w in range(early.sizes["wafer"]):
                v = np.asarray(early["value"].sel(test=test).isel(wafer=w).values, dtype=float)
                idx = np.flatnonzero(np.isfinite(v))
                k = max(1, round(budget * idx.size))
                parts.append(v[rng.choice(idx, size=min(k, idx.size), replace=False)])
            out[test] = np.concatenate(parts)
        return out
    from ..spatial import (
        virtual_probe,  # the spatial layer is only needed for GP sampling
    )

    seq = early.assign_coords(lot=("wafer", np.full(early.sizes["wafer"], "early", dtype=object)),
                              slot=("wafer", np.arange(1, early.sizes["wafer"] + 1)))
    probe = virtual_probe(seq, tests, method="gp-st-ps", budget=budget, seed=seed, progress=progress)
    out = {}
    for test in tests:
        p = probe.sel(test=test).transpose("wafer", "die")
        measured = seq["value"].sel(test=test).transpose("wafer", "die").values
        if reconstruction == "mean":
            filled = np.where(p["sampled"].values, measured, p["value_pred"].values)
        else:
            filled = posterior_draws(measured, p["sampled"].values, p["value_pred"].values, p["value_std"].values,
                                     p["noise_std"].values[:, None],
                                     rng=np.random.SeedSequence([seed, zlib.crc32(test.encode())]))
        out[test] = _finite(filled, test, "the GP-ST-PS reconstruction")
    return out


def yield_study(ds: xr.Dataset, tests=None, methods=METHODS, n_lots: int = 5, budget: float = 0.10,
                bins: int = 20, n_synthetic: int = 1_000_000, n_sigma: float = 3.0, seed: int = 0,
                progress: bool = True, keep_models: bool = False, kde_options: dict | None = None,
                reconstruction: str = "draw"):
    """Per (test, method): estimated and actual HVM yield, absolute error and KS distance.

    Returns a DataFrame with columns test, method, yield_est, yield_actual,
    abs_yield_error, ks (fractions), plus ``attrs["limits"]`` and, with
    ``keep_models``, ``attrs["models"][(test, method)]`` = (fitted density, early values).
    ``kde_options`` go to :class:`KDE` (default: the paper's adaptive Epanechnikov,
    pilot bandwidth by SciPy's Silverman factor ``"scipy_silverman"``, α = 0.5).
    ``reconstruction`` fills the GP-ST-PS methods' unsampled dies with posterior
    predictive draws (``"draw"``, default) or the posterior mean (``"mean"``, the
    paper's recipe); see :func:`early_values`.  ``methods`` may add the references
    ``"hist-all"`` and ``"kde-all"`` (:data:`REFERENCE_METHODS`): the same density on
    every measured die of the early wafers.
    """
    check_params("yield_study", PARAMETERS, locals())
    for method in methods:
        check_option("yield_study", "methods", method, METHODS + REFERENCE_METHODS)
    tests = resolve_tests(ds, tests)  # numbers, clean names and unique substrings too
    early = early_silicon(ds, n_lots)
    hvm = hvm_population(ds, early)
    limits = hvm_limits(hvm, tests, n_sigma)
    samplings = {m.split("-", 1)[1] for m in methods}
    values = {s: early_values(early, tests, s, budget, seed, progress, reconstruction) for s in sorted(samplings)}
    rows, models = [], {}
    bar = tqdm(total=len(tests) * len(methods), desc="yield study", disable=not progress)
    for test in tests:
        actual = _finite(hvm["value"].sel(test=test), test, "the HVM population")
        lsl, usl = limits.loc[test]
        true_yield = float(np.mean((actual >= lsl) & (actual <= usl)))
        for method in methods:
            density, sampling = method.split("-", 1)
            est = estimate_yield(values[sampling][test], lsl, usl, method="histogram" if density == "hist" else "kde",
                                 bins=bins, n_synthetic=n_synthetic, n_bootstrap=0, kde_options=kde_options,
                                 seed=np.random.SeedSequence([seed, sum(map(ord, test)), len(rows)]),
                                 progress=False)
            rows.append({"test": test, "method": method, "yield_est": est.estimate, "yield_actual": true_yield,
                         "abs_yield_error": abs(est.estimate - true_yield), "ks": ks_distance(est.model, actual)})
            if keep_models:
                models[(test, method)] = (est.model, values[sampling][test])
            bar.update(1)
    bar.close()
    table = pd.DataFrame(rows)
    table.attrs["limits"] = limits
    table.attrs["models"] = models
    table.attrs["reconstruction"] = reconstruction
    return table


def summary(table: pd.DataFrame, ks_test: str | None = None) -> pd.DataFrame:
    """Per method: mean absolute and signed yield error (%), tests won, KS for one test,
    beside the paper's numbers.

    The signed error is ``yield_est − yield_actual`` (positive: the method promises more
    yield than HVM delivers); "tests won" counts the tests on which the method has the
    smallest absolute error among the paper's methods in the table (ties count for each;
    the references win nothing when a method is present).  ``ks_test`` defaults to the first
    test in the table.

    When the table holds the reference of a method's density (``"hist-all"`` for the
    histogram methods, ``"kde-all"`` for the KDE ones), "mean |vs all early dies| (%)"
    is the mean over tests of ``|yield_est − yield_est(reference)|``: how far sampling
    and reconstruction move the estimate from what measuring every early die gives,
    with the early-to-HVM drift taken out.
    """
    ks_test = ks_test or table["test"].iloc[0]
    if ks_test not in set(table["test"]):
        raise FabDataError(f"summary: ks_test {ks_test!r} is not a test of the table; "
                           f"it has {sorted(set(table['test']))}")
    methods = list(dict.fromkeys(table["method"]))
    by_method = table.assign(signed=table["yield_est"] - table["yield_actual"]).groupby("method")
    contenders = [m for m in methods if m not in REFERENCE_METHODS] or methods  # references win nothing
    wide = table.pivot(index="test", columns="method", values="abs_yield_error")[contenders]
    ks = table[table["test"] == ks_test].set_index("method")["ks"].reindex(methods)
    estimates = table.pivot(index="test", columns="method", values="yield_est")
    reference = {m: m.split("-", 1)[0] + "-all" for m in methods}
    vs_all = pd.Series({m: (estimates[m] - estimates[r]).abs().mean() * 100
                        for m, r in reference.items() if r in estimates}, dtype=float)
    return pd.DataFrame({
        "mean |yield error| (%)": by_method["abs_yield_error"].mean().reindex(methods) * 100,
        "paper (%)": pd.Series(PAPER_YIELD_ERROR).reindex(methods),
        "mean signed error (%)": by_method["signed"].mean().reindex(methods) * 100,
        "tests won": wide.eq(wide.min(axis=1), axis=0).sum().reindex(methods),
        "mean |vs all early dies| (%)": vs_all.reindex(methods),
        f"KS ({ks_test})": ks,
        "paper KS": pd.Series(PAPER_KS).reindex(methods),
    })
