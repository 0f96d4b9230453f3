"""write_stdf: a contract Dataset as an STDF V4 file with the records read_stdf uses.

Tests make files of any size, site count, byte order and corruption with it; see
:func:`write_stdf` for what is written.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import struct
from pathlib import Path

import numpy as np
import xarray as xr

from .. import schema
from .._params import Integral, Interval, StrOptions, check_params
from ..errors import FabDataError
from ._stdf_records import CODES, FLAT, MISSING_I2, MISSING_U4


class _RecordWriter:
    """Pack STDF records in one byte order into a growing buffer."""

    def __init__(self, byteorder: str):
        self.order, self.out = byteorder, bytearray()

    def record(self, name: str, fmt: str, *values):
        body = self.pack(fmt, *values)
        if len(body) > 65535:
            raise FabDataError(f"{name} record would be {len(body)} bytes; STDF allows 65535")
        typ, sub = divmod(CODES[name], 256)
        self.out += struct.pack(self.order + "HBB", len(body), typ, sub) + body

    def pack(self, fmt: str, *values) -> bytes:
        """``fmt`` is struct codes plus ``n`` for a Cn string (one length byte)."""
        parts, plain, args = [], "", []
        for code, v in zip(fmt, values):
            if code == "n":
                try:
                    raw = str(v).encode("latin-1")
                except UnicodeEncodeError as exc:
                    bad = exc.object[exc.start]
                    raise FabDataError(f"STDF strings are latin-1; {v!r} holds {bad!r}, which "
                                       "latin-1 cannot encode: rename it before writing") from None
                if len(raw) > 255:
                    raise FabDataError(f"STDF strings hold at most 255 bytes, got {v!r}")
                parts.append(struct.pack(self.order + plain, *args) + bytes([len(raw)]) + raw)
                plain, args = "", []
            else:
                plain += code
                args.append(v)
        parts.append(struct.pack(self.order + plain, *args))
        return b"".join(parts)


def _limit_flags(lo: float, hi: float) -> int:
    """OPT_FLAG: bit 1 reserved set, bits 2/3 no spec limits, 6/7 no low/high test limit."""
    return 0x0E | (0x40 if np.isnan(lo) else 0) | (0x80 if np.isnan(hi) else 0)


def write_stdf(ds: xr.Dataset, path, byteorder: str = "<", sites: int = 1,
               lot: str | None = None) -> Path:
    """Write a contract Dataset as an STDF V4 wafer-sort file (atomic).

    Writes FAR, MIR, WCR (sizes 0 when ``x`` is in "die pitch"), then per wafer WIR, the
    parts in groups of ``sites`` (PIR of every site, their PTRs interleaved test by test,
    then the PRRs) and WRR, then HBR/SBR summaries, PCR and MRR.  A ``test_flag``
    variable gives each PTR's TEST_FLG (1 -> failed, bit 7).  The first PTR of a test carries its name, unit,
    OPT_FLAG and limits; later ones stop after RESULT, as testers do.  Dies with no bin
    and no value are not written; NaN values are not written (sparse PTRs).  Results and
    limits are float32 in STDF, so values round to float32.  A ``.gz``/``.bz2``/``.xz``
    suffix compresses.

    Parameters
    ----------
    byteorder
        ``"<"`` little-endian (CPU_TYPE 2) or ``">"`` big-endian (CPU_TYPE 1).
    sites
        Dies tested at once, with SITE_NUM 0..sites-1 (1 to 255).
    lot
        LOT_ID for MIR; by default the dataset's single ``lot`` (several lots need
        ``lot=``, or one file per lot).

    Example
    -------
    >>> write_stdf(ds, "lot.stdf", byteorder=">", sites=4)  # doctest: +SKIP
    >>> read_stdf("lot.stdf").sizes == ds.sizes              # doctest: +SKIP
    True
    """
    from .store import atomic_path

    check_params("write_stdf", {"byteorder": [StrOptions({"<", ">"})],
                                "sites": [Interval(Integral, 1, 255, closed="both")]},
                 {"byteorder": byteorder, "sites": sites})
    schema.validate(ds)
    lots = list(dict.fromkeys(ds["lot"].values.tolist()))
    if lot is None and len(lots) > 1:
        raise FabDataError(f"dataset holds lots {lots}: pass lot= or write one file per lot")
    lot = lot if lot is not None else lots[0]
    w = _RecordWriter(byteorder)
    w.record("FAR", "BB", 1 if byteorder == ">" else 2, 4)
    start = _epoch(ds["time"].values[0]) if "time" in ds.coords else 0
    w.record("MIR", "IIBcccHcnnnnnnn", start, start, 1, b"P", b" ", b" ", 65535, b" ", lot,
             ds.attrs.get("product", ""), "fabnb", "fabnb", "write_stdf", "1", "")
    col, row = ds["col"].values, ds["row"].values
    wid, ht = float(ds.attrs["die_width_mm"]), float(ds.attrs["die_height_mm"])
    cx, cy = _centre(col, ds["x"].values, wid), _centre(row, -ds["y"].values, ht)
    flat = {v: k for k, v in FLAT.items()}[ds.attrs["notch"]].encode()
    # die pitches are no size: WCR sizes 0, as real files without geometry say
    sizes = (0.0, 0.0, 0.0) if ds["x"].attrs.get("units") == "die pitch" else \
        (float(ds.attrs["wafer_diameter_mm"]), ht, wid)
    w.record("WCR", "fffBchhcc", *sizes, 3, flat, cx, cy, b"R", b"D")
    has_value = "value" in ds and ds.sizes.get("test", 0) > 0
    value = ds["value"].values if has_value else np.empty((ds.sizes["wafer"], ds.sizes["die"], 0))
    hbin = ds["hbin"].values if "hbin" in ds else np.full(value.shape[:2], -1)
    sbin = ds["sbin"].values if "sbin" in ds else hbin
    tests = _test_defaults(ds) if has_value else []
    flags = ds["test_flag"].transpose("wafer", "die", "test").values if "test_flag" in ds else None
    described = np.zeros(len(tests), dtype=bool)
    n_parts, bins = 0, {"HBR": {}, "SBR": {}}
    for k, wafer in enumerate(ds["wafer"].values):
        t0 = _epoch(ds["time"].values[k]) if "time" in ds.coords else 0
        w.record("WIR", "BBIn", 1, 255, t0, str(wafer))
        tested = np.flatnonzero((hbin[k] != -1) | np.isfinite(value[k]).any(axis=1))
        n_wafer = 0
        for g in range(0, tested.size, sites):
            group = tested[g:g + sites]
            for s in range(group.size):
                w.record("PIR", "BB", 1, s)
            for t, (num, name, unit, lo, hi) in enumerate(tests):
                for s, d in enumerate(group):
                    v = value[k, d, t]
                    if np.isnan(v):
                        continue
                    flag = 0x80 if flags is not None and flags[k, d, t] == 1 else 0
                    if described[t]:
                        w.record("PTR", "IBBBBf", num, 1, s, flag, 0, v)
                        continue
                    w.record("PTR", "IBBBBfnnBbbbffn", num, 1, s, flag, 0, v, name, "",
                             _limit_flags(lo, hi), 0, 0, 0, 0.0 if np.isnan(lo) else lo,
                             0.0 if np.isnan(hi) else hi, unit)
                    described[t] = True
            for s, d in enumerate(group):
                hb = 65535 if hbin[k, d] < 0 else int(hbin[k, d])
                sb = 65535 if sbin[k, d] < 0 else int(sbin[k, d])
                n_parts += 1
                n_wafer += 1
                flag = 0 if hb in (1, 65535) else 0x08
                w.record("PRR", "BBBHHHhhIn", 1, s, flag, len(tests), hb, sb, int(col[d]),
                         int(row[d]), 0, str(n_parts))
                for rec, b in (("HBR", hb), ("SBR", sb)):
                    bins[rec][b] = bins[rec].get(b, 0) + 1
        w.record("WRR", "BBIIIIIIn", 1, 255, t0, n_wafer, 0, MISSING_U4, MISSING_U4, MISSING_U4,
                 str(wafer))
    for rec, counts in bins.items():
        for b, c in sorted(counts.items()):
            if b != 65535:
                w.record(rec, "BBHIcn", 255, 0, b, c, b"P" if b == 1 else b"F", "")
    w.record("PCR", "BBIIIII", 255, 0, n_parts, 0, MISSING_U4, MISSING_U4, MISSING_U4)
    w.record("MRR", "Ic", start, b" ")
    target = Path(path)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(target.suffix, open)
    with atomic_path(target) as tmp, opener(tmp, "wb") as fh:
        fh.write(w.out)
    return target


def _epoch(t) -> int:
    """Seconds since 1970 of a datetime64 (0 when NaT), as STDF's U4 times."""
    if np.isnat(t):
        return 0
    return int(np.clip(t.astype("datetime64[s]").astype(np.int64), 0, MISSING_U4 - 1))


def _centre(index, position, pitch) -> int:
    """The die index at the wafer centre if it is a whole number, else -32768 (missing:
    the reader then takes the middle of the coordinate grid, far-out dies set aside
    (:func:`fabnb.io._grid_centre.grid_centre`), exact for a symmetric grid)."""
    c = index - position / pitch
    if np.allclose(c, c[0], atol=1e-6) and abs(c[0] - round(c[0])) < 1e-6 and abs(c[0]) < 32767:
        return round(float(c[0]))
    return MISSING_I2


def _test_defaults(ds):
    """(TEST_NUM, name, unit, lsl, usl) of each test, numbered by ``test_num`` if present."""
    n = ds.sizes["test"]
    nums = ds["test_num"].values if "test_num" in ds.coords else np.arange(1, n + 1)
    if len(set(nums.tolist())) != n:
        raise FabDataError("test_num must be unique to write STDF")
    return [(int(nums[t]), str(ds["test"].values[t]), str(ds["unit"].values[t]),
             float(ds["lsl"].values[t]), float(ds["usl"].values[t])) for t in range(n)]
