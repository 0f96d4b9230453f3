"""STDF V4 wafer-sort files to and from the dataset contract.

:func:`read_stdf` streams one or more STDF V4 (and V4-2007) files through a Numba
pass over the bytes (:mod:`fabnb.io._stdf_kernels`) and returns one validated
contract Dataset with one wafer per WIR..WRR block; :func:`write_stdf` writes the
records the reader uses, so tests can make files of any size, site count and byte
order.

Mapping
-------
- wafers: WIR/WRR (``wafer`` = WAFER_ID, ``time`` = WIR START_T), ``lot`` = MIR LOT_ID,
  ``slot`` = the trailing number of the wafer id when it is a slot (1..25), else the
  wafer's order; ``product`` = MIR PART_TYP.
- strings (ids, names, units) are latin-1 (byte 0xB5 is ``µ``), stripped of blank/NUL
  padding; a control character inside one (a NUL in a wafer id would break NetCDF)
  becomes ``"?"`` with a warning (:func:`~fabnb.io._stdf_records.clean_text`).
- dies: the distinct PRR X_COORD/Y_COORD sites over all wafers (never the bounding box
  of the coordinates: one corrupted PRR at X = Y = -32767 adds one die, not 4e9 cells,
  so memory follows the parts); ``col``/``row`` are the STDF X/Y exactly.  ``x``/``y``
  in mm come from WCR: ``x = sx (col - CENTER_X) DIE_WID``, ``y = sy (row - CENTER_Y)
  DIE_HT`` with ``sx = +1`` for POS_X ``R`` (``-1`` for ``L``) and ``sy = +1`` for POS_Y
  ``U`` (``-1`` for ``D`` or blank, the contract's rows-grow-down), in WF_UNITS
  converted to mm.  A missing centre (-32768) puts the wafer centre in the middle of
  the coordinate grid; zero die sizes (as in many real files) give unit pitch, centred
  the same way, and a warning, as do non-finite or negative sizes (that warning names the
  file and the WCR's offset); ``x``/``y`` carry ``units`` "mm" or "die pitch".  The
  middle of the grid is its bounding box's for a gap-free grid; dies far beyond the
  bulk of the grid (a test structure, a corrupted X/Y such as one PRR at X = 200 on a
  60-column wafer) are set aside for it (:func:`fabnb.io._grid_centre.grid_centre`)
  with a warning naming them and their first PRR's byte offset, and stay dies.
- wafer size: ``wafer_diameter_mm`` is WCR WAFR_SIZ in WF_UNITS (when the WCR gives
  die sizes too); without it, the smallest circle about the wafer centre holding every
  die whole (:func:`fabnb.io._grid_centre.grid_diameter`, in die pitches when x/y are),
  the dies set aside for the centre left out (their warning says how many of them lie
  outside that wafer).
- bins: ``hbin``/``sbin`` from PRR HARD_BIN/SOFT_BIN (65535 = none -> -1), plus ``site``,
  ``part_id`` and ``touchdowns`` (how often the die was tested) on ``(wafer, die)``;
  ``hbin_first``/``sbin_first`` are the bins of each die's *first* touchdown (first-pass
  yield; equal to ``hbin``/``sbin`` where the die was touched once, -1 untested).
  HBR/SBR summaries (head 255 preferred) go to ``attrs["hbin_names"]`` /
  ``attrs["sbin_names"]`` as JSON ``{"bin": {"name": ..., "pf": "P"|"F"|" ", "count": n}}``.
- bin counts side by side, ``attrs["stdf_bin_counts"]`` (JSON ``{"hbin"|"sbin": {"bin":
  {"summary", "parts", "map"}}, "note"}``): the file's own HBR/SBR count, the PRRs read
  with that bin, and the dies on the map with it.  HBR counts every part the tester
  binned, retest touchdowns included; the map counts each die once (its kept touchdown),
  so ``map <= parts``, smaller by the retests (a warning says so when they differ).  An
  HBR/SBR count other than the parts read is a disagreement (below).
- pass/fail: ``test_flag(wafer, die, test)`` int8 from TEST_FLG of the kept touchdown's
  PTR/MPR/FTR: 1 failed (bit 7), 0 passed, -1 no result, not executed (bit 4) or pass/fail
  flag invalid (bit 6); ``first_fail_test(wafer, die)`` is the name of the first test, in
  record order, flagged failing on that touchdown (``""`` when none).
- functional tests: an FTR is a test (key ``(TEST_NUM, FTR)``, name from its TEST_TXT)
  with no value (NaN) and its pass/fail in ``test_flag``.
- test summaries: TSR go to ``attrs["stdf_tsr"]``, JSON ``{"TEST_NUM": {"type": "P"|"F"|"M",
  "name", "exec", "fail", "alarm"}}`` (all-sites summary when given, else summed over
  sites; summed over files; ``null`` = not given).  They count every execution,
  retest touchdowns included, as HBR does.
- tests: one per TEST_NUM, in TEST_NUM order (MPR elements become ``"<name>[k]"``);
  name = TEST_TXT of the first record that has one (``"test <num>"`` when none; a name shared by several
  numbers gets ``" #<num>"``); ``test_num`` coordinate.  Defaults follow STDF V4: the
  first PTR of a test carrying OPT_FLAG sets RES_SCAL, limits and UNITS; later PTRs may
  omit them and their own limits are not used.  Results and limits are stored unscaled
  (base units) in STDF; fabnb multiplies both by ``10**RES_SCAL`` and prefixes the unit
  (``6, "A" -> "uA"``), so value, ``lsl`` and ``usl`` share the unit the tester displayed
  the result in (LLM_SCAL/HLM_SCAL only say how the tester displayed the limits).  OPT_FLAG
  bits 4/6 (5/7) -> no low (high) limit -> NaN.  A test whose low limit exceeds its high
  limit keeps its results, gets ``lsl = usl = NaN`` (no spec rather than a wrong one),
  and the inverted limits go to ``attrs["stdf_inverted_limits"]`` (JSON ``{test: {"lo",
  "hi", "file", "offset"}}``) with a warning naming the test, file and byte offset.  A
  result whose TEST_FLG marks it invalid (bit 1) or not executed (bit 4), or that is not
  finite, is NaN and counted in
  ``attrs["stdf_invalid_results"]``.
- retests: a die touched down more than once is found by its coordinates (PART_FLG is
  often silent, as in the real sample files); ``retest="last"`` (default) or ``"first"``
  keeps that touchdown's bins and results, the count goes to
  ``attrs["stdf_retested_dies"]`` and a warning.
- several files: tests are unioned by TEST_NUM (see :func:`_merge_test_defaults`): another
  name (whitespace aside), unit or limits for the same number in a later file is a
  disagreement (below): the first file's are kept, every file's listed in
  ``attrs["stdf_test_defaults_by_file"]``.  A wafer id found in two
  files raises, naming both (a re-probe or a copy: choose which to read); repeated inside
  one file it gets a ``#<n>`` suffix with a warning.
- skipped: STR, GDR, DTR, BPS/EPS, SDR, ... are counted in
  ``attrs["stdf_skipped_records"]``; unknown record types are skipped with a warning.
  Those inside a part (between PIR and PRR; real files put GDR/BPS/EPS there) are also
  counted in ``attrs["stdf_skipped_in_parts"]`` and warned about with the first offset:
  a PTR whose type bytes were corrupted into BPS/GDR/STR is one of them.

Never losing a die silently, two kinds of problem:

- structural corruption always raises :class:`~fabnb.errors.FabDataError` naming the
  file, byte offset and record type, whatever ``errors`` says: a truncated record or
  compressed stream, a corrupt compressed stream, a malformed record (fields overrunning
  its length, bytes after its last field, a length too short for its fixed fields), a
  PTR/MPR with no open part, a PRR without PIR, a PIR never closed, a PRR without
  coordinates, a WIR without WRR, a WRR without WIR, a file without MRR;
- data that disagrees with itself is kept, listed in ``attrs["stdf_disagreements"]``
  and warned about by default (``errors="warn"``), raised with ``errors="raise"`` for
  strict runs: a WRR/PCR PART_CNT or RTST_CNT (4294967295 = not given) that disagrees
  with the parts read (RTST_CNT counts the touchdowns after a die's first one; real
  files routinely say 0), an HBR/SBR count other than the parts read with that bin,
  inverted limits, names/units/limits that change between files, PRRs outside any WIR..WRR
  (kept as an extra wafer).

Speed and memory (``python -m benchmarks.bench_stdf``; each reader in its own process,
best of 3 warm reads, peak RSS above the warmed-up process; 2-core VM shared with other
jobs, load average ~9, so absolute figures are low and the ratios are what counts):

    =============  ========  =====================  ====================  ==============
    file           MB        fabnb (Dataset)        stdf-convert (tables)  pystdf
    =============  ========  =====================  ====================  ==============
    real wafer     4.4       0.24 s, 18 MB/s, 5 MB   0.42 s (1.7x), 4 MB   18.9 s (78x)
    25-wafer lot   110.2     1.16 s, 95 MB/s,        3.17 s (2.7x),        not run
                             31,500 dies/s, 51 MB    244 MB
    =============  ========  =====================  ====================  ==============

(Unloaded, the same machine read the real wafer in 38 ms, ~115 MB/s, with the kernel
alone at ~300 MB/s.)  Choice: a native Numba pass over the bytes, streamed through an
8 MiB buffer, rather than building on ``stdf-convert``: its Arrow tables alone take
longer than fabnb's whole file -> validated Dataset, and hold every record (5x the
memory); the kernel extracts only the fields the contract needs into preallocated
arrays (13 bytes per result), so memory follows the output, not the file.

Example
-------
>>> import fabnb
>>> ds = fabnb.io.read_stdf("lot2.stdf")                    # doctest: +SKIP
>>> ds.sizes                                                # doctest: +SKIP
Frozen({'wafer': 1, 'die': 1456, 'test': 74})
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import warnings
import zlib
from pathlib import Path

import numpy as np
import xarray as xr

from .. import schema
from .._params import check_option
from ..errors import FabDataError
from ..geometry import radial_zones
from . import _stdf_kernels as K
from ._grid_centre import GridCentre, aside_note, grid_centre, grid_diameter, wafer_note
from ._stdf_records import (CODES, FLAT, MISSING_I2, MISSING_U4, Fields, clean_text,
                            record_name)
from ._stdf_writer import write_stdf
from .._warn import user_stacklevel

__all__ = ["StdfWarning", "read_stdf", "write_stdf"]

CHUNK_BYTES = 8 << 20
RECORD_MAX = 4 + 65535
SI_PREFIX = {15: "f", 12: "p", 9: "n", 6: "u", 3: "m", 2: "%", 0: "", -3: "K", -6: "M", -9: "G", -12: "T"}
UNIT_MM = {1: 25.4, 2: 10.0, 3: 1.0, 4: 0.0254}
# records the reader counts but does not need
KNOWN_SKIPPED = {CODES[n] for n in ("ATR", "VUR", "PMR", "PGR", "PLR", "RDR", "SDR", "PSR", "NMR",
                                    "CNR", "SSR", "CDR", "STR", "BPS", "EPS", "GDR", "DTR")}
ISSUE_TEXT = {
    K.ISSUE_MALFORMED: "malformed record(s) (fields overrun the record length, bytes after the "
                       "last field, or too short for the fixed fields)",
    K.ISSUE_NO_PART: "result record(s) with no open part (PTR/MPR before its PIR)",
    K.ISSUE_NO_PIR: "PRR(s) without PIR",
}
# what a failing decompressor raises on a cut or corrupt stream
STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, zlib.error)


BIN_COUNTS_NOTE = (
    "per bin: 'summary' = the file's own HBR/SBR count (every part the tester binned, "
    "retest touchdowns included; null when the file gives none), 'parts' = the PRRs read "
    "with that bin (every touchdown), 'map' = dies whose kept touchdown has that bin (one "
    "per die: hbin/sbin).  summary and parts must agree (else a disagreement is listed); "
    "map is smaller by the retest touchdowns")


class StdfWarning(UserWarning):
    """Something in an STDF file was read with an assumption or skipped (never silently)."""


class _Issues:
    """Problems found while reading: structural ones always raise (together); data that
    disagrees with itself raises with ``errors="raise"``, else is warned about (together)."""

    def __init__(self):
        self.structural: list[str] = []
        self.disagreements: list[str] = []

    def add(self, path, count, what, offset, code=None, disagreement=False):
        rec = f" ({record_name(code)})" if code is not None else " (record header)"
        item = f"{Path(path).name}: {count} {what}; first at byte offset {offset}{rec}"
        (self.disagreements if disagreement else self.structural).append(item)

    def report(self, errors):
        if self.structural:
            raise FabDataError("STDF file structure is corrupt (read stops whatever errors= "
                               "says):\n  " + "\n  ".join(self.structural + self.disagreements))
        if not self.disagreements:
            return
        msg = "STDF data disagrees with itself:\n  " + "\n  ".join(self.disagreements)
        if errors == "raise":
            raise FabDataError(msg + "\n(read with errors='warn' to keep everything and warn)")
        warnings.warn(msg + "\n(everything was kept; listed in attrs['stdf_disagreements']; "
                      "errors='raise' makes this an error)", StdfWarning,
                      stacklevel=user_stacklevel())



class _Arrays:
    """Growable output arrays of the kernel, shared by all files of one read."""

    def __init__(self, n_bytes: int):
        # first guesses from the input size (a PTR takes ~60-90 bytes, a part a few kB of
        # records in sort data); the arrays double when the kernel asks for more
        self.cnt = np.zeros(8, dtype=np.int64)
        n = max(4096, n_bytes // 2048)
        self.parts = np.empty((n, 11), dtype=np.int64)
        self.part_id = np.zeros((n, 2), dtype=np.int64)
        n = max(1 << 16, n_bytes // 64)
        self.r_part, self.r_test = np.empty(n, np.int32), np.empty(n, np.int32)
        self.r_flag, self.r_value = np.empty(n, np.uint8), np.empty(n, np.float32)
        self.t_hash = np.full(1024, -1, dtype=np.int64)
        self.t_num = np.empty(512, dtype=np.int64)
        self.t_sub = np.empty(512, dtype=np.int64)
        self.t_txt = np.zeros((512, 2), dtype=np.int64)
        self.t_unit = np.zeros((512, 2), dtype=np.int64)
        self.t_meta = np.zeros((512, 6), dtype=np.int64)
        self.t_lim = np.full((512, 2), np.nan, dtype=np.float64)
        self.text = np.empty(1 << 16, dtype=np.uint8)
        self.rare = np.empty((256, 5), dtype=np.int64)
        self.skipped = np.zeros((2, 65536), dtype=np.int64)  # all, inside a part

    @staticmethod
    def _grow(arr, fill=None):
        new = np.empty((arr.shape[0] * 2,) + arr.shape[1:], dtype=arr.dtype)
        if fill is not None:
            new[arr.shape[0]:] = fill
        new[:arr.shape[0]] = arr
        return new

    def grow(self, status):
        if status == K.NEED_PARTS:
            self.parts, self.part_id = self._grow(self.parts), self._grow(self.part_id, 0)
        elif status == K.NEED_RESULTS:
            for name in ("r_part", "r_test", "r_flag", "r_value"):
                setattr(self, name, self._grow(getattr(self, name)))
        elif status == K.NEED_TESTS:
            if self.cnt[K.N_TESTS] + 65536 > self.t_num.size:
                for name in ("t_num", "t_sub", "t_txt", "t_unit", "t_meta"):
                    setattr(self, name, self._grow(getattr(self, name), 0))
                self.t_lim = self._grow(self.t_lim, np.nan)
            self.t_hash = np.full(self.t_hash.size * 2, -1, dtype=np.int64)
            K.rehash(self.t_hash, self.t_num, self.t_sub, self.cnt[K.N_TESTS])
        elif status == K.NEED_TEXT:
            self.text = self._grow(self.text)
        elif status == K.NEED_RARE:
            self.rare = self._grow(self.rare)


def _open(path: Path):
    """Binary file object, decompressing gzip/bz2/xz by their magic bytes."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
    except OSError as exc:
        raise FabDataError(f"cannot read STDF file {path}: {exc}") from exc
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if magic[:3] == b"BZh":
        return bz2.open(path, "rb")
    if magic[:6] == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    return open(path, "rb")


