"""The numbers behind the wafer maps: yield per wafer, zone and lot, bin Paretos, per-die
fail rate, zone statistics of a test and radial signatures.

Conventions (the dataset contract's): a die is *tested* on a wafer when its bin is not
``-1`` and *passes* when its bin is ``1``; ``yield = passed / tested``.  Every function
takes a contract Dataset and works with named dims (``wafer``, ``die``, ``test``,
``zone``); nothing here draws (``fabnb.plot`` draws what these functions compute).

Example
-------
>>> import fabnb
>>> from fabnb import summary
>>> ds = fabnb.synth.fab("small", seed=0)
>>> per_wafer = summary.yield_by_wafer(ds)
>>> list(per_wafer.columns)
['lot', 'slot', 'tested', 'passed', 'yield']
>>> bool(((per_wafer["yield"] >= 0) & (per_wafer["yield"] <= 1)).all())
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np
import pandas as pd
import xarray as xr
from xarray.groupers import UniqueGrouper

from ._params import check_option, check_params
from .errors import FabDataError
from .geometry import DECOMPOSITION_CONSTRAINTS, radial_decomposition
from .schema import PASS_BIN, UNTESTED_BIN

BIN_KINDS = ("hbin", "sbin")


# --------------------------------------------------------------------------- selection


def _listing(labels, limit: int = 12) -> str:
    labels = [str(v) for v in labels]
    more = f" ... ({len(labels) - limit} more)" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def resolve_test(ds: xr.Dataset, test=None) -> str:
    """Name of ``test`` checked against ``ds`` (default: the first test).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> resolve_test(ds)
    'T01'
    """
    if "value" not in ds or "test" not in ds.coords:
        raise FabDataError("dataset has no parametric 'value' variable with a 'test' coordinate")
    tests = [str(t) for t in ds["test"].values]
    if test is None:
        return tests[0]
    if str(test) not in tests:
        raise FabDataError(f"unknown test {test!r}; available tests: {_listing(tests)}")
    return str(test)


def resolve_wafers(ds: xr.Dataset, wafers=None) -> list[str]:
    """Wafer ids checked against ``ds``: ``None`` = all, a string = that one, a list = those.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> resolve_wafers(ds, ds.wafer.values[1]) == [str(ds.wafer.values[1])]
    True
    """
    known = [str(w) for w in ds["wafer"].values]
    if wafers is None:
        return known
    asked = [wafers] if isinstance(wafers, str) or not isinstance(wafers, Iterable) else list(wafers)
    missing = [str(w) for w in asked if str(w) not in set(known)]
    if missing:
        raise FabDataError(f"unknown wafer(s) {_listing(missing)}; available wafers: {_listing(known)}")
    if not asked:
        raise FabDataError("no wafers selected")
    return [str(w) for w in asked]


def resolve_wafer(ds: xr.Dataset, wafer=None) -> str:
    """One wafer id checked against ``ds`` (default: the first wafer)."""
    if wafer is None:
        return str(ds["wafer"].values[0])
    if not isinstance(wafer, str):
        raise FabDataError(f"expected one wafer id (a string), got {wafer!r}")
    return resolve_wafers(ds, wafer)[0]


def bin_codes(ds: xr.Dataset, kind: str = "hbin") -> xr.DataArray:
    """The ``hbin``/``sbin`` DataArray (wafer, die), or a FabDataError saying it is missing."""
    check_option("bin_codes", "kind", kind, BIN_KINDS)
    if kind not in ds:
        raise FabDataError(
            f"dataset has no '{kind}' variable; yield and bin statistics need bins "
            f"({kind} per wafer and die: -1 untested, 1 pass, other codes fail)"
        )
    return ds[kind]


def _labels(ds: xr.Dataset, name: str) -> list[str]:
    """Distinct values of a label coordinate, in order of first appearance."""
    return list(dict.fromkeys(str(v) for v in np.asarray(ds[name].values)))


def _group(obj, ds: xr.Dataset, name: str):
    """``obj`` grouped by the label coordinate ``name`` (``zone`` or ``lot``) of ``ds``.

    Zones run from the centre outwards (by mean die radius), lots in order of first
    appearance.  The labels are loaded first, so dask-chunked Datasets group too.
    """
    values = np.asarray(ds[name].values).astype(str)
    labels = list(dict.fromkeys(values))
    if name == "zone":
        mean_r = pd.Series(np.asarray(ds["r"].values)).groupby(values).mean()
        labels = sorted(labels, key=mean_r.get)
    obj = obj.assign_coords({name: (ds[name].dims, values)})
    return obj.groupby({name: UniqueGrouper(labels=labels)})


# --------------------------------------------------------------------------- yield


def _pass_counts(ds: xr.Dataset, kind: str = "hbin") -> xr.Dataset:
    """Per wafer and die: ``tested`` (bin != -1) and ``passed`` (bin == 1) as 0/1."""
    bins = bin_codes(ds, kind)
    return xr.Dataset({
        "tested": (bins != UNTESTED_BIN).astype(np.int64),
        "passed": (bins == PASS_BIN).astype(np.int64),
    })


def _with_yield(counts: xr.Dataset) -> xr.Dataset:
    """Add ``yield = passed / tested``; NaN only where nothing was tested."""
    counts = counts.compute()  # small tables: sum once, not again for the division (dask)
    return counts.assign(**{"yield": (counts["passed"] / counts["tested"]).where(counts["tested"] > 0)})


def yield_by_wafer(ds: xr.Dataset, kind: str = "hbin") -> pd.DataFrame:
    """Tested dies, passing dies and yield of every wafer.

    ``tested`` counts dies with ``hbin != -1``, ``passed`` dies with ``hbin == 1``,
    ``yield = passed / tested`` (NaN for a wafer with no tested die).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> t = yield_by_wafer(ds)
    >>> int(t["tested"].iloc[0]) <= ds.sizes["die"]
    True
    """
    per_wafer = _with_yield(_pass_counts(ds, kind).sum("die"))
    table = per_wafer.to_dataframe()
    table.index = pd.Index([str(w) for w in table.index], name="wafer")
    table["lot"] = [str(v) for v in ds["lot"].values]
    table["slot"] = ds["slot"].values
    return table[["lot", "slot", "tested", "passed", "yield"]]


def yield_by_lot(ds: xr.Dataset, kind: str = "hbin") -> pd.DataFrame:
    """Wafers, tested dies, passing dies and yield of every lot (pooled over its dies).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> int(yield_by_lot(ds)["wafers"].sum()) == ds.sizes["wafer"]
    True
    """
    counts = _pass_counts(ds, kind).sum("die")
    counts["wafers"] = xr.ones_like(counts["tested"])
    per_lot = _with_yield(_group(counts, ds, "lot").sum("wafer"))
    table = per_lot.to_dataframe()
    table.index = pd.Index([str(v) for v in table.index], name="lot")
    return table[["wafers", "tested", "passed", "yield"]]


def yield_by_zone(ds: xr.Dataset, by_wafer: bool = False, kind: str = "hbin") -> pd.DataFrame:
    """Tested dies, passing dies and yield per radial zone (centre outwards).

    With ``by_wafer=True`` the table has one row per (wafer, zone).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> list(yield_by_zone(ds).index)
    ['center', 'inner', 'outer', 'edge']
    """
    return zone_stats(ds, test=None, by_wafer=by_wafer, kind=kind)


def zone_stats(ds: xr.Dataset, test=None, by_wafer: bool = False, kind: str = "hbin") -> pd.DataFrame:
    """Per radial zone (and per wafer with ``by_wafer=True``): yield and test statistics.

    Columns ``tested``, ``passed``, ``yield`` come from the bins (when ``ds`` has them);
    for a ``test`` the columns ``mean``, ``std`` (ddof=1), ``median`` and ``n`` (measured
    dies) of its ``value`` are added, NaN dies left out.  Zones run from the centre
    outwards.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> t = zone_stats(ds, "T01")
    >>> list(t.columns)
    ['tested', 'passed', 'yield', 'mean', 'std', 'median', 'n']
    """
    check_option("zone_stats", "kind", kind, BIN_KINDS)  # an unknown kind must not drop the yield
    over = "die" if by_wafer else ("wafer", "die")
    parts = []
    if kind in ds or test is None:
        parts.append(_with_yield(_group(_pass_counts(ds, kind), ds, "zone").sum(over)))
    if test is not None:
        name = resolve_test(ds, test)
        # one test's (wafer, die) slice is small: load it (the median needs it whole)
        value = ds["value"].sel(test=name, drop=True).compute()
        by_zone = _group(value, ds, "zone")
        parts.append(xr.Dataset({
            "mean": by_zone.mean(over),
            "std": by_zone.std(over, ddof=1),
            "median": by_zone.median(over),
            "n": _group(value.notnull(), ds, "zone").sum(over),
        }))
    stats = xr.merge(parts, compat="override", join="exact")
    columns = list(stats.data_vars)
    order = ["wafer", "zone"] if by_wafer else ["zone"]
    table = stats.to_dataframe(dim_order=order)[columns]
    return table.rename(index=str)


def fail_rate_by_die(ds: xr.Dataset, kind: str = "hbin") -> xr.DataArray:
    """Share of the wafers that tested a die on which it failed (bin not -1 and not 1).

    A die no wafer tested gets NaN.  The result keeps the die coordinates (x, y, zone).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> rate = fail_rate_by_die(ds)
    >>> rate.dims
    ('die',)
    """
    counts = _pass_counts(ds, kind)
    tested = counts["tested"].sum("wafer")
    failed = (counts["tested"] - counts["passed"]).sum("wafer")
    rate = (failed / tested).where(tested > 0)
    rate.name = "fail_rate"
    rate.attrs = {"long_name": "fail rate", "units": "share of tested wafers"}
    return rate


# --------------------------------------------------------------------------- bins


def _parse_names(raw) -> dict[int, str]:
    """Bin names from an attribute: a dict (values names or ``{"name": ...}`` records),
    a JSON object of either, or ``"code:name"`` strings."""
    if isinstance(raw, dict):
        items = raw.items()
    elif isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = [raw]
        return _parse_names(parsed) if not isinstance(parsed, str) else {}
    elif isinstance(raw, (list, tuple, np.ndarray)):
        items = []
        for entry in raw:
            for sep in (":", "="):
                code, found, name = str(entry).partition(sep)
                if found:
                    items.append((code, name))
                    break
    else:
        return {}
    names = {}
    for code, name in items:
        if isinstance(name, dict):  # the STDF reader's {"code": {"name": ..., "pf": ...}}
            name = name.get("name") or ""
        try:
            code = int(code)
        except (TypeError, ValueError):
            continue
        if str(name).strip():  # an HBR/SBR without BIN_NAM names nothing
            names[code] = str(name).strip()
    return names


def _e142_names(attrs) -> dict[int, str]:
    """``hbin`` names of a map read by :func:`fabnb.io.read_e142`.

    The reader renumbers the map's codes (``attrs["e142_bin_codes"]``, map code -> hbin)
    and keeps each code's ``BinDescription`` under its map code
    (``attrs["e142_bin_names"]``).  A bin is named by its codes' descriptions, else by
    the map codes themselves where they do not spell the hbin number (an ASCII map's
    ``"X"`` read as hbin 2 is named ``"X"``); several codes read as one hbin are joined
    with ``", "``.
    """
    try:
        codes = json.loads(attrs["e142_bin_codes"])
        described = json.loads(attrs.get("e142_bin_names") or "{}")
    except (TypeError, ValueError):
        return {}
    if not isinstance(codes, dict) or not isinstance(described, dict):
        return {}
    parts: dict[int, dict[str, None]] = {}
    for code, value in codes.items():
        if not isinstance(value, int):
            continue
        name = str(described.get(code) or "").strip()
        if not name:
            try:
                name = "" if int(code) == value else code
            except ValueError:  # not a decimal number: the code is the bin's only label
                name = code
        if name:
            parts.setdefault(value, {})[name] = None  # ordered, each name once
    return {value: ", ".join(names) for value, names in parts.items()}


def bin_names(ds: xr.Dataset, kind: str = "hbin") -> dict[int, str]:
    """Names of the bin codes when ``ds`` carries them, else ``{}`` (codes without a
    name are left out).

    Looked up, in order: a 1-D variable/coordinate ``{kind}_name`` whose dim holds the
    codes; an attribute ``{kind}_names`` / ``{kind}_name`` (or ``bin_names`` for hbin)
    holding a dict, a JSON object (names, or records with a ``"name"`` as
    :func:`fabnb.io.read_stdf` writes them from HBR/SBR) or a list of ``"code:name"``
    strings; for hbin, the ``e142_bin_codes``/``e142_bin_names`` attributes of
    :func:`fabnb.io.read_e142` (each bin's ``BinDescription``, else its map code when
    that is not the number itself, see :func:`_e142_names`).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0).assign_attrs(hbin_names='{"1": "PASS"}')
    >>> bin_names(ds)
    {1: 'PASS'}
    """
    check_option("bin_names", "kind", kind, BIN_KINDS)
    var = f"{kind}_name"
    if var in ds.variables and ds[var].ndim == 1:
        dim = ds[var].dims[0]
        if dim in ds.coords and ds[dim].dtype.kind in "iu":
            return {int(c): str(n).strip() for c, n in zip(ds[dim].values, ds[var].values)
                    if str(n).strip()}
    keys = [f"{kind}_names", f"{kind}_name"] + (["bin_names"] if kind == "hbin" else [])
    for key in keys:
        if key in ds.attrs:
            names = _parse_names(ds.attrs[key])
            if names:
                return names
    if kind == "hbin" and "e142_bin_codes" in ds.attrs:
        return _e142_names(ds.attrs)
    return {}


def bin_counts(
    ds: xr.Dataset, kind: str = "hbin", include_pass: bool = False, include_untested: bool = False
) -> pd.DataFrame:
    """Pareto table of bins: ``bin``, ``name``, ``count``, ``share``, ``cumulative_share``.

    Rows are sorted by count, largest first (ties by bin code); ``share`` is each bin's
    part of the dies counted in the table, so ``cumulative_share`` ends at 1.  The pass
    bin (1) and untested dies (-1) are left out unless asked for; ``name`` is the bin's
    name when ``ds`` carries one (:func:`bin_names`), else ``""``.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> pareto = bin_counts(ds)
    >>> bool(pareto["count"].is_monotonic_decreasing)
    True
    """
    codes, counts = np.unique(bin_codes(ds, kind).values, return_counts=True)
    keep = np.ones(codes.size, dtype=bool)
    if not include_pass:
        keep &= codes != PASS_BIN
    if not include_untested:
        keep &= codes != UNTESTED_BIN
    codes, counts = codes[keep].astype(np.int64), counts[keep].astype(np.int64)
    order = np.lexsort((codes, -counts))
    codes, counts = codes[order], counts[order]
    names = bin_names(ds, kind)
    total = counts.sum()
    share = counts / total if total else np.zeros(counts.size)
    return pd.DataFrame({
        "bin": codes,
        "name": [names.get(int(c), "") for c in codes],
        "count": counts,
        "share": share,
        "cumulative_share": np.cumsum(share),
    })


# --------------------------------------------------------------------------- tests


def spec_status(ds: xr.Dataset, test=None, wafer=None) -> xr.DataArray:
    """Where each die sits against the test's spec limits: -1 below LSL, 0 inside,
    +1 above USL, NaN not measured.  A missing (NaN) limit never flags a die.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> s = spec_status(ds, "T01", ds.wafer.values[0])
    >>> set(s.to_series().dropna().unique()) <= {-1.0, 0.0, 1.0}
    True
    """
    name = resolve_test(ds, test)
    value = ds["value"].sel(test=name)
    if wafer is not None:
        value = value.sel(wafer=resolve_wafer(ds, wafer) if isinstance(wafer, str) else resolve_wafers(ds, wafer))
    status = xr.where(value < value["lsl"], -1.0, 0.0) + xr.where(value > value["usl"], 1.0, 0.0)
    status = status.where(value.notnull())
    status.name = "spec_status"
    return status


def radial_signature(ds: xr.Dataset, test, wafer=None, n_rings: int = 12, n_sectors: int = 8) -> xr.Dataset:
    """Radial profile and azimuthal residual of a test, wafer by wafer.

    Each wafer's map is split by :func:`fabnb.geometry.radial_decomposition` into
    ``profile`` (ring means over ``ring_r``), ``radial`` (the profile at each die),
    ``residual`` (value − radial), ``sector_mean`` (mean residual per azimuthal sector)
    and ``azimuthal_nonuniformity``.  ``wafer=None`` takes every wafer, a string one
    wafer (the ``wafer`` dim is dropped, as with ``.sel``), a list those wafers.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> sig = radial_signature(ds, "T01")
    >>> sig["profile"].dims
    ('wafer', 'ring')
    """
    # checked here, not per wafer, so a bad count is a FabParameterError, not a wafer's error
    check_params("radial_signature", DECOMPOSITION_CONSTRAINTS,
                 {"n_rings": n_rings, "n_sectors": n_sectors})
    name = resolve_test(ds, test)
    ids = resolve_wafers(ds, wafer)
    value = ds["value"].sel(test=name, wafer=ids)
    r, theta = ds["r"].values, ds["theta"].values
    parts = []
    for wafer_id in ids:
        try:
            parts.append(radial_decomposition(
                value.sel(wafer=wafer_id).values, r, theta, n_rings=n_rings, n_sectors=n_sectors
            ))
        except FabDataError as err:
            raise FabDataError(f"radial signature of test {name} on wafer {wafer_id}: {err}") from None

    def stack(key):
        return np.stack([p[key] for p in parts])

    sig = xr.Dataset(
        {
            "profile": (("wafer", "ring"), stack("profile")),
            "radial": (("wafer", "die"), stack("radial")),
            "residual": (("wafer", "die"), stack("residual")),
            "sector_mean": (("wafer", "sector"), stack("sector_mean")),
            "azimuthal_nonuniformity": ("wafer", stack("azimuthal_nonuniformity")),
        },
        coords={
            "wafer": ids,
            "ring_r": ("ring", parts[0]["ring_r"]),
            "sector": np.arange(n_sectors),
            **{c: ds[c] for c in ("x", "y", "r", "theta", "zone")},
            "lot": value["lot"],
        },
        attrs={"test": name, "unit": str(ds["unit"].sel(test=name).values)},
    )
    return sig.sel(wafer=wafer) if isinstance(wafer, str) else sig


# --------------------------------------------------------------------------- overview


def overview(ds: xr.Dataset, kind: str = "hbin") -> dict:
    """Counts of lots, wafers, tests and dies, and the overall yield (pooled over dies;
    ``None`` when ``ds`` has no bins).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> overview(ds)["wafers"] == ds.sizes["wafer"]
    True
    """
    check_option("overview", "kind", kind, BIN_KINDS)  # else an unknown kind reads as "no bins"
    info = {
        "product": str(ds.attrs.get("product", "")),
        "lots": len(_labels(ds, "lot")),
        "wafers": int(ds.sizes["wafer"]),
        "tests": int(ds.sizes.get("test", 0)),
        "dies": int(ds.sizes["die"]),
        "yield": None,  # no bins, no yield
    }
    if kind in ds:
        total = _pass_counts(ds, kind).sum()
        tested = int(total["tested"])
        info["yield"] = int(total["passed"]) / tested if tested else float("nan")
    return info
