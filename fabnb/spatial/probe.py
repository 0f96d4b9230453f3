"""The virtual probe: measure a fraction of the dies, predict the rest.

Four methods (the paper's names):

* ``"gp"``       — per wafer, ``budget`` of the measured dies at random, one spatial GP;
* ``"gp-ps"``    — per wafer, progressive sampling (:mod:`.progressive`);
* ``"gp-st"``    — per lot, ``budget`` at random on every wafer, one GP over (x, y, t);
* ``"gp-st-ps"`` — per lot, progressive sampling with the lot model (:mod:`.spatiotemporal`).

Every (wafer, test) or (lot, test) item draws its random numbers from
``SeedSequence([seed, crc32(wafer or lot), crc32(test)])``, so results do not depend on
how the data is chunked or on which other wafers are in the batch.

Example
-------
>>> import fabnb
>>> from fabnb.spatial import virtual_probe, spec_range_error
>>> ds = fabnb.synth.fab("small", seed=0)
>>> out = virtual_probe(ds, "T01", method="gp", progress=False)
>>> sorted(out.data_vars)
['fit_error', 'noise_std', 'sampled', 'value_pred', 'value_std']
"""

from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .._params import Integral, Interval, check_option, check_params
from ..errors import FabDataError, FabFitError, FabParameterError
from .gp import GaussianProcess, check_bounds, check_length_scale
from .progressive import check_budget, last_state, progressive_sample, refuse_inf
from .spatiotemporal import SpatioTemporalGP, lot_design, progressive_lot_states
from .._warn import user_stacklevel
from ..summary import resolve_tests

METHODS = ("gp", "gp-ps", "gp-st", "gp-st-ps")
_OUTPUTS = ("value_pred", "value_std", "sampled", "noise_std", "fit_error")
_ERRORS = {"FabDataError": FabDataError, "FabFitError": FabFitError, "FabParameterError": FabParameterError}
_PARAMETERS = {
    "seed": [Interval(Integral, 0, None, closed="left")],
    "progress": ["boolean"],
    "model_options": [dict, None],
}


def _key(label) -> int:
    return zlib.crc32(str(label).encode())


def _rng(seed: int, label, test: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, _key(label), _key(test)]))


def _random_mask(rng, measurable: np.ndarray, budget: float) -> np.ndarray:
    idx = np.flatnonzero(measurable)
    n = max(1, round(budget * idx.size))
    mask = np.zeros(measurable.shape, dtype=bool)
    mask[rng.choice(idx, size=min(n, idx.size), replace=False)] = True
    return mask


def _wafer_item(values, xy, method, budget, step, rng, options):
    """Predict one wafer; returns (pred, std, sampled, noise_std)."""
    measurable = np.isfinite(values)
    if not measurable.any():
        raise FabDataError("no measured dies on this wafer")
    if method == "gp":
        sampled = _random_mask(rng, measurable, budget)
        gp = GaussianProcess(**{"ard": False, **options}).fit(xy[sampled], values[sampled])
        pred, std = gp.predict(xy, return_std=True)
        return pred, std, sampled, math.sqrt(gp.noise_)
    state = progressive_sample(xy, values, budget=budget, step=step, model=GaussianProcess(**{"ard": False, **options}),
                               seed=int(rng.integers(2**31)))
    return state.mean, state.std, state.sampled, math.sqrt(state.hyperparameters["noise"])


