"""Fuzz fabnb.io.read_stdf with mutated slices of the real STDF sample files.

Each slice is the file's header records, a window of whole parts (PIR..PRR) and the
file's closing records (WRR, bin summaries, TSR, PCR, MRR), so it reads cleanly and fast.
Mutations, seeded: byte flips anywhere, record length fields, record-type bytes,
truncation, and truncated or corrupted gzip/bz2/xz copies.  Every read must either
succeed or raise FabDataError naming the file and a byte offset -- never another
exception type -- and its tracemalloc peak (numpy reports into it) stays under 1 GB.
Flips that hit only a PTR's RESULT bytes must read, and the values must equal an
independent decode of the mutated bytes (:func:`_independent`, plain ``struct``).
About 20 s in all.
"""

import bz2
import gzip
import lzma
import re
import struct
import tracemalloc
import warnings

import numpy as np
import pytest
from conftest import SHARED_DATA

from fabnb.errors import FabDataError
from fabnb.io.stdf import read_stdf

FILES = ("lot2.stdf", "demofile.stdf")  # both big-endian (shared/data/stdf/README.md)
PIR, PRR, PTR, WRR = (5, 10), (5, 20), (15, 10), (2, 20)
PEAK_LIMIT = 1 << 30
CASES = 16  # per mutation kind and slice: ~200 reads in all


def _records(data):
    """(offset, REC_TYP, REC_SUB, length) of every record of a big-endian STDF file."""
    out, pos = [], 0
    while pos + 4 <= len(data):
        length = struct.unpack_from(">H", data, pos)[0]
        out.append((pos, data[pos + 2], data[pos + 3], length))
        pos += 4 + length
    return out


def _slice(data, first, count):
    """Header records + parts ``first .. first+count-1`` + the closing records, cut at
    record boundaries."""
    recs = _records(data)
    pirs = [k for k, r in enumerate(recs) if r[1:3] == PIR]
    prrs = [k for k, r in enumerate(recs) if r[1:3] == PRR]
    wrr = next(k for k, r in enumerate(recs) if r[1:3] == WRR)
    start, stop = recs[pirs[first]][0], recs[prrs[first + count - 1] + 1][0]
    return data[:recs[pirs[0]][0]] + data[start:stop] + data[recs[wrr][0]:]


@pytest.fixture(scope="module")
def slices():
    folder = SHARED_DATA / "stdf"
    if not folder.is_dir():
        pytest.skip(f"shared STDF samples absent ({folder})")
    lot2, demo = ((folder / name).read_bytes() for name in FILES)
    # demofile's parts 120..154 hold a retest: part 149 touches part 143's die again
    return {"head-lot2": _slice(lot2, 0, 30), "retest-demofile": _slice(demo, 120, 35)}


def _independent(data):
    """{(X, Y): {TEST_NUM: value}} of the last touchdown of each die, decoded with struct.

    STDF V4 defaults: the first PTR of a test carrying OPT_FLAG sets RES_SCAL; a result
    flagged invalid or not executed (TEST_FLG bits 1, 4), or not finite, is NaN.
    """
    scale, open_parts, dies = {}, {}, {}
    for pos, typ, sub, length in _records(data):
        body = data[pos + 4:pos + 4 + length]
        if (typ, sub) == PIR:
            open_parts[body[:2]] = {}
        elif (typ, sub) == PTR:
            num, head, site, flag, _, result = struct.unpack_from(">IBBBBf", body)
            txt = 12 + 1 + body[12]
            alarm = txt + 1 + body[txt]
            if num not in scale and alarm < length:  # OPT_FLAG present
                opt, res_scal = body[alarm], struct.unpack_from(">b", body, alarm + 1)[0]
                scale[num] = 0 if opt & 1 else res_scal
            value = np.float64(np.float32(result)) * 10.0 ** scale.get(num, 0)
            bad = flag & 0x12 or not np.isfinite(value)
            open_parts[bytes([head, site])][num] = np.nan if bad else value
        elif (typ, sub) == PRR:
            x, y = struct.unpack_from(">hh", body, 9)
            dies[(x, y)] = open_parts.pop(body[:2])
    return dies


