"""fabnb.io.read_stdf / write_stdf: exact round trips, the real sample files checked
against two independent readers (stdf-convert for every part, pystdf for values), and
corrupted files that must raise FabDataError naming the byte offset and record type."""

import json
import re
import struct
import warnings

import numpy as np
import pytest
from conftest import make_dataset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fabnb.errors import FabDataError
from fabnb.io._stdf_writer import _RecordWriter
from fabnb.io.stdf import StdfWarning, read_stdf, write_stdf

REAL = {  # from shared/data/stdf/README.md
    "lot2.stdf": {"lot": "GAL-LOT", "wafer": "GAL-LOT-02", "parts": 1569, "retested": 113,
                  "ptr": 52403},
    "demofile.stdf": {"lot": "W118892", "wafer": "R114792-03", "parts": 1619, "retested": 163,
                      "ptr": 54123},
}


def _read(path, **kw):
    """read_stdf with its warnings captured (returned as one string)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_stdf(path, progress=False, **kw)
    return ds, " | ".join(str(w.message) for w in caught)


def _synthetic(n_wafers=3, n_tests=3, seed=0):
    """make_dataset with float32 values (STDF stores R*4), sparse results, an untested die,
    a test without low limit and a unit per test."""
    ds = make_dataset(n_wafers=n_wafers, n_tests=n_tests, seed=seed)
    rng = np.random.default_rng(seed)
    value = ds["value"].values.astype(np.float32).astype(np.float64)
    value[rng.random(value.shape) < 0.2] = np.nan
    ds["value"] = (("wafer", "die", "test"), value)
    ds["hbin"][0, 0] = -1
    ds["sbin"][0, 0] = -1
    ds["value"][0, 0, :] = np.nan
    ds["sbin"] = ds["sbin"] * 10 + 3 * (ds["hbin"] == 2)
    ds["sbin"] = ds["sbin"].where(ds["hbin"] >= 0, -1)
    lsl = ds["lsl"].values.copy()
    lsl[0] = np.nan
    units = [["V", "mA", "Ohm", "s"][k % 4] for k in range(n_tests)]
    return ds.assign_coords(lsl=("test", lsl), unit=("test", units))


def _assert_same(got, want):
    """Same dies (by col/row), wafers, bins, values, limits, units and die positions.

    Values and limits are float32 in STDF and read back exactly; positions are computed
    by the reader from WCR, another code path than the dataset's, so within rounding."""
    assert list(got["wafer"].values) == list(want["wafer"].values)
    assert list(got["lot"].values) == list(want["lot"].values)
    assert list(got["slot"].values) == list(want["slot"].values)
    assert sorted(zip(got["col"].values, got["row"].values)) == \
        sorted(zip(want["col"].values, want["row"].values))
    g = got.set_index(die=["col", "row"]).sel(die=want.set_index(die=["col", "row"])["die"])
    np.testing.assert_array_equal(g["value"].values, want["value"].values)
    np.testing.assert_array_equal(g["hbin"].values, want["hbin"].values)
    np.testing.assert_array_equal(g["sbin"].values, want["sbin"].values)
    np.testing.assert_allclose(g["x"].values, want["x"].values, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g["y"].values, want["y"].values, rtol=1e-12, atol=1e-12)
    assert list(got["test"].values) == list(want["test"].values)
    assert list(got["unit"].values) == list(want["unit"].values)
    np.testing.assert_array_equal(got["lsl"].values, want["lsl"].values)
    np.testing.assert_array_equal(got["usl"].values, want["usl"].values)
    for attr in ("wafer_diameter_mm", "die_width_mm", "die_height_mm"):
        assert got.attrs[attr] == pytest.approx(want.attrs[attr], rel=1e-12), attr
    for attr in ("notch", "product"):
        assert got.attrs[attr] == want.attrs[attr], attr


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("sites", [1, 4])
def test_round_trip_exact(tmp_path, byteorder, sites):
    ds = _synthetic()
    path = write_stdf(ds, tmp_path / "lot.stdf", byteorder=byteorder, sites=sites)
    assert path.read_bytes()[4] == (1 if byteorder == ">" else 2)  # FAR CPU_TYPE
    got, warned = _read(path)
    _assert_same(got, ds)
    assert warned == ""
    # the dies of each group of `sites` are tested on sites 0..sites-1
    assert set(np.unique(got["site"].values)) == set(range(sites)) | {-1}
    assert int(got.attrs["stdf_retested_dies"]) == 0


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_compressed(tmp_path, suffix):
    ds = _synthetic(n_wafers=2)
    path = write_stdf(ds, tmp_path / f"lot.stdf{suffix}", sites=2)
    assert path.read_bytes()[:2] != b"\x02\x00"  # really compressed
    _assert_same(_read(path)[0], ds)