def _lot_item(values, xy, t, method, budget, step, rng, options):
    """Predict one lot (wafers × dies); returns (pred, std, sampled, noise_std)."""
    measurable = np.isfinite(values)
    empty = ~measurable.any(axis=1)
    if empty.any():
        raise FabDataError(f"no measured dies on {int(empty.sum())} wafer(s) of the lot (positions {np.flatnonzero(empty).tolist()})")
    model = SpatioTemporalGP(**{"seed": int(rng.integers(2**31)), **options})
    if method == "gp-st":
        sampled = np.stack([_random_mask(rng, m, budget) for m in measurable])
        model.fit(lot_design(xy, t, sampled), values[sampled])
        Xq = np.c_[np.tile(xy, (t.size, 1)), np.repeat(t, xy.shape[0])]
        pred, std = (a.reshape(values.shape) for a in model.predict(Xq, return_std=True))
        return pred, std, sampled, math.sqrt(model.noise_)
    state = last_state(progressive_lot_states(xy, t, values, budget=budget, step=step, model=model,
                                              seed=int(rng.integers(2**31))))
    return state.mean, state.std, state.sampled, math.sqrt(state.hyperparameters["noise"])


def _run_wafers(values, wafers, *, xy, dies, test, method, budget, step, seed, options, bar):
    """apply_ufunc kernel: values (n_wafers, n_dies) -> pred, std, sampled, noise_std, error."""
    pred = np.full(values.shape, np.nan)
    std = np.full(values.shape, np.nan)
    sampled = np.zeros(values.shape, dtype=bool)
    noise_std = np.full(values.shape[0], np.nan)  # stays NaN for a failed item
    error = np.full(values.shape[0], "", dtype=object)
    for i, wafer in enumerate(wafers):
        try:
            refuse_inf(values[i], dies)
            pred[i], std[i], sampled[i], noise_std[i] = _wafer_item(values[i], xy, method, budget, step,
                                                                    _rng(seed, wafer, test), options)
        except (FabDataError, FabFitError) as exc:
            error[i] = f"{type(exc).__name__}: {exc}"
        if bar is not None:
            bar.update(1)
    return pred, std, sampled, noise_std, error


def _run_lot(values, wafers, lot, t, *, xy, dies, test, method, budget, step, seed, options, bar):
    """Kernel for one lot: values (n_wafers, n_dies) of the lot."""
    try:
        refuse_inf(values, dies, wafers)
        pred, std, sampled, noise = _lot_item(values, xy, t, method, budget, step, _rng(seed, lot, test), options)
        noise_std = np.full(len(wafers), noise)  # one lot model: one noise for all its wafers
        error = np.full(len(wafers), "", dtype=object)
    except (FabDataError, FabFitError) as exc:
        pred = np.full(values.shape, np.nan)
        std = np.full(values.shape, np.nan)
        sampled = np.zeros(values.shape, dtype=bool)
        noise_std = np.full(len(wafers), np.nan)
        error = np.full(len(wafers), f"{type(exc).__name__}: lot {lot}: {exc}", dtype=object)
    if bar is not None:
        bar.update(1)
    return pred, std, sampled, noise_std, error


def _order_in_lot(ds: xr.Dataset, idx: np.ndarray) -> np.ndarray:
    """t = rank of the wafers' slot (or position) within their lot: 0, 1, 2, ..."""
    slots = ds["slot"].values[idx] if "slot" in ds.coords else np.arange(idx.size)
    return np.argsort(np.argsort(slots, kind="stable"), kind="stable").astype(float)


