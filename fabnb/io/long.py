"""Long (narrow-tall) tables <-> contract Datasets, CSV and Parquet files.

A long table has one row per wafer x die x test measurement, the layout of a test
floor export or a historian::

    wafer     lot    col row  x     y     test  unit  lsl  usl  value   hbin
    L01-01    L01    3   0    -5.0  35.0  T01   V     0.9  1.1  1.013   1
    ...

:func:`from_long_table` pivots it into a contract Dataset, checking on the way that
each test has one unit and one pair of limits, each die one position and one bin, each
wafer one lot/slot/time, and that no measurement is given twice with two values.
:func:`to_long_table` is its inverse.

Die geometry conventions
------------------------
- Dies are identified by ``(col, row)`` or by their centre ``(x, y)`` in mm; the other
  pair is derived.  ``col`` grows with ``x``, ``row`` grows *downwards* (``y`` up), as in
  :mod:`fabnb.geometry`.
- ``(x, y)`` only: the die pitch is ``geometry["die_width_mm"]``/``["die_height_mm"]``
  when given, else the smallest spacing between distinct x (y) values; every die must
  sit on that lattice.  ``col = round((x - min x) / pitch)``, ``row = round((max y - y) /
  pitch)``.
- ``(col, row)`` only: the die size must be given (``geometry`` or the table's
  ``attrs``).  The wafer centre is put in the middle of the grid, ``c0 = (min col + max
  col) / 2``, ``r0 = (min row + max row) / 2`` over its dies (override with
  ``geometry["center_col"]``/``["center_row"]``), so ``x = (col - c0) * width`` and
  ``y = (r0 - row) * height``.  Dies far beyond the bulk of the grid (a test structure,
  a corrupted index) are left out of those minima and maxima
  (:func:`fabnb.io._grid_centre.grid_centre`), and out of the derived wafer size
  (below), with a warning naming them and how many lie outside the wafer; they stay
  dies.
- ``r``, ``theta`` come from ``x``, ``y``; ``zone`` from a ``zone`` column when there is
  one, else four balanced radial zones (:func:`fabnb.geometry.radial_zones`) over the
  dies present in the table.
- Dies are ordered top to bottom, left to right by position (``die_grid``'s order;
  row by row, also when rows grow upwards);
  wafers and tests in order of first appearance.
- Every wafer x die of a Dataset is written, measured or not (a die with a bin but no
  value keeps a row with an empty value), so a round trip keeps the die set and bins.
- Memory: a Dataset is a dense wafers x dies x tests cube, however sparse the table;
  :func:`from_long_table` refuses one beyond ``max_gb`` before allocating it.
- Missing geometry attributes: ``die_width_mm``/``die_height_mm`` from the pitch,
  ``wafer_diameter_mm`` the smallest standard wafer (100 ... 450 mm) holding every die
  whole (every die but those set aside for the centre),
  ``edge_exclusion_mm`` 0, ``notch`` "down".  A table's ``DataFrame.attrs`` (kept by
  Parquet, set by :func:`to_long_table`) supply these before any guess.

Example
-------
>>> import numpy as np, fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> df = fabnb.io.to_long_table(ds)
>>> list(df.columns[-7:])
['test', 'unit', 'lsl', 'usl', 'value', 'hbin', 'sbin']
>>> back = fabnb.io.from_long_table(df)
>>> np.array_equal(back["value"].values, ds["value"].values, equal_nan=True)
True
"""

from __future__ import annotations

import json
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Interval, Real, check_option, check_params
from ..errors import FabDataError, FabParameterError
from ..geometry import radial_zones
from ..schema import SCHEMA_VERSION, UNTESTED_BIN, validate
from .._warn import user_stacklevel
from ._grid_centre import GridCentre, aside_note, grid_centre, grid_diameter, wafer_note
from .store import atomic_path

#: standard wafer diameters (mm) tried, smallest first, when none is given
STANDARD_DIAMETERS_MM = (100.0, 125.0, 150.0, 200.0, 300.0, 450.0)
GEOMETRY_KEYS = ("wafer_diameter_mm", "die_width_mm", "die_height_mm", "edge_exclusion_mm",
                 "notch", "center_col", "center_row")
DUPLICATE_POLICIES = ("error", "first", "last", "mean")
#: default ceiling (GB) on the arrays :func:`from_long_table` allocates (``max_gb``)
MAX_GB = 2.0
#: die indices beyond this are no die map (a corrupt or mis-mapped column)
MAX_DIE_INDEX = 2**31 - 1
#: integers beyond this do not survive a float64 column exactly
MAX_EXACT_INTEGER = 2**53
#: ``DataFrame.attrs`` key naming the per-die variable columns (kept by Parquet)
DIE_VARIABLES_ATTR = "long_table_die_variables"
#: ``DataFrame.attrs`` key naming the per-measurement variable columns (STDF's ``test_flag``)
TEST_VARIABLES_ATTR = "long_table_test_variables"
#: ``DataFrame.attrs`` key holding the ``units`` of the x/y columns ("mm" or "die pitch")
XY_UNITS_ATTR = "long_table_xy_units"
#: ``DataFrame.attrs`` key of the layout, and of a wide table's test columns
LAYOUT_ATTR, WIDE_TESTS_ATTR = "long_table_layout", "wide_table_tests"
#: table-only attrs: they describe the table's columns, not the Dataset
TABLE_ATTRS = (DIE_VARIABLES_ATTR, TEST_VARIABLES_ATTR, XY_UNITS_ATTR, LAYOUT_ATTR,
               WIDE_TESTS_ATTR)
_SHOW = 5  # how many offenders an error message lists
WAFER_COLUMNS = ("wafer", "lot", "slot", "seq", "time")
DIE_COLUMNS = ("col", "row", "x", "y", "zone")
TEST_COLUMNS = ("test", "test_num", "unit", "lsl", "usl")
_NA_TOKENS = ["", "NA", "N/A", "NaN", "nan", "-nan", "null", "NULL", "None", "#N/A"]


# --------------------------------------------------------------------------- helpers


def _column(df: pd.DataFrame, given, default: str, required: bool = False):
    """Name of the column to use: ``given`` (must exist), else ``default`` if present."""
    if given is not None:
        if given not in df.columns:
            raise FabDataError(
                f"column '{given}' (for {default}) is not in the table; columns: {list(df.columns)}"
            )
        return given
    if default in df.columns:
        return default
    if required:
        raise FabDataError(f"table has no '{default}' column; columns: {list(df.columns)}")
    return None