def test_round_trip_synth_fab(tmp_path):
    synth = pytest.importorskip("fabnb.synth")
    ds = synth.fab("small", seed=3)
    ds = ds.isel(wafer=ds["lot"] == ds["lot"].values[0])
    keep = [v for v in ("value", "hbin", "sbin") if v in ds]
    ds = ds[keep]
    ds["value"] = ds["value"].astype(np.float32).astype(np.float64)
    ds = ds.assign_coords(lsl=ds["lsl"].astype(np.float32).astype(np.float64),
                          usl=ds["usl"].astype(np.float32).astype(np.float64))
    tested = (ds["hbin"] != -1).any("wafer") | ds["value"].notnull().any(("wafer", "test"))
    ds = ds.isel(die=tested.values)
    path = write_stdf(ds, tmp_path / "fab.stdf", byteorder=">", sites=4)
    got, _ = _read(path)
    g = got.set_index(die=["col", "row"]).sel(die=ds.set_index(die=["col", "row"])["die"])
    np.testing.assert_array_equal(g["value"].values, ds["value"].values)
    np.testing.assert_array_equal(g["hbin"].values, ds["hbin"].values)
    np.testing.assert_allclose(g["x"].values, ds["x"].values, atol=1e-9)
    np.testing.assert_allclose(g["y"].values, ds["y"].values, atol=1e-9)
    assert list(got["unit"].values) == list(ds["unit"].values)


# ---- hand-built records: STDF defaults, scaling, MPR, multi-site interleaving -------------

def _file(records, order="<", wafer_id="LOTX-05", wcr=(200.0, 1.0, 1.0)):
    """FAR + MIR + WCR (WAFR_SIZ, DIE_HT, DIE_WID ``wcr``) + WIR + given (name, fmt,
    values) records + WRR + MRR, as bytes."""
    w = _RecordWriter(order)
    w.record("FAR", "BB", 2 if order == "<" else 1, 4)
    w.record("MIR", "IIBcccHcnn", 0, 0, 1, b"P", b" ", b" ", 65535, b" ", "LOTX", "PROD")
    w.record("WCR", "fffBchhcc", *wcr, 3, b"D", -32768, -32768, b"R", b"D")
    w.record("WIR", "BBIn", 1, 255, 0, wafer_id)
    n_prr = 0
    for name, fmt, values in records:
        w.record(name, fmt, *values)
        n_prr += name == "PRR"
    w.record("WRR", "BBII", 1, 255, 0, n_prr)
    w.record("MRR", "I", 0)
    return bytes(w.out)


def test_multi_head_wafers_and_interleaved_results(tmp_path):
    """Two heads test two wafers at once: each PTR goes to its own head's open part."""
    w = _RecordWriter(">")
    w.record("FAR", "BB", 1, 4)
    w.record("MIR", "IIBcccHcnn", 0, 0, 1, b"P", b" ", b" ", 65535, b" ", "L9", "P")
    w.record("WIR", "BBIn", 1, 255, 0, "L9-01")
    w.record("WIR", "BBIn", 2, 255, 0, "L9-02")
    for x in range(3):
        w.record("PIR", "BB", 1, 0)
        w.record("PIR", "BB", 2, 0)
        w.record("PTR", PTR_FULL, 5, 2, 0, 0, 0, 200.0 + x, "T", "", 0x0E, 0, 0, 0, 0.0, 1e3, "V")
        w.record("PTR", "IBBBBf", 5, 1, 0, 0, 0, 100.0 + x)
        w.record("PRR", "BBBHHHhh", 2, 0, 0, 1, 1, 1, x, 0)
        w.record("PRR", "BBBHHHhh", 1, 0, 0, 1, 3, 3, x, 0)
    w.record("WRR", "BBII", 2, 255, 0, 3)
    w.record("WRR", "BBII", 1, 255, 0, 3)
    w.record("MRR", "I", 0)
    path = tmp_path / "heads.stdf"
    path.write_bytes(bytes(w.out))
    ds, _ = _read(path)
    assert list(ds["wafer"].values) == ["L9-01", "L9-02"]
    v = ds.set_index(die=["col", "row"])["value"].isel(test=0)
    np.testing.assert_array_equal(v.sel(die=[(0, 0), (1, 0), (2, 0)]).values,
                                  [[100, 101, 102], [200, 201, 202]])
    np.testing.assert_array_equal(ds["hbin"].values, [[3, 3, 3], [1, 1, 1]])


PTR_FULL = "IBBBBfnnBbbbffn"


def _prr(site, x, y, hbin=1, sbin=1):
    return ("PRR", "BBBHHHhh", (1, site, 0, 1, hbin, sbin, x, y))