def _probe_test(ds, values, test, method, budget, step, seed, options, bar):
    xy = np.c_[ds["x"].values, ds["y"].values].astype(float)
    wafers = xr.DataArray(np.asarray(ds["wafer"].values, dtype=object), dims="wafer")
    # a tqdm bar cannot travel to dask workers: lazy runs report through dask instead
    common = {"xy": xy, "dies": ds["die"].values, "test": test, "method": method, "budget": budget,
              "step": step, "seed": seed, "options": options, "bar": None if values.chunks is not None else bar}
    outputs = {"output_core_dims": [["die"], ["die"], ["die"], [], []], "dask": "parallelized",
               "output_dtypes": [float, float, bool, float, object]}
    if method in ("gp", "gp-ps"):
        if values.chunks is not None:
            wafers = wafers.chunk({"wafer": values.chunksizes["wafer"]})
        res = xr.apply_ufunc(_run_wafers, values, wafers, input_core_dims=[["die"], []],
                             kwargs=common, **outputs)
        return [r.rename(None) for r in res]
    lots = np.asarray(ds["lot"].values, dtype=object)
    parts = []
    for lot in dict.fromkeys(lots):
        idx = np.flatnonzero(lots == lot)
        sub, sub_wafers = values.isel(wafer=idx), wafers.isel(wafer=idx)
        if sub.chunks is not None:
            sub, sub_wafers = sub.chunk({"wafer": -1, "die": -1}), sub_wafers.chunk({"wafer": -1})
        res = xr.apply_ufunc(
            _run_lot, sub, sub_wafers,
            input_core_dims=[["wafer", "die"], ["wafer"]],
            output_core_dims=[["wafer", "die"], ["wafer", "die"], ["wafer", "die"], ["wafer"], ["wafer"]],
            kwargs=dict(lot=lot, t=_order_in_lot(ds, idx), **common),
            dask="parallelized", output_dtypes=[float, float, bool, float, object],
        )
        parts.append(res)
    return [xr.concat([p[j] for p in parts], dim="wafer").reindex(wafer=ds["wafer"]).rename(None)
            for j in range(len(_OUTPUTS))]


def virtual_probe(ds: xr.Dataset, test, method: str = "gp", budget: float = 0.10,
                  step: float = 0.025, seed: int = 0, progress: bool = True,
                  model_options: dict | None = None) -> xr.Dataset:
    """Predict every die of every wafer from a sampled fraction of them.

    Parameters
    ----------
    ds : contract Dataset
        Needs ``value`` (wafer, die, test), ``x``/``y`` and, for lot methods, ``lot`` and
        ``slot``.  May be dask-chunked along ``wafer``: per-wafer methods then run chunk by
        chunk (``xr.apply_ufunc(..., dask="parallelized")``), lot methods lot by lot.
    test : str or list of str
        Test name(s).  A single name gives outputs without a ``test`` dim.
    method : {"gp", "gp-ps", "gp-st", "gp-st-ps"}
    budget, step : float
        Fraction of each wafer's measured dies to sample, and the progressive increment:
        0 < step <= budget <= 1.
    seed : int
        Same seed, same samples and predictions.
    progress : bool
        tqdm progress bar over wafers (or lots) × tests.
    model_options : dict, optional
        Extra parameters of :class:`GaussianProcess` (per-wafer methods; default
        ``ard=False``, one spatial length scale as in the paper) or
        :class:`SpatioTemporalGP` (lot methods), e.g. ``{"kernel": "matern52"}``.

    ``value`` is NaN where a die was not measured; an inf value is a measurement gone
    wrong, so its wafer (per-wafer methods) or lot (lot methods) fails with a
    :class:`FabDataError` naming the die, reported like any other failed item.

    Bad options raise :class:`~fabnb.errors.FabParameterError` naming the option, before
    any work: ``method``, ``budget``, ``step``, ``seed`` and ``model_options`` (its keys
    and values, checked against the model's own rules).

    Returns
    -------
    Dataset with ``value_pred``, ``value_std`` (the field's posterior std), ``sampled``
    over (wafer, die[, test]), and over (wafer[, test]) ``noise_std`` (σ_n, the fitted
    measurement-noise std of the model that predicted the wafer: its own GP for
    per-wafer methods, its lot's for lot methods) and ``fit_error`` ("" when the fit
    worked).  A new measurement of an unsampled die is predicted as
    ``N(value_pred, value_std² + noise_std²)``: draw posterior predictive values as
    ``value_pred + sqrt(value_std² + noise_std²) · z``.  Items that failed (all-NaN
    wafer, too few dies, constant data, ...) are NaN, listed in ``attrs["failures"]``
    and reported by a warning; the rest of the batch completes.  If every item fails, the first failure is raised as
    :class:`FabDataError`/:class:`FabFitError` naming wafer (or lot) and test.
    Dask input is computed before returning (the failure report needs the results).

    Example
    -------
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> out = virtual_probe(ds, ["T01", "T02"], method="gp-ps", progress=False)
    >>> out.value_pred.dims
    ('wafer', 'die', 'test')
    """
    check_option("virtual_probe", "method", method, METHODS)
    check_budget("virtual_probe", budget, step)
    check_params("virtual_probe", _PARAMETERS, {"seed": seed, "progress": progress, "model_options": model_options})
    options = dict(model_options or {})
    _check_model_options(method, options)
    for name in ("value", "x", "y", "wafer") + (("lot",) if "st" in method else ()):
        if name not in ds.variables:
            raise FabDataError(f"virtual_probe needs '{name}' in the dataset")
    tests = resolve_tests(ds, test)  # numbers, clean names and unique substrings too
    n_items = len(tests) * (ds.sizes["wafer"] if "st" not in method else len(set(np.asarray(ds["lot"].values, dtype=str))))
    bar = tqdm(total=n_items, desc=f"virtual probe ({method})", disable=not progress)
    per_test = []
    for name in tests:
        values = ds["value"].sel(test=name).transpose("wafer", "die").astype(float)
        along_test = [c for c, v in ds.coords.items() if v.dims == ("test",)]  # unit, lsl, ...
        per_test.append(_probe_test(ds, values.drop_vars(along_test), name, method, budget, step,
                                    seed, options, bar))
    out = xr.Dataset({
        var: xr.concat([p[j] for p in per_test], dim=xr.DataArray(tests, dims="test", name="test"))
        for j, var in enumerate(_OUTPUTS)
    })
    out = out.compute().transpose("wafer", "die", "test")
    bar.close()
    if isinstance(test, str):
        out = out.isel(test=0, drop=True)
    out["fit_error"] = out["fit_error"].astype(str)
    out.attrs.update(method=method, budget=budget, step=step, seed=seed)
    return _report_failures(out, tests)


