"""SEMI E142 / G85 XML wafer (bin) maps to and from the dataset contract.

A G85 file holds ``<Map>`` elements (one per substrate, optionally inside ``<Maps>``),
each with a ``<Device>`` carrying the layout (``Rows``, ``Columns``, ``BinType``,
``NullBin``, ``OriginLocation``, ``Orientation``, ``DeviceSizeX/Y`` in µm,
``WaferSize`` in mm), a ``<ReferenceDevice>``, ``<Bin>`` summaries and the rows of bin
codes, either inside ``<Data>`` or directly under ``<Device>`` (both layouts are read).

Mapping (:func:`read_e142`)
---------------------------
- one wafer per ``<Map>``: ``wafer`` = SubstrateId, ``lot`` = LotId, ``slot`` =
  SlotNumber if given, else the map's order; ``product`` = ProductId.
- bin codes: ``BinType`` ``ASCII`` (one character per die), ``Decimal`` (whitespace
  separated or fixed width), ``HexaDecimal``/``Integer2`` (fixed width, base 16).  Codes
  whose ``<Bin BinQuality="Pass">`` -> ``hbin`` 1; numeric fail codes keep their value
  (a fail code 1 is moved to the next free number); ASCII fail codes get 2, 3, ... in
  the order of their ``<Bin>`` elements, then in the order met in the map.  A code whose
  ``BinQuality`` is ``Null``/``Untested`` (fabnb's convention for a die on the map that
  was not tested) -> -1.  The code -> int mapping is ``attrs["e142_bin_codes"]`` (JSON).
- the null bin marks positions with no die: they are not part of the die set.
- positions: the map is drawn as stored, first row on top; G85 coordinates follow
  ``OriginLocation`` (0 centre, 1 upper right, 2 upper left, 3 lower left, 4 lower
  right: where X = Y = 0 sits) and become ``col`` (X) / ``row`` (Y).  ``x``/``y`` are
  the drawn die centres in mm from the centre of the drawn row/column array (DeviceSize
  in µm; unit pitch with a warning when absent), with ``units`` "mm" (or "die pitch").
  Dies drawn far beyond the bulk of the map (a test structure, a stray code in a
  widened array) are set aside for that centre: the array's edge on their side moves
  in to the bulk (:func:`fabnb.io._grid_centre.grid_centre`), with a warning naming
  them; they stay dies.
  ``Orientation`` (degrees, clockwise from the bottom, of the notch in the drawing) ->
  ``notch`` down/left/up/right.
- wafer size: ``wafer_diameter_mm`` is the first map's ``WaferSize``; without it, the
  smallest circle about the wafer centre holding every die whole
  (:func:`fabnb.io._grid_centre.grid_diameter`), the dies set aside for the centre left
  out (their warning says how many of them lie outside that wafer).
- the reference device goes to ``attrs["e142_reference_device"]`` as ``[X, Y]``.
- ``<Bin BinCount>`` summaries are checked against the map; a disagreement warns.
- bad input raises :class:`~fabnb.errors.FabDataError` naming the file, map, row or
  attribute: malformed XML, counts/sizes/orientation that are no number or out of range
  (``DeviceSizeX/Y`` and ``WaferSize`` must be finite and positive, ``SlotNumber`` and
  codes fit int64), a file with no die.  A DTD declaring entities is refused before
  anything expands (billion laughs).  Rows are parsed as arrays: time and memory follow
  the map.

:func:`write_e142` writes one ``<Map>`` per wafer with ``BinType="Decimal"``,
``OriginLocation="2"`` and ``col``/``row`` shifted so the smallest is 0 (a round trip is
exact for 0-based grids such as :func:`fabnb.geometry.die_grid`'s).

Example
-------
>>> ds = read_e142("ex.xml")                     # doctest: +SKIP
>>> ds.sizes["die"], int((ds.hbin == 1).sum())    # doctest: +SKIP
(1086, 830)
"""

from __future__ import annotations

import json
import re
import warnings
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.parsers import expat