def test_defaults_scale_and_interleaved_sites(tmp_path):
    """First PTR sets name/unit/limits/scale; a later PTR's own limits are ignored (STDF V4);
    RES_SCAL 6 turns A into uA for results and limits; sites keep their own results."""
    recs = [
        ("PIR", "BB", (1, 0)), ("PIR", "BB", (1, 1)),
        ("PTR", PTR_FULL, (7, 1, 1, 0, 0, 2.5e-6, "Ileak", "", 0x0E | 0x80, 6, 6, 6, -1e-6, 0.0, "A")),
        ("PTR", "IBBBBf", (7, 1, 0, 0, 0, 1.5e-6)),
        ("PTR", PTR_FULL, (8, 1, 0, 0, 0, 0.25, "Vth", "", 0x0E, 0, 0, 0, 0.125, 0.5, "V")),
        ("PTR", PTR_FULL, (8, 1, 1, 0, 0, 0.375, "", "", 0x0E, 0, 0, 0, -9.0, 9.0, "X")),
        _prr(1, 3, 4, 2, 20), _prr(0, 2, 4),
        ("PIR", "BB", (1, 0)),
        ("PTR", "IBBBBf", (7, 1, 0, 0x12, 0, 9.0)),  # TEST_FLG: result invalid -> NaN
        _prr(0, 2, 5),
    ]
    path = tmp_path / "h.stdf"
    path.write_bytes(_file(recs))
    ds, _ = _read(path)
    assert list(ds["test"].values) == ["Ileak", "Vth"]
    assert list(ds["unit"].values) == ["uA", "V"]
    np.testing.assert_allclose(ds["lsl"].values, [-1.0, 0.125])
    assert np.isnan(ds["usl"].values[0]) and ds["usl"].values[1] == 0.5
    v = ds.set_index(die=["col", "row"])["value"].isel(wafer=0)
    np.testing.assert_allclose(v.sel(die=(3, 4)).values, [np.float32(2.5e-6) * 1e6, 0.375])
    np.testing.assert_allclose(v.sel(die=(2, 4)).values, [np.float32(1.5e-6) * 1e6, 0.25])
    assert np.isnan(v.sel(die=(2, 5)).values).all()
    assert int(ds.attrs["stdf_invalid_results"]) == 1
    assert ds.set_index(die=["col", "row"])["sbin"].isel(wafer=0).sel(die=(3, 4)) == 20
    assert ds["slot"].values[0] == 5 and ds["lot"].values[0] == "LOTX"


def test_mpr_elements_become_tests(tmp_path):
    mpr = ("MPR", "IBBBBHHBffnnBbbbffffHHn",  # 2 return states share one byte of nibbles
           (30, 1, 0, 0, 0, 2, 2, 0, 1.0, 2.0, "Ipin", "", 0x0E, 0, 0, 0, 0.5, 3.0, 0.0, 0.0,
            1, 2, "A"))
    path = tmp_path / "m.stdf"
    path.write_bytes(_file([("PIR", "BB", (1, 0)), mpr, _prr(0, 0, 0)]))
    ds, _ = _read(path)
    assert list(ds["test"].values) == ["Ipin[0]", "Ipin[1]"]
    np.testing.assert_array_equal(ds["value"].values[0, 0], [1.0, 2.0])
    np.testing.assert_array_equal(ds["lsl"].values, [0.5, 0.5])


def test_wafer_without_parts_is_left_out_with_a_warning(tmp_path):
    data = bytearray(_file([("PIR", "BB", (1, 0)), _prr(0, 1, 1)]))
    w = _RecordWriter("<")
    w.record("WIR", "BBIn", 1, 255, 0, "LOTX-06")
    w.record("WRR", "BBII", 1, 255, 0, 0)
    mrr = len(data) - 8  # MRR with FINISH_T only: 4 header + 4 body bytes
    path = tmp_path / "e.stdf"
    path.write_bytes(bytes(data[:mrr] + w.out + data[mrr:]))
    ds, warned = _read(path)
    assert list(ds["wafer"].values) == ["LOTX-05"] and "LOTX-06 hold no parts" in warned


def test_unknown_records_are_skipped_with_a_count(tmp_path):
    recs = [("PIR", "BB", (1, 0)), ("GDR", "H", (0,)), _prr(0, 1, 1)]
    data = bytearray(_file(recs))
    data += struct.pack("<HBB", 3, 200, 7) + b"abc"  # V4-2007 or vendor record, after MRR
    path = tmp_path / "u.stdf"
    path.write_bytes(bytes(data))
    ds, warned = _read(path)
    assert "unknown record 200/7 x1" in warned
    assert '"GDR": 1' in ds.attrs["stdf_skipped_records"]


# ---- never lose a die silently -----------------------------------------------------------