def _check_model_options(method: str, options: dict) -> None:
    """Check ``model_options`` once, up front, against the model ``method`` uses, so a
    bad option is one :class:`FabParameterError` rather than a failure per item."""
    model = GaussianProcess(ard=False) if method in ("gp", "gp-ps") else SpatioTemporalGP()
    allowed = model.get_params(deep=False)
    unknown = sorted(set(options) - set(allowed), key=str)
    if unknown:
        raise FabParameterError(f"The 'model_options' parameter of virtual_probe has unknown key(s) {unknown} "
                                f"for {type(model).__name__} (method {method!r}): allowed keys are {sorted(allowed)}.")
    model.set_params(**options)._validate_params()
    name = f"{type(model).__name__} (model_options of virtual_probe)"
    if isinstance(model, SpatioTemporalGP):
        check_length_scale(name, model.length_scale, 3)
    else:
        check_length_scale(name, model.length_scale, 2 if model.ard else 1)
        check_bounds(name, model.bounds)


def _report_failures(out: xr.Dataset, tests: list[str]) -> xr.Dataset:
    err = out["fit_error"]
    if "test" not in err.dims:
        err = err.expand_dims(test=tests)
    failures = []
    for t in tests:
        for w, msg in zip(err["wafer"].values, err.sel(test=t).values):
            if msg:
                failures.append((str(w), t, str(msg)))
    out.attrs["failures"] = "\n".join(f"wafer {w}, test {t}: {m}" for w, t, m in failures)
    if failures and len(failures) == err.size:
        w, t, msg = failures[0]
        kind, _, text = msg.partition(": ")
        raise _ERRORS.get(kind, FabFitError)(f"virtual probe failed for wafer {w}, test {t}: {text}")
    if failures:
        warnings.warn(f"virtual probe: {len(failures)} of {err.size} wafer/test items failed; "
                      f"first: wafer {failures[0][0]}, test {failures[0][1]}: {failures[0][2]} "
                      "(all in attrs['failures'])", stacklevel=user_stacklevel())
    return out