def _rows(mask, limit=_SHOW) -> str:
    """The first few positions (0-based, in table order) where ``mask`` is true."""
    idx = np.flatnonzero(mask)
    more = f" and {idx.size - limit} more" if idx.size > limit else ""
    return ", ".join(str(i) for i in idx[:limit]) + more


def _ids(df, name) -> tuple[np.ndarray, np.ndarray]:
    """Codes (order of first appearance) and string labels of an id column."""
    codes, uniques = pd.factorize(df[name])
    missing = codes < 0
    if missing.any():
        raise FabDataError(f"column '{name}' has missing values at table rows {_rows(missing)}")
    return codes.astype(np.int64), np.array([str(u) for u in uniques], dtype=str)


def _numbers(df, name) -> np.ndarray:
    """float64 values of a column; NaN where missing; text that is no number is an error."""
    s = df[name]
    try:
        num = pd.to_numeric(s, errors="coerce")
    except OverflowError:  # pandas raises on integer text beyond float64 despite "coerce"
        num = pd.Series([_float_or_nan(v) for v in s], index=s.index)
    bad = (num.isna() & s.notna()).to_numpy()
    if bad.any():
        raise FabDataError(
            f"column '{name}' has non-numeric values at table rows {_rows(bad)} "
            f"(e.g. {s[bad].iloc[0]!r})"
        )
    return num.to_numpy(dtype=float, na_value=np.nan)


def _float_or_nan(v) -> float:
    """``float(v)``, +-inf for an integer beyond float64, NaN when it is no number."""
    try:
        return float(v)
    except OverflowError:  # a Python int the CSV parser kept exact
        return np.inf if v > 0 else -np.inf
    except (TypeError, ValueError):
        return np.nan


def _coordinate(df, name) -> np.ndarray:
    values = _numbers(df, name)
    bad = ~np.isfinite(values)
    if bad.any():
        raise FabDataError(f"non-finite die coordinate '{name}' at table rows {_rows(bad)}")
    return values


def _check_integral(values, name, limit=MAX_EXACT_INTEGER) -> None:
    """Integers (NaN allowed) no larger than ``limit``; a cast would wrap beyond it."""
    bad = np.isinf(values) | (values != np.round(values)) & ~np.isnan(values)
    if bad.any():
        raise FabDataError(f"column '{name}' must hold integers; not at table rows {_rows(bad)}")
    big = np.abs(values) > limit
    if big.any():
        raise FabDataError(f"column '{name}' holds integers beyond {limit:.3g} at table rows "
                           f"{_rows(big)} (e.g. {values[big][0]:.6g})")


def _integers(df, name) -> np.ndarray:
    values = _coordinate(df, name)
    _check_integral(values, name, MAX_DIE_INDEX)
    return values.astype(np.int64)


def _one_per_group(codes, values, missing, n, fill, what, name_of, word="conflicting",
                   show=None):
    """The single value each group holds (``fill`` where it holds none).

    Rows with ``missing`` give no value.  A group with two distinct values raises,
    naming the first few groups and their values (``show`` maps a value for the message).
    """
    given = ~missing
    g, v = codes[given], values[given]
    out = np.full(n, fill, dtype=values.dtype)
    out[g] = v  # some row's value per group; if they all agree it is *the* value
    clash = v != out[g]
    if clash.any():
        bad = np.unique(g[clash])
        show = show or _plain
        shown = "; ".join(
            f"{name_of(k)}: {', '.join(repr(show(x)) for x in pd.unique(v[g == k]))}"
            for k in bad[:_SHOW]
        )
        more = f" (and {bad.size - _SHOW} more)" if bad.size > _SHOW else ""
        raise FabDataError(f"{word} {what} for {shown}{more}")
    return out


@dataclass(frozen=True)
class _Groups:
    """Table rows grouped by a key (test, wafer, die, wafer x die), one value each."""

    codes: np.ndarray
    n: int
    name_of: Callable[[int], str]

    def one(self, values, missing, fill, what, word="conflicting", show=None):
        return _one_per_group(self.codes, values, missing, self.n, fill, what, self.name_of, word,
                              show)

    def text(self, df, column, fill, what, word="conflicting") -> np.ndarray:
        """Labels per group; ``fill`` where none is given (``None``: every group needs one)."""
        if column is None:
            return np.full(self.n, fill, dtype=object).astype(str)
        codes, uniques = pd.factorize(df[column])  # compare small integer codes, not text
        labels = np.array([str(u) for u in uniques] + [fill], dtype=object)  # code -1: fill
        out = self.one(codes.astype(np.int64), codes < 0, -1, what, word, show=labels.__getitem__)
        if fill is None:
            self._require(out < 0, column, what)
        return labels[out].astype(str)

    def number(self, df, column, fill, what) -> np.ndarray:
        if column is None:
            return np.full(self.n, fill, dtype=float)
        v = _numbers(df, column)
        return self.one(v, np.isnan(v), fill, what)

    def integer(self, df, column, fill, what) -> np.ndarray:
        """Integers per group; ``fill`` where none is given (``None``: every group needs one)."""
        v = _numbers(df, column)
        _check_integral(v, column)
        out = self.one(v, np.isnan(v), np.nan if fill is None else float(fill), what)
        self._require(np.isnan(out), column, what)
        return out.astype(np.int64)

    def _require(self, lacking, column, what):
        if np.any(lacking):
            first = self.name_of(int(np.flatnonzero(lacking)[0]))
            raise FabDataError(f"column '{column}' gives no {what} for {first}")