@pytest.mark.parametrize("recs, what, rec", [
    ([("PTR", "IBBBBf", (1, 1, 0, 0, 0, 1.0)), ("PIR", "BB", (1, 0)), _prr(0, 0, 0)],
     "no open part", "PTR"),
    ([("PIR", "BB", (1, 0)), _prr(0, 0, 0), _prr(1, 1, 0)], "PRR(s) without PIR", "PRR"),
    ([("PIR", "BB", (1, 0)), ("PIR", "BB", (1, 0)), _prr(0, 0, 0)], "never closed", "PIR"),
    ([("PIR", "BB", (1, 0)), ("PRR", "BBBHHHhh", (1, 0, 0, 1, 1, 1, -32768, 3)),
      ("PIR", "BB", (1, 0)), _prr(0, 1, 1)],
     "without X/Y", "PRR"),
    ([("PIR", "BB", (1, 0)), ("PIR", "BBB", (1, 1, 0)), _prr(0, 0, 0)], "malformed", "PIR"),
])
def test_structural_errors_always_raise(tmp_path, recs, what, rec):
    """Structural corruption raises naming file, offset and record, whatever errors= says."""
    path = tmp_path / "bad.stdf"
    path.write_bytes(_file(recs))
    for errors in ("warn", "raise"):
        with pytest.raises(FabDataError,
                           match=rf"bad.stdf: .*{re.escape(what)}.*byte offset \d+ \({rec}\)"):
            read_stdf(path, errors=errors, progress=False)


def test_part_count_mismatch_warns_by_default_and_raises_when_strict(tmp_path):
    data = bytearray(_file([("PIR", "BB", (1, 0)), _prr(0, 0, 0)]))
    at = next(i for i in range(len(data) - 4) if data[i + 2:i + 4] == b"\x02\x14")  # WRR
    struct.pack_into("<I", data, at + 4 + 6, 5)  # PART_CNT 5, one part in the file
    path = tmp_path / "cnt.stdf"
    path.write_bytes(bytes(data))
    ds, warned = _read(path)
    assert re.search(rf"PART_CNT 5.*1 parts read.*byte offset {at} \(WRR\)", warned)
    assert int(ds["touchdowns"].sum()) == 1  # everything kept
    listed = json.loads(ds.attrs["stdf_disagreements"])
    assert len(listed) == 1 and "cnt.stdf" in listed[0] and "PART_CNT 5" in listed[0]
    with pytest.raises(FabDataError, match=rf"PART_CNT 5.*1 parts read.*byte offset {at} \(WRR\)"):
        read_stdf(path, errors="raise", progress=False)


def test_parts_outside_wafers_are_kept_as_a_disagreement(tmp_path):
    """A PRR after the WRR is kept as an extra wafer: warned by default, raised when strict."""
    data = bytearray(_file([("PIR", "BB", (1, 0)), _prr(0, 0, 0)]))
    w = _RecordWriter("<")
    w.record("PIR", "BB", 1, 0)
    name, fmt, values = _prr(0, 1, 0)
    w.record(name, fmt, *values)
    mrr = len(data) - 8
    path = tmp_path / "out.stdf"
    path.write_bytes(bytes(data[:mrr] + w.out + data[mrr:]))
    ds, warned = _read(path)
    assert list(ds["wafer"].values) == ["LOTX-05", "LOTX-no-WIR"]
    assert re.search(rf"1 PRR\(s\) outside any WIR..WRR.*byte offset {mrr + 6} \(PRR\)", warned)
    with pytest.raises(FabDataError, match="outside any WIR..WRR"):
        read_stdf(path, errors="raise", progress=False)


def test_writer_refuses_strings_latin1_cannot_hold(tmp_path):
    """A wafer id with a character outside latin-1 raised UnicodeEncodeError."""
    ds = _synthetic(n_wafers=1).assign_coords(wafer=["L€-01"])
    with pytest.raises(FabDataError, match="'L€-01' holds '€'"):
        write_stdf(ds, tmp_path / "euro.stdf")
    assert not (tmp_path / "euro.stdf").exists()


def test_bad_options_raise_parameter_error(tmp_path):
    from fabnb.errors import FabParameterError

    path = tmp_path / "ok.stdf"
    path.write_bytes(_file([("PIR", "BB", (1, 0)), _prr(0, 0, 0)]))
    with pytest.raises(FabParameterError, match="'errors' parameter of read_stdf"):
        read_stdf(path, errors="ignore")
    with pytest.raises(FabParameterError, match="'retest' parameter of read_stdf"):
        read_stdf(path, retest="all")
    ds, _ = _read(path)
    with pytest.raises(FabParameterError, match="'byteorder' parameter of write_stdf"):
        write_stdf(ds, tmp_path / "x.stdf", byteorder="big")
    with pytest.raises(FabParameterError, match="'sites' parameter of write_stdf"):
        write_stdf(ds, tmp_path / "x.stdf", sites=0)


