"""The dataset contract (schema version 1) as code.

One :class:`xarray.Dataset` per product or lot, with named dims ``wafer``, ``die``,
``test``, ``etest``, ``step`` (and ``vmin_test`` when Vmin data is present).  The
tables below are the single source of truth for names, dims and dtype kinds;
:func:`validate` checks a Dataset against them and raises
:class:`~fabnb.errors.FabDataError` naming the offending variable, wafer or die.

Example
-------
>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=1)
>>> fabnb.schema.validate(ds) is ds
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .errors import FabDataError

SCHEMA_VERSION = 1

#: hard/soft bin value of a die that was not tested
UNTESTED_BIN = -1
#: hard/soft bin value of a passing die
PASS_BIN = 1


@dataclass(frozen=True)
class Field:
    """One named coordinate or variable of the contract."""

    name: str
    dims: tuple[str, ...]
    kind: str  # numpy dtype kinds accepted: "f" float, "i" int, "U" string, "M" datetime
    required: bool
    meaning: str


def _kinds_ok(kind: str, arr: xr.DataArray) -> bool:
    k = arr.dtype.kind
    if kind == "U":  # strings may be fixed-width unicode, object or pandas' StringDType
        if k in "UT":
            return True
        if k == "O":
            flat = arr.values.ravel()
            return all(isinstance(v, str) for v in flat[: min(flat.size, 1000)])
        return False
    if kind == "i":
        return k in "iu"
    if kind == "f":
        return k == "f"
    return k == kind


COORDS: tuple[Field, ...] = (
    Field("wafer", ("wafer",), "U", True, "wafer id such as 'L0001-07'"),
    Field("lot", ("wafer",), "U", True, "lot id"),
    Field("slot", ("wafer",), "i", True, "slot 1..25"),
    Field("seq", ("wafer",), "i", False, "global processing order"),
    Field("time", ("wafer",), "M", False, "process time"),
    Field("col", ("die",), "i", True, "integer die column on the map"),
    Field("row", ("die",), "i", True, "integer die row on the map"),
    Field("x", ("die",), "f", True, "die centre x in mm from wafer centre"),
    Field("y", ("die",), "f", True, "die centre y in mm from wafer centre"),
    Field("r", ("die",), "f", True, "die centre radius in mm"),
    Field("theta", ("die",), "f", True, "die centre angle in rad, 0 = +x, counter-clockwise"),
    Field("zone", ("die",), "U", True, "radial zone label"),
    Field("test", ("test",), "U", False, "parametric test name"),
    Field("unit", ("test",), "U", False, "unit of the test"),
    Field("lsl", ("test",), "f", False, "lower spec limit (NaN = none)"),
    Field("usl", ("test",), "f", False, "upper spec limit (NaN = none)"),
    Field("etest", ("etest",), "U", False, "class-probe parameter name"),
    Field("step", ("step",), "U", False, "process step name"),
    Field("vmin_test", ("vmin_test",), "U", False, "Vmin pattern/temperature"),
)

VARIABLES: tuple[Field, ...] = (
    Field("value", ("wafer", "die", "test"), "f", False, "measurement; NaN = not measured"),
    Field("hbin", ("wafer", "die"), "i", False, "hard bin, -1 = untested, 1 = pass"),
    Field("sbin", ("wafer", "die"), "i", False, "soft bin, -1 = untested, 1 = pass"),
    Field("etest_value", ("wafer", "etest"), "f", False, "class-probe measurement"),
    Field("tool", ("wafer", "step"), "U", False, "tool/chamber id ('' = unknown)"),
    Field("vmin", ("wafer", "die", "vmin_test"), "f", False, "Vmin; NaN = not tested"),
)

ATTRS: tuple[str, ...] = (
    "product",
    "wafer_diameter_mm",
    "die_width_mm",
    "die_height_mm",
    "edge_exclusion_mm",
    "notch",
    "schema_version",
)

NOTCH_DIRECTIONS = ("down", "up", "left", "right")
#: geometry attributes in mm, and whether 0 is a valid size (no edge exclusion)
SIZE_ATTRS = {"wafer_diameter_mm": False, "die_width_mm": False, "die_height_mm": False,
              "edge_exclusion_mm": True}

#: names of variables indexed by test that travel with it
TEST_COORDS = ("unit", "lsl", "usl")


def _where(ds: xr.Dataset, dim: str, mask: np.ndarray, limit: int = 5) -> str:
    """Name the first few labels along ``dim`` where ``mask`` is true."""
    labels = ds[dim].values[np.asarray(mask)] if dim in ds.coords else np.flatnonzero(mask)
    shown = ", ".join(str(v) for v in labels[:limit])
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return f"{dim} {shown}{more}"


def _check_field(ds: xr.Dataset, f: Field, where: str) -> None:
    if f.name not in getattr(ds, where):
        if f.required:
            raise FabDataError(f"dataset is missing required {where[:-1]} '{f.name}' ({f.meaning})")
        return
    arr = ds[f.name]
    if arr.dims != f.dims:
        raise FabDataError(f"'{f.name}' must have dims {f.dims}, found {arr.dims}")
    if not _kinds_ok(f.kind, arr):
        raise FabDataError(
            f"'{f.name}' has dtype {arr.dtype}, expected kind '{f.kind}' ({f.meaning})"
        )


def validate(ds: xr.Dataset) -> xr.Dataset:
    """Check ``ds`` against the dataset contract and return it unchanged.

    Raises
    ------
    FabDataError
        naming the offending variable, wafer or die: missing or mis-shaped coordinates,
        wrong dtypes, duplicated wafer ids or die sites, non-finite die coordinates,
        radius/angle inconsistent with x/y, spec limits with ``lsl > usl``, wafers
        with no data at all, bins outside the contract's codes, missing attributes, a
        notch that is not down/up/left/right, wafer or die sizes that are not finite
        positive numbers (edge exclusion: non-negative).

    Example
    -------
    >>> import fabnb, xarray as xr
    >>> fabnb.schema.validate(xr.Dataset())
    Traceback (most recent call last):
    ...
    fabnb.errors.FabDataError: dataset has no 'wafer' dimension
    """
    if not isinstance(ds, xr.Dataset):
        raise FabDataError(f"expected an xarray.Dataset, got {type(ds).__name__}")
    for dim in ("wafer", "die"):
        if dim not in ds.dims:
            raise FabDataError(f"dataset has no '{dim}' dimension")
    for f in COORDS:
        _check_field(ds, f, "coords")
    for f in VARIABLES:
        _check_field(ds, f, "data_vars")
    if "value" in ds and "test" not in ds.coords:
        raise FabDataError("'value' needs a 'test' coordinate naming the tests")
    if "value" in ds:
        for name in TEST_COORDS:
            if name not in ds.coords:
                raise FabDataError(f"'value' needs the test coordinate '{name}'")
    if "value" not in ds and "hbin" not in ds:
        raise FabDataError("dataset holds neither 'value' nor 'hbin': no data")

    missing = [a for a in ATTRS if a not in ds.attrs]
    if missing:
        raise FabDataError(f"dataset is missing attribute(s) {', '.join(missing)}")
    if int(ds.attrs["schema_version"]) != SCHEMA_VERSION:
        raise FabDataError(
            f"schema_version {ds.attrs['schema_version']} is not supported (expected {SCHEMA_VERSION})"
        )
    # a data check, not a parameter's: the attribute came with the data (a file, a reader)
    notch = ds.attrs["notch"]
    if not isinstance(notch, str) or notch not in NOTCH_DIRECTIONS:
        raise FabDataError(f"attribute notch={notch!r} is not a direction {NOTCH_DIRECTIONS}: "
                           "set ds.attrs['notch'] to where the notch points on the map")
    for name, zero_ok in SIZE_ATTRS.items():
        try:
            size = float(ds.attrs[name])
        except (TypeError, ValueError):
            size = float("nan")
        if not (np.isfinite(size) and (size >= 0 if zero_ok else size > 0)):
            raise FabDataError(
                f"attribute {name}={ds.attrs[name]!r} is not a finite "
                f"{'non-negative' if zero_ok else 'positive'} size in mm: the maps, radii and "
                "zones depend on it; set it from the product's geometry"
            )

    for dim in ("wafer", "test", "etest", "step", "vmin_test"):
        if dim in ds.coords:
            labels = ds[dim].to_index()
            dup = labels.duplicated()
            if dup.any():
                raise FabDataError(f"duplicated {dim} ids: {_where(ds, dim, dup)}")

    x = ds["x"].values
    y = ds["y"].values
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        raise FabDataError(f"non-finite die coordinates x/y at {_where(ds, 'die', bad)}")
    sites = ds["col"].values.astype(np.int64) * (1 << 32) + ds["row"].values.astype(np.int64)
    _, first, counts = np.unique(sites, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup_site = np.isin(sites, sites[first[counts > 1]])
        raise FabDataError(f"duplicated die sites (col, row) at {_where(ds, 'die', dup_site)}")
    r_bad = ~np.isclose(ds["r"].values, np.hypot(x, y), atol=1e-6)
    if r_bad.any():
        raise FabDataError(f"'r' disagrees with hypot(x, y) at {_where(ds, 'die', r_bad)}")
    ang = np.arctan2(y, x)
    dtheta = np.angle(np.exp(1j * (ds["theta"].values - ang)))
    t_bad = (np.abs(dtheta) > 1e-6) & (ds["r"].values > 1e-9)
    if t_bad.any():
        raise FabDataError(f"'theta' disagrees with arctan2(y, x) at {_where(ds, 'die', t_bad)}")

    if "value" in ds:
        lsl, usl = ds["lsl"].values, ds["usl"].values
        crossed = lsl > usl  # NaN compares False: a missing limit is fine
        if crossed.any():
            raise FabDataError(f"lsl > usl for {_where(ds, 'test', crossed)}")
        inf = np.isinf(ds["value"].values).any(axis=(0, 1))
        if inf.any():
            raise FabDataError(f"infinite values in 'value' for {_where(ds, 'test', inf)}")

    has_data = np.zeros(ds.sizes["wafer"], dtype=bool)
    if "value" in ds:
        has_data |= ds["value"].notnull().any(("die", "test")).values
    for b in ("hbin", "sbin"):
        if b in ds:
            codes = ds[b].values
            neg = (codes < UNTESTED_BIN).any(axis=1)
            if neg.any():
                raise FabDataError(f"'{b}' has codes below -1 on {_where(ds, 'wafer', neg)}")
            has_data |= (codes != UNTESTED_BIN).any(axis=1)
    if not has_data.all():
        raise FabDataError(f"wafers with no data: {_where(ds, 'wafer', ~has_data)}")
    return ds


def empty_like_grid(grid: xr.Dataset, wafers, lots, slots, attrs: dict) -> xr.Dataset:
    """A contract skeleton: ``grid``'s die coordinates plus the wafer coordinates.

    Readers and the simulator start from here and add ``value``/``hbin``/... so that
    every producer names things the same way.
    """
    ds = grid.copy()
    ds = ds.assign_coords(
        wafer=("wafer", np.asarray(wafers, dtype=str)),
        lot=("wafer", np.asarray(lots, dtype=str)),
        slot=("wafer", np.asarray(slots, dtype=np.int64)),
    )
    ds.attrs.update(attrs)
    ds.attrs["schema_version"] = SCHEMA_VERSION
    return ds
