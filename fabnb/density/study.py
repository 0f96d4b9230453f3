r"""The paper's Section V-B study: HVM yield from early silicon.

1. **Early silicon** (:func:`early_silicon`): the first wafer (lowest slot) of each of
   the first ``n_lots`` lots (by time); **HVM** (:func:`hvm_population`): every die of
   every other wafer — the "actual" distribution.
2. **Limits** (:func:`hvm_limits`): ``[L, U] = mean ± 3σ`` of the HVM values per test.
3. **Early measurements** (:func:`early_values`) under a ``budget`` (10 %) of the dies:
   ``"rs"`` random sampling — the measured values of a random ``budget`` of the dies of
   each early wafer; ``"gp-st-ps"`` — ``fabnb.spatial.virtual_probe(method="gp-st-ps")``
   on the early wafers, the measured values at the sampled dies plus the GP prediction
   at every other die.  The early wafers come from different lots, so they are modelled
   as one sequence (lot ``"early"``, ``t`` = lot order): the temporal axis of GP-ST is
   the drift from lot to lot.
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
PAPER_YIELD_ERROR = {"hist-rs": 1.16, "hist-gp-st-ps": 0.63, "kde-rs": 0.61, "kde-gp-st-ps": 0.21}
PAPER_KS = {"hist-rs": 0.25, "hist-gp-st-ps": 0.23, "kde-rs": 0.11, "kde-gp-st-ps": 0.087}
SAMPLINGS = ("rs", "gp-st-ps")
# the study's parameters, one rule each; every function checks the ones it takes
PARAMETERS = {
    "n_lots": [Interval(Integral, 1, None, closed="left")],
    "budget": [Interval(Real, 0, 1, closed="right")],
    "n_sigma": [Interval(Real, 0, None, closed="neither")],
    "sampling": [StrOptions(set(SAMPLINGS))],
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


def _finite(values: xr.DataArray, test: str, what: str) -> np.ndarray:
    v = np.asarray(values.sel(test=test).values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 2:
        raise FabDataError(f"{what} has {v.size} measured value(s) of test {test}")
    return v


def hvm_limits(hvm: xr.Dataset, tests, n_sigma: float = 3.0) -> pd.DataFrame:
    """Per test ``lsl, usl = mean ∓ n_sigma · std`` of the HVM values (columns lsl, usl)."""
    check_params("hvm_limits", PARAMETERS, {"n_sigma": n_sigma})
    rows = {}
    for test in tests:
        v = _finite(hvm["value"], test, "the HVM population")
        rows[test] = (v.mean() - n_sigma * v.std(), v.mean() + n_sigma * v.std())
    return pd.DataFrame.from_dict(rows, orient="index", columns=["lsl", "usl"]).rename_axis("test")


def early_values(early: xr.Dataset, tests, sampling: str = "rs", budget: float = 0.10, seed: int = 0,
                 progress: bool = False) -> dict[str, np.ndarray]:
    """Early-silicon values per test under a die budget, by ``"rs"`` or ``"gp-st-ps"``.

    >>> import fabnb
    >>> e = early_silicon(fabnb.synth.fab("small", seed=0), n_lots=3)
    >>> v = early_values(e, ["T01"], "rs", budget=0.1)
    >>> v["T01"].size == round(0.1 * e.sizes["die"]) * 3
    True
    """
    check_params("early_values", PARAMETERS, {"sampling": sampling, "budget": budget, "progress": progress})
    tests = list(tests)
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
    filled = xr.where(probe["sampled"], seq["value"].sel(test=tests), probe["value_pred"])
    return {test: _finite(filled, test, "the GP-ST-PS reconstruction") for test in tests}


def yield_study(ds: xr.Dataset, tests=None, methods=METHODS, n_lots: int = 5, budget: float = 0.10,
                bins: int = 20, n_synthetic: int = 1_000_000, n_sigma: float = 3.0, seed: int = 0,
                progress: bool = True, keep_models: bool = False, kde_options: dict | None = None):
    """Per (test, method): estimated and actual HVM yield, absolute error and KS distance.

    Returns a DataFrame with columns test, method, yield_est, yield_actual,
    abs_yield_error, ks (fractions), plus ``attrs["limits"]`` and, with
    ``keep_models``, ``attrs["models"][(test, method)]`` = (fitted density, early values).
    ``kde_options`` go to :class:`KDE` (default: the paper's adaptive Epanechnikov,
    pilot bandwidth by SciPy's Silverman factor ``"scipy_silverman"``, α = 0.5).
    """
    check_params("yield_study", PARAMETERS, locals())
    for method in methods:
        check_option("yield_study", "methods", method, METHODS)
    tests = resolve_tests(ds, tests)  # numbers, clean names and unique substrings too
    early = early_silicon(ds, n_lots)
    hvm = hvm_population(ds, early)
    limits = hvm_limits(hvm, tests, n_sigma)
    samplings = {m.split("-", 1)[1] for m in methods}
    values = {s: early_values(early, tests, s, budget, seed, progress) for s in sorted(samplings)}
    rows, models = [], {}
    bar = tqdm(total=len(tests) * len(methods), desc="yield study", disable=not progress)
    for test in tests:
        actual = _finite(hvm["value"], test, "the HVM population")
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
    return table


def summary(table: pd.DataFrame, ks_test: str | None = None) -> pd.DataFrame:
    """Average absolute yield error (%) and KS for one test per method, beside the paper's.

    ``ks_test`` defaults to the first test in the table.
    """
    ks_test = ks_test or table["test"].iloc[0]
    methods = list(dict.fromkeys(table["method"]))
    mean_err = table.groupby("method")["abs_yield_error"].mean().reindex(methods) * 100
    ks = table[table["test"] == ks_test].set_index("method")["ks"].reindex(methods)
    return pd.DataFrame({
        "mean |yield error| (%)": mean_err,
        "paper (%)": pd.Series(PAPER_YIELD_ERROR).reindex(methods),
        f"KS ({ks_test})": ks,
        "paper KS": pd.Series(PAPER_KS).reindex(methods),
    })