def test_truncated_file_names_offset(tmp_path):
    data = _file([("PIR", "BB", (1, 0)), ("PTR", PTR_FULL, (7, 1, 0, 0, 0, 1.0, "T", "", 14, 0,
                                                            0, 0, 0.0, 2.0, "V")), _prr(0, 0, 0)])
    at = data.find(b"\x0f\x0a") - 2  # the PTR header
    path = tmp_path / "cut.stdf"
    path.write_bytes(data[:at + 9])
    with pytest.raises(FabDataError, match=rf"truncated record.*byte offset {at} \(PTR\)"):
        read_stdf(path)


# ---- real-world damage: FabDataError naming file and offset, or a read that keeps data ---

@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_truncated_compressed_file_names_file_and_offset(tmp_path, suffix):
    """A cut .stdf.gz/.bz2/.xz raised EOFError."""
    path = write_stdf(_synthetic(n_wafers=2), tmp_path / f"lot.stdf{suffix}")
    data = path.read_bytes()
    cut = tmp_path / f"cut.stdf{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(FabDataError, match=rf"cut\.stdf{re.escape(suffix)}: .*byte offset \d+"):
        read_stdf(cut, progress=False)


@pytest.mark.parametrize("suffix, where", [(".gz", 3), (".gz", -8), (".gz", 0.5), (".bz2", 0.5),
                                           (".xz", 0.5)])
def test_corrupt_compressed_file_names_file_and_offset(tmp_path, suffix, where):
    """A corrupt gzip raised BadGzipFile (header flags at byte 3, CRC at -8, deflate data)."""
    path = write_stdf(_synthetic(n_wafers=2), tmp_path / f"lot.stdf{suffix}")
    data = bytearray(path.read_bytes())
    data[where if isinstance(where, int) else int(len(data) * where)] ^= 0xE5
    bad = tmp_path / f"bad.stdf{suffix}"
    bad.write_bytes(bytes(data))
    with pytest.raises(FabDataError, match=rf"bad\.stdf{re.escape(suffix)}: .*byte offset \d+"):
        read_stdf(bad, progress=False)


def test_part_id_is_latin1(tmp_path):
    """PART_ID holding byte 0xB5 raised UnicodeDecodeError; STDF strings are latin-1."""
    recs = [("PIR", "BB", (1, 0)), ("PRR", "BBBHHHhhIn", (1, 0, 0, 1, 1, 1, 2, 3, 0, "A\xb51"))]
    data = _file(recs)
    assert b"A\xb51" in data
    path = tmp_path / "mu.stdf"
    path.write_bytes(data)
    ds, warned = _read(path)
    assert ds["part_id"].values[0, 0] == "Aµ1" and "control" not in warned


def test_long_trailing_number_is_not_a_slot(tmp_path):
    """A WAFER_ID ending in 19+ digits raised OverflowError in the slot."""
    wafer = "LOT-" + "9" * 19
    path = tmp_path / "long.stdf"
    path.write_bytes(_file([("PIR", "BB", (1, 0)), _prr(0, 0, 0)], wafer_id=wafer))
    ds, _ = _read(path)
    assert ds["wafer"].values[0] == wafer and ds["slot"].values[0] == 1  # its order


def test_control_characters_in_ids_are_replaced_and_writable(tmp_path):
    """A NUL in a wafer id read, then broke write_netcdf."""
    from fabnb.io import read_netcdf, write_netcdf

    recs = [("PIR", "BB", (1, 0)),
            ("PTR", PTR_FULL, (7, 1, 0, 0, 0, 1.5, "Vdd", "", 0x0E, 0, 0, 0, 1.0, 2.0, "V")),
            _prr(0, 0, 0)]
    data = _file(recs, wafer_id="LOTX\x00-05")
    wir = data.find(b"LOTX\x00-05") - 11  # header (4), HEAD, SITE_GRP, START_T (4), length
    path = tmp_path / "nul.stdf"
    path.write_bytes(data)
    ds, warned = _read(path)
    assert ds["wafer"].values[0] == "LOTX?-05" and ds["slot"].values[0] == 5
    assert "replaced by '?'" in warned and f"nul.stdf: WIR at byte offset {wir}" in warned
    write_netcdf(ds, tmp_path / "nul.nc")
    assert read_netcdf(tmp_path / "nul.nc")["wafer"].values[0] == "LOTX?-05"