def _byteorder(head: bytes, path: Path) -> bool:
    """True for big-endian, from the FAR record that must open the file."""
    if len(head) < 6 or head[2:4] != b"\x00\x0a":
        raise FabDataError(f"{path}: not an STDF file: no FAR record at byte offset 0")
    cpu, ver = head[4], head[5]
    if ver != 4:
        raise FabDataError(f"{path}: FAR at byte offset 0 says STDF version {ver}; only V4 is read")
    if cpu not in (1, 2) or head[:2] != (b"\x00\x02" if cpu == 1 else b"\x02\x00"):
        raise FabDataError(
            f"{path}: FAR at byte offset 0 has CPU_TYPE {cpu} and REC_LEN bytes {head[:2].hex()}; "
            "only CPU_TYPE 1 (big-endian) and 2 (little-endian) are read"
        )
    return cpu == 1


def _read_chunk(fh, view, path: Path, offset: int) -> int:
    """``fh.readinto(view)``; a cut or corrupt compressed stream (EOFError, BadGzipFile,
    lzma/zlib errors) becomes FabDataError naming the file and the decompressed offset."""
    try:
        return fh.readinto(view) or 0
    except STREAM_ERRORS as exc:
        raise FabDataError(
            f"{path}: cannot read on from decompressed byte offset {offset}: "
            f"{type(exc).__name__}: {exc} (the compressed file is truncated or corrupt)"
        ) from exc


