"""Several contract Datasets (one per file) as one: wafers stacked, dies and tests unioned.

:func:`fabnb.io.read` uses it for a folder, glob or list of files that are not all
STDF (STDF files go through one :func:`fabnb.io.read_stdf` pass, which unions them in
its own kernel with the same rules).

Rules
-----
- wafers: stacked in file order; a wafer id found in two files raises
  :class:`~fabnb.FabDataError` naming both files.
- dies: the union of the ``(col, row)`` sites, ordered top to bottom, left to right;
  a site that two files place at different ``x``/``y`` raises; so do different die
  sizes, wafer diameters, notches or ``x``/``y`` units (one die grid per Dataset).
  ``zone`` is recomputed over the union when the die sets differ.
- tests: the union by name, in order of first appearance; a test whose ``unit``,
  ``lsl`` or ``usl`` differs between files raises naming the test and both files.
- a variable missing from a file, or a die/test a file lacks, is filled with the
  contract's "nothing there": NaN, bin -1, ``""``, NaT; int8 flags -1.
- attrs: the first file's, with ``product`` joining the distinct products and
  ``source`` naming every file.

Example
-------
>>> paths = ["a.xml", "b.xml"]
>>> ds = combine([fabnb.io.read(p) for p in paths], paths)   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import FabDataError
from ..geometry import radial_zones
from ..schema import validate

GEOMETRY_ATTRS = ("die_width_mm", "die_height_mm", "wafer_diameter_mm", "notch")
DIE_COORDS = ("col", "row", "x", "y", "r", "theta", "zone")


def _fill(dtype):
    """The 'nothing there' value of a dtype."""
    kind = np.dtype(dtype).kind
    return {"f": np.nan, "i": -1, "u": 0, "U": "", "O": "", "M": np.datetime64("NaT"),
            "b": False}.get(kind, np.nan)


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=0) or (a != a and b != b))
    return a == b


def combine(datasets: list[xr.Dataset], sources: list) -> xr.Dataset:
    """One validated contract Dataset from ``datasets`` (read from ``sources``, named in
    errors); see the module docstring for the rules."""
    names = [Path(s).name for s in sources]
    if len(datasets) == 1:
        return datasets[0]
    first = datasets[0]
    for ds, name in zip(datasets[1:], names[1:]):
        for key in GEOMETRY_ATTRS:
            if not _same(ds.attrs.get(key), first.attrs.get(key)):
                raise FabDataError(
                    f"{name} has {key}={ds.attrs.get(key)!r} but {names[0]} has "
                    f"{first.attrs.get(key)!r}: one Dataset holds one die grid; read them "
                    "separately")
        for axis in ("x", "y"):
            given = ds[axis].attrs.get("units"), first[axis].attrs.get("units")
            if None not in given and given[0] != given[1]:
                raise FabDataError(
                    f"{name} gives {axis} in {ds[axis].attrs.get('units')!r} but {names[0]} in "
                    f"{first[axis].attrs.get('units')!r}; read them separately")
    _check_wafers(datasets, names)
    site_of, x, y, col, row = _dies(datasets, names)
    order = np.lexsort((x, -y))
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    tests = _tests(datasets, names)
    variables = {}
    for ds in datasets:
        for k, v in ds.data_vars.items():
            variables.setdefault(k, v)
    parts = []
    for ds, sites in zip(datasets, site_of):
        parts.append(_spread(ds, rank[sites], order.size, tests, variables))
    out = xr.concat(parts, dim="wafer", data_vars="all", coords="different", compat="equals",
                    join="outer", combine_attrs="override")
    x, y = x[order], y[order]
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    if all(ds.sizes["die"] == order.size for ds in datasets) and "zone" in first.coords:
        zone = first["zone"].values[np.argsort(rank[site_of[0]])]
    else:
        zone = radial_zones(r, theta=theta)
    units = next((ds["x"].attrs["units"] for ds in datasets if "units" in ds["x"].attrs), None)
    axis_attrs = {"units": units} if units else {}
    out = out.assign_coords(
        col=("die", col[order]), row=("die", row[order]), x=("die", x, axis_attrs),
        y=("die", y, axis_attrs), r=("die", r), theta=("die", theta), zone=("die", zone))
    if tests is not None:
        out = out.assign_coords({k: ("test", v) for k, v in tests.items() if k != "test"})
    if "seq" in out.coords and len(set(out["seq"].values.tolist())) < out.sizes["wafer"]:
        out = out.assign_coords(seq=("wafer", np.arange(out.sizes["wafer"], dtype=np.int64)))
    products = list(dict.fromkeys(str(ds.attrs.get("product", "")) for ds in datasets))
    out.attrs = dict(first.attrs)
    out.attrs["product"] = ", ".join(p for p in products if p)
    out.attrs["source"] = ", ".join(names)
    return validate(out)


def _check_wafers(datasets, names) -> None:
    seen: dict[str, str] = {}
    for ds, name in zip(datasets, names):
        for wafer in ds["wafer"].values.tolist():
            other = seen.setdefault(wafer, name)
            if other != name:
                raise FabDataError(
                    f"wafer id {wafer!r} is in two files: {other} and {name}.  A re-probe or a "
                    "copy of the same wafer: read the files separately and choose, or give the "
                    "wafers distinct ids")


def _dies(datasets, names):
    """Union of the (col, row) sites: each file's site index, and x, y, col, row of the
    union (first appearance); a site placed at two positions raises."""
    keys, where, xs, ys = {}, {}, [], []
    site_of = []
    for ds, name in zip(datasets, names):
        idx = []
        for c, r, x, y in zip(ds["col"].values.tolist(), ds["row"].values.tolist(),
                              ds["x"].values.tolist(), ds["y"].values.tolist()):
            k = keys.get((c, r))
            if k is None:
                k = keys[(c, r)] = len(keys)
                where[k] = name
                xs.append(x)
                ys.append(y)
            elif not (abs(xs[k] - x) <= 1e-6 and abs(ys[k] - y) <= 1e-6):
                raise FabDataError(
                    f"die (col={c}, row={r}) is at x={x:g}, y={y:g} in {name} but at "
                    f"x={xs[k]:g}, y={ys[k]:g} in {where[k]}: the files use other die grids")
            idx.append(k)
        site_of.append(np.array(idx, dtype=np.int64))
    col = np.array([c for c, _ in keys], dtype=np.int64)
    row = np.array([r for _, r in keys], dtype=np.int64)
    return site_of, np.array(xs, dtype=float), np.array(ys, dtype=float), col, row


def _tests(datasets, names):
    """Union of the tests by name with their unit/limits (and other test coordinates);
    None when no file has tests."""
    table: dict[str, dict] = {}
    origin: dict[str, str] = {}
    extra = [k for ds in datasets for k in ds.coords
             if ds[k].dims == ("test",) and k != "test"]
    extra = list(dict.fromkeys(extra))
    if not any("test" in ds.dims for ds in datasets):
        return None
    dtypes = {}
    for ds, name in zip(datasets, names):
        if "test" not in ds.dims:
            continue
        for k in extra:
            if k in ds.coords:
                dtypes.setdefault(k, ds[k].dtype)
        for t, test in enumerate(ds["test"].values.tolist()):
            given = {k: ds[k].values[t].item() for k in extra if k in ds.coords}
            if test not in table:
                table[test], origin[test] = given, name
                continue
            for k in ("unit", "lsl", "usl"):
                if k in given and k in table[test] and not _same(given[k], table[test][k]):
                    raise FabDataError(
                        f"test {test!r} has {k}={given[k]!r} in {name} but "
                        f"{table[test][k]!r} in {origin[test]}: one test, one unit and one "
                        "pair of limits; read the files separately")
    out = {"test": np.array(list(table), dtype=str)}
    for k in extra:
        fill = _fill(dtypes[k])
        out[k] = np.array([table[t].get(k, fill) for t in table], dtype=dtypes[k])
    return out


def _spread(ds, die_pos, n_die, tests, variables) -> xr.Dataset:
    """``ds`` with its dies placed at ``die_pos`` of the union's ``n_die`` and its tests
    at the union's; variables it lacks are added, filled."""
    test_names = None if tests is None else tests["test"]
    test_pos = None
    if test_names is not None and "test" in ds.dims:
        index = {t: k for k, t in enumerate(test_names.tolist())}
        test_pos = np.array([index[t] for t in ds["test"].values.tolist()], dtype=np.int64)
    data = {}
    for name, template in variables.items():
        dims = template.dims
        shape = [ds.sizes["wafer"] if d == "wafer" else n_die if d == "die" else
                 len(test_names) if d == "test" else template.sizes[d] for d in dims]
        fill = -1 if template.dtype == np.int8 else _fill(template.dtype)
        arr = np.full(shape, fill, dtype=template.dtype if template.dtype.kind != "U" else object)
        if name in ds.data_vars:
            src = ds[name].transpose(*dims).values
            index = tuple(die_pos if d == "die" else test_pos if d == "test" else slice(None)
                          for d in dims)
            arr[np.ix_(*[i if isinstance(i, np.ndarray) else np.arange(s)
                         for i, s in zip(index, shape)])] = src
        if template.dtype.kind == "U":
            arr = arr.astype(str)
        data[name] = (dims, arr, template.attrs)
    coords = {k: ds[k] for k in ds.coords  # wafer coords, and those of other dims (step, etest)
              if ds[k].dims == ("wafer",) or not set(ds[k].dims) & {"wafer", "die", "test"}}
    if test_names is not None:
        coords["test"] = ("test", test_names)
    return xr.Dataset(data, coords=coords)