@pytest.mark.parametrize("size", [float("inf"), float("nan"), -5.0])
def test_nonsense_die_size_is_not_a_size(tmp_path, size):
    """WCR with an inf die size gave an error naming no file/offset: now the file reads in
    die pitches and the warning names the file and the WCR's offset."""
    data = _file([("PIR", "BB", (1, 0)), _prr(0, 0, 0), ("PIR", "BB", (1, 0)), _prr(0, 2, 0)],
                 wcr=(200.0, size, 5.0))
    wcr = data.find(b"\x02\x1e") - 2
    path = tmp_path / "wcr.stdf"
    path.write_bytes(data)
    ds, warned = _read(path)
    assert f"wcr.stdf: WCR at byte offset {wcr} gives DIE_HT {size}" in warned
    assert ds["x"].attrs["units"] == "die pitch" and ds.attrs["die_height_mm"] == 1.0
    np.testing.assert_allclose(ds["x"].values, [-1.0, 1.0], rtol=1e-12)


def test_inverted_limits_keep_the_data_and_are_flagged(tmp_path):
    """One PTR with LO_LIMIT > HI_LIMIT rejected the whole file naming no file/offset."""
    recs = [("PIR", "BB", (1, 0)),
            ("PTR", PTR_FULL, (7, 1, 0, 0, 0, 1.5, "Vdd", "", 0x0E, 0, 0, 0, 2.0, 1.0, "V")),
            ("PTR", PTR_FULL, (8, 1, 0, 0, 0, 0.5, "Vth", "", 0x0E, 0, 0, 0, 0.0, 1.0, "V")),
            _prr(0, 0, 0)]
    data = _file(recs)
    ptr = data.find(b"\x0f\x0a") - 2
    path = tmp_path / "inv.stdf"
    path.write_bytes(data)
    ds, warned = _read(path)
    assert re.search(rf"inv\.stdf: .*test 'Vdd' with LO_LIMIT 2 > HI_LIMIT 1.*byte offset {ptr} "
                     r"\(PTR\)", warned)
    np.testing.assert_array_equal(ds["value"].values[0, 0], [1.5, 0.5])  # read back exactly
    assert np.isnan(ds["lsl"].values[0]) and np.isnan(ds["usl"].values[0])
    assert ds["lsl"].values[1] == 0.0 and ds["usl"].values[1] == 1.0
    assert json.loads(ds.attrs["stdf_inverted_limits"]) == {
        "Vdd": {"lo": 2.0, "hi": 1.0, "file": "inv.stdf", "offset": ptr}}
    with pytest.raises(FabDataError, match=rf"test 'Vdd'.*byte offset {ptr} \(PTR\)"):
        read_stdf(path, errors="raise", progress=False)


@pytest.mark.parametrize("into", ["BPS", "GDR", "STR"])
def test_result_corrupted_into_a_skipped_type_is_counted(tmp_path, into):
    """A PTR whose type bytes became BPS/GDR/STR was dropped with no warning."""
    from fabnb.io._stdf_records import CODES

    ds = _synthetic(n_wafers=1, n_tests=2)
    data = bytearray(write_stdf(ds, tmp_path / "ok.stdf").read_bytes())
    ptr = data.find(b"\x0f\x0a") - 2
    data[ptr + 2:ptr + 4] = divmod(CODES[into], 256)
    path = tmp_path / "skip.stdf"
    path.write_bytes(bytes(data))
    got, warned = _read(path)
    assert re.search(rf"1 record\(s\) inside parts .*\({into} x1\); first in skip\.stdf at byte "
                     rf"offset {ptr} \({into}\)", warned)
    assert json.loads(got.attrs["stdf_skipped_in_parts"]) == {into: 1}
    assert int(got["value"].notnull().sum()) == int(ds["value"].notnull().sum()) - 1


def test_far_coordinates_cost_one_die_not_a_bounding_box(tmp_path):
    """Two PRRs corrupted to X = Y = -32767 and +32767 asked for a 32 GiB bounding box."""
    import tracemalloc

    ds = _synthetic(n_wafers=1, n_tests=2)
    data = bytearray(write_stdf(ds, tmp_path / "ok.stdf", byteorder=">").read_bytes())
    prrs = [m.start() - 2 for m in re.finditer(b"\x05\x14", bytes(data))]
    for at, xy in ((prrs[3], -32767), (prrs[-1], 32767)):
        struct.pack_into(">hh", data, at + 4 + 9, xy, xy)  # X_COORD, Y_COORD
    path = tmp_path / "far.stdf"
    path.write_bytes(bytes(data))
    tracemalloc.start()
    try:
        got, _ = _read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200e6, peak
    sites = set(zip(got["col"].values.tolist(), got["row"].values.tolist()))
    assert {(-32767, -32767), (32767, 32767)} <= sites
    clean, _ = _read(tmp_path / "ok.stdf")
    assert got.sizes["die"] == clean.sizes["die"]  # two sites moved, none added
    assert np.isfinite(got["x"].values).all() and got["x"].attrs["units"] == "mm"


# ---- the real files ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def real():
    from conftest import SHARED_DATA

    folder = SHARED_DATA / "stdf"
    if not folder.is_dir():
        pytest.skip(f"shared STDF samples absent ({folder})")
    return {name: _read(folder / name) + (folder / name,) for name in REAL}