def _parse_file(path: Path, file_no: int, arr: _Arrays, issues: _Issues, bar) -> dict:
    """Stream one file through the kernel; return its rare records and part range."""
    first_part = int(arr.cnt[K.N_PARTS])
    arr.cnt[K.N_OPEN], arr.cnt[K.N_FILE] = 0, file_no
    rare: list[tuple[int, bytes, int, int]] = []
    issue_cnt = np.zeros(K.N_ISSUES, dtype=np.int64)
    issue_off = np.full(K.N_ISSUES, -1, dtype=np.int64)
    issue_rec = np.zeros(K.N_ISSUES, dtype=np.int64)
    open_part = np.full(65536, -1, dtype=np.int64)
    wafer_of_head = np.full(256, -1, dtype=np.int64)
    buf = np.empty(CHUNK_BYTES + RECORD_MAX, dtype=np.uint8)
    base, have, big = 0, 0, None
    with _open(path) as fh:
        while True:
            got = _read_chunk(fh, memoryview(buf)[have:], path, base + have)
            n = have + got
            bar.update(got)
            if big is None:
                big = _byteorder(bytes(buf[:min(n, 6)]), path)
                pos = 6
            status = K.NEED_PARTS
            while status != K.NEED_BYTES:
                arr.cnt[K.N_RARE] = 0
                status, pos = K.parse_records(
                    buf, n, pos, base, big, arr.cnt, issue_cnt, issue_off, issue_rec, open_part,
                    wafer_of_head, arr.skipped, arr.parts, arr.part_id, arr.r_part,
                    arr.r_test, arr.r_flag, arr.r_value, arr.t_hash, arr.t_num, arr.t_sub, arr.t_txt, arr.t_unit,
                    arr.t_meta, arr.t_lim, arr.text, arr.rare)
                for code, at, length, wafer, offset in arr.rare[: arr.cnt[K.N_RARE]]:
                    rare.append((int(code), bytes(buf[at:at + length]), int(wafer), int(offset)))
                if status != K.NEED_BYTES:
                    arr.grow(status)
            if got == 0:
                break
            have = n - pos
            buf[:have] = buf[pos:n]
            base += pos
            pos = 0
    if have:
        code = None
        if have >= 4:
            code = int(buf[2]) * 256 + int(buf[3])
        issues.add(path, 1, f"truncated record ({have} bytes where the record needs more: the "
                            "file ends inside it)", base, code)
    for kind in ISSUE_TEXT:
        if issue_cnt[kind]:
            issues.add(path, int(issue_cnt[kind]), ISSUE_TEXT[kind], int(issue_off[kind]),
                       int(issue_rec[kind]))
    inside = K.ISSUE_SKIPPED_IN_PART
    return {"path": path, "big": big, "rare": rare, "end": base + have,
            "parts": (first_part, int(arr.cnt[K.N_PARTS])),
            "skipped_in_part": (int(issue_cnt[inside]), int(issue_off[inside]),
                                int(issue_rec[inside]))}


def _decode_rare(info: dict, issues: _Issues) -> dict:
    """MIR, WCR, wafers (WIR/WRR), bin summaries and PCRs of one file."""
    order = ">" if info["big"] else "<"
    out = {"mir": {}, "wcr": None, "wafers": {}, "hbr": [], "sbr": [], "pcr": [], "tsr": [],
           "mrr": False, "replaced": 0, "replaced_at": None}
    for code, body, wafer, offset in info["rare"]:
        f = Fields(body, order, offset, record_name(code))
        try:
            _decode_one(f, wafer, out)
        except FabDataError as err:
            issues.add(info["path"], 1, f"malformed record ({err})", offset, code)
        if f.replaced:
            out["replaced"] += f.replaced
            out["replaced_at"] = out["replaced_at"] or f"{f.name} at byte offset {offset}"
    if out["wcr"]:
        out["wcr"]["path"] = info["path"]
    return out


