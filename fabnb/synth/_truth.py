"""The ground truth of a build as labelled xarray/pandas objects, aligned to a Dataset.

Example
-------
>>> import fabnb
>>> ds = fabnb.synth.fab("small")
>>> t = fabnb.synth.truth(ds)
>>> t["field"].dims, t["killer"]["tool"]
(('wafer', 'die', 'test'), 'S22-C3')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import FabDataError
from ..geometry import zone_labels
from . import _catalog, _routing, _tables
from ._build import Build

LOT_TREND_FORMULA = (
    "value += tau * amplitude[lot, test] * (x cos(angle) + y sin(angle)) / R, "
    "R = wafer_diameter_mm/2 - edge_exclusion_mm, tau = order / (max wafers per lot - 1)"
)


def truth_dict(b: Build) -> dict:
    """Everything the simulator knows, labelled with the Dataset's coordinates."""
    ds, rt, eff = b.ds, b.routing, b.effects
    wafer = {"wafer": ds["wafer"].values}
    die = {k: ("die", ds[k].values) for k in ("col", "row", "x", "y", "zone")}
    test = {"test": ds["test"].values}
    vt = {"vmin_test": ds["vmin_test"].values}
    lots = np.unique(rt.lot)
    scale = _catalog.spec_table()["scale"].to_numpy()
    e_scale = np.array([v[3] for v in _catalog.ETESTS.values()])
    outlier = np.zeros(ds["value"].shape, dtype=bool)
    outlier[b.outliers] = True
    latent_test = np.zeros(ds["value"].shape, dtype=bool)
    latent_test[b.latent.shifted] = True
    latent = b.latent.carrier & (b.binning.hbin == 1)  # a carrier that fails at test is no latent die
    latent_test &= latent[:, :, None]
    trend = xr.Dataset(
        {"order": ("wafer", rt.order), "tau": ("wafer", eff.tau),
         "amplitude": (("lot", "test"), eff.trend_amplitude * scale),
         "angle": (("lot", "test"), eff.trend_angle)},
        coords={**wafer, "lot": lots, **test}, attrs={"formula": LOT_TREND_FORMULA},
    )
    windows = b.windows
    return {
        "params": dict(b.params),
        "field": xr.DataArray(b.field_model.full(), dims=("wafer", "die", "test"),
                              coords={**wafer, **test, **die}, name="field"),
        "noise_sd": xr.DataArray(b.noise_sd, dims="test", coords=test, name="noise_sd"),
        "outlier": xr.DataArray(outlier, dims=("wafer", "die", "test"),
                                coords={**wafer, **test}, name="outlier"),
        "spatial": xr.DataArray(b.spatial * scale, dims=("die", "test"),
                                coords={**test, **die}, name="spatial"),
        "lot_trend": trend,
        "etest_loading": xr.DataArray(eff.loadings * scale[:, None] / e_scale,
                                      dims=("test", "etest"),
                                      coords={**test, "etest": ds["etest"].values}),
        "inter_bias": xr.DataArray(b.vmin.inter_bias, dims=("wafer", "vmin_test"),
                                   coords={**wafer, **vt}, name="inter_bias"),
        "intra_bias": xr.DataArray(b.vmin.intra_bias, dims=("zone", "vmin_test"),
                                   coords={"zone": list(zone_labels(4)), **vt}, name="intra_bias"),
        "vmin_weights": xr.DataArray(b.vmin.weights, dims=("vmin_test", "feature"),
                                     coords={**vt, "feature": list(_catalog.VMIN_FEATURES)}),
        "vmin_features": list(_catalog.VMIN_FEATURES),
        "vmin_etests": list(_catalog.VMIN_ETESTS),
        "vmin_etest_coef": xr.DataArray(b.vmin.etest_coef, dims=("vmin_test", "etest"),
                                        coords={**vt, "etest": list(_catalog.VMIN_ETESTS)}),
        "vmin_etest_intercept": xr.DataArray(b.vmin.etest_intercept, dims="vmin_test", coords=vt),
        "vmin_intercept": xr.DataArray(b.vmin.intercept, dims="vmin_test", coords=vt),
        "vmin_noise_sd": xr.DataArray(b.vmin.noise_sd, dims="vmin_test", coords=vt),
        "killer": {"step": _routing.KILLER_STEP, "tool": _routing.KILLER_TOOL,
                   "effect": b.binning.killer_effect, "n_wafers": int(b.used_killer.sum()),
                   "signature": "edge arc centred at 45 deg plus blobs; pressure oscillation "
                                "(period 7 s) in its trace"},
        "co_routed": {"step": _routing.CO_ROUTED_STEP, "tool": _routing.CO_ROUTED_TOOL,
                      "effect": 0.0,
                      "n_wafers": int((rt.tool == _routing.CO_ROUTED_TOOL).any(axis=1).sum())},
        "used_killer": xr.DataArray(b.used_killer, dims="wafer", coords=wafer),
        "route": xr.DataArray(rt.route, dims="wafer", coords=wafer, name="route"),
        "lane": xr.DataArray(rt.lane, dims="wafer", coords=wafer, name="lane"),
        "latent": xr.DataArray(latent, dims=("wafer", "die"), coords=wafer, name="latent"),
        "latent_test": xr.DataArray(latent_test, dims=("wafer", "die", "test"),
                                    coords={**wafer, **test}, name="latent_test"),
        "weak_site": xr.DataArray(b.latent.weak_site, dims=("wafer", "die"), coords=wafer),
        "defect": xr.DataArray(b.binning.defect, dims=("wafer", "die"), coords=wafer),
        "killer_defect": xr.DataArray(b.binning.killer_defect, dims=("wafer", "die"), coords=wafer),
        "yield": xr.DataArray(b.binning.wafer_yield, dims="wafer", coords=wafer),
        "yield_without_killer": xr.DataArray(b.binning.yield_without_killer, dims="wafer",
                                             coords=wafer),
        "bins": _catalog.bin_table(),
        "clock_offset": rt.clock_offset.copy(),
        "clock_drift_ppm": rt.clock_drift_ppm.copy(),
        "clock_epoch": pd.Timestamp(rt.epoch),
        "trace_data_loss": _tables.data_loss_table(rt, windows, b.data_loss),
    }