def _plain(v):
    """Python scalar of a numpy/pandas scalar (for messages and JSON attrs)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v.item() if isinstance(v, np.generic) else v


def _pitch(positions, what: str) -> float:
    """Smallest spacing between distinct die positions along one axis."""
    u = np.unique(positions)
    steps = np.diff(u)
    steps = steps[steps > 1e-9 * max(1.0, np.abs(u).max())]
    if steps.size == 0:
        raise FabDataError(
            f"cannot infer the die {what} from a single '{'x' if what == 'width' else 'y'}' "
            f"position; pass geometry={{'die_{what}_mm': ...}}"
        )
    return float(steps.min())


def _slope(index, position) -> float | None:
    """Die pitch from (index, position) pairs: the span over the index range."""
    lo, hi = np.argmin(index), np.argmax(index)
    if index[lo] == index[hi]:
        return None
    return float(abs(position[hi] - position[lo]) / (index[hi] - index[lo]))


def _lattice(pos, pitch, origin, name, sign=1.0) -> np.ndarray:
    """Lattice index of each position; positions off the lattice are an error."""
    k = sign * (pos - origin) / pitch
    idx = np.round(k)
    off = ~(np.abs(k - idx) <= 1e-3)  # also catches inf/NaN from an extreme position
    if off.any():
        raise FabDataError(
            f"'{name}' positions are not on a regular grid of pitch {pitch:g} mm at table rows "
            f"{_rows(off)}; pass geometry with the die size"
        )
    far = idx > MAX_DIE_INDEX
    if far.any():
        raise FabDataError(
            f"'{name}' positions span more than {MAX_DIE_INDEX} die pitches of {pitch:g} mm "
            f"(table rows {_rows(far)}); check the column and the die size"
        )
    return idx.astype(np.int64)


def _diameter(x, y, w, h, aside) -> float:
    """The smallest standard wafer holding every die whole, the dies set ``aside`` for the
    centre left out (:func:`fabnb.io._grid_centre.grid_diameter`)."""
    least = grid_diameter(x, y, w, h, aside)
    for d in STANDARD_DIAMETERS_MM:
        if d >= least - 2e-9:
            return d
    return float(np.ceil(least))


# --------------------------------------------------------------------------- dies


def _dies(df, cols, geo):
    """Per-row die index and the die table (col, row, x, y) ordered by (row, col), and the
    centre of a col/row grid (``None`` when the table gives x/y)."""
    have_cr = cols["col"] is not None or cols["row"] is not None
    have_xy = cols["x"] is not None or cols["y"] is not None
    for a, b in (("col", "row"), ("x", "y")):
        if (cols[a] is None) != (cols[b] is None):
            missing = b if cols[b] is None else a
            raise FabDataError(f"table has '{cols[a] or cols[b]}' but no '{missing}' column")
    if not (have_cr or have_xy):
        raise FabDataError(
            f"table has no die coordinates: needs columns 'col'/'row' or 'x'/'y'; "
            f"columns: {list(df.columns)}"
        )
    w, h = geo.get("die_width_mm"), geo.get("die_height_mm")
    if have_xy:
        x, y = _coordinate(df, cols["x"]), _coordinate(df, cols["y"])
    if have_cr:
        col, row = _integers(df, cols["col"]), _integers(df, cols["row"])
        if have_xy:
            w = w if w is not None else _slope(col, x)
            h = h if h is not None else _slope(row, y)
        elif w is None or h is None:
            raise FabDataError(
                "table has 'col'/'row' but no 'x'/'y': pass x=/y= columns or "
                "geometry={'die_width_mm': ..., 'die_height_mm': ...} to place the dies"
            )
    else:
        w = float(w) if w is not None else _pitch(x, "width")
        h = float(h) if h is not None else _pitch(y, "height")
        col = _lattice(x, w, x.min(), cols["x"])
        row = _lattice(y, h, y.max(), cols["y"], sign=-1.0)

    # ranks, not raw indices, so the key stays below (rows in the table)**2: no overflow
    col_u, col_k = np.unique(col, return_inverse=True)
    row_u, row_k = np.unique(row, return_inverse=True)
    site = row_k * col_u.size + col_k  # sorts by (row, col) like die_grid
    sites, codes = np.unique(site, return_inverse=True)
    n_die = sites.size
    die_row, die_col = row_u[sites // col_u.size], col_u[sites % col_u.size]

    def name_of(k):
        return f"die (col={die_col[k]}, row={die_row[k]})"

    if have_xy:
        none = np.zeros(codes.size, dtype=bool)
        die_x = _one_per_group(codes, x, none, n_die, np.nan, "x", name_of)
        die_y = _one_per_group(codes, y, none, n_die, np.nan, "y", name_of)
        # top to bottom, left to right by position: rows may grow upwards (STDF POS_Y "U")
        order = np.lexsort((die_x, -die_y))
        rank = np.empty(n_die, dtype=np.int64)
        rank[order] = np.arange(n_die)
        codes = rank[codes]
        die_col, die_row, die_x, die_y = die_col[order], die_row[order], die_x[order], die_y[order]
        centre = None
    else:
        centre = _centre(die_col, die_row, geo)
        die_x = (die_col - centre.col) * float(w)
        die_y = (centre.row - die_row) * float(h)
    if w is None or h is None:
        raise FabDataError(
            "cannot infer the die size from a single die column/row; "
            "pass geometry={'die_width_mm': ..., 'die_height_mm': ...}"
        )
    dies = {"col": die_col, "row": die_row, "x": die_x, "y": die_y}
    return codes, dies, float(w), float(h), name_of, centre


def _centre(die_col, die_row, geo) -> GridCentre:
    """The wafer centre's column and row index: ``geometry``'s, else the middle of the
    grid (far-out dies set aside: :func:`_warn_aside` says so once the size is known)."""
    if "center_col" in geo and "center_row" in geo:
        return GridCentre(geo["center_col"], geo["center_row"], np.zeros(die_col.shape, bool))
    centre = grid_centre(die_col, die_row)
    return centre._replace(col=geo.get("center_col", centre.col),
                           row=geo.get("center_row", centre.row))


def _warn_aside(centre, dies, diameter, derived) -> None:
    """Name the dies set aside for the centre, and where they lie against the wafer."""
    if centre is None or not centre.aside.any():
        return
    warnings.warn(f"from_long_table: {aside_note(centre, dies['col'], dies['row'])}; "
                  f"{wafer_note(diameter, dies['x'], dies['y'], centre.aside, derived)}; pass "
                  "geometry={'center_col': ..., 'center_row': ..., 'wafer_diameter_mm': ...} "
                  "to place the centre and size the wafer yourself",
                  stacklevel=user_stacklevel())


# --------------------------------------------------------------------------- values


def _pivot_values(flat_key, values, size, duplicates, describe):
    """Scatter measurements into a flat array, handling repeated keys.

    Exact repeats (same key, same value) collapse with a warning; repeats with
    different values raise unless ``duplicates`` picks first/last/mean.
    """
    out = np.full(size, np.nan)
    measured = ~np.isnan(values)
    keys, vals = flat_key[measured], values[measured]
    if np.bincount(keys, minlength=size).max(initial=0) <= 1:  # the usual case: no repeats
        out[keys] = vals
        return out
    order = np.argsort(keys, kind="stable")  # stable: table order within a key
    keys, vals = keys[order], vals[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    end = np.r_[start[1:], keys.size] - 1
    count = end - start + 1
    lo, hi = np.minimum.reduceat(vals, start), np.maximum.reduceat(vals, start)
    conflict = lo != hi
    exact = int((count - 1)[~conflict].sum())
    if exact:
        warnings.warn(f"{exact} exact duplicate measurement row(s) collapsed", stacklevel=user_stacklevel())
    chosen = vals[start]
    if conflict.any():
        n_bad = int(conflict.sum())
        if duplicates == "error":
            shown = "; ".join(
                f"{describe(keys[s])}: values {vals[s:e + 1].tolist()}"
                for s, e in zip(start[conflict][:_SHOW], end[conflict][:_SHOW])
            )
            raise FabDataError(
                f"{n_bad} conflicting duplicate measurement(s) (same wafer/die/test, different "
                f"values): {shown}; pass duplicates='first', 'last' or 'mean' to resolve"
            )
        if duplicates == "last":
            chosen = vals[end]
        elif duplicates == "mean":
            chosen = np.add.reduceat(vals, start) / count
        warnings.warn(
            f"{n_bad} conflicting duplicate measurement(s) resolved with duplicates={duplicates!r}",
            stacklevel=user_stacklevel(),
        )
    out[keys[start]] = chosen
    return out


def _geometry(df, geometry) -> dict:
    geo = {k: df.attrs[k] for k in GEOMETRY_KEYS if k in df.attrs}
    geometry = dict(geometry or {})
    for key in geometry:
        check_option("from_long_table", "geometry key", key, GEOMETRY_KEYS)
    geo.update(geometry)
    return geo


def from_long_table(
    df: pd.DataFrame,
    wafer="wafer",
    x=None,
    y=None,
    col=None,
    row=None,
    test="test",
    value="value",
    lot=None,
    slot=None,
    seq=None,
    time=None,
    zone=None,
    unit=None,
    lsl=None,
    usl=None,
    hbin=None,
    sbin=None,
    geometry=None,
    product=None,
    duplicates="error",
    die_variables=None,
    max_gb=MAX_GB,
) -> xr.Dataset:
    """Build a contract Dataset from a long table (one row per wafer x die x test).

    Parameters
    ----------
    df
        The table.  Its ``attrs`` (as set by :func:`to_long_table`, kept by Parquet)
        provide product and geometry attributes unless given here.
    wafer, test, value
        Column names (required).
    x, y, col, row, lot, slot, seq, time, zone, unit, lsl, usl, hbin, sbin
        Column names; ``None`` uses the column of that same name when the table has
        one.  Dies need ``col``/``row`` or ``x``/``y`` (see the module docstring for
        how the other pair is derived).  Without ``lot`` every lot is ``""``; without
        ``slot`` wafers are numbered 1, 2, ... within their lot in order of appearance.
    geometry
        ``{"wafer_diameter_mm", "die_width_mm", "die_height_mm", "edge_exclusion_mm",
        "notch", "center_col", "center_row"}``, any subset.
    product
        The ``product`` attribute (default: the table's ``attrs``, else "unknown").
    duplicates
        A measurement given twice with different values raises (``"error"``) or is
        resolved: ``"first"``/``"last"`` in table order, or ``"mean"``; a warning
        says how many.  Exact repeats always collapse, with a warning.
    die_variables
        Further columns holding one value per wafer x die (STDF's ``site``,
        ``touchdowns``, ``part_id``, ...), restored as ``(wafer, die)`` variables:
        integer columns as int64 (-1 where a wafer x die has no row), other numbers as
        float (NaN), text as str ("").  Default: the table's
        ``attrs["long_table_die_variables"]`` (set by :func:`to_long_table`, kept by
        Parquet); a CSV keeps no types, so an id like ``"0042"`` comes back as ``42``.
    max_gb
        Ceiling on the arrays built, in GB (1e9 bytes).  A contract Dataset is dense:
        ``value`` holds wafers x dies x tests float64 cells however few rows the table
        has, with dies shared by all wafers.  Beyond ``max_gb`` (default
        :data:`MAX_GB`) a :class:`FabDataError` names the size and its cause before
        anything is allocated; raise it when the memory is there.

    Raises
    ------
    FabDataError
        naming the column, test, wafer or die: a missing column, non-finite or
        non-integer coordinates, a test with mixed units or conflicting limits, a die
        with two positions or two bins, conflicting duplicate measurements, a wafer
        with no data, a Dataset larger than ``max_gb``.
    FabParameterError
        a ``duplicates`` policy that is not one of :data:`DUPLICATE_POLICIES`.

    Example
    -------
    >>> import pandas as pd, fabnb
    >>> df = pd.DataFrame({"wafer": ["W1", "W1"], "col": [0, 1], "row": [0, 0],
    ...                    "test": ["T01", "T01"], "value": [1.0, 2.0]})
    >>> ds = fabnb.io.from_long_table(df, geometry={"die_width_mm": 10, "die_height_mm": 10})
    >>> ds["value"].sel(test="T01").values.tolist()
    [[1.0, 2.0]]
    >>> ds["x"].values.tolist()
    [-5.0, 5.0]
    """
    if not isinstance(df, pd.DataFrame):
        raise FabDataError(f"expected a pandas DataFrame, got {type(df).__name__}")
    check_option("from_long_table", "duplicates", duplicates, DUPLICATE_POLICIES)
    check_params("from_long_table", {"max_gb": [Interval(Real, 0, None, closed="neither")]},
                 {"max_gb": max_gb})
    if len(df) == 0:
        raise FabDataError("the table has no rows")
    given = {"wafer": wafer, "test": test, "value": value, "x": x, "y": y, "col": col,
             "row": row, "lot": lot, "slot": slot, "seq": seq, "time": time, "zone": zone,
             "unit": unit, "lsl": lsl, "usl": usl, "hbin": hbin, "sbin": sbin}
    cols = {name: _column(df, column, name, required=name in ("wafer", "test", "value"))
            for name, column in given.items()}
    if die_variables is None:
        die_variables = df.attrs.get(DIE_VARIABLES_ATTR, ())
    elif isinstance(die_variables, str):
        die_variables = [die_variables]
    die_variables = [_column(df, c, c, required=True) for c in die_variables]
    geo = _geometry(df, geometry)

    wafer_code, wafer_ids = _ids(df, cols["wafer"])
    test_code, test_ids = _ids(df, cols["test"])
    values = _numbers(df, cols["value"])
    inf = np.isinf(values)
    if inf.any():
        raise FabDataError(f"infinite values in '{cols['value']}' at table rows {_rows(inf)}")
    die_code, dies, w, h, die_name, centre = _dies(df, cols, geo)
    n_w, n_d, n_t = len(wafer_ids), dies["col"].size, len(test_ids)
    per_die = len(die_variables) + sum(cols[b] is not None for b in ("hbin", "sbin"))
    _check_size(n_w, n_d, n_t, per_die, len(df), max_gb)
    wafers = _Groups(wafer_code, n_w, lambda k: f"wafer {wafer_ids[k]}")
    tests = _Groups(test_code, n_t, lambda k: f"test {test_ids[k]}")
    sites = _Groups(wafer_code.astype(np.int64) * n_d + die_code, n_w * n_d,
                    lambda k: f"wafer {wafer_ids[k // n_d]}, {die_name(k % n_d)}")

    x_d, y_d = dies["x"], dies["y"]
    r, theta = np.hypot(x_d, y_d), np.arctan2(y_d, x_d)
    if cols["zone"] is not None:
        zone_d = _Groups(die_code, n_d, die_name).text(df, cols["zone"], None, "zone")
    else:
        zone_d = radial_zones(r, theta=theta)

    def measurement_name(k):
        return f"{sites.name_of(k // n_t)}, test {test_ids[k % n_t]}"

    value_arr = _pivot_values(sites.codes * n_t + test_code, values, n_w * n_d * n_t,
                              duplicates, measurement_name)
    data = {"value": (("wafer", "die", "test"), value_arr.reshape(n_w, n_d, n_t))}
    for b in ("hbin", "sbin"):
        if cols[b] is not None:
            per = sites.integer(df, cols[b], UNTESTED_BIN, b)
            data[b] = (("wafer", "die"), per.reshape(n_w, n_d))
    for name in die_variables:
        if name in data or name in cols.values():
            raise FabDataError(f"die variable '{name}' is also a column of the contract")
        data[name] = (("wafer", "die"), _die_variable(df, name, sites).reshape(n_w, n_d))
    for name in df.attrs.get(TEST_VARIABLES_ATTR, ()):
        if name in df.columns:
            flat = _test_variable(df, name, sites.codes * n_t + test_code, n_w * n_d * n_t)
            data[name] = (("wafer", "die", "test"), flat.reshape(n_w, n_d, n_t))
    xy = {"units": df.attrs.get(XY_UNITS_ATTR, "mm")}  # a table's x/y are mm unless it says

    coords = {
        "wafer": ("wafer", wafer_ids),
        **{k: ("wafer", v) for k, v in _wafer_coords(df, cols, wafers).items()},
        "col": ("die", dies["col"]),
        "row": ("die", dies["row"]),
        "x": ("die", x_d, xy),
        "y": ("die", y_d, xy),
        "r": ("die", r),
        "theta": ("die", theta),
        "zone": ("die", zone_d),
        "test": ("test", test_ids),
        "unit": ("test", tests.text(df, cols["unit"], "", "units", word="mixed")),
        "lsl": ("test", tests.number(df, cols["lsl"], np.nan, "lsl")),
        "usl": ("test", tests.number(df, cols["usl"], np.nan, "usl")),
    }
    if "test_num" in df.columns:  # STDF's TEST_NUM, one per test
        coords["test_num"] = ("test", tests.integer(df, "test_num", -1, "test_num"))
    derived = "wafer_diameter_mm" not in geo
    aside = None if centre is None else centre.aside
    diameter = float(_diameter(x_d, y_d, w, h, aside) if derived else geo["wafer_diameter_mm"])
    _warn_aside(centre, dies, diameter, derived)
    attrs = {k: _plain(v) for k, v in df.attrs.items()
             if k not in GEOMETRY_KEYS and k not in TABLE_ATTRS}
    attrs.update(
        product=product if product is not None else df.attrs.get("product", "unknown"),
        wafer_diameter_mm=diameter,
        die_width_mm=w,
        die_height_mm=h,
        edge_exclusion_mm=float(geo.get("edge_exclusion_mm", 0.0)),
        notch=geo.get("notch", "down"),
        schema_version=SCHEMA_VERSION,
    )
    return validate(xr.Dataset(data, coords=coords, attrs=attrs))


def _check_size(n_w, n_d, n_t, n_die_vars, n_rows, max_gb) -> None:
    """Refuse, before allocating, a Dataset larger than ``max_gb``."""
    cells = n_w * n_d * (n_t + n_die_vars)  # Python ints: no overflow
    gb = cells * 8 / 1e9
    if gb <= max_gb:
        return
    filled = n_rows / max(n_w * n_d * n_t, 1)
    raise FabDataError(
        f"the Dataset of this table needs {gb:.3g} GB (max_gb={max_gb:g}): {n_w} wafers x "
        f"{n_d} dies x {n_t} tests float64, for {n_rows} table rows ({100 * filled:.2g} % of the "
        f"cells); the dies of all wafers form one die set, so wafers that each measure "
        f"other dies or tests make it large.  Check the wafer/die/test columns (a mis-mapped "
        f"column gives one die per row), read fewer wafers or tests at a time, or pass "
        f"max_gb= when the memory is there"
    )


def _die_variable(df, name, sites) -> np.ndarray:
    """One value per wafer x die of an extra column (see ``die_variables``)."""
    s = df[name]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        return sites.text(df, name, "", name)
    if pd.api.types.is_integer_dtype(s):
        return sites.integer(df, name, -1, name)
    return sites.number(df, name, np.nan, name)


def _test_variable(df, name, key, size) -> np.ndarray:
    """A per-measurement column (STDF's ``test_flag``) back on the flat (wafer, die, test)
    grid: int8 when it holds small integers (-1 where no row gives one), else float."""
    v = _numbers(df, name)
    given = ~np.isnan(v)
    small = np.all(np.abs(v[given]) <= 127) and np.all(v[given] == np.round(v[given]))
    out = np.full(size, -1 if small else np.nan, dtype=np.int8 if small else float)
    out[key[given]] = v[given]
    return out


def _wafer_coords(df, cols, wafers) -> dict:
    """lot, slot (and seq, time when given), one per wafer."""
    out = {"lot": wafers.text(df, cols["lot"], "", "lot")}
    if cols["slot"] is not None:
        out["slot"] = wafers.integer(df, cols["slot"], None, "slot")
    else:  # 1, 2, ... within each lot, in order of appearance
        out["slot"] = pd.Series(out["lot"]).groupby(out["lot"]).cumcount().to_numpy() + 1
    if cols["seq"] is not None:
        out["seq"] = wafers.integer(df, cols["seq"], None, "seq")
    if cols["time"] is not None:
        try:
            stamps = pd.to_datetime(df[cols["time"]]).to_numpy()
        except (ValueError, TypeError) as err:
            raise FabDataError(f"column '{cols['time']}' is not a date/time: {err}") from err
        out["time"] = wafers.one(stamps, np.isnat(stamps), np.datetime64("NaT"), "time")
    return out


def to_long_table(ds: xr.Dataset, tests=None, dropna: bool = True) -> pd.DataFrame:
    """The long table of a contract Dataset: one row per wafer x die x test.

    Columns: ``wafer, lot, slot[, seq][, time], col, row, x, y, zone, test[, test_num],
    unit, lsl, usl, value[, hbin, sbin]``, then one column per further ``(wafer, die)``
    variable (STDF's ``site``, ``touchdowns``, ``part_id``, ``hbin_first``, ...; named in
    ``df.attrs["long_table_die_variables"]``) and per integer ``(wafer, die, test)``
    variable (STDF's ``test_flag``; ``df.attrs["long_table_test_variables"]``); rows
    ordered by wafer, die, test.  The x/y ``units`` go to
    ``df.attrs["long_table_xy_units"]``.  Label
    columns (wafer, lot, zone, test, unit) are pandas Categoricals: each id repeats on
    many rows, and Parquet stores them dictionary-encoded.

    ``dropna`` (default) leaves out unmeasured (NaN) values without a pass/fail flag, but
    no die: a wafer x die
    with no measured value keeps one row (its first test, empty value) carrying its bins
    and die variables, so dies that were binned but not measured, and the die set itself,
    survive; each test keeps one row too (first wafer and die), with its unit and limits.
    ``df.attrs`` gets the Dataset's attributes, so ``from_long_table(to_long_table(ds))``
    equals ``ds``.  What has no place in a long table (variables such as ``vmin``,
    ``etest_value``, ``tool``; coordinates other than the columns above) is named in a
    warning: keep it with :func:`fabnb.io.write_netcdf`.

    Example
    -------
    >>> df = fabnb.io.to_long_table(ds, tests=["T01"])        # doctest: +SKIP
    """
    check_params("to_long_table", {"dropna": ["boolean"]}, {"dropna": dropna})
    validate(ds)
    if "value" not in ds:
        raise FabDataError("to_long_table needs a 'value' variable (the dataset has bins only)")
    if tests is not None:
        tests = [tests] if isinstance(tests, str) else list(tests)
        missing = [t for t in tests if t not in ds.indexes["test"]]
        if missing:
            raise FabDataError(f"test(s) not in the dataset: {missing}")
        ds = ds.sel(test=tests)
    n_w, n_d, n_t = ds.sizes["wafer"], ds.sizes["die"], ds.sizes["test"]
    if n_t == 0:
        raise FabDataError("to_long_table needs at least one test (every row names one)")
    value = ds["value"].transpose("wafer", "die", "test").values
    per_test = [name for name, var in ds.data_vars.items()
                if set(var.dims) == {"wafer", "die", "test"} and name != "value"
                and var.dtype.kind in "iu"]
    flags = {name: ds[name].transpose("wafer", "die", "test").values for name in per_test}
    if dropna:
        keep = ~np.isnan(value)
        for flag in flags.values():  # a pass/fail without a value (FTR) keeps its row
            keep |= flag != -1
        keep[:, :, 0] |= ~keep.any(axis=2)  # a die with no value keeps a row for its bins
        keep[0, 0, :] = True  # every test keeps a row, so its unit and limits survive
    else:
        keep = np.ones(value.shape, dtype=bool)
    w, d, t = np.nonzero(keep)  # row order: wafer, die, test

    columns = {}
    for names, index in ((WAFER_COLUMNS, w), (DIE_COLUMNS, d), (TEST_COLUMNS, t)):
        for name in names:
            if name in ds.coords:
                columns[name] = _repeat(ds[name].values, index)
    columns["value"] = value[w, d, t]
    per_die = [name for name, var in ds.data_vars.items()
               if set(var.dims) == {"wafer", "die"} and name not in ("hbin", "sbin")]
    for name in ("hbin", "sbin", *per_die):
        if name in ds:
            columns[name] = _repeat(ds[name].transpose("wafer", "die").values[w, d])
    for name, flag in flags.items():
        columns[name] = flag[w, d, t]
    _warn_left_out(ds, columns)
    return _frame(ds, columns, {DIE_VARIABLES_ATTR: per_die, TEST_VARIABLES_ATTR: per_test})


def _frame(ds: xr.Dataset, columns: dict, table_attrs: dict) -> pd.DataFrame:
    """The table with the Dataset's attrs and what the reader needs to rebuild it
    (``table_attrs`` that are empty are left out)."""
    df = pd.DataFrame(columns)
    df.attrs = {k: _plain(v) for k, v in ds.attrs.items()}
    df.attrs.update({k: v for k, v in table_attrs.items() if v})
    if "units" in ds["x"].attrs:
        df.attrs[XY_UNITS_ATTR] = str(ds["x"].attrs["units"])
    return df


def _warn_left_out(ds: xr.Dataset, columns: dict) -> None:
    """Say which variables and coordinates a long table cannot hold (never drop silently)."""
    left = [n for n in ds.data_vars if n not in columns and n != "value"]
    derived = ("r", "theta")  # from_long_table recomputes them from x, y
    left += [n for n in ds.coords if n not in columns and n not in ds.dims and n not in derived]
    if left:
        warnings.warn(f"to_long_table: {', '.join(map(str, left))} have no place in a long table "
                      "(one row per wafer x die x test) and are left out; write_netcdf/"
                      "write_zarr keep them", stacklevel=user_stacklevel())


def _repeat(values: np.ndarray, index: np.ndarray | None = None):
    """``values[index]``; labels as a Categorical, as each id repeats many times."""
    if values.dtype.kind not in "UOT":
        return values if index is None else values[index]
    codes, labels = pd.factorize(values)
    return pd.Categorical.from_codes(codes if index is None else codes[index], categories=labels)


# --------------------------------------------------------------------------- files


def _table_format(p: Path) -> str:
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".tsv", ".tsv.gz")):
        return "tsv"
    if name.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    return ""


#: a CSV's metadata block: leading lines ``# key: <JSON>`` (see :func:`write_table`)
HEADER_PREFIX = "# "
#: the table layouts :func:`write_table` writes and :func:`read_table` reads
LAYOUTS = ("long", "wide")
#: per-die columns of a wide table that are die variables even without a metadata block
KNOWN_DIE_VARIABLES = ("part_id", "site", "touchdowns", "hbin_first", "sbin_first",
                       "first_fail_test")


def _open_text(p: Path):
    import gzip

    return gzip.open(p, "rt", encoding="utf-8") if p.name.lower().endswith(".gz") else \
        open(p, encoding="utf-8")


def _read_header_block(p: Path) -> tuple[dict, int]:
    """The ``# key: <JSON>`` lines opening a CSV (as a dict) and how many lines they are."""
    meta, n = {}, 0
    with _open_text(p) as fh:
        for line in fh:
            if not line.startswith(HEADER_PREFIX):
                break
            key, sep, raw = line[len(HEADER_PREFIX):].rstrip("\r\n").partition(": ")
            try:
                meta[key] = json.loads(raw) if sep else None
            except ValueError as err:
                raise FabDataError(f"{p}: header line {n + 1} ({key!r}) is not 'key: <JSON>': "
                                   f"{err}") from err
            n += 1
    return meta, n


def _read_csv(p: Path, sep: str, string_columns, skip: int = 0) -> pd.DataFrame:
    """CSV with ids kept as text (no '0001' -> 1, no 'NA' wafer -> NaN), floats exact;
    the first ``skip`` lines (the metadata block) are not table rows."""
    header = pd.read_csv(p, sep=sep, nrows=0, skiprows=skip).columns
    text = [c for c in string_columns if c in header]
    na = {c: ([""] if c in text else _NA_TOKENS) for c in header}
    return pd.read_csv(
        p, sep=sep, dtype={c: str for c in text}, keep_default_na=False, na_values=na,
        skiprows=skip,
    )


def to_wide_table(ds: xr.Dataset) -> pd.DataFrame:
    """The wide table of a contract Dataset: one row per wafer x die, one column per test.

    Columns: ``wafer, lot, slot[, seq][, time], col, row, x, y, zone``, the bins and the
    other ``(wafer, die)`` variables (``hbin, sbin``, STDF's ``part_id, site,
    touchdowns, hbin_first, sbin_first, first_fail_test``), then one column per test
    named ``"<test_num> <test>"`` when the test number is known, else the test name
    (the layout JMP, Excel and yieldHUB exports use).  Every wafer x die is a row, tested
    or not.  ``df.attrs`` holds the Dataset's attributes and, under
    ``"wide_table_tests"``, each test column's test, number, unit and limits, so
    :func:`from_wide_table` restores them.  Per-measurement variables other than
    ``value`` (STDF's ``test_flag``) have no place in it and are named in a warning:
    the long layout keeps them.

    Example
    -------
    >>> df = fabnb.io.to_wide_table(ds)                       # doctest: +SKIP
    >>> df.filter(like="1590").describe()                     # doctest: +SKIP
    """
    validate(ds)
    n_w, n_d = ds.sizes["wafer"], ds.sizes["die"]
    w, d = (a.ravel() for a in np.meshgrid(np.arange(n_w), np.arange(n_d), indexing="ij"))
    columns = {}
    for names, index in ((WAFER_COLUMNS, w), (DIE_COLUMNS, d)):
        for name in names:
            if name in ds.coords:
                columns[name] = _repeat(ds[name].values, index)
    per_die = [name for name, var in ds.data_vars.items()
               if set(var.dims) == {"wafer", "die"} and name not in ("hbin", "sbin")]
    for name in ("hbin", "sbin", *per_die):
        if name in ds:
            columns[name] = _repeat(ds[name].transpose("wafer", "die").values[w, d])
    tests = []
    if "value" in ds and ds.sizes.get("test", 0):
        value = ds["value"].transpose("wafer", "die", "test").values.reshape(n_w * n_d, -1)
        nums = ds["test_num"].values if "test_num" in ds.coords else None
        for t, name in enumerate(ds["test"].values.tolist()):
            label = f"{int(nums[t])} {name}" if nums is not None else str(name)
            if label in columns:
                raise FabDataError(f"test {name!r} would be the column {label!r}, which the "
                                   "wide table already has: use layout='long'")
            columns[label] = value[:, t]
            tests.append({"column": label, "test": name,
                          "test_num": None if nums is None else int(nums[t]),
                          "unit": str(ds["unit"].values[t]),
                          "lsl": _json_float(ds["lsl"].values[t]),
                          "usl": _json_float(ds["usl"].values[t])})
    left = [n for n, v in ds.data_vars.items() if n != "value" and n not in columns]
    left += [n for n in ds.coords if ds[n].dims == ("test",) and n not in TEST_COLUMNS]
    if left:
        warnings.warn(f"to_wide_table: {', '.join(map(str, left))} have no place in a wide table "
                      "(one row per wafer x die, one column per test) and are left out; "
                      "layout='long' or write_netcdf keep them", stacklevel=user_stacklevel())
    return _frame(ds, columns, {LAYOUT_ATTR: "wide", WIDE_TESTS_ATTR: tests, DIE_VARIABLES_ATTR: per_die})


def _json_float(v) -> float | None:
    return None if np.isnan(v) else float(v)


def from_wide_table(df: pd.DataFrame, **mapping) -> xr.Dataset:
    """A contract Dataset from a wide table (one row per wafer x die, one column per test).

    The test columns are those ``df.attrs["wide_table_tests"]`` lists (set by
    :func:`to_wide_table`, kept by Parquet and the CSV header block), with their test
    names, numbers, units and limits; without that list, every column that is not a
    contract column (wafer, lot, slot, seq, time, col, row, x, y, zone, hbin, sbin) or a
    known die variable (:data:`KNOWN_DIE_VARIABLES`) is a test named by its header.  The
    table is melted to the long layout and built by :func:`from_long_table` (``mapping``
    goes there), so the same checks apply.

    Example
    -------
    >>> geometry = {"die_width_mm": 5, "die_height_mm": 5}
    >>> ds = fabnb.io.from_wide_table(pd.read_csv("jmp.csv"), geometry=geometry)  # doctest: +SKIP
    """
    tests = df.attrs.get(WIDE_TESTS_ATTR)
    fixed = set(WAFER_COLUMNS + DIE_COLUMNS + ("hbin", "sbin"))
    if tests is None:
        die_vars = [c for c in df.columns if c in KNOWN_DIE_VARIABLES]
        tests = [{"column": c, "test": str(c)} for c in df.columns
                 if c not in fixed and c not in die_vars]
    else:
        die_vars = list(df.attrs.get(DIE_VARIABLES_ATTR, ()))
        missing = [t["column"] for t in tests if t["column"] not in df.columns]
        if missing:
            raise FabDataError(f"the wide table lacks the test column(s) {missing[:5]} its "
                               "metadata lists")
    if not tests:
        raise FabDataError(f"the wide table has no test column; columns: {list(df.columns)}")
    ids = [c for c in df.columns if c not in {t["column"] for t in tests}]
    long = df.melt(id_vars=ids, value_vars=[t["column"] for t in tests], var_name="__column",
                   value_name="value")
    for key in ("test", "test_num", "unit", "lsl", "usl"):
        if key != "test" and all(t.get(key) is None for t in tests):
            continue
        per_test = [t.get(key) for t in tests]
        if key in ("lsl", "usl", "test_num"):
            per_test = np.array([np.nan if v is None else v for v in per_test], dtype=float)
        else:
            per_test = np.array(["" if v is None else str(v) for v in per_test], dtype=object)
        long[key] = np.repeat(per_test, len(df))  # melt stacks the test columns in order
    long = long.drop(columns="__column")
    long.attrs = {k: v for k, v in df.attrs.items() if k not in (LAYOUT_ATTR, WIDE_TESTS_ATTR)}
    long.attrs[DIE_VARIABLES_ATTR] = die_vars
    return from_long_table(long, **mapping)


def read_table(path, **mapping) -> xr.Dataset:
    """Read a table from CSV (``.csv``, ``.tsv``, gzipped too) or Parquet, long or wide.

    The format comes from the ``PAR1`` magic or the extension; the layout from the
    table's metadata (the CSV header block or Parquet's metadata, see
    :func:`write_table`), else ``long`` when the table has a ``test`` or ``value``
    column and ``wide`` otherwise (:func:`from_wide_table`).  ``mapping`` goes to
    :func:`from_long_table` (column names, ``geometry``, ``product``, ``duplicates``,
    ``die_variables``, ``max_gb``).  A file that cannot be read (corrupt or truncated
    gzip, not CSV/Parquet) raises :class:`FabDataError` naming it.
    Id columns (wafer, lot, test, unit, zone, and text die variables) are read as text,
    so ``"0007"`` stays ``"0007"``; floats are parsed exactly.

    Example
    -------
    >>> ds = fabnb.io.read_table("probe.csv", value="meas", geometry={"notch": "up"})  # doctest: +SKIP
    """
    p = Path(path)
    if not p.is_file():
        raise FabDataError(f"{p}: no such file")
    with open(p, "rb") as fh:
        head = fh.read(4)
    fmt = "parquet" if head == b"PAR1" else _table_format(p) or "csv"
    strings = [mapping.get(k) or k for k in ("wafer", "lot", "test", "unit", "zone")]
    unreadable = (OSError, ValueError, EOFError, zlib.error)
    try:
        if fmt == "parquet":
            import pyarrow  # pandas' Parquet engine; its errors are not all ValueError/OSError

            unreadable += (pyarrow.ArrowException,)
            df = pd.read_parquet(p)
        else:
            meta, skip = _read_header_block(p)
            strings += meta.get("text_columns", [])
            df = _read_csv(p, "\t" if fmt == "tsv" else ",", strings, skip)
            df.attrs = meta.get("attrs", {})
    except unreadable as err:
        # OSError covers BadGzipFile; EOFError a truncated .gz, zlib.error corrupt deflate data
        raise FabDataError(f"{p}: cannot read as {fmt} ({type(err).__name__}: {err})") from err
    long_columns = {mapping.get("test") or "test", mapping.get("value") or "value"}
    layout = df.attrs.get(LAYOUT_ATTR) or ("long" if long_columns & set(df.columns) else "wide")
    try:
        if layout == "wide":
            return from_wide_table(df, **mapping)
        return from_long_table(df, **mapping)
    except FabParameterError:
        raise  # a bad option, not a bad file
    except FabDataError as err:
        raise FabDataError(f"{p}: {err}") from err


def write_table(ds: xr.Dataset, path, tests=None, layout: str = "long") -> None:
    """Write ``ds`` as a table, for a colleague's JMP, Excel, pandas or R: CSV or Parquet.

    ``layout``:

    - ``"long"`` (default): one row per wafer x die x test measurement
      (:func:`to_long_table`); every die is kept, bins even without a value, and STDF's
      ``test_num`` and ``test_flag`` are columns;
    - ``"wide"``: one row per wafer x die, one column per test, headed ``"<test_num>
      <test>"`` (:func:`to_wide_table`), with part id, site, touchdowns, hard and soft
      bin (first pass too) as columns: what JMP and Excel users open.

    The format comes from the extension (``.csv``, ``.tsv``, ``.csv.gz``, ``.parquet``,
    ``.pq``); the write is atomic.  Product and geometry survive both formats, so
    :func:`read_table` gives back the same Dataset in either layout:

    - Parquet keeps them in its metadata (``DataFrame.attrs``);
    - CSV opens with a header block of ``# key: <JSON>`` lines before the column
      header: ``# layout``, ``# attrs`` (the Dataset's attributes, the test columns of a
      wide table, the die variables, the x/y units) and ``# text_columns`` (columns to
      read as text, so part id ``"0042"`` stays text).  pandas reads the rest with
      ``pd.read_csv(path, comment=None, skiprows=<lines starting with "# ">)``; Excel
      shows the block as the first rows; JMP's import skips them with "data starts on
      line N".

    ``tests`` selects tests (long layout).

    Example
    -------
    >>> fabnb.io.write_table(ds, "probe.parquet")                   # doctest: +SKIP
    >>> fabnb.io.write_table(ds, "lot_for_jmp.csv", layout="wide")  # doctest: +SKIP
    >>> fabnb.io.read_table("lot_for_jmp.csv").identical(ds)        # doctest: +SKIP
    True
    """
    check_option("write_table", "layout", layout, LAYOUTS)
    p = Path(path)
    fmt = _table_format(p)
    if not fmt:
        raise FabDataError(f"{p}: unknown table extension (use .csv, .tsv, .parquet or .pq)")
    if layout == "wide":
        if tests is not None:
            ds = ds.sel(test=[tests] if isinstance(tests, str) else list(tests))
        df = to_wide_table(ds)
    else:
        df = to_long_table(ds, tests=tests)
        df.attrs[LAYOUT_ATTR] = "long"
    attrs = json.loads(json.dumps(df.attrs, default=_plain_json))
    with atomic_path(p) as tmp:
        if fmt == "parquet":
            df.attrs = attrs
            df.to_parquet(tmp, index=False)
        else:
            text = [c for c in df.columns if c not in ("wafer", "lot", "test", "unit", "zone")
                    and (df[c].dtype == object or isinstance(df[c].dtype, pd.CategoricalDtype))]
            header = {"layout": layout, "attrs": attrs, "text_columns": text}
            opener = _open_text_write(tmp)
            with opener as fh:
                for key, value in header.items():
                    fh.write(f"{HEADER_PREFIX}{key}: {json.dumps(value, ensure_ascii=False)}\n")
                df.to_csv(fh, sep="\t" if fmt == "tsv" else ",", index=False)


def _open_text_write(p: Path):
    import gzip

    return gzip.open(p, "wt", encoding="utf-8", newline="") if p.name.lower().endswith(".gz") \
        else open(p, "w", encoding="utf-8", newline="")


def _plain_json(v):
    """JSON form of numpy scalars/arrays in attrs; anything else as its text."""
    if isinstance(v, (np.ndarray, np.generic)):
        return _plain(v)
    return str(v)