def _decode_one(f: Fields, wafer: int, out: dict) -> None:
    """Decode one rare record into ``out``."""
    name, offset = f.name, f.offset
    if name == "MIR":
        _, start_t, _, _, _, _, _, _ = (f.u4(), f.u4(), f.u1(), f.c1(), f.c1(), f.c1(),
                                        f.u2(), f.c1())
        out["mir"] = {"start_t": start_t, "lot": f.cn("LOT_ID"), "product": f.cn("PART_TYP"),
                      "node": f.cn(), "tester": f.cn(), "job": f.cn(), "job_rev": f.cn(),
                      "sublot": f.cn()}
    elif name == "WCR":
        out["wcr"] = {"size": f.r4(), "die_ht": f.r4(), "die_wid": f.r4(), "units": f.u1(),
                      "flat": f.c1(), "cx": f.i2(), "cy": f.i2(), "pos_x": f.c1(),
                      "pos_y": f.c1(), "offset": offset}
    elif name == "WIR" and wafer >= 0:
        w = out["wafers"][wafer] = {"start_t": None, "id": "", "offset": offset, "wrr": None}
        _, _, w["start_t"] = f.u1(), f.u1(), f.u4()
        w["id"] = f.cn("WAFER_ID") or ""
    elif name == "WRR":
        head, _, _, part_cnt, rtst_cnt = f.u1(), f.u1(), f.u4(), f.u4("PART_CNT"), f.u4("RTST_CNT")
        _, _, _, wafer_id = f.u4(), f.u4(), f.u4(), f.cn("WAFER_ID")
        if wafer in out["wafers"]:
            w = out["wafers"][wafer]
            w["wrr"] = {"PART_CNT": part_cnt, "RTST_CNT": rtst_cnt, "offset": offset}
            w["id"] = w["id"] or (wafer_id or "")
        else:
            out.setdefault("orphan_wrr", []).append(offset)
    elif name in ("HBR", "SBR"):
        head, site, num, count, pf, bname = f.u1(), f.u1(), f.u2(), f.u4(), f.c1(), f.cn()
        pf = (pf or " ").strip("\x00 ") or " "
        out[name.lower()].append((head, site, num, count, pf, bname or "", offset))
    elif name == "TSR":
        head, site, typ, num = f.u1(), f.u1(), f.c1(), f.u4("TEST_NUM")
        counts = [f.u4(field) for field in ("EXEC_CNT", "FAIL_CNT", "ALRM_CNT")]
        out["tsr"].append((head, site, (typ or " ").strip("\x00 ") or " ", num,
                           *[None if c in (None, MISSING_U4) else c for c in counts],
                           f.cn("TEST_NAM") or ""))
    elif name == "PCR":
        head, site = f.u1(), f.u1()
        out["pcr"].append({"head": head, "site": site, "PART_CNT": f.u4("PART_CNT"),
                           "RTST_CNT": f.u4("RTST_CNT"), "offset": offset})
    elif name == "MRR":
        out["mrr"] = True


def _check_counts(info, dec, parts, retest_part, issues):
    """Record sequence (PIR never closed, WIR without WRR, ..., missing MRR: structural)
    and summary counts (WRR/PCR PART_CNT and RTST_CNT: disagreements)."""
    path = info["path"]
    lo, hi = info["parts"]
    p, again = parts[lo:hi], retest_part[lo:hi]
    closed = p[:, 9] == 1
    if (~closed).any():
        issues.add(path, int((~closed).sum()), "PIR(s) never closed by a PRR (their results are "
                   "dropped)", int(p[~closed, 8].min()), CODES["PIR"])

    def compare(record, field, want, got, where, offset):
        if want is not None and want != MISSING_U4 and want != got:
            what = "parts read" if field == "PART_CNT" else "retest touchdowns read"
            issues.add(path, 1, f"{record} {field} {want} {where} disagrees with the {got} {what}",
                       offset, CODES[record], disagreement=True)

    for wafer, w in dec["wafers"].items():
        if w["wrr"] is None:
            issues.add(path, 1, f"WIR of wafer '{w['id']}' without WRR (file ends inside the wafer)",
                       w["offset"], CODES["WIR"])
            continue
        sel = closed & (p[:, 0] == wafer)
        for field, got in (("PART_CNT", sel.sum()), ("RTST_CNT", (sel & again).sum())):
            compare("WRR", field, w["wrr"][field], int(got), f"of wafer '{w['id']}'",
                    w["wrr"]["offset"])
    for offset in dec.get("orphan_wrr", []):
        issues.add(path, 1, "WRR without WIR", offset, CODES["WRR"])
    for pcr in dec["pcr"]:
        head, site = pcr["head"], pcr["site"]
        sel = closed if head == 255 else closed & (p[:, 1] == head) & (p[:, 2] == site)
        for field, got in (("PART_CNT", sel.sum()), ("RTST_CNT", (sel & again).sum())):
            compare("PCR", field, pcr[field], int(got), f"(head {head}, site {site})",
                    pcr["offset"])
    if dec["wafers"]:
        outside = closed & (p[:, 0] < 0)
        if outside.any():
            issues.add(path, int(outside.sum()), "PRR(s) outside any WIR..WRR block (kept as an "
                       "extra wafer)", int(p[outside, 10].min()), CODES["PRR"], disagreement=True)
    nocoord = closed & ((p[:, 6] == MISSING_I2) | (p[:, 7] == MISSING_I2))
    if nocoord.any():
        issues.add(path, int(nocoord.sum()), "PRR(s) without X/Y coordinates (cannot be placed "
                   "on the map)", int(p[nocoord, 10].min()), CODES["PRR"])
    if not dec["mrr"]:
        issues.add(path, 1, "file ends without MRR (truncated?)", info["end"], CODES["MRR"])


def _f32(v) -> float:
    """The shortest decimal of a float32 field (4.8006f -> 4.8006, not 4.800600051...)."""
    return float(np.format_float_positional(np.float32(v), unique=True, trim="0"))


def _scaled_decimal(v, scale) -> float:
    """A float32 limit times ``10**scale``, through its shortest decimal (-0.00055f, 6 ->
    -550.0 exactly, where the binary product would give -550.0000000000001)."""
    if not np.isfinite(v):
        return float(v)
    return float(np.format_float_positional(np.float32(v), unique=True, trim="0") + f"e{int(scale)}")


def _geometry(col, row, wcr, locate):
    """Die x/y in mm from WCR, or from the coordinate grid when WCR lacks sizes or centre,
    and the wafer size: WCR's, else derived from the grid's bulk; ``locate(die)`` names
    where the die's first PRR is, for the warning about dies set aside when centring the
    grid."""
    wcr = wcr or {}
    notes = []
    scale = UNIT_MM.get(wcr.get("units") or 0)
    given = {"DIE_WID": wcr.get("die_wid"), "DIE_HT": wcr.get("die_ht"),
             "WAFR_SIZ": wcr.get("size")}
    bad = {k: v for k, v in given.items() if v is not None and not (np.isfinite(v) and v >= 0)}
    if bad:  # a corrupted or nonsense size is not a size: same as not given
        notes.append(f"{Path(wcr['path']).name}: WCR at byte offset {wcr['offset']} gives "
                     + ", ".join(f"{k} {v}" for k, v in bad.items())
                     + ": not a size, treated as not given")
    w, h, size = (0.0 if k in bad else _f32(given[k] or 0.0) for k in given)
    sized = scale is not None and w > 0 and h > 0
    sx = -1.0 if (wcr.get("pos_x") or "R").upper() == "L" else 1.0
    sy = 1.0 if (wcr.get("pos_y") or "D").upper() == "U" else -1.0
    if sized:
        w, h = w * scale, h * scale
    else:
        w = h = 1.0
        notes.append("WCR gives no die size (0) or no units: x/y are in die pitches (unit "
                     "pitch), centred on the coordinate grid, and wafer_diameter_mm is derived "
                     "from it")
    cx, cy = wcr.get("cx"), wcr.get("cy")
    centred = not sized or cx in (None, MISSING_I2) or cy in (None, MISSING_I2)
    centre = grid_centre(col, row) if centred else GridCentre(cx, cy, np.zeros(col.shape, bool))
    geometry = "coordinate grid" if centred else "WCR"
    x = sx * (col - centre.col) * w
    y = sy * (row - centre.row) * h
    derived = not (sized and size > 0)
    diameter = grid_diameter(x, y, w, h, centre.aside) if derived else size * scale
    if centre.aside.any():
        first = np.flatnonzero(centre.aside)[0]
        notes.append(f"{aside_note(centre, col, row)}; "
                     f"{wafer_note(diameter, x, y, centre.aside, derived)}; the first one's "
                     f"first PRR is in {locate(first)}: check it (a test structure, or a "
                     "corrupted X_COORD/Y_COORD?)")
    notch = FLAT.get((wcr.get("flat") or " ").upper(), "down")
    attrs = {"wafer_diameter_mm": diameter, "die_width_mm": w, "die_height_mm": h,
             "edge_exclusion_mm": 0.0, "notch": notch, "stdf_geometry": geometry}
    return x, y, "mm" if sized else "die pitch", attrs, notes


