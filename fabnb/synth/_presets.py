"""Presets of the synthetic fab and the checking of user overrides.

A build is fully described by ``(preset, seed, overrides)``; :func:`synth_key` turns it
into a canonical JSON string that is stored in ``ds.attrs["synth"]`` and keys the
build cache, so ``truth(ds)`` can regenerate the same fab after a file round trip.

Example
-------
>>> from fabnb.synth._presets import resolve, synth_key
>>> resolve("small", {"n_lots": 2})["n_lots"]
2
>>> synth_key("small", 0, {})
'{"overrides": {}, "preset": "small", "seed": 0}'
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import FabDataError, FabParameterError

_PRESETS = {
    "default": {
        "product": "FABNB-SYN300",
        "wafer_diameter_mm": 300.0,
        "die_width_mm": 3.4,
        "die_height_mm": 3.5,
        "edge_exclusion_mm": 3.0,
        "n_lots": 24,
        "wafers_per_lot": (8, 12),
        "span_days": 182.0,
        "start": "2026-01-05T06:00:00",
        "vmin_fraction": 0.12,
        "outlier_rate": 0.001,
        "latent_rate": 0.0,
    },
    "small": {
        "product": "FABNB-SYN200",
        "wafer_diameter_mm": 200.0,
        "die_width_mm": 10.0,
        "die_height_mm": 10.0,
        "edge_exclusion_mm": 3.0,
        "n_lots": 3,
        "wafers_per_lot": 6,
        "span_days": 182.0,
        "start": "2026-01-05T06:00:00",
        "vmin_fraction": 0.12,
        "outlier_rate": 0.001,
        "latent_rate": 0.0,
    },
}
#: The named configurations (read-only); every key may be overridden in ``fab(**overrides)``.
PRESETS: Mapping[str, Mapping] = MappingProxyType(
    {name: MappingProxyType(params) for name, params in _PRESETS.items()})

_POSITIVE_FLOATS = ("wafer_diameter_mm", "die_width_mm", "die_height_mm", "span_days")
_RATES = ("vmin_fraction", "outlier_rate", "latent_rate")


def _wafers_per_lot(value) -> tuple[int, int]:
    lo, hi = (value, value) if isinstance(value, numbers.Integral) else tuple(value)
    if not (isinstance(lo, numbers.Integral) and isinstance(hi, numbers.Integral)):
        raise FabParameterError(
            f"override wafers_per_lot must be an int or (lo, hi) ints, got {value!r}")
    if not 1 <= lo <= hi <= 25:
        raise FabParameterError(f"override wafers_per_lot={value!r} must satisfy 1 <= lo <= hi <= 25")
    return int(lo), int(hi)


def resolve(preset: str, overrides: dict) -> dict:
    """The preset's parameters updated by ``overrides``, checked and normalised.

    Raises :class:`~fabnb.errors.FabParameterError` naming an unknown preset, an unknown
    override or an override with a bad value.
    """
    if preset not in PRESETS:
        raise FabParameterError(f"unknown synth preset {preset!r}; choose one of {sorted(PRESETS)}")
    params = dict(PRESETS[preset])
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise FabParameterError(
            f"unknown synth override(s) {', '.join(unknown)}; allowed: {', '.join(sorted(params))}"
        )
    params.update(overrides)
    for name in (*_POSITIVE_FLOATS, "edge_exclusion_mm", *_RATES):
        try:
            params[name] = float(params[name])
        except (TypeError, ValueError):
            raise FabParameterError(f"override {name}={params[name]!r} is not a number") from None
    for name in _POSITIVE_FLOATS:
        if not params[name] > 0:
            raise FabParameterError(f"override {name}={params[name]} must be positive")
    for name in _RATES:
        if not 0 <= params[name] <= 1:
            raise FabParameterError(f"override {name}={params[name]} must lie in [0, 1]")
    if not isinstance(params["n_lots"], numbers.Integral) or not 1 <= params["n_lots"] <= 9999:
        raise FabParameterError(f"override n_lots={params['n_lots']!r} must be an int in 1..9999")
    params["n_lots"] = int(params["n_lots"])
    params["wafers_per_lot"] = _wafers_per_lot(params["wafers_per_lot"])
    params["product"] = str(params["product"])
    params["start"] = str(params["start"])
    return params


def _jsonable(value):
    """Plain JSON types (tuples become lists, numpy scalars Python numbers)."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def synth_key(preset: str, seed: int, overrides: dict) -> str:
    """Canonical JSON of a build's inputs (NetCDF/Zarr-safe attribute value)."""
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise FabParameterError(f"seed must be a non-negative int, got {seed!r}")
    resolve(preset, overrides)  # fail early, naming the bad override
    clean = {k: _jsonable(v) for k, v in overrides.items()}
    return json.dumps({"overrides": clean, "preset": preset, "seed": int(seed)}, sort_keys=True)


def parse_key(key: str) -> tuple[str, int, dict]:
    """Inverse of :func:`synth_key`."""
    try:
        spec = json.loads(key)
        return spec["preset"], int(spec["seed"]), dict(spec["overrides"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FabDataError(f"attribute 'synth' is not a synth build description: {exc}") from None