@pytest.mark.parametrize("name", list(REAL))
def test_real_file_counts(real, name):
    ds, warned, _ = real[name]
    want = REAL[name]
    assert ds.sizes["die"] == 1456 and ds.sizes["test"] == 74 and ds.sizes["wafer"] == 1
    assert ds["wafer"].values[0] == want["wafer"] and ds["lot"].values[0] == want["lot"]
    assert int(ds["touchdowns"].sum()) == want["parts"]
    assert int(ds.attrs["stdf_retested_dies"]) == want["retested"]
    assert int((ds["touchdowns"] > 1).sum()) == want["retested"]
    assert "no die size" in warned and f"{want['retested']} die(s) were tested more" in warned
    assert ds.attrs["stdf_geometry"] == "coordinate grid"
    assert "TSR" not in json.loads(ds.attrs["stdf_skipped_records"])  # read: attrs["stdf_tsr"]
    assert set(map(str, ds["test_num"].values)) <= set(json.loads(ds.attrs["stdf_tsr"]))
    # real testers bracket results with BPS/EPS and GDR inside parts: counted, said
    inside = json.loads(ds.attrs["stdf_skipped_in_parts"])
    assert set(inside) == {"BPS", "EPS", "GDR"} and "inside parts" in warned
    hbins = json.loads(ds.attrs["hbin_names"])
    assert sum(b["count"] for b in hbins.values()) == want["parts"]  # HBR summary: all parts


def test_real_stale_retest_counts_warn_and_raise_when_strict(real):
    """Real files say RTST_CNT 0 in WRR and PCR though 113 dies were retested: by default
    a warning and attrs, everything kept; errors="raise" raises naming file and offset."""
    ds, warned, path = real["lot2.stdf"]
    listed = json.loads(ds.attrs["stdf_disagreements"])
    assert [re.search(r"(WRR|PCR) RTST_CNT 0 .*113 retest", item) is not None
            for item in listed] == [True, True]
    assert "WRR RTST_CNT 0 of wafer 'GAL-LOT-02' disagrees with the 113" in warned
    assert int(ds["touchdowns"].sum()) == REAL["lot2.stdf"]["parts"]
    with pytest.raises(FabDataError, match=r"lot2.stdf: 1 WRR RTST_CNT 0 .*byte offset \d+ \(WRR\)"):
        read_stdf(path, errors="raise", progress=False)


@pytest.mark.parametrize("retest", ["last", "first"])
def test_real_bins_match_stdf_convert(real, retest, shared_data):
    """Bins of the kept touchdown equal an independent reading by stdf-convert (Rust)."""
    stdf_convert = pytest.importorskip("stdf_convert")
    path = real["lot2.stdf"][2]
    ds, _ = _read(path, retest=retest)
    prr = stdf_convert.tables(path, ["PRR"])["PRR"].to_pandas()
    ptr_count = stdf_convert.tables(path, ["PTR"])["PTR"].num_rows
    assert ptr_count == REAL["lot2.stdf"]["ptr"]
    kept = prr.drop_duplicates(["X_COORD", "Y_COORD"], keep=retest)
    got = ds.set_index(die=["col", "row"]).isel(wafer=0)
    sel = got.sel(die=list(zip(kept["X_COORD"], kept["Y_COORD"])))
    np.testing.assert_array_equal(sel["hbin"].values, kept["HARD_BIN"].values)
    np.testing.assert_array_equal(sel["sbin"].values, kept["SOFT_BIN"].values)
    np.testing.assert_array_equal(sel["part_id"].values, kept["PART_ID"].values)
    assert len(kept) == ds.sizes["die"]


def _pystdf_parts(path, n_records):
    """(PRR fields, {TEST_NUM: PTR fields}) of the parts in the first records, by pystdf."""
    from pystdf.IO import Parser

    class Sink:
        def __init__(self):
            self.parts, self.open = [], {}

        def after_send(self, _, data):
            rec, fields = data
            kind = type(rec).__name__
            d = dict(zip(rec.fieldNames, fields))
            if kind == "Pir":
                self.open[d["SITE_NUM"]] = {}
            elif kind == "Ptr":
                self.open[d["SITE_NUM"]][d["TEST_NUM"]] = d
            elif kind == "Prr":
                self.parts.append((d, self.open.pop(d["SITE_NUM"])))

        def __getattr__(self, name):  # the other pipeline hooks
            return lambda *a: None

    sink = Sink()
    with open(path, "rb") as fh:
        parser = Parser(inp=fh)
        parser.addSink(sink)
        parser.parse(count=n_records)
    return sink.parts


