"""Run the generative model once per ``(preset, seed, overrides)`` and cache the result.

Every component draws from its own named random stream
``SeedSequence(seed, spawn_key=(k,))``, so adding a component later leaves the others'
draws unchanged.  :func:`build` is cached on the canonical key string (the value of
``ds.attrs["synth"]``), which is how :func:`fabnb.synth.truth` regenerates a fab after
a file round trip.

Example
-------
>>> from fabnb.synth._build import build
>>> from fabnb.synth._presets import synth_key
>>> b = build(synth_key("small", 0, {}))
>>> b.ds.sizes["wafer"], b.field_model.shape
(18, (18, 256, 39))
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..geometry import die_grid, zone_labels
from ..schema import empty_like_grid
from . import _bins, _catalog, _fields, _latent, _routing, _tables, _vmin
from ._presets import parse_key, resolve

STREAMS = {"routing": 0, "spatial": 1, "etest": 2, "wafer": 3, "noise_level": 4, "noise": 5,
           "outliers": 6, "defects": 7, "killer": 8, "bins": 9, "vmin": 10, "trace_loss": 11,
           "trace": 12, "tool_state": 13, "intensity": 14, "latent": 15}


def stream(seed: int, name: str) -> np.random.Generator:
    """The random stream of one model component."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAMS[name],)))


@dataclass(frozen=True)
class Build:
    key: str
    seed: int
    params: dict
    ds: xr.Dataset  # pristine; fab() hands out deep copies
    field_model: _fields.FieldModel  # noise-free values, evaluated on demand
    noise_sd: np.ndarray  # (T,) physical units
    outliers: tuple  # (wafer, die, test) index arrays
    spatial: np.ndarray  # S (D, T), sd 1
    effects: _fields.WaferEffects
    routing: _routing.Routing
    binning: _bins.Binning
    latent: _latent.Latent
    used_killer: np.ndarray  # (W,)
    vmin: _vmin.VminModel
    windows: pd.DataFrame  # traced runs
    data_loss: pd.DataFrame  # planned trace gaps


def _intensity(rng, routing) -> np.ndarray:
    """Wafer defectivity: route factor × lot factor."""
    lot_factor = rng.gamma(4.0, 0.25, size=routing.lot_index.max() + 1)
    route = np.array([_bins.ROUTE_DEFECT_FACTOR[r] for r in routing.route])
    return route * lot_factor[routing.lot_index]


def _dataset(key, params, grid, rt, value, binning, etest_value, vmin) -> xr.Dataset:
    tests = _catalog.spec_table()
    etests = list(_catalog.ETESTS)
    time = rt.time
    seq = np.empty(time.size, dtype=np.int64)
    seq[np.argsort(time, kind="stable")] = np.arange(time.size)
    ds = empty_like_grid(grid, rt.wafer, rt.lot, rt.slot,
                         {"product": params["product"], "synth": key})
    ds = ds.assign_coords(
        seq=("wafer", seq), time=("wafer", time), route=("wafer", rt.route.astype(str)),
        test=("test", tests.index.to_numpy().astype(str)),
        unit=("test", tests["unit"].to_numpy().astype(str)),
        lsl=("test", tests["lsl"].to_numpy(float)), usl=("test", tests["usl"].to_numpy(float)),
        description=("test", tests["description"].to_numpy().astype(str)),
        etest=("etest", np.asarray(etests)),
        etest_unit=("etest", np.asarray([_catalog.ETESTS[e][1] for e in etests])),
        step=("step", np.asarray(_catalog.STEPS)),
        vmin_test=("vmin_test", np.asarray(_catalog.VMIN_TESTS)),
    )
    ds["value"] = (("wafer", "die", "test"), value)
    ds["hbin"] = (("wafer", "die"), binning.hbin)
    ds["sbin"] = (("wafer", "die"), binning.sbin)
    ds["etest_value"] = (("wafer", "etest"), etest_value)
    ds["tool"] = (("wafer", "step"), rt.tool)
    ds["vmin"] = (("wafer", "die", "vmin_test"), vmin.vmin)
    ds["value"].attrs["long_name"] = "wafer-sort parametric measurement"
    ds["vmin"].attrs["units"] = "V"
    return ds