import numpy as np
import pandas as pd
import xarray as xr

from .. import schema
from ..errors import FabDataError
from ..geometry import radial_zones
from ._grid_centre import aside_note, grid_centre, grid_diameter, wafer_note
from .._warn import user_stacklevel

NOTCH_OF_ORIENTATION = {0: "down", 90: "left", 180: "up", 270: "right"}
ORIENTATION_OF_NOTCH = {v: k for k, v in NOTCH_OF_ORIENTATION.items()}
UNTESTED_QUALITY = ("null", "untested")
INT64_MAX = int(np.iinfo(np.int64).max)
#: characters outside XML 1.0's Char production (not even a character reference helps)
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: largest SlotNumber read (a cassette has 25 slots; anything near int64 is corruption)
MAX_SLOT = 2**31 - 1


class E142Warning(UserWarning):
    """A G85 map was read with a disagreement or an assumption (never silently)."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem, name):
    return next((c for c in elem if _local(c.tag) == name), None)


def _children(elem, name):
    return [c for c in elem if _local(c.tag) == name]


def _attr(elem, name, default=None, strip=True):
    for key, value in elem.attrib.items():
        if _local(key) == name:
            return value.strip() if strip else value
    return default


def _number(text, what, where, kind=float):
    try:
        return kind(text)
    except (TypeError, ValueError) as exc:
        raise FabDataError(f"{where}: {what}={text!r} is not a number") from exc


def _integer(text, what, where, lo=0, hi=INT64_MAX):
    """An integer attribute within [lo, hi] (an int64 cast beyond it would overflow)."""
    value = _number(text, what, where, int)
    if not lo <= value <= hi:
        raise FabDataError(f"{where}: {what}={text!r} is outside {lo}..{hi}")
    return value


def _positive(value, what, text, where) -> float:
    if not (np.isfinite(value) and value > 0):
        raise FabDataError(f"{where}: {what}={text!r} must be a finite size above 0")
    return value


def _micrometres_to_mm(text, what, where) -> float:
    try:
        mm = float(Decimal(text) / 1000)
    except (InvalidOperation, TypeError) as exc:
        raise FabDataError(f"{where}: {what}={text!r} is not a number") from exc
    return _positive(mm, what, text, where)


def _parse(path: Path) -> ET.Element:
    """The XML root of ``path``, refusing DTD entity declarations before ET expands any.

    A prolog pass with expat stops at the root element; an ``<!ENTITY>`` there raises.
    Without declared entities nothing can expand (billion laughs, quadratic blow-up,
    external entities), whatever limits the expat library linked in has.
    """
    scan = expat.ParserCreate()

    def entity_declared(name, *_):
        raise FabDataError(
            f"{path}: the DTD declares entity {name!r} (line {scan.CurrentLineNumber}); G85 "
            "maps need none, and fabnb refuses entity declarations, which can expand without "
            "bound (billion laughs)")

    def root_reached(*_):
        raise _PrologDone

    scan.EntityDeclHandler = entity_declared
    scan.StartElementHandler = root_reached
    try:
        with open(path, "rb") as fh:
            scan.ParseFile(fh)
    except _PrologDone:
        pass
    except (expat.ExpatError, OSError, LookupError) as exc:  # LookupError: unknown encoding
        raise FabDataError(f"cannot read G85 map {path}: {exc}") from exc
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError, LookupError) as exc:
        raise FabDataError(f"cannot read G85 map {path}: {exc}") from exc


class _PrologDone(Exception):
    """The prolog scan of :func:`_parse` reached the root element."""


def _row_cells(text, columns, bin_type, width, where) -> np.ndarray:
    """The ``columns`` bin codes of one row, as a fixed-width str array."""
    if bin_type.startswith("dec"):
        regular = _separated(text.strip(), columns)
        if regular is not None:
            return regular
        parts = text.split()
        if len(parts) == columns:
            return np.array(parts, dtype=str) if parts else np.empty(0, dtype="<U1")
    if bin_type.startswith("ascii"):
        width = 1  # a space may be a bin code: strip only when the length is off
        text = text if len(text) == columns else text.strip()
    else:
        text = text.strip()
        if (not width or len(text) != columns * width) and columns and len(text) % columns == 0:
            width = len(text) // columns  # fixed width other than the null bin's
    if not width or len(text) != columns * width:
        raise FabDataError(f"{where}: row of {len(text)} characters does not hold {columns} "
                           f"bin codes of type {bin_type}")
    # UTF-32 code units viewed as fixed-width strings: one array, no str per die
    return np.frombuffer(text.encode("utf-32-le"), dtype=f"<U{width}")


def _separated(text, columns):
    """Codes of one width separated by single spaces (as written), as an array; else None."""
    step = (len(text) + 1) // columns if columns else 0
    if step < 2 or step * columns != len(text) + 1:
        return None
    points = np.frombuffer((text + " ").encode("utf-32-le"), dtype=np.uint32).reshape(columns, step)
    if not ((points[:, -1] == 32).all() and (points[:, :-1] > 32).all()):  # no blank in a code
        return None
    return np.ascontiguousarray(points[:, :-1]).view(f"<U{step - 1}").ravel()


def _factorize(cells: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Index of each cell's code in the distinct codes, listed in the order met."""
    width = cells.dtype.itemsize // 4
    if cells.size == 0:
        return np.zeros(0, dtype=np.int64), []
    if width > 3:
        _, first, inverse = np.unique(cells, return_index=True, return_inverse=True)
        rank = np.empty(first.size, dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(first.size)
        return rank[inverse.ravel()], cells[np.sort(first)].tolist()
    # XML characters fit 21 bits: up to 3 pack into one integer key, hashed in order met
    points = cells.view(np.uint32).reshape(cells.size, width)
    key = np.zeros(cells.size, dtype=np.uint64)
    for i in range(width):
        key |= points[:, i].astype(np.uint64) << np.uint64(21 * i)
    index, keys = pd.factorize(key)
    shifts = np.uint64(21) * np.arange(width, dtype=np.uint64)
    chars = ((keys[:, None] >> shifts) & np.uint64(0x1FFFFF)).astype(np.uint32)
    return index.astype(np.int64), np.ascontiguousarray(chars).view(f"<U{width}").ravel().tolist()


def _read_map(mp, k, path):
    """Code grid (indices into the map's distinct codes) and metadata of one <Map>."""
    where = f"{Path(path).name}, map {k + 1}"
    dev = _child(mp, "Device")
    if dev is None:
        raise FabDataError(f"{where}: no <Device> element")
    rows_n = _integer(_attr(dev, "Rows"), "Rows", where)
    cols_n = _integer(_attr(dev, "Columns"), "Columns", where)
    bin_type = (_attr(dev, "BinType") or "ASCII").lower()
    null = _attr(dev, "NullBin", "")
    holder = _child(dev, "Data")
    rows = _children(holder if holder is not None else dev, "Row")
    if len(rows) != rows_n:
        raise FabDataError(f"{where}: Rows={rows_n} but {len(rows)} <Row> elements")
    width = len(null) if null and not bin_type.startswith("ascii") else 0
    cells = [_row_cells(r.text or "", cols_n, bin_type, width, f"{where}, row {i + 1}")
             for i, r in enumerate(rows)]
    widest = max((c.dtype.itemsize // 4 for c in cells), default=1)
    grid = np.empty((rows_n, cols_n), dtype=f"<U{max(widest, 1)}")
    for i, c in enumerate(cells):
        grid[i] = c
    del cells
    index, codes = _factorize(grid.ravel())
    bins = [(_attr(b, "BinCode", ""), (_attr(b, "BinQuality") or "").lower(), _attr(b, "BinCount"),
             _attr(b, "BinDescription", "")) for b in _children(dev, "Bin")]
    ref = _child(dev, "ReferenceDevice")
    ref_xy = None
    if ref is not None and _attr(ref, "ReferenceDeviceX") is not None:
        ref_xy = [_number(_attr(ref, "ReferenceDeviceX"), "ReferenceDeviceX", where, int),
                  _number(_attr(ref, "ReferenceDeviceY"), "ReferenceDeviceY", where, int)]
    orientation = _number(_attr(dev, "Orientation", "0"), "Orientation", where, float)
    if not np.isfinite(orientation):
        raise FabDataError(f"{where}: Orientation={orientation} is not 0/90/180/270")
    slot = _attr(mp, "SlotNumber")
    return {
        "where": where, "index": index.reshape(rows_n, cols_n), "codes": codes,
        "bin_type": bin_type, "null": null, "bins": bins, "ref": ref_xy,
        "wafer": _attr(mp, "SubstrateId", strip=False) or f"map{k + 1}",
        "lot": _attr(dev, "LotId", "", strip=False),
        "slot": _integer(slot, "SlotNumber", where, hi=MAX_SLOT) if slot else k + 1,
        "product": _attr(dev, "ProductId", "", strip=False),
        "origin": _number(_attr(dev, "OriginLocation", "2"), "OriginLocation", where, int),
        "orientation": orientation,
        "size_x": _attr(dev, "DeviceSizeX"), "size_y": _attr(dev, "DeviceSizeY"),
        "wafer_size": _attr(dev, "WaferSize"),
    }


def _code_value(code, bin_type, where):
    """The number a numeric code stands for (None for ASCII codes)."""
    try:
        if bin_type.startswith("dec"):
            value = int(code)
        elif bin_type.startswith(("hex", "integer")):
            value = int(code, 16)
        else:
            return None
    except ValueError as exc:
        raise FabDataError(f"{where}: bin code {code!r} is not {bin_type}") from exc
    if value > INT64_MAX:
        raise FabDataError(f"{where}: bin code {code!r} is beyond int64 ({INT64_MAX})")
    return value


def _bin_mapping(maps):
    """code -> contract int (see the module docstring)."""
    bin_type = maps[0]["bin_type"]
    quality = {}
    for m in maps:
        for code, q, _, _ in m["bins"]:
            quality.setdefault(code, q)
    codes = list(quality)
    for m in maps:
        for code in m["codes"]:
            if code != m["null"] and code not in quality:
                quality[code] = ""
                codes.append(code)
    mapping, taken = {}, {1, -1}
    for code in codes:
        if quality[code] == "pass":
            mapping[code] = 1
        elif quality[code] in UNTESTED_QUALITY:
            mapping[code] = -1
    numeric = {}
    for code in codes:
        if code in mapping:
            continue
        value = _code_value(code, bin_type, maps[0]["where"])
        if value is not None and value not in taken and value >= 0:
            numeric[code] = value
            taken.add(value)
    next_free = 2
    for code in codes:
        if code in mapping:
            continue
        if code in numeric:
            mapping[code] = numeric[code]
            continue
        while next_free in taken:
            next_free += 1
        mapping[code] = next_free
        taken.add(next_free)
    return mapping


def _map_coords(origin, r_map, c_map, rows_n, cols_n, where):
    """G85 X/Y of drawn positions for OriginLocation 0..4."""
    if origin == 0:
        return c_map - cols_n // 2, r_map - rows_n // 2
    flip_x = origin in (1, 4)
    flip_y = origin in (3, 4)
    if origin not in (1, 2, 3, 4):
        raise FabDataError(f"{where}: OriginLocation={origin} is not 0..4")
    return (cols_n - 1 - c_map if flip_x else c_map), (rows_n - 1 - r_map if flip_y else r_map)


def _die_positions(m):
    """Drawn (row, col) of the dies of one map and their code indices."""
    codes = m["codes"]
    is_die = np.array([c != m["null"] for c in codes], dtype=bool)
    r_map, c_map = np.nonzero(is_die[m["index"]])
    return r_map, c_map, m["index"][r_map, c_map]


def read_e142(path) -> xr.Dataset:
    """Read a SEMI E142 / G85 XML wafer map file into a contract Dataset (``hbin``).

    Every ``<Map>`` becomes a wafer; see the module docstring for the mapping of bin
    codes, coordinates and orientation.  Disagreeing ``BinCount`` summaries warn
    (:class:`E142Warning`); a malformed file raises :class:`FabDataError` naming the
    file, map and element: unreadable XML, a DTD declaring entities (refused, so
    nothing can expand without bound), counts, sizes and codes that are no number or
    out of range, a file with no die.  Rows are parsed as arrays (no Python object
    per die), so memory and time follow the map.

    Example
    -------
    >>> ds = read_e142("ex.xml")                   # doctest: +SKIP
    >>> ds.attrs["e142_bin_codes"]                 # doctest: +SKIP
    '{"G": 1, "X": 2}'
    """
    path = Path(path)
    root = _parse(path)
    map_elems = [root] if _local(root.tag) == "Map" else _children(root, "Map")
    if not map_elems:
        raise FabDataError(f"{path}: no <Map> element")
    maps = [_read_map(mp, k, path) for k, mp in enumerate(map_elems)]
    mapping = _bin_mapping(maps)
    notes = []
    parts = []  # per map: G85 X, Y, drawn offsets from the wafer centre, contract bins, aside
    for m in maps:
        rows_n, cols_n = m["index"].shape
        r_map, c_map, idx = _die_positions(m)
        xs, ys = _map_coords(m["origin"], r_map, c_map, rows_n, cols_n, m["where"])
        centre = grid_centre(c_map, r_map, frame=((0, cols_n - 1), (0, rows_n - 1)))
        if centre.aside.any():  # named in G85 X/Y, the Dataset's col/row, like the dies
            gx, gy = _map_coords(m["origin"], centre.row, centre.col, rows_n, cols_n, m["where"])
            notes.append(f"{m['where']}: {aside_note(centre._replace(col=gx, row=gy), xs, ys)}; "
                         "check the map's rows (a test structure, or a stray code?)")
        lookup = np.array([mapping.get(c, -1) for c in m["codes"]], dtype=np.int64)
        parts.append((xs, ys, r_map - centre.row, c_map - centre.col, lookup[idx],
                      centre.aside))
        found = np.bincount(idx, minlength=len(m["codes"]))
        for code, _, count, _ in m["bins"]:
            if count is None:
                continue
            n = int(found[m["codes"].index(code)]) if code in m["codes"] and code != m["null"] \
                else 0
            if _number(count, "BinCount", m["where"], int) != n:
                notes.append(f"{m['where']}: <Bin BinCode={code!r}> says BinCount={count} but "
                             f"the map holds {n}")
    X, Y, dr, dc, _, set_aside = (np.concatenate(a) if len(a) > 1 else a[0] for a in zip(*parts))
    first = maps[0]
    where = first["where"]
    if X.size == 0:
        raise FabDataError(f"{path.name}: no die on any map (every position is the NullBin "
                           f"{first['null']!r}, or Rows/Columns is 0)")
    # a site is drawn where the first map that holds it draws it; sites ordered as drawn
    if len(maps) == 1:  # distinct sites, already in drawn (row-major) order: no sorting
        first_at = site_of = order = np.arange(X.size)
    else:
        key = (X - X.min()) * (int(Y.max() - Y.min()) + 1) + (Y - Y.min())
        _, first_at, site_of = np.unique(key, return_index=True, return_inverse=True)
        order = np.lexsort((first_at, dc[first_at], dr[first_at]))
    die_of_site = np.empty(order.size, dtype=np.int64)
    die_of_site[order] = np.arange(order.size)
    die_of = die_of_site[site_of.ravel()]
    if first["size_x"] and first["size_y"]:
        w = _micrometres_to_mm(first["size_x"], "DeviceSizeX", where)
        h = _micrometres_to_mm(first["size_y"], "DeviceSizeY", where)
        units = "mm"
    else:
        w = h = 1.0
        units = "die pitch"
        notes.append(f"{where}: no DeviceSizeX/Y: x/y are in die pitches (unit pitch)")
    at = first_at[order]
    col, row = X[at].astype(np.int64), Y[at].astype(np.int64)
    x, y = dc[at] * w, -dr[at] * h
    aside = set_aside[at]  # as the map that draws the site set it aside, or not
    hbin = np.full((len(maps), order.size), -1, dtype=np.int64)
    start = 0
    for k, part in enumerate(parts):
        n = part[0].size
        hbin[k, die_of[start:start + n]] = part[4]
        start += n
    r = np.hypot(x, y)
    theta = np.arctan2(y, x)
    derived = not first["wafer_size"]
    diameter = grid_diameter(x, y, w, h, aside) if derived else _positive(
        _number(first["wafer_size"], "WaferSize", where), "WaferSize", first["wafer_size"], where)
    if aside.any():  # one size for every map: named by the file
        notes.append(f"{path.name}: {wafer_note(diameter, x, y, aside, derived)}"
                     + ("; give <Device WaferSize=...> to set it" if derived else ""))
    orientation = round(first["orientation"]) % 360
    if orientation not in NOTCH_OF_ORIENTATION:
        raise FabDataError(f"{where}: Orientation={first['orientation']} is not 0/90/180/270")
    ds = xr.Dataset(
        {"hbin": (("wafer", "die"), hbin)},
        coords={
            "wafer": ("wafer", np.array([m["wafer"] for m in maps], dtype=str)),
            "lot": ("wafer", np.array([m["lot"] for m in maps], dtype=str)),
            "slot": ("wafer", np.array([m["slot"] for m in maps], dtype=np.int64)),
            "col": ("die", col), "row": ("die", row),
            "x": ("die", x, {"units": units}), "y": ("die", y, {"units": units}),
            "r": ("die", r), "theta": ("die", theta),
            "zone": ("die", radial_zones(r, theta=theta)),
        },
        attrs={
            "product": first["product"], "wafer_diameter_mm": float(diameter),
            "die_width_mm": w, "die_height_mm": h, "edge_exclusion_mm": 0.0,
            "notch": NOTCH_OF_ORIENTATION[orientation], "schema_version": schema.SCHEMA_VERSION,
            "source": f"SEMI G85: {path.name}",
            "e142_bin_codes": json.dumps(mapping),
            "e142_bin_names": json.dumps({c: d for c, _, _, d in first["bins"] if d}),
            "e142_origin_location": first["origin"],
            "e142_reference_device": json.dumps(first["ref"]),
        },
    )
    if notes:
        warnings.warn("read_e142: " + "; ".join(notes), E142Warning, stacklevel=user_stacklevel())
    try:
        return schema.validate(ds)
    except FabDataError as err:  # e.g. a map whose every die is untested: name the file
        raise FabDataError(f"{path.name}: {err}") from err


def _fmt_micrometres(mm: float) -> str:
    return format((Decimal(repr(float(mm))) * 1000).normalize(), "f")


def _check_xml_text(attribute, text, where) -> None:
    """Refuse what XML 1.0 cannot hold even escaped, so a written map always reads back."""
    bad = _NOT_XML.search(str(text))
    if bad:
        raise FabDataError(
            f"write_e142: {where}: {attribute} {str(text)!r} holds character "
            f"U+{ord(bad.group()):04X}, which XML 1.0 cannot represent; rename it first")


def write_e142(ds: xr.Dataset, path, wafer=None) -> Path:
    """Write ``hbin`` of ``wafer`` (an id, a list of ids, or None for all) as G85 XML.

    One ``<Map>`` per wafer, ``BinType="Decimal"`` with fixed-width codes, pass bin 1
    marked ``BinQuality="Pass"``, untested dies (-1) as a ``BinQuality="Null"`` code and
    positions without a die as the ``NullBin``; written atomically.  Ids (wafer, lot,
    product) are written verbatim (tabs and line breaks escaped), so they read back
    exactly; an id holding a character XML 1.0 cannot represent (control characters
    other than tab/line breaks, lone surrogates, U+FFFE/U+FFFF) raises
    :class:`FabDataError` before anything is written.

    Example
    -------
    >>> write_e142(ds, "w07.xml", wafer="L0001-07")   # doctest: +SKIP
    >>> read_e142("w07.xml")["hbin"].values[0]        # doctest: +SKIP
    """
    from .store import atomic_path

    schema.validate(ds)
    if "hbin" not in ds:
        raise FabDataError("write_e142 needs 'hbin'")
    wafers = list(ds["wafer"].values) if wafer is None else \
        ([wafer] if isinstance(wafer, str) else list(wafer))
    missing = [w for w in wafers if w not in set(ds["wafer"].values.tolist())]
    if missing:
        raise FabDataError(f"write_e142: wafer(s) {missing} not in the dataset")
    sub = ds.sel(wafer=wafers)
    _check_xml_text("ProductId", ds.attrs.get("product", ""), "the dataset")
    for k, wid in enumerate(wafers):
        _check_xml_text("SubstrateId", wid, f"wafer {str(wid)!r}")
        _check_xml_text("LotId", sub["lot"].values[k], f"wafer {str(wid)!r}")
    col = sub["col"].values - sub["col"].values.min()
    row = sub["row"].values - sub["row"].values.min()
    rows_n, cols_n = int(row.max()) + 1, int(col.max()) + 1
    hbin = sub["hbin"].values
    used = sorted(set(np.unique(hbin).tolist()))
    width = max(len(str(max(max(used), 1))), 1)
    null_value = 10 ** width - 1
    while null_value in used or null_value - 1 in used:
        width += 1
        null_value = 10 ** width - 1
    untested_value = null_value - 1
    root = ET.Element("Maps")
    pitches = ds["x"].attrs.get("units") == "die pitch"
    for k, wid in enumerate(wafers):
        mp = ET.SubElement(root, "Map", {"SubstrateType": "Wafer", "SubstrateId": str(wid),
                                         "FormatRevision": "SEMI G85 0703",
                                         "SlotNumber": str(int(sub["slot"].values[k]))})
        dev = ET.SubElement(mp, "Device", {
            "BinType": "Decimal", "NullBin": str(null_value), "Rows": str(rows_n),
            "Columns": str(cols_n), "OriginLocation": "2", "MapType": "Array",
            "Orientation": str(ORIENTATION_OF_NOTCH[ds.attrs["notch"]]),
            "LotId": str(sub["lot"].values[k]), "ProductId": str(ds.attrs.get("product", "")),
            **({} if pitches else {  # die pitches are no size: leave the sizes out
                "WaferSize": repr(float(ds.attrs["wafer_diameter_mm"])),
                "DeviceSizeX": _fmt_micrometres(ds.attrs["die_width_mm"]),
                "DeviceSizeY": _fmt_micrometres(ds.attrs["die_height_mm"])}),
        })
        ref = json.loads(ds.attrs.get("e142_reference_device", "null") or "null") or \
            [int(col[0]), int(row[0])]
        ET.SubElement(dev, "ReferenceDevice", {"ReferenceDeviceX": str(ref[0]),
                                               "ReferenceDeviceY": str(ref[1])})
        codes = np.where(hbin[k] < 0, untested_value, hbin[k])
        for value in sorted(set(codes.tolist())):
            quality = "Pass" if value == 1 else ("Null" if value == untested_value else "Fail")
            ET.SubElement(dev, "Bin", {"BinCode": f"{value:0{width}d}", "BinQuality": quality,
                                       "BinCount": str(int((codes == value).sum()))})
        grid = np.full((rows_n, cols_n), null_value, dtype=np.int64)
        grid[row, col] = codes
        data = ET.SubElement(dev, "Data")
        for line in grid:
            ET.SubElement(data, "Row").text = " ".join(f"{v:0{width}d}" for v in line)
    ET.indent(root)
    target = Path(path)
    with atomic_path(target) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return target