def test_real_values_match_pystdf(real):
    """Values, limits and units of dies tested once, read independently by pystdf."""
    pytest.importorskip("pystdf")
    ds, _, path = real["lot2.stdf"]
    parts = _pystdf_parts(path, 4000)
    got = ds.set_index(die=["col", "row"]).isel(wafer=0)
    coords = [(d["X_COORD"], d["Y_COORD"]) for d, _ in parts]
    once = [(d, res) for (d, res), c in zip(parts, coords)
            if got["touchdowns"].sel(die=c) == 1 and len(res) > 30][:5]
    assert len(once) == 5
    nums = list(ds["test_num"].values)
    for d, res in once:
        die = got.sel(die=(d["X_COORD"], d["Y_COORD"]))
        assert die["hbin"] == d["HARD_BIN"]
        for num, r in res.items():
            t = nums.index(num)
            want = r["RESULT"] * 10.0 ** r["RES_SCAL"]
            np.testing.assert_allclose(die["value"].values[t], want, rtol=1e-12)
        measured = np.isfinite(die["value"].values).sum()
        assert measured == len(res)
    first = {}
    for _, res in parts:
        for num, r in res.items():
            first.setdefault(num, r)
    for num, r in first.items():
        t = nums.index(num)
        scale = 10.0 ** r["RES_SCAL"]
        assert ds["test"].values[t] == r["TEST_TXT"].strip()
        if not r["OPT_FLAG"] & 0x40:
            np.testing.assert_allclose(ds["lsl"].values[t], r["LO_LIMIT"] * scale, rtol=1e-6)
        else:
            assert np.isnan(ds["lsl"].values[t])
        np.testing.assert_allclose(ds["usl"].values[t], r["HI_LIMIT"] * scale, rtol=1e-6)


def test_two_real_files_one_dataset(real):
    paths = [real[name][2] for name in REAL]
    ds, _ = _read(paths)
    assert ds.sizes == {"wafer": 2, "die": 1456, "test": 74}
    assert list(ds["wafer"].values) == [REAL[n]["wafer"] for n in REAL]
    assert list(ds["lot"].values) == [REAL[n]["lot"] for n in REAL]
    for k, name in enumerate(REAL):
        single = real[name][0]
        np.testing.assert_array_equal(ds["hbin"].values[k], single["hbin"].values[0])
        np.testing.assert_allclose(ds["value"].values[k], single["value"].values[0], rtol=1e-12)
    assert int(ds.attrs["stdf_retested_dies"]) == sum(REAL[n]["retested"] for n in REAL)


# ---- fuzz: corrupted files give the exact result or FabDataError, never anything else -----

@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    ds = _synthetic(n_wafers=2, n_tests=2, seed=4)
    ds = ds.isel(die=slice(0, 30))
    path = write_stdf(ds, tmp_path_factory.mktemp("fuzz") / "f.stdf", byteorder=">", sites=2)
    data = path.read_bytes()
    headers, pos = [], 0
    while pos < len(data):
        headers.append(pos)
        pos += 4 + struct.unpack(">H", data[pos:pos + 2])[0]
    return data, headers, _read(path)[0]


def _outcome(data, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(bytes(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return read_stdf(path)
    except FabDataError as err:
        msg = str(err)  # every problem names its byte offset and record type
        assert re.search(r"byte offset \d+", msg) and ("(" in msg or "FAR" in msg), msg
        return None


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.timeout(120)
@FUZZ
@given(cut=st.integers(min_value=0, max_value=10**9))
def test_fuzz_truncated(small_file, tmp_path, cut):
    data, _, _ = small_file
    n = cut % len(data)
    assert _outcome(data[:n], tmp_path, "t.stdf") is None  # a cut file always raises


@pytest.mark.timeout(120)
@FUZZ
@given(which=st.integers(min_value=0, max_value=10**9), new=st.integers(0, 65535))
def test_fuzz_record_length(small_file, tmp_path, which, new):
    data, headers, want = small_file
    at = headers[which % len(headers)]
    old = struct.unpack(">H", data[at:at + 2])[0]
    if new == old:
        return
    bad = bytearray(data)
    struct.pack_into(">H", bad, at, new)
    got = _outcome(bad, tmp_path, "l.stdf")
    if got is not None:
        _assert_same(got, want)


@pytest.mark.timeout(120)
@FUZZ
@given(where=st.integers(min_value=0, max_value=10**9), bit=st.integers(0, 7))
def test_fuzz_bit_flip(small_file, tmp_path, where, bit):
    """A flipped bit may change a value silently (STDF has no checksum), but the reader
    never fails with anything but FabDataError, never hangs, and what it returns is a
    valid contract Dataset."""
    data, _, _ = small_file
    bad = bytearray(data)
    bad[where % len(bad)] ^= 1 << bit
    got = _outcome(bad, tmp_path, "b.stdf")
    if got is not None:
        assert got.sizes["die"] >= 1