def _read_only(*arrays):
    for a in arrays:
        a.flags.writeable = False


@functools.lru_cache(maxsize=2)
def build(key: str) -> Build:
    """Generate the whole fab described by ``key`` (see :mod:`fabnb.synth`)."""
    preset, seed, overrides = parse_key(key)
    p = resolve(preset, overrides)
    grid = die_grid(p["wafer_diameter_mm"], p["die_width_mm"], p["die_height_mm"],
                    p["edge_exclusion_mm"])
    radius = p["wafer_diameter_mm"] / 2 - p["edge_exclusion_mm"]
    x, y = grid["x"].values, grid["y"].values
    u, v = x / radius, y / radius

    rt = _routing.route_fab(stream(seed, "routing"), p["n_lots"], p["wafers_per_lot"],
                            p["span_days"], p["start"])
    time_frac = np.clip(rt.start[:, 0] / (p["span_days"] * 86400.0), 0.0, 1.0)
    spatial = _fields.spatial_fields(stream(seed, "spatial"), u, v)
    etest_z = _fields.class_probe(stream(seed, "etest"), rt.lot_index, time_frac)
    e_center = np.array([c for _, _, c, _ in _catalog.ETESTS.values()])
    e_scale = np.array([s for _, _, _, s in _catalog.ETESTS.values()])
    etest_value = e_center + e_scale * etest_z
    effects = _fields.wafer_effects(stream(seed, "wafer"), rt.lot_index, rt.order,
                                    p["wafers_per_lot"][1], time_frac, etest_z)
    noise_z = _fields.noise_levels(stream(seed, "noise_level"))
    field_model = _fields.FieldModel(effects, spatial, u, v)
    value, outliers = _fields.measure(stream(seed, "noise"), stream(seed, "outliers"),
                                      field_model, noise_z, p["outlier_rate"])

    half_die = 0.5 * min(p["die_width_mm"], p["die_height_mm"])
    defect = _bins.defect_kills(stream(seed, "defects"), x, y, radius, half_die,
                                _intensity(stream(seed, "intensity"), rt))
    signature = _bins.killer_kills(stream(seed, "killer"), x, y, radius, rt.wafer.size)
    used_killer = rt.tool[:, _catalog.STEPS.index(_routing.KILLER_STEP)] == _routing.KILLER_TOOL
    tests = _catalog.spec_table()
    noise_sd = noise_z * tests["scale"].to_numpy()
    if p["latent_rate"] > 0:  # at 0 no draw at all: the presets' fabs stay as they were
        latent = _latent.simulate(stream(seed, "latent"), value, noise_sd, grid["col"].values,
                                  grid["row"].values, defect | (signature & used_killer[:, None]),
                                  rt.lot_index, p["latent_rate"])
        defect = defect | latent.weak_kill
    else:
        latent = _latent.none(defect.shape)
    binning = _bins.assign_bins(stream(seed, "bins"), value, tests["lsl"].to_numpy(),
                                tests["usl"].to_numpy(), defect, signature, used_killer)

    zones = zone_labels(4)
    zone_index = pd.Index(zones).get_indexer(grid["zone"].values)
    e_cols = [list(_catalog.ETESTS).index(e) for e in _catalog.VMIN_ETESTS]
    vmin = _vmin.simulate_vmin(stream(seed, "vmin"), value, _catalog.feature_index(),
                               etest_value[:, e_cols], zone_index, len(zones),
                               p["vmin_fraction"], binning.defect | binning.killer_defect)

    windows = _tables.traced_windows(rt)
    data_loss = _tables.plan_data_loss(stream(seed, "trace_loss"), windows)
    ds = _dataset(key, p, grid, rt, value, binning, etest_value, vmin)
    _read_only(value, spatial, binning.hbin, binning.sbin, binning.defect, binning.killer_defect,
               binning.wafer_yield, binning.yield_without_killer, used_killer, vmin.vmin,
               vmin.inter_bias, vmin.intra_bias, vmin.weights, latent.carrier, latent.weak_site)
    return Build(key, seed, p, ds, field_model, noise_sd, outliers, spatial,
                 effects, rt, binning, latent, used_killer, vmin, windows, data_loss)