def _read(data, path):
    """read_stdf of ``data`` written to ``path``: (Dataset or None, tracemalloc peak)."""
    path.write_bytes(bytes(data))
    tracemalloc.reset_peak()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_stdf(path, progress=False)
    except FabDataError as err:
        msg = str(err)
        assert path.name in msg and re.search(r"byte offset \d+", msg), msg
        ds = None
    return ds, tracemalloc.get_traced_memory()[1]


def _assert_matches(ds, data):
    """Every (die, test) of the independent decode has the reader's value."""
    want = _independent(data)
    die = {xy: k for k, xy in enumerate(zip(ds["col"].values.tolist(), ds["row"].values.tolist()))}
    test = {num: k for k, num in enumerate(ds["test_num"].values.tolist())}
    assert set(die) == set(want)
    expect = np.full(ds["value"].shape[1:], np.nan)
    for xy, results in want.items():
        for num, v in results.items():
            expect[die[xy], test[num]] = v
    np.testing.assert_allclose(ds["value"].values[0], expect, rtol=1e-12)


def _mutations(data, rng):
    """(kind, mutated bytes, must_read) cases of one slice."""
    recs = _records(data)
    ptrs = [r for r in recs if r[1:3] == PTR]
    for _ in range(CASES):
        pos = rng.integers(len(data))
        bad = bytearray(data)
        bad[pos] ^= rng.integers(1, 256)
        yield "byte flip", bad, False
    for _ in range(CASES):
        pos = ptrs[rng.integers(len(ptrs))][0] + 4 + 8 + rng.integers(4)  # a RESULT byte
        bad = bytearray(data)
        bad[pos] ^= rng.integers(1, 256)
        yield "result byte", bad, True
    for _ in range(CASES):
        pos, _, _, length = recs[rng.integers(len(recs))]
        new = int(rng.choice([length + rng.integers(-3, 4), rng.integers(65536)]))
        bad = bytearray(data)
        struct.pack_into(">H", bad, pos, min(max(new, 0), 65535))
        yield "length field", bad, False
    for _ in range(CASES):
        pos = recs[rng.integers(len(recs))][0]
        bad = bytearray(data)
        bad[pos + 2 + rng.integers(2)] = rng.integers(256)
        yield "record type", bad, False
    for _ in range(CASES):
        yield "truncation", data[:rng.integers(len(data))], False


COMPRESS = {".gz": lambda b: gzip.compress(b, compresslevel=1), ".bz2": bz2.compress,
            ".xz": lambda b: lzma.compress(b, preset=0)}


def test_fuzz_real_slices(slices, tmp_path):
    rng = np.random.default_rng(20251206)
    tracemalloc.start()
    try:
        for key, data in slices.items():
            clean, peak = _read(data, tmp_path / f"{key}.stdf")
            assert clean is not None, key
            _assert_matches(clean, data)
            assert int(clean["touchdowns"].sum()) == clean.sizes["die"] + (key == "retest-demofile")
            for kind, bad, must_read in _mutations(data, rng):
                ds, peak = _read(bad, tmp_path / f"{key}.stdf")
                assert peak < PEAK_LIMIT, (key, kind, peak)
                if must_read:
                    assert ds is not None, (key, kind)
                    _assert_matches(ds, bytes(bad))
                elif kind == "truncation":
                    assert ds is None, key  # a cut file never reads as complete
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("suffix", list(COMPRESS))
def test_fuzz_compressed_slices(slices, tmp_path, suffix):
    """Cut compressed copies always raise; corrupted ones raise FabDataError or, when the
    flip missed what the format's checksum covers, read the original values."""
    rng = np.random.default_rng(7)
    data = slices["head-lot2"]
    packed = COMPRESS[suffix](data)
    path = tmp_path / f"lot2.stdf{suffix}"
    tracemalloc.start()
    try:
        ds, _ = _read(packed, path)
        _assert_matches(ds, data)
        for _ in range(CASES // 2):  # half cut, half corrupted
            cut, peak = _read(packed[:rng.integers(len(packed))], path)
            assert cut is None and peak < PEAK_LIMIT
            bad = bytearray(packed)
            bad[rng.integers(len(bad))] ^= rng.integers(1, 256)
            ds, peak = _read(bad, path)
            assert peak < PEAK_LIMIT
            if ds is not None:  # the flip missed the checksummed data (say, gzip's MTIME)
                _assert_matches(ds, data)
    finally:
        tracemalloc.stop()