def _first_prr(parts, sites, files):
    """``locate(die)``: the file and byte offset of the first PRR placed on die site ``die``
    (an index into ``sites["col"]``/``["row"]``)."""

    def locate(die) -> str:
        p = int(np.flatnonzero(sites["d_part"] == die)[0])
        info = next(f for f in files if f["parts"][0] <= p < f["parts"][1])
        return f"{Path(info['path']).name} at byte offset {int(parts[p, 10])}"

    return locate


def _test_table(arr: _Arrays, files, issues: _Issues):
    """Names, units, limits and scale factors of the tests read; inverted limits are
    reported (a disagreement), recorded and replaced by NaN."""
    n = int(arr.cnt[K.N_TESTS])
    text = arr.text.tobytes()
    replaced = 0

    def string(span):
        nonlocal replaced
        out, changed = clean_text(text[span[0]:span[0] + span[1]])
        replaced += changed
        return out

    nums, subs = arr.t_num[:n], arr.t_sub[:n]
    names = []
    for t in range(n):
        base = string(arr.t_txt[t]) if arr.t_meta[t, 0] else f"test {nums[t]}"
        names.append(base if subs[t] < 0 else f"{base}[{subs[t]}]")  # PTR -1, FTR -2
    seen: dict[str, int] = {}
    for nm in names:
        seen[nm] = seen.get(nm, 0) + 1
    names = [nm if seen[nm] == 1 else f"{nm} #{num}" + (" FTR" if sub == K.FTR_SUB else "")
             for nm, num, sub in zip(names, nums, subs)]
    res_scal = arr.t_meta[:n, 3]
    factor = 10.0 ** res_scal.astype(float)
    units = []
    for t in range(n):
        unit = string(arr.t_unit[t])
        prefix = SI_PREFIX.get(int(res_scal[t]), f"1e{-int(res_scal[t])} ")
        units.append(unit if prefix == "%" and unit.startswith("%") else prefix + unit)
    lsl, usl = (np.array([_scaled_decimal(v, s) for v, s in zip(arr.t_lim[:n, k], res_scal)])
                for k in (0, 1))
    inverted = {}
    for t in np.flatnonzero(lsl > usl):  # NaN compares False: a missing limit is fine
        path, offset = files[arr.t_meta[t, 5]]["path"], int(arr.t_meta[t, 4])
        inverted[names[t]] = {"lo": float(lsl[t]), "hi": float(usl[t]),
                              "file": Path(path).name, "offset": offset}
        issues.add(path, 1, f"test '{names[t]}' with LO_LIMIT {lsl[t]:g} > HI_LIMIT {usl[t]:g} "
                   "(results kept; lsl/usl set to NaN, limits in attrs['stdf_inverted_limits'])",
                   offset, CODES["MPR" if subs[t] >= 0 else "PTR"], disagreement=True)
        lsl[t] = usl[t] = np.nan
    order = np.lexsort((subs, nums))  # tests sorted by TEST_NUM, then MPR element
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    names, units = [names[t] for t in order], [units[t] for t in order]
    return {"names": names, "units": units, "lsl": lsl[order], "usl": usl[order],
            "factor": factor, "nums": nums[order], "rank": rank, "inverted": inverted,
            "replaced": replaced, "functional": subs == K.FTR_SUB}


def _take_test_defaults(arr: _Arrays) -> dict:
    """The test names and defaults (unit, limits, scale) one file gave, then cleared.

    The kernel takes a test's defaults from the first record carrying them; clearing
    them after each file lets the next file's own first records be read too, so
    :func:`_merge_test_defaults` can compare the files.  The text spans stay valid:
    ``arr.text`` only grows.
    """
    n = int(arr.cnt[K.N_TESTS])
    given = np.flatnonzero((arr.t_meta[:n, 0] == 1) | (arr.t_meta[:n, 1] == 1))
    out = {"index": given, "txt": arr.t_txt[given].copy(), "unit": arr.t_unit[given].copy(),
           "meta": arr.t_meta[given].copy(), "lim": arr.t_lim[given].copy()}
    arr.t_meta[:n] = 0
    arr.t_lim[:n] = np.nan
    arr.t_unit[:n] = 0
    return out


def _normalised(name: str) -> str:
    """A test name with runs of blanks and tabs as one space (real names carry padding)."""
    return " ".join(name.split())


def _merge_test_defaults(arr: _Arrays, files, issues: _Issues) -> dict:
    """Tests are unioned across files by TEST_NUM (and MPR element / FTR), STDF's own
    identity of a test: the first file that names a test names it, the first that gives
    its defaults gives unit, scale and limits.

    A later file that names the test otherwise (whitespace aside; the real sample files
    call test 1132 ``"sim1 ref <> Simule_1"`` and ``"sim1 ... <> Simule_1"``) or gives
    another unit or other limits (a limit change between lots or program revisions) is a
    disagreement: the first file's are kept, every file's are returned for
    ``attrs["stdf_test_defaults_by_file"]`` (``{"TEST_NUM": [{"file", "name", "unit",
    "lo", "hi"}, ...]}``, only tests that differ; limits in base units) and warned about,
    and ``errors="raise"`` raises.  Limits are compared as stored (float32, base units),
    so a RES_SCAL change alone is no disagreement.
    """
    text = arr.text.tobytes()

    def string(span):
        return clean_text(text[span[0]:span[0] + span[1]])[0]

    name_from: dict[int, tuple] = {}  # test -> (name, file, span)
    first: dict[int, tuple] = {}  # test -> ((unit, lo, hi), row, file)
    by_file: dict[int, dict] = {}  # test -> {file index: what that file gives}
    for k, info in enumerate(files):
        got, here = info["tests"], Path(info["path"]).name
        for row, t in enumerate(got["index"].tolist()):
            meta = got["meta"][row]
            given = by_file.setdefault(t, {}).setdefault(k, {"file": here})
            if meta[0]:
                name = given["name"] = string(got["txt"][row])
                name_from.setdefault(t, (name, k, got["txt"][row]))
                if _normalised(name) != _normalised(name_from[t][0]):
                    issues.add(info["path"], 1, f"test {arr.t_num[t]} named {name!r} where "
                               f"{Path(files[name_from[t][1]]['path']).name} names it "
                               f"{name_from[t][0]!r} (the first name is kept; every file's in "
                               "attrs['stdf_test_defaults_by_file'])", int(meta[4]),
                               CODES["PTR"], disagreement=True)
            if meta[1]:
                lo, hi = got["lim"][row]
                defaults = (string(got["unit"][row]), None if np.isnan(lo) else float(lo),
                            None if np.isnan(hi) else float(hi))
                given.update(zip(("unit", "lo", "hi"), defaults))
                first.setdefault(t, (defaults, row, k))
                if defaults != first[t][0]:
                    issues.add(info["path"], 1, f"test {arr.t_num[t]} with unit/limits "
                               f"{defaults} where {Path(files[first[t][2]]['path']).name} "
                               f"gives {first[t][0]} (the first file's are kept; every file's "
                               "in attrs['stdf_test_defaults_by_file'])", int(meta[4]),
                               CODES["PTR"], disagreement=True)
    for t, (_, _, span) in name_from.items():
        arr.t_txt[t], arr.t_meta[t, 0] = span, 1
    for t, (_, row, k) in first.items():
        got = files[k]["tests"]
        arr.t_meta[t, 1:] = got["meta"][row, 1:]
        arr.t_lim[t], arr.t_unit[t] = got["lim"][row], got["unit"][row]

    def differs(entries):
        seen = {(_normalised(e.get("name", "")), e.get("unit"), e.get("lo"), e.get("hi"))
                for e in entries}
        return len(seen) > 1

    key = {t: str(arr.t_num[t]) + ("" if arr.t_sub[t] < 0 else f"[{arr.t_sub[t]}]")
           for t in by_file}
    return {key[t]: list(v.values()) for t, v in by_file.items() if differs(v.values())}


