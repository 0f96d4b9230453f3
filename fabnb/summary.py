"""The numbers behind the wafer maps: yield per wafer, zone and lot, first-pass yield and
retest recovery, bin and test-fail Paretos, process capability (Cp, Cpk, Pp, Ppk) per test,
per-die fail rate, zone statistics of a test and radial signatures.

Tests are looked up in one place, :func:`resolve_test`: by name, by test number (STDF
``test_num``), by name with its whitespace normalised, or by a unique part of the name.

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

import difflib
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


def clean_test_name(name) -> str:
    """A test name with its whitespace normalised: runs of spaces and tabs become one
    space, the ends are stripped (``"Rds on          <> RDS_ON"`` -> ``"Rds on <> RDS_ON"``).

    >>> clean_test_name("Imax bef zap\\t <> IMAX")
    'Imax bef zap <> IMAX'
    """
    return " ".join(str(name).split())


def test_labels(ds: xr.Dataset) -> list[str]:
    """What a picker shows for each test, in test order: ``"<number> <clean name>"`` when
    ``ds`` carries a ``test_num`` coordinate (STDF data), else the clean name.

    >>> import fabnb
    >>> test_labels(fabnb.synth.fab("small", seed=0))[:2]
    ['T01', 'T02']
    """
    names = [clean_test_name(t) for t in ds["test"].values]
    if "test_num" not in ds.coords:
        return names
    return [f"{int(n)} {name}" for n, name in zip(ds["test_num"].values, names)]


def _as_test_number(test) -> int | None:
    """``test`` as an integer test number (``1590``, ``"1590"``, ``1590.0``), else None."""
    if isinstance(test, (bool, np.bool_)):
        return None
    if isinstance(test, (int, np.integer)):
        return int(test)
    if isinstance(test, (float, np.floating)) and float(test).is_integer():
        return int(test)
    if isinstance(test, str) and test.strip().lstrip("+-").isdigit():
        return int(test.strip())
    return None


def resolve_test(ds: xr.Dataset, test=None) -> str:
    """The name of the test ``test`` designates in ``ds`` (default: the first test).

    This is the one place where fabnb looks a test up, so every function, widget and
    report parameter that takes a test accepts the same spellings, tried in this order:

    1. the exact name (``ds.test`` value);
    2. the test number (``1590`` or ``"1590"``) against the ``test_num`` coordinate
       that :func:`fabnb.io.read_stdf` writes;
    3. the name with whitespace normalised (:func:`clean_test_name`; real STDF names
       carry padding and tabs), then the same ignoring case;
    4. one side of an STDF ``"description <> label"`` name (``"RDS_ON"``), ignoring case;
    5. a substring of one clean name only (ignoring case).

    Several matches raise :class:`~fabnb.errors.FabDataError` listing them (number and
    clean name); no match raises one listing the nearest names.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> resolve_test(ds), resolve_test(ds, "t02")
    ('T01', 'T02')
    >>> resolve_test(ds, "T3")
    Traceback (most recent call last):
    ...
    fabnb.errors.FabDataError: test 'T3' is ambiguous: it matches 10 tests (T30, T31, ...
    """
    if "value" not in ds or "test" not in ds.coords:
        raise FabDataError("dataset has no parametric 'value' variable with a 'test' coordinate")
    tests = [str(t) for t in ds["test"].values]
    if not tests:
        raise FabDataError("dataset has no tests (the 'test' dimension is empty)")
    if test is None:
        return tests[0]
    if isinstance(test, str) and test in tests:
        return test
    labels = test_labels(ds)

    def pick(hits):
        if len(hits) == 1:
            return tests[hits[0]]
        if len(hits) > 1:
            raise FabDataError(
                f"test {test!r} is ambiguous: it matches {len(hits)} tests "
                f"({_listing([labels[i] for i in hits])}); give the full name "
                f"or the test number"
            )
        return None

    number = _as_test_number(test)
    if number is not None and "test_num" in ds.coords:
        found = pick(np.flatnonzero(np.asarray(ds["test_num"].values) == number).tolist())
        if found is not None:
            return found
    wanted = clean_test_name(test)
    key = wanted.casefold()
    clean = [clean_test_name(t) for t in tests]
    folded = [c.casefold() for c in clean]
    # STDF names read "description <> label": each side alone names the test too
    parts = [[p.strip() for p in f.split("<>")] for f in folded]
    for matches in (
        lambda i: clean[i] == wanted,
        lambda i: folded[i] == key,
        lambda i: key in parts[i],
        lambda i: key in folded[i],
    ):
        found = pick([i for i in range(len(tests)) if matches(i)]) if wanted else None
        if found is not None:
            return found
    # near misses: the names (or name sides) most like what was asked for
    score = [max(difflib.SequenceMatcher(None, key, p).ratio() for p in [folded[i], *parts[i]])
             for i in range(len(tests))]
    near = [i for i in np.argsort(score, kind="stable")[::-1][:5] if score[i] >= 0.6]
    hint = f"; nearest: {_listing([labels[i] for i in near])}" if near else ""
    raise FabDataError(f"unknown test {test!r}{hint}; available tests: {_listing(labels)}")


def resolve_tests(ds: xr.Dataset, tests=None) -> list[str]:
    """Names of several tests, each looked up by :func:`resolve_test` (``None`` = all;
    a single test, number or string, = that one).

    >>> import fabnb
    >>> resolve_tests(fabnb.synth.fab("small", seed=0), ["t01", "T03"])
    ['T01', 'T03']
    """
    if tests is None:
        resolve_test(ds)  # the same "no tests" error
        return [str(t) for t in ds["test"].values]
    one = isinstance(tests, (str, int, float, np.integer, np.floating)) or not isinstance(tests, Iterable)
    asked = [tests] if one else list(tests)
    if not asked:
        raise FabDataError("no tests selected")
    return [resolve_test(ds, t) for t in asked]


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
    # rings span the wafer: a die a reader placed outside it (far from the bulk of its
    # grid) joins the outermost ring instead of stretching every ring
    r_max = ds.attrs["wafer_diameter_mm"] / 2 if "wafer_diameter_mm" in ds.attrs else None
    parts = []
    for wafer_id in ids:
        try:
            parts.append(radial_decomposition(
                value.sel(wafer=wafer_id).values, r, theta, n_rings=n_rings, n_sectors=n_sectors,
                r_max=r_max,
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


# --------------------------------------------------------------------------- test fails


def _limits(ds: xr.Dataset, tests: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``lsl``/``usl`` of ``tests`` as float arrays (NaN = no limit, also when absent)."""
    return tuple(
        np.asarray(ds[name].sel(test=tests).values, dtype=float) if name in ds.coords
        else np.full(len(tests), np.nan)
        for name in ("lsl", "usl")
    )


def _test_meta(ds: xr.Dataset, tests: list[str]) -> pd.DataFrame:
    """``test_num`` (when present) and ``unit`` of ``tests``, indexed by test name."""
    meta = pd.DataFrame(index=pd.Index(tests, name="test"))
    for name in ("test_num", "unit"):
        if name in ds.coords:
            meta[name] = np.asarray(ds[name].sel(test=tests).values)
    return meta


def _fail_sides(ds: xr.Dataset, tests: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(wafer, die, test) booleans: value below LSL, above USL, and failing.

    Failing is the tester's own verdict where ``ds`` has ``test_flag`` (1 = the tester
    flagged the result failing) and the limits otherwise; a die without a value never
    fails a test on its limits (NaN compares false).
    """
    value = np.asarray(ds["value"].sel(test=tests).transpose("wafer", "die", "test").values,
                       dtype=float)
    lsl, usl = _limits(ds, tests)
    low, high = value < lsl, value > usl
    if "test_flag" in ds:
        failed = np.asarray(ds["test_flag"].sel(test=tests).transpose("wafer", "die", "test").values) == 1
    else:
        failed = low | high
    return low, high, failed


def first_fail(ds: xr.Dataset) -> xr.DataArray:
    """Name of each die's first failing test, ``""`` where no test failed: the
    ``first_fail_test`` variable when ``ds`` has one (the tester's record), else the
    first test, in the dataset's test order (test-number order for STDF), whose result
    failed (tester flag ``test_flag`` when present, else outside ``[lsl, usl]``).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> first_fail(ds).dims
    ('wafer', 'die')
    """
    if "first_fail_test" in ds:
        return ds["first_fail_test"].astype(str)
    tests = resolve_tests(ds)
    failed = _fail_sides(ds, tests)[2]
    names = np.asarray(tests + [""], dtype=object)
    first = np.where(failed.any(axis=2), failed.argmax(axis=2), len(tests))
    return xr.DataArray(names[first].astype(str), dims=("wafer", "die"),
                        coords={"wafer": ds["wafer"].values}, name="first_fail_test")


def test_fail_pareto(ds: xr.Dataset, by_wafer: bool = False) -> pd.DataFrame:
    """Which tests fail the dies: one row per test, worst first.

    Columns: ``test_num`` and ``unit`` (when ``ds`` has them), ``fails`` (dies whose
    result failed the test: the tester's ``test_flag`` when present, else outside the
    limits), ``fails_low``/``fails_high`` (below LSL / above USL), ``first_fails`` (dies
    whose *first* failing test it is, :func:`first_fail`; each failing die counts once,
    so this column sums to the dies with a failing test), ``share`` of those dies and
    ``cumulative_share``.  Rows are sorted by ``first_fails``, then ``fails`` (ties in
    test order); tests that failed no die are kept at the bottom.  With
    ``by_wafer=True`` the same per wafer (index ``wafer``, ``test``; shares within the
    wafer).

    ``attrs`` say how many dies fail by bin (bin not 1 and not -1) without any failing
    test (``failing_dies_without_failing_test``: functional fails, or tests without
    limits), so no failing die goes missing from the picture.

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> pareto = test_fail_pareto(ds)
    >>> int(pareto["first_fails"].sum()) == int((first_fail(ds) != "").sum())
    True
    """
    check_params("test_fail_pareto", {"by_wafer": ["boolean"]}, {"by_wafer": by_wafer})
    tests = resolve_tests(ds)
    low, high, failed = _fail_sides(ds, tests)
    first = np.asarray(first_fail(ds).transpose("wafer", "die").values).astype(str)
    position = {t: k for k, t in enumerate(tests)}
    unknown = sorted(set(first.ravel()) - set(tests) - {""})
    if unknown:
        raise FabDataError(f"first_fail_test names test(s) not in the dataset: {_listing(unknown)}")
    first_idx = np.vectorize(lambda t: position.get(t, -1), otypes=[np.int64])(first)
    counts = {
        "fails": failed.sum(axis=1),
        "fails_low": low.sum(axis=1),
        "fails_high": high.sum(axis=1),
        "first_fails": np.stack([np.bincount(row[row >= 0], minlength=len(tests)) for row in first_idx]),
    }  # each (wafer, test)
    meta = _test_meta(ds, tests)
    wafers = [str(w) for w in ds["wafer"].values]

    def table(rows: dict) -> pd.DataFrame:
        frame = meta.copy()
        for key, column in rows.items():
            frame[key] = column.astype(np.int64)
        total = frame["first_fails"].sum()
        frame["order"] = np.arange(len(frame))
        frame = frame.sort_values(["first_fails", "fails", "order"],
                                  ascending=[False, False, True]).drop(columns="order")
        frame["share"] = frame["first_fails"] / total if total else 0.0
        frame["cumulative_share"] = frame["first_fails"].cumsum() / total if total else 0.0
        return frame

    if by_wafer:
        out = pd.concat({w: table({k: v[i] for k, v in counts.items()}) for i, w in enumerate(wafers)},
                        names=["wafer", "test"])
    else:
        out = table({k: v.sum(axis=0) for k, v in counts.items()})
    if "hbin" in ds:
        bins = np.asarray(ds["hbin"].transpose("wafer", "die").values)
        bin_fail = (bins != PASS_BIN) & (bins != UNTESTED_BIN)
        out.attrs["failing_dies"] = int(bin_fail.sum())
        out.attrs["failing_dies_without_failing_test"] = int((bin_fail & (first_idx < 0)).sum())
    return out


# --------------------------------------------------------------------------- capability


def capability(ds: xr.Dataset) -> pd.DataFrame:
    """Process capability of every test against the dataset's spec limits.

    For each test, over all measured dies of all wafers (NaN = not measured, left out):

    - ``count``, ``mean`` μ̂ and overall ``sd`` s (ddof=1);
    - ``sd_within``: the pooled within-wafer standard deviation
      s_w = √( Σ_w Σ_i (x_wi − x̄_w)² / Σ_w (n_w − 1) ), the short-term spread without
      the wafer-to-wafer shifts (Montgomery, *Introduction to Statistical Quality
      Control*, 6th ed., §8.3; with one wafer s_w = s);
    - ``cp`` = (USL − LSL) / 6 s_w, ``cpk`` = min(USL − μ̂, μ̂ − LSL) / 3 s_w (potential
      and actual capability, within-wafer spread);
    - ``pp`` = (USL − LSL) / 6 s, ``ppk`` = min(USL − μ̂, μ̂ − LSL) / 3 s (performance,
      overall spread);
    - ``fails_low`` / ``fails_high``: dies below LSL / above USL.

    The formulas are those of the NIST/SEMATECH e-Handbook of Statistical Methods,
    §6.1.6 "What is Process Capability?".  With one limit only, ``cp``/``pp`` are NaN and
    ``cpk``/``ppk`` use the side that exists (Cpu or Cpl); with no limit, or fewer than
    two values, all four are NaN; a zero spread gives ±inf.  ``attrs["untestable"]``
    lists the tests whose indices are NaN and why.

    >>> import numpy as np, fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> cap = capability(ds)
    >>> both = cap["lsl"].notna() & cap["usl"].notna()
    >>> bool((cap.loc[both, "cpk"] <= cap.loc[both, "cp"] + 1e-12).all())  # Cpk ≤ Cp
    True
    """
    tests = resolve_tests(ds)
    value = np.asarray(ds["value"].transpose("wafer", "die", "test").values, dtype=float)
    measured = np.isfinite(value)
    x = np.where(measured, value, 0.0)
    n_w = measured.sum(axis=1)  # (wafer, test)
    wafer_mean = np.divide(x.sum(axis=1), n_w, out=np.zeros(n_w.shape), where=n_w > 0)
    within_ss = (np.where(measured, value - wafer_mean[:, None, :], 0.0) ** 2).sum(axis=(0, 1))
    within_dof = np.clip(n_w - 1, 0, None).sum(axis=0)
    count = n_w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = x.sum(axis=(0, 1)) / count
        overall_ss = (np.where(measured, value - mean, 0.0) ** 2).sum(axis=(0, 1))
        sd = np.sqrt(overall_ss / (count - 1))
        sd_within = np.sqrt(within_ss / within_dof)
        lsl, usl = _limits(ds, tests)
        enough = count >= 2
        sd = np.where(enough, sd, np.nan)
        sd_within = np.where(within_dof >= 1, sd_within, np.nan)

        def indices(s):
            span = (usl - lsl) / (6 * s)
            upper, lower = (usl - mean) / (3 * s), (mean - lsl) / (3 * s)
            k = np.fmin(upper, lower)  # fmin: a missing side leaves the other one
            return span, k

        cp, cpk = indices(sd_within)
        pp, ppk = indices(sd)
    low, high = value < lsl, value > usl
    table = _test_meta(ds, tests)
    table["lsl"], table["usl"] = lsl, usl
    table["count"] = count.astype(np.int64)
    table["mean"] = np.where(count > 0, mean, np.nan)
    table["sd"], table["sd_within"] = sd, sd_within
    table["cp"], table["cpk"], table["pp"], table["ppk"] = cp, cpk, pp, ppk
    table["fails_low"] = low.sum(axis=(0, 1)).astype(np.int64)
    table["fails_high"] = high.sum(axis=(0, 1)).astype(np.int64)
    why = {}
    for k, name in enumerate(tests):
        if np.isnan(lsl[k]) and np.isnan(usl[k]):
            why[name] = "no spec limits"
        elif count[k] < 2:
            why[name] = f"{int(count[k])} measured value(s)"
    table.attrs["untestable"] = why
    return table


# --------------------------------------------------------------------------- retests


def first_pass_yield(ds: xr.Dataset, kind: str = "hbin") -> pd.DataFrame:
    """First-pass and final yield of every wafer, and what the retests recovered.

    The first-pass bin of a die is its bin at its first touchdown: the variable
    ``hbin_first`` / ``sbin_first`` (wafer, die) that :func:`fabnb.io.read_stdf` writes
    (-1 untested); a dataset without it but with ``touchdowns`` all ≤ 1 was never
    retested, so its first pass *is* its final result.  Columns: ``tested``,
    ``passed_first`` (first-pass bin 1), ``passed`` (final bin 1), ``first_pass_yield``
    = passed_first / tested, ``yield`` = passed / tested, ``retested`` (dies with
    ``touchdowns`` > 1, when present), ``recovered`` (failed first, passed finally) and
    ``recovery`` = recovered / (tested − passed_first), the share of first-pass fails
    the retests turned into passes (NaN where nothing failed first).

    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=0)
    >>> t = first_pass_yield(ds)  # never retested: first pass = final
    >>> bool((t["first_pass_yield"] == t["yield"]).all())
    True
    """
    final = bin_codes(ds, kind)
    first_name = f"{kind}_first"
    if first_name in ds:
        first = ds[first_name]
    elif "touchdowns" in ds and int(ds["touchdowns"].max()) > 1:
        raise FabDataError(
            f"dataset has retested dies (touchdowns > 1) but no '{first_name}' variable: the "
            f"first-pass bins are unknown; read the files with a reader that records them "
            f"({first_name} (wafer, die): bin of each die's first touchdown)"
        )
    else:
        first = final
    f_bins = np.asarray(first.transpose("wafer", "die").values)
    bins = np.asarray(final.transpose("wafer", "die").values)
    tested = bins != UNTESTED_BIN
    passed_first = tested & (f_bins == PASS_BIN)
    passed = bins == PASS_BIN
    recovered = tested & (f_bins != PASS_BIN) & passed
    table = pd.DataFrame(index=pd.Index([str(w) for w in ds["wafer"].values], name="wafer"))
    table["lot"] = [str(v) for v in ds["lot"].values]
    table["tested"] = tested.sum(axis=1)
    table["passed_first"] = passed_first.sum(axis=1)
    table["passed"] = passed.sum(axis=1)
    denom = table["tested"].where(table["tested"] > 0)
    table["first_pass_yield"] = table["passed_first"] / denom
    table["yield"] = table["passed"] / denom
    if "touchdowns" in ds:
        table["retested"] = (np.asarray(ds["touchdowns"].transpose("wafer", "die").values) > 1).sum(axis=1)
    table["recovered"] = recovered.sum(axis=1)
    failed_first = table["tested"] - table["passed_first"]
    table["recovery"] = table["recovered"] / failed_first.where(failed_first > 0)
    return table


# pytest would collect these as tests when a test module imports them by name
test_labels.__test__ = test_fail_pareto.__test__ = False