def _die_indexer(ds: xr.Dataset, full: xr.Dataset) -> np.ndarray | None:
    """Positions of ``ds``'s dies in the full build, or None when they are the same."""
    same = ds.sizes["die"] == full.sizes["die"] and all(
        np.array_equal(ds[c].values, full[c].values) for c in ("col", "row"))
    if same:
        return None
    site = pd.MultiIndex.from_arrays([full["col"].values, full["row"].values])
    pos = site.get_indexer(pd.MultiIndex.from_arrays([ds["col"].values, ds["row"].values]))
    if (pos < 0).any():
        raise FabDataError("dataset has die sites (col, row) that the synthetic fab does not have")
    return pos


def align(obj, ds: xr.Dataset, full: xr.Dataset):
    """Restrict truth objects to the wafers, dies and tests present in ``ds``."""
    if isinstance(obj, dict):
        return {k: align(v, ds, full) for k, v in obj.items()}
    if not isinstance(obj, (xr.DataArray, xr.Dataset)):
        return obj
    for dim in ("wafer", "test", "vmin_test"):
        if dim in obj.dims and dim in ds.coords and not np.array_equal(
                ds[dim].values, full[dim].values):
            missing = ~np.isin(ds[dim].values, full[dim].values)
            if missing.any():
                label = ds[dim].values[missing][0]
                raise FabDataError(f"{dim} {label!r} is not in the synthetic fab")
            obj = obj.sel({dim: ds[dim].values})
    if "die" in obj.dims:
        pos = _die_indexer(ds, full)
        if pos is not None:
            obj = obj.isel(die=pos)
    return obj
