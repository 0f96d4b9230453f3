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
  the drawn die centres in mm from the centre of the row/column grid (DeviceSize in
  µm; unit pitch with a warning when absent).  ``Orientation`` (degrees, clockwise
  from the bottom, of the notch in the drawing) -> ``notch`` down/left/up/right.
- the reference device goes to ``attrs["e142_reference_device"]`` as ``[X, Y]``.
- ``<Bin BinCount>`` summaries are checked against the map; a disagreement warns.

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
import warnings
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import xarray as xr

from .. import schema
from ..errors import FabDataError
from ..geometry import radial_zones

NOTCH_OF_ORIENTATION = {0: "down", 90: "left", 180: "up", 270: "right"}
ORIENTATION_OF_NOTCH = {v: k for k, v in NOTCH_OF_ORIENTATION.items()}
UNTESTED_QUALITY = ("null", "untested")


class E142Warning(UserWarning):
    """A G85 map was read with a disagreement or an assumption (never silently)."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem, name):
    return next((c for c in elem if _local(c.tag) == name), None)


def _children(elem, name):
    return [c for c in elem if _local(c.tag) == name]


def _attr(elem, name, default=None):
    for key, value in elem.attrib.items():
        if _local(key) == name:
            return value.strip()
    return default


def _number(text, what, where, kind=float):
    try:
        return kind(text)
    except (TypeError, ValueError) as exc:
        raise FabDataError(f"{where}: {what}={text!r} is not a number") from exc


def _micrometres_to_mm(text, where) -> float:
    try:
        return float(Decimal(text) / 1000)
    except (InvalidOperation, TypeError) as exc:
        raise FabDataError(f"{where}: device size {text!r} is not a number") from exc


def _split_row(text, columns, bin_type, width, where):
    """The ``columns`` bin codes of one row."""
    if bin_type.startswith("dec") and len(text.split()) == columns:
        return text.split()
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
    return [text[k:k + width] for k in range(0, len(text), width)]


def _read_map(mp, k, path):
    """Codes grid and metadata of one <Map>."""
    where = f"{Path(path).name}, map {k + 1}"
    dev = _child(mp, "Device")
    if dev is None:
        raise FabDataError(f"{where}: no <Device> element")
    rows_n = _number(_attr(dev, "Rows"), "Rows", where, int)
    cols_n = _number(_attr(dev, "Columns"), "Columns", where, int)
    bin_type = (_attr(dev, "BinType") or "ASCII").lower()
    null = _attr(dev, "NullBin", "")
    holder = _child(dev, "Data")
    rows = _children(holder if holder is not None else dev, "Row")
    if len(rows) != rows_n:
        raise FabDataError(f"{where}: Rows={rows_n} but {len(rows)} <Row> elements")
    width = len(null) if null and not bin_type.startswith("ascii") else 0
    grid = [_split_row(r.text or "", cols_n, bin_type, width, f"{where}, row {i + 1}")
            for i, r in enumerate(rows)]
    bins = [(_attr(b, "BinCode", ""), (_attr(b, "BinQuality") or "").lower(), _attr(b, "BinCount"),
             _attr(b, "BinDescription", "")) for b in _children(dev, "Bin")]
    ref = _child(dev, "ReferenceDevice")
    ref_xy = None
    if ref is not None and _attr(ref, "ReferenceDeviceX") is not None:
        ref_xy = [_number(_attr(ref, "ReferenceDeviceX"), "ReferenceDeviceX", where, int),
                  _number(_attr(ref, "ReferenceDeviceY"), "ReferenceDeviceY", where, int)]
    return {
        "where": where, "grid": np.array(grid, dtype=object).reshape(rows_n, cols_n),
        "bin_type": bin_type, "null": null, "bins": bins, "ref": ref_xy,
        "wafer": _attr(mp, "SubstrateId") or f"map{k + 1}", "lot": _attr(dev, "LotId", ""),
        "slot": _attr(mp, "SlotNumber"), "product": _attr(dev, "ProductId", ""),
        "origin": _number(_attr(dev, "OriginLocation", "2"), "OriginLocation", where, int),
        "orientation": _number(_attr(dev, "Orientation", "0"), "Orientation", where, float),
        "size_x": _attr(dev, "DeviceSizeX"), "size_y": _attr(dev, "DeviceSizeY"),
        "wafer_size": _attr(dev, "WaferSize"),
    }


def _code_value(code, bin_type):
    if bin_type.startswith("dec"):
        return int(code)
    if bin_type.startswith(("hex", "integer")):
        return int(code, 16)
    return None


def _bin_mapping(maps):
    """code -> contract int (see the module docstring)."""
    bin_type = maps[0]["bin_type"]
    quality = {}
    for m in maps:
        for code, q, _, _ in m["bins"]:
            quality.setdefault(code, q)
    codes = list(quality)
    for m in maps:
        for code in m["grid"].ravel():
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
        try:
            value = _code_value(code, bin_type)
        except ValueError as exc:
            raise FabDataError(f"{maps[0]['where']}: bin code {code!r} is not {bin_type}") from exc
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


def read_e142(path) -> xr.Dataset:
    """Read a SEMI E142 / G85 XML wafer map file into a contract Dataset (``hbin``).

    Every ``<Map>`` becomes a wafer; see the module docstring for the mapping of bin
    codes, coordinates and orientation.  Disagreeing ``BinCount`` summaries warn
    (:class:`E142Warning`); a malformed file raises :class:`FabDataError`.

    Example
    -------
    >>> ds = read_e142("ex.xml")                   # doctest: +SKIP
    >>> ds.attrs["e142_bin_codes"]                 # doctest: +SKIP
    '{"G": 1, "X": 2}'
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise FabDataError(f"cannot read G85 map {path}: {exc}") from exc
    map_elems = [root] if _local(root.tag) == "Map" else _children(root, "Map")
    if not map_elems:
        raise FabDataError(f"{path}: no <Map> element")
    maps = [_read_map(mp, k, path) for k, mp in enumerate(map_elems)]
    mapping = _bin_mapping(maps)
    notes = []
    sites: dict[tuple[int, int], tuple[int, int]] = {}
    per_wafer = []
    for m in maps:
        rows_n, cols_n = m["grid"].shape
        r_map, c_map = np.nonzero(m["grid"] != m["null"])
        xs, ys = _map_coords(m["origin"], r_map, c_map, rows_n, cols_n, m["where"])
        codes = m["grid"][r_map, c_map]
        per_wafer.append((xs, ys, np.array([mapping[c] for c in codes], dtype=np.int64)))
        for X, Y, r, c in zip(xs.tolist(), ys.tolist(), r_map.tolist(), c_map.tolist()):
            sites.setdefault((X, Y), (r - (rows_n - 1) / 2, c - (cols_n - 1) / 2))
        for code, _, count, _ in m["bins"]:
            if count is None:
                continue
            found = int((codes == code).sum())
            if _number(count, "BinCount", m["where"], int) != found:
                notes.append(f"{m['where']}: <Bin BinCode={code!r}> says BinCount={count} but "
                             f"the map holds {found}")
    first = maps[0]
    where = first["where"]
    if first["size_x"] and first["size_y"]:
        w = _micrometres_to_mm(first["size_x"], where)
        h = _micrometres_to_mm(first["size_y"], where)
    else:
        w = h = 1.0
        notes.append(f"{where}: no DeviceSizeX/Y: x/y are in die pitches (unit pitch)")
    keys = sorted(sites, key=lambda s: (sites[s][0], sites[s][1]))
    col = np.array([s[0] for s in keys], dtype=np.int64)
    row = np.array([s[1] for s in keys], dtype=np.int64)
    x = np.array([sites[s][1] for s in keys]) * w
    y = -np.array([sites[s][0] for s in keys]) * h
    index = {s: k for k, s in enumerate(keys)}
    hbin = np.full((len(maps), len(keys)), -1, dtype=np.int64)
    for k, (xs, ys, values) in enumerate(per_wafer):
        hbin[k, [index[s] for s in zip(xs.tolist(), ys.tolist())]] = values
    r = np.hypot(x, y)
    theta = np.arctan2(y, x)
    diameter = _number(first["wafer_size"], "WaferSize", where) if first["wafer_size"] else \
        float(2 * np.max(np.hypot(np.abs(x) + w / 2, np.abs(y) + h / 2)))
    orientation = round(first["orientation"]) % 360
    if orientation not in NOTCH_OF_ORIENTATION:
        raise FabDataError(f"{where}: Orientation={first['orientation']} is not 0/90/180/270")
    slots = [_number(m["slot"], "SlotNumber", m["where"], int) if m["slot"] else k + 1
             for k, m in enumerate(maps)]
    ds = xr.Dataset(
        {"hbin": (("wafer", "die"), hbin)},
        coords={
            "wafer": ("wafer", np.array([m["wafer"] for m in maps], dtype=str)),
            "lot": ("wafer", np.array([m["lot"] for m in maps], dtype=str)),
            "slot": ("wafer", np.array(slots, dtype=np.int64)),
            "col": ("die", col), "row": ("die", row),
            "x": ("die", x), "y": ("die", y), "r": ("die", r), "theta": ("die", theta),
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
        warnings.warn("read_e142: " + "; ".join(notes), E142Warning, stacklevel=2)
    return schema.validate(ds)


def _fmt_micrometres(mm: float) -> str:
    return format((Decimal(repr(float(mm))) * 1000).normalize(), "f")


def write_e142(ds: xr.Dataset, path, wafer=None) -> Path:
    """Write ``hbin`` of ``wafer`` (an id, a list of ids, or None for all) as G85 XML.

    One ``<Map>`` per wafer, ``BinType="Decimal"`` with fixed-width codes, pass bin 1
    marked ``BinQuality="Pass"``, untested dies (-1) as a ``BinQuality="Null"`` code and
    positions without a die as the ``NullBin``; written atomically.

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
    for k, wid in enumerate(wafers):
        mp = ET.SubElement(root, "Map", {"SubstrateType": "Wafer", "SubstrateId": str(wid),
                                         "FormatRevision": "SEMI G85 0703",
                                         "SlotNumber": str(int(sub["slot"].values[k]))})
        dev = ET.SubElement(mp, "Device", {
            "BinType": "Decimal", "NullBin": str(null_value), "Rows": str(rows_n),
            "Columns": str(cols_n), "OriginLocation": "2", "MapType": "Array",
            "Orientation": str(ORIENTATION_OF_NOTCH[ds.attrs["notch"]]),
            "LotId": str(sub["lot"].values[k]), "ProductId": str(ds.attrs.get("product", "")),
            "WaferSize": repr(float(ds.attrs["wafer_diameter_mm"])),
            "DeviceSizeX": _fmt_micrometres(ds.attrs["die_width_mm"]),
            "DeviceSizeY": _fmt_micrometres(ds.attrs["die_height_mm"]),
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