def _tsr_summary(records) -> str:
    """JSON of the TSR test summaries, keyed by TEST_NUM: ``{"num": {"type", "name",
    "exec", "fail", "alarm"}}``; the all-sites summary (head 255) when a file has one,
    else the sum over sites; summed over files; ``null`` when no TSR gives the count."""
    heads = {}
    for r in records:
        heads.setdefault(r[3], set()).add(r[0] == 255)
    out: dict[str, dict] = {}
    for head, _, typ, num, exe, fail, alarm, name in records:
        if True in heads[num] and head != 255:
            continue  # the all-sites summary is there: the per-site ones are in it
        key = str(num) if out.get(str(num), {}).get("type", typ) == typ else f"{num} {typ}"
        entry = out.setdefault(key, {"type": typ, "name": name, "exec": None, "fail": None,
                                     "alarm": None})
        entry["name"] = entry["name"] or name
        for field, count in (("exec", exe), ("fail", fail), ("alarm", alarm)):
            if count is not None:
                entry[field] = (entry[field] or 0) + count
    return json.dumps(out, sort_keys=True)


def _bin_counts(files, parts, sites, issues: _Issues) -> dict:
    """Per bin, the file's own HBR/SBR count (``summary``) and the parts read with that
    bin (``parts``, every touchdown); a count that disagrees with the parts is a
    disagreement naming the file, bin and record offset.  :func:`_build` adds the map's
    count (each die's kept touchdown)."""
    out = {"hbin": {}, "sbin": {}}
    for info in files:
        lo, hi = info["parts"]
        closed = parts[lo:hi][parts[lo:hi, 9] == 1]
        for kind, rec, column in (("hbin", "HBR", 4), ("sbin", "SBR", 5)):
            read = dict(zip(*np.unique(closed[:, column], return_counts=True)))
            records = info["dec"][rec.lower()]
            merged = [r for r in records if r[0] == 255] or records
            summary: dict[int, list] = {}
            for _, _, num, count, _, _, offset in merged:
                entry = summary.setdefault(num, [None, offset])
                if count not in (None, MISSING_U4):
                    entry[0] = (entry[0] or 0) + count
            for b in sorted(set(summary) | set(read)):
                label = "none" if b == 65535 else str(int(b))
                n_read = int(read.get(b, 0))
                # a bin the file summarises with no count, or a file with no summary: unknown
                given = summary[b][0] if b in summary else (0 if records else None)
                entry = out[kind].setdefault(label, {"summary": None, "parts": 0, "map": 0})
                entry["parts"] += n_read
                if given is not None:
                    entry["summary"] = (entry["summary"] or 0) + given
                if given is not None and b != 65535 and given != n_read:
                    offset = summary[b][1] if b in summary else merged[0][6]
                    issues.add(info["path"], 1, f"{rec} count {given} of bin {label} disagrees "
                               f"with the {n_read} parts read with that bin", offset,
                               CODES[rec], disagreement=True)
    return out


def _slot(wafer_id: str, fallback: int) -> int:
    """The trailing number of the wafer id when it is a slot (1..25), else ``fallback``."""
    m = re.search(r"(\d+)\D*$", wafer_id)
    # compare as text first: a run of 19+ digits does not fit an int64
    return int(m.group(1)) if m and len(m.group(1).lstrip("0")) <= 2 and \
        1 <= int(m.group(1)) <= 25 else fallback


def _bin_summary(records) -> str:
    """JSON of HBR/SBR: prefer the all-sites summary (head 255), else sum over sites."""
    merged = [r for r in records if r[0] == 255] or records
    out: dict[str, dict] = {}
    for _, _, num, count, pf, name, _ in merged:
        entry = out.setdefault(str(num), {"name": name, "pf": pf, "count": 0})
        entry["count"] += 0 if count in (None, MISSING_U4) else count
        entry["name"] = entry["name"] or name
    return json.dumps(out, sort_keys=True)


def read_stdf(path_or_paths, retest: str = "last", errors: str = "warn",
              progress: bool = True) -> xr.Dataset:
    """Read STDF V4 wafer-sort file(s) into one validated contract Dataset.

    Parameters
    ----------
    path_or_paths
        A file or a list of files (plain, gzip, bz2 or xz); every WIR..WRR block of
        every file becomes one wafer, and the die set is the union of all wafers' sites.
    retest
        ``"last"`` or ``"first"``: which touchdown of a die tested more than once
        (found by coordinates) supplies its bins and results.
    errors
        What to do when the data disagrees with itself (WRR/PCR PART_CNT or RTST_CNT
        against the parts read, inverted limits, parts outside any wafer): ``"warn"``
        (default) keeps everything, lists the disagreements in
        ``attrs["stdf_disagreements"]`` and warns once; ``"raise"`` raises
        :class:`FabDataError` for strict runs.  Structural corruption (truncation,
        malformed records, broken PIR/PRR or WIR/WRR sequences) always raises, naming
        the file, byte offset and record type.
    progress
        Show a ``tqdm`` progress bar over the bytes of all files, naming the file being
        read (only when a read lasts over 2 s).

    Returns
    -------
    xarray.Dataset
        ``value``/``test_flag`` ``(wafer, die, test)``; ``hbin``/``sbin``/``hbin_first``/
        ``sbin_first``/``site``/``touchdowns``/``part_id``/``first_fail_test``
        ``(wafer, die)``; test coordinates ``unit``/``lsl``/``usl``/``test_num``; see the
        module docstring for the mapping.

    Example
    -------
    >>> ds = read_stdf(["lot2.stdf", "demofile.stdf"])      # doctest: +SKIP
    >>> ds.sizes["wafer"], int(ds.attrs["stdf_retested_dies"])  # doctest: +SKIP
    (2, 276)
    """
    check_option("read_stdf", "retest", retest, ("last", "first"))
    check_option("read_stdf", "errors", errors, ("warn", "raise"))
    paths = [Path(path_or_paths)] if isinstance(path_or_paths, (str, Path)) else \
        [Path(p) for p in path_or_paths]
    if not paths:
        raise FabDataError("read_stdf got no files")
    from tqdm.auto import tqdm

    total = sum(p.stat().st_size for p in paths if p.is_file())
    arr, issues, files = _Arrays(total), _Issues(), []
    with tqdm(total=total, unit="B", unit_scale=True, disable=not progress, delay=2,
              desc="read_stdf") as bar:
        for k, path in enumerate(paths):
            bar.set_postfix_str(f"file {k + 1}/{len(paths)}: {path.name}", refresh=False)
            info = _parse_file(path, k, arr, issues, bar)
            info["dec"] = _decode_rare(info, issues)
            info["tests"] = _take_test_defaults(arr)
            files.append(info)
    limit_changes = _merge_test_defaults(arr, files, issues)
    parts = arr.parts[: arr.cnt[K.N_PARTS]]
    wafers, wafer_of_part = _wafer_table(files, parts)
    sites = _sites(parts, wafer_of_part, wafers)
    for info in files:
        _check_counts(info, info["dec"], parts, sites["again"], issues)
    tests = _test_table(arr, files, issues)
    bin_counts = _bin_counts(files, parts, sites, issues)
    issues.report(errors)
    if not sites["ok"].any():
        raise FabDataError("no complete part (PIR..PRR with X/Y coordinates) in "
                           + ", ".join(f"{f['path']} (read to its end at byte offset {f['end']})"
                                       for f in files))
    notes = []
    unknown = [(int(c), int(arr.skipped[0, c])) for c in np.flatnonzero(arr.skipped[0])
               if c not in KNOWN_SKIPPED]
    if unknown:
        notes.append("skipped unknown record types: " +
                     ", ".join(f"{record_name(c)} x{k}" for c, k in unknown))
    inside = [(f["path"], *f["skipped_in_part"]) for f in files if f["skipped_in_part"][0]]
    if inside:
        path, _, offset, code = inside[0]
        notes.append(
            f"{sum(i[1] for i in inside)} record(s) inside parts (between PIR and PRR) are of "
            "types fabnb does not read and were skipped ("
            + ", ".join(f"{record_name(c)} x{arr.skipped[1, c]}"
                        for c in np.flatnonzero(arr.skipped[1]))
            + f"); first in {Path(path).name} at byte offset {offset} ({record_name(code)}); "
            "a PTR whose type bytes were corrupted would be among them; counts in "
            "attrs['stdf_skipped_in_parts']")
    return _build(files, arr, parts, wafers, sites, tests, retest, notes, issues.disagreements,
                  {"stdf_test_defaults_by_file": json.dumps(limit_changes, sort_keys=True),
                   "stdf_tsr": _tsr_summary([r for f in files for r in f["dec"]["tsr"]]),
                   "stdf_bin_counts": bin_counts})


def _sites(parts, wafer_of_part, wafers) -> dict:
    """Which parts can be placed (``ok``), their wafer (``w_part``), the distinct die
    sites (``col``/``row``, sorted by row then column), each part's die (``d_part``,
    -1 when not placed) and the retest touchdowns (``again``: a part on a (wafer, die)
    an earlier part of the read already touched)."""
    ok = (parts[:, 9] == 1) & (parts[:, 6] != MISSING_I2) & (parts[:, 7] != MISSING_I2)
    w_part = _map_index(wafer_of_part, {w["index"]: k for k, w in enumerate(wafers)})
    ok &= w_part >= 0
    idx = np.flatnonzero(ok)
    # one key per distinct (row, col) present, never the bounding box of the coordinates:
    # memory follows the parts even when a corrupted PRR says X = Y = -32767
    key = (parts[idx, 7] + 32768) * 65536 + (parts[idx, 6] + 32768)
    site_keys, die_of = np.unique(key, return_inverse=True)
    d_part = np.full(parts.shape[0], -1, dtype=np.int64)
    d_part[idx] = die_of
    _, first = np.unique(w_part[idx] * site_keys.size + die_of, return_index=True)
    again = np.zeros(parts.shape[0], dtype=bool)
    again[idx] = True
    again[idx[first]] = False
    return {"ok": ok, "w_part": w_part, "d_part": d_part, "again": again,
            "col": site_keys % 65536 - 32768, "row": site_keys // 65536 - 32768}


def _wafer_table(files, parts):
    """Global wafer list; parts outside any WIR get an extra wafer per file."""
    wafers, wafer_of_part = [], parts[:, 0].copy()
    for info in files:
        dec, (lo, hi) = info["dec"], info["parts"]
        mir = dec["mir"]
        lot = mir.get("lot") or Path(info["path"]).stem
        for wafer in sorted(dec["wafers"]):
            w = dec["wafers"][wafer]
            wafers.append({"index": wafer, "id": w["id"], "lot": lot, "start_t": w["start_t"],
                           "file": info["path"]})
        orphan = (parts[lo:hi, 0] < 0)
        if orphan.any():
            extra = -2 - len(wafers)  # a unique placeholder index for this file's extra wafer
            wafer_of_part[lo:hi][orphan] = extra
            suffix = "no-WIR" if dec["wafers"] else (mir.get("sublot") or "1")
            wafers.append({"index": extra, "id": f"{lot}-{suffix}", "lot": lot,
                           "start_t": mir.get("start_t"), "file": info["path"],
                           "made_up": True})
    _check_wafer_ids_across_files(wafers)
    return wafers, wafer_of_part


def _check_wafer_ids_across_files(wafers) -> None:
    """One wafer id in two files is refused, naming both: merging them would mix two
    probe runs into one map, and suffixing would hide that the folder holds the wafer
    twice (a re-probe file, a copy).  Within one file a repeated id, and the ids fabnb
    makes up for parts outside any WIR (``<lot>-<sublot>``), get ``#<n>``."""
    seen: dict[str, str] = {}
    for w in wafers:
        if not w["id"] or w.get("made_up"):
            continue
        other = seen.setdefault(w["id"], w["file"])
        if other != w["file"]:
            raise FabDataError(
                f"wafer id {w['id']!r} is in two files: {other} and {w['file']}.  A re-probe "
                "or a copy of the same wafer: read the files separately (fabnb.io.read_stdf "
                "on each) and choose, or give the wafers distinct ids")


def _build(files, arr, parts, wafers, sites, tests, retest, notes, disagreements, extra_attrs):
    ok, w_part = sites["ok"], sites["w_part"]
    wcr = next((f["dec"]["wcr"] for f in files if f["dec"]["wcr"]), None)
    x, y, xy_units, geo, geo_notes = _geometry(sites["col"].astype(float),
                                               sites["row"].astype(float), wcr,
                                               _first_prr(parts, sites, files))
    order = np.lexsort((x, -y))  # top to bottom, left to right
    die_col, die_row, x, y = sites["col"][order], sites["row"][order], x[order], y[order]
    notes += geo_notes

    n_w, n_d = len(wafers), die_col.size
    new_die = np.empty(n_d, dtype=np.int64)
    new_die[order] = np.arange(n_d)
    idx = np.flatnonzero(ok)
    cell = w_part[idx] * n_d + new_die[sites["d_part"][idx]]
    touchdowns = np.bincount(cell, minlength=n_w * n_d).reshape(n_w, n_d)
    last = np.full(n_w * n_d, -1, dtype=np.int64)
    np.maximum.at(last, cell, idx)
    first_part = np.full(n_w * n_d, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_part, cell, idx)
    have = touchdowns.ravel() > 0
    first_part = np.where(have, first_part, -1)
    kept = last if retest == "last" else first_part

    def per_die(column, touchdown=kept):
        out = np.full(n_w * n_d, -1, dtype=np.int64)
        out[have] = parts[touchdown[have], column]
        if column in (4, 5):
            out[out == 65535] = -1  # STDF's "no bin"
        return out.reshape(n_w, n_d)

    hbin, sbin, site = per_die(4), per_die(5), per_die(2)
    hbin_first, sbin_first = per_die(4, first_part), per_die(5, first_part)
    part_id = np.full(n_w * n_d, "", dtype=object)
    part_id[have], replaced = _strings(arr.text, arr.part_id[kept[have]])
    part_id = part_id.reshape(n_w, n_d).astype(str)
    replaced += tests["replaced"] + sum(f["dec"]["replaced"] for f in files)
    if replaced:
        first = next((f"{Path(f['path']).name}: {f['dec']['replaced_at']}" for f in files
                      if f["dec"]["replaced_at"]), "part ids or test names")
        notes.append(f"{replaced} string(s) held control characters (e.g. NUL), replaced by '?' "
                     f"so they stay writable; first in {first}")

    names, units, nums = tests["names"], tests["units"], tests["nums"]
    n_t = len(names)
    n_r = int(arr.cnt[K.N_RESULTS])
    value = np.full((n_w, n_d, n_t), np.nan)
    test_flag = np.full((n_w, n_d, n_t), -1, dtype=np.int8)
    first_fail = np.full(n_w * n_d, -1, dtype=np.int64)
    cell_of_part = np.full(parts.shape[0], -1, dtype=np.int64)
    cell_of_part[kept[have]] = np.flatnonzero(have)
    invalid, repeated = K.place_results(
        arr.r_part[:n_r], arr.r_test[:n_r], arr.r_flag[:n_r], arr.r_value[:n_r], cell_of_part,
        tests["rank"], tests["factor"], tests["functional"], n_t, value.reshape(-1),
        test_flag.reshape(-1), first_fail, np.zeros(value.size, dtype=np.uint8))
    first_fail_test = np.array(list(names) + [""], dtype=str)[first_fail].reshape(n_w, n_d)
    bin_counts = extra_attrs.pop("stdf_bin_counts")
    for kind, final in (("hbin", hbin), ("sbin", sbin)):
        for b, n in zip(*np.unique(final[final >= 0], return_counts=True)):
            entry = bin_counts[kind].setdefault(str(b), {"summary": None, "parts": 0})
            entry["map"] = int(n)
    bin_counts["note"] = BIN_COUNTS_NOTE
    summarised = sum(e["summary"] or 0 for e in bin_counts["hbin"].values())
    if summarised and summarised != int(have.sum()):
        notes.append(f"the files' HBR summaries count {summarised} parts (every touchdown, retests "
                     f"included), the map {int(have.sum())} dies (each die's {retest} touchdown); "
                     "per-bin counts side by side in attrs['stdf_bin_counts']")

    retested = int((touchdowns > 1).sum())
    if retested:
        notes.append(f"{retested} die(s) were tested more than once (retests found by "
                     f"coordinates); kept the {retest} touchdown")
    if repeated:
        notes.append(f"{repeated} result(s) repeated a test inside one part; kept the last")
    mir = files[0]["dec"]["mir"]
    products = list(dict.fromkeys(f["dec"]["mir"].get("product") or "" for f in files))
    skipped, inside = ({record_name(c): int(arr.skipped[k, c])
                        for c in np.flatnonzero(arr.skipped[k])} for k in (0, 1))
    ids = _unique_ids([w["id"] or f"{w['lot']}-{k + 1:02d}" for k, w in enumerate(wafers)], notes)
    starts = np.array([np.datetime64(int(w["start_t"]), "s") if w["start_t"] else np.datetime64("NaT")
                       for w in wafers], dtype="datetime64[ns]")
    r = np.hypot(x, y)
    theta = np.arctan2(y, x)
    ds = xr.Dataset(
        {
            "value": (("wafer", "die", "test"), value),
            "hbin": (("wafer", "die"), hbin),
            "sbin": (("wafer", "die"), sbin),
            "site": (("wafer", "die"), site),
            "touchdowns": (("wafer", "die"), touchdowns.astype(np.int64)),
            "part_id": (("wafer", "die"), part_id),
            "hbin_first": (("wafer", "die"), hbin_first),
            "sbin_first": (("wafer", "die"), sbin_first),
            "first_fail_test": (("wafer", "die"), first_fail_test),
            "test_flag": (("wafer", "die", "test"), test_flag),
        },
        coords={
            "wafer": ("wafer", np.array(ids, dtype=str)),
            "lot": ("wafer", np.array([w["lot"] for w in wafers], dtype=str)),
            "slot": ("wafer", np.array([_slot(i, k + 1) for k, i in enumerate(ids)], dtype=np.int64)),
            "seq": ("wafer", np.arange(n_w, dtype=np.int64)),
            "time": ("wafer", starts),
            "col": ("die", die_col.astype(np.int64)),
            "row": ("die", die_row.astype(np.int64)),
            "x": ("die", x, {"units": xy_units}), "y": ("die", y, {"units": xy_units}),
            "r": ("die", r), "theta": ("die", theta),
            "zone": ("die", radial_zones(r, theta=theta)),
            "test": ("test", np.array(names, dtype=str)),
            "test_num": ("test", nums.astype(np.int64)),
            "unit": ("test", np.array(units, dtype=str)),
            "lsl": ("test", tests["lsl"]), "usl": ("test", tests["usl"]),
        },
        attrs={
            "product": ", ".join(p for p in products if p) or "",
            **geo,
            "schema_version": schema.SCHEMA_VERSION,
            "source": "STDF V4: " + ", ".join(Path(f["path"]).name for f in files),
            "tester": mir.get("tester") or "",
            "stdf_retested_dies": retested,
            "stdf_retest_kept": retest,
            "stdf_invalid_results": int(invalid),
            "stdf_skipped_records": json.dumps(skipped, sort_keys=True),
            "stdf_skipped_in_parts": json.dumps(inside, sort_keys=True),
            "stdf_disagreements": json.dumps(disagreements),
            "stdf_inverted_limits": json.dumps(tests["inverted"], sort_keys=True),
            "hbin_names": _bin_summary([r for f in files for r in f["dec"]["hbr"]]),
            "sbin_names": _bin_summary([r for f in files for r in f["dec"]["sbr"]]),
            "stdf_bin_counts": json.dumps(bin_counts, sort_keys=True),
            **extra_attrs,
        },
    )
    tested = touchdowns.sum(axis=1) > 0
    if not tested.all():  # a WIR..WRR block without parts (an aborted wafer)
        notes.append(f"wafer(s) {', '.join(ds['wafer'].values[~tested])} hold no parts; left out")
        ds = ds.isel(wafer=tested)
    if notes:
        warnings.warn("read_stdf: " + "; ".join(notes), StdfWarning, stacklevel=user_stacklevel())
    return schema.validate(ds)


def _strings(text, spans):
    """Decode the (offset, length) ``spans`` of the ``text`` bytes as latin-1, vectorised;
    the few holding control characters go through :func:`clean_text`.  Returns the
    strings and how many had control characters replaced."""
    width = max(int(spans[:, 1].max()) if spans.size else 0, 1)
    at = spans[:, :1] + np.arange(width)
    inside = np.arange(width) < spans[:, 1:]
    chars = np.where(inside, text[np.minimum(at, text.size - 1)], 0)
    # latin-1 is the first 256 code points: the bytes are the UCS-4 code units
    out = np.char.strip(chars.astype(np.uint32).view(f"U{width}").ravel(), " ").astype(object)
    control = inside & (((chars < 32) & (chars != 9)) | ((chars >= 127) & (chars < 160)))
    replaced = 0
    for k in np.flatnonzero(control.any(axis=1)):
        out[k], changed = clean_text(text[spans[k, 0]:spans[k, 0] + spans[k, 1]].tobytes())
        replaced += changed
    return out, replaced


def _map_index(values, index_of):
    """Map each of ``values`` through the dict ``index_of`` (-1 when absent), vectorised."""
    keys = np.array(sorted(index_of), dtype=np.int64)
    pos = np.searchsorted(keys, values)
    pos = np.clip(pos, 0, keys.size - 1)
    found = keys[pos] == values
    mapped = np.array([index_of[int(k)] for k in keys], dtype=np.int64)[pos]
    return np.where(found, mapped, -1)


def _unique_ids(ids, notes):
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
        out.append(i if seen[i] == 1 else f"{i}#{seen[i]}")
    if len(set(ids)) < len(ids):
        notes.append("duplicated wafer ids got a '#<n>' suffix")
    return out
