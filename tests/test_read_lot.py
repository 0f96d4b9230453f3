"""Reading real lots: a folder / glob / list of tester files -> one Dataset, the STDF
records engineers use (pass/fail flags, first failing test, first-pass bins, TSR, the
file's own HBR/SBR counts), x/y units, and wide/long tables for a colleague.

The real files are the STDF and G85 samples in ``../shared/data`` (see their READMEs);
tests skip when that folder is absent.  Expected values come from an independent
decode of the same bytes with ``struct`` (:func:`_decode`), never from fabnb itself.
"""

import json
import re
import shutil
import struct
import warnings

from pathlib import Path

import numpy as np
import pytest
from conftest import make_dataset

import fabnb.io as fio
from fabnb.errors import FabDataError, FabParameterError
from fabnb.io._stdf_records import RECORD_NAMES
from fabnb.io._stdf_writer import _RecordWriter
from fabnb.io.stdf import StdfWarning, read_stdf

STDF_FILES = ("lot2.stdf", "demofile.stdf")  # big-endian (README)


def _quiet(fn, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _shared_samples(kind: str):
    """The shared folder of real ``kind`` samples; the test skips, saying why, without it."""
    from conftest import SHARED_DATA

    folder = SHARED_DATA / kind
    if not folder.is_dir():
        pytest.skip(f"shared {kind.upper()} samples absent ({folder})")
    return folder


@pytest.fixture(scope="module")
def stdf_dir():
    return _shared_samples("stdf")


@pytest.fixture(scope="module")
def g85_dir():
    return _shared_samples("g85")


@pytest.fixture(scope="module")
def lot(stdf_dir):
    """Both real files read as one Dataset through fabnb.io.read on their folder."""
    return _quiet(fio.read, stdf_dir, progress=False)


# ---- an independent decode of the real (big-endian) files -------------------------------

def _decode(path):
    """Per part (file order): x, y, hard/soft bin, and its PTR (TEST_NUM, TEST_FLG) in
    record order; TSR (head 255) per TEST_NUM; HBR/SBR counts (head 255) per bin."""
    data = path.read_bytes()
    parts, open_parts, tsr, hbr, sbr = [], {}, {}, {}, {}
    pos = 0
    while pos + 4 <= len(data):
        length = struct.unpack_from(">H", data, pos)[0]
        kind = RECORD_NAMES.get((data[pos + 2], data[pos + 3]))
        body = data[pos + 4:pos + 4 + length]
        if kind == "PIR":
            open_parts[body[:2]] = []
        elif kind == "PTR":
            num, head, site, flag = struct.unpack_from(">IBBB", body)
            open_parts[bytes([head, site])].append((num, flag))
        elif kind == "PRR":
            hard, soft, x, y = struct.unpack_from(">HHhh", body, 5)
            parts.append({"xy": (x, y), "hbin": hard, "sbin": soft,
                          "results": open_parts.pop(body[:2])})
        elif kind == "TSR":
            head, _, _, num, exe, fail = struct.unpack_from(">BBcIII", body)
            if head == 255:
                tsr[num] = (exe, fail)
        elif kind in ("HBR", "SBR"):
            head, _, num, count = struct.unpack_from(">BBHI", body)
            if head == 255:
                (hbr if kind == "HBR" else sbr)[num] = count
        pos += 4 + length
    return parts, tsr, hbr, sbr


def test_flags_first_fail_and_first_pass_bins_match_an_independent_decode(stdf_dir):
    """test_flag, first_fail_test, hbin/sbin (last touchdown), hbin_first/sbin_first
    (first touchdown) and touchdowns of every die, against struct on the same bytes."""
    for name in STDF_FILES:
        ds = _quiet(read_stdf, stdf_dir / name, progress=False)
        parts, _, _, _ = _decode(stdf_dir / name)
        by_die = {}
        for p in parts:
            by_die.setdefault(p["xy"], []).append(p)
        die = {xy: k for k, xy in enumerate(zip(ds["col"].values.tolist(),
                                                ds["row"].values.tolist()))}
        test = {num: k for k, num in enumerate(ds["test_num"].values.tolist())}
        names = ds["test"].values
        want_flag = np.full(ds["test_flag"].shape[1:], -1, dtype=np.int8)
        want = {k: np.full(ds.sizes["die"], -1) for k in ("hbin", "sbin", "hbin_first",
                                                           "sbin_first", "touchdowns")}
        want_first_fail = np.full(ds.sizes["die"], "", dtype=object)
        for xy, touches in by_die.items():
            d = die[xy]
            last, first = touches[-1], touches[0]
            want["hbin"][d], want["sbin"][d] = last["hbin"], last["sbin"]
            want["hbin_first"][d], want["sbin_first"][d] = first["hbin"], first["sbin"]
            want["touchdowns"][d] = len(touches)
            for num, flag in last["results"]:
                if flag & 0x50 == 0:  # executed, pass/fail flag valid
                    want_flag[d, test[num]] = 1 if flag & 0x80 else 0
                    if flag & 0x80 and not want_first_fail[d]:
                        want_first_fail[d] = names[test[num]]
        assert set(die) == set(by_die)
        for key, values in want.items():
            np.testing.assert_array_equal(ds[key].values[0], values, err_msg=f"{name} {key}")
        np.testing.assert_array_equal(ds["test_flag"].values[0], want_flag)
        np.testing.assert_array_equal(ds["first_fail_test"].values[0], want_first_fail.astype(str))
        assert ds["test_flag"].dtype == np.int8
        # the real files do fail tests, and retests changed some bins
        assert (ds["test_flag"] == 1).sum() > 0 and (ds["first_fail_test"] != "").sum() > 0
        assert (ds["hbin_first"] != ds["hbin"]).sum() > 0


def test_tsr_and_bin_counts_match_an_independent_decode(stdf_dir):
    """TSR exec/fail counts and HBR/SBR counts kept per test/bin; HBR counts every part
    (retests included), the map each die once: both kept side by side."""
    for name in STDF_FILES:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = read_stdf(stdf_dir / name, progress=False)
        parts, tsr, hbr, sbr = _decode(stdf_dir / name)
        got = json.loads(ds.attrs["stdf_tsr"])
        for num, (exe, fail) in tsr.items():
            assert (got[str(num)]["exec"], got[str(num)]["fail"]) == (exe, fail)
        counts = json.loads(ds.attrs["stdf_bin_counts"])
        for kind, summary in (("hbin", hbr), ("sbin", sbr)):
            for b, count in summary.items():
                entry = counts[kind][str(b)]
                assert entry["summary"] == count
                assert entry["parts"] == sum(p[kind] == b for p in parts)
                assert entry["map"] == int((ds[kind] == b).sum())
            assert sum(e["map"] for e in counts[kind].values()) == ds.sizes["die"]
        assert "retest" in counts["note"]
        shown = " ".join(str(w.message) for w in caught)
        assert f"HBR summaries count {len(parts)} parts" in shown
        assert "stdf_bin_counts" in shown


def test_ftr_pass_fail_is_kept_as_a_functional_test(tmp_path):
    """An FTR gives its test a pass/fail (test_flag) and no value; it can be the first
    failing test of a part."""
    w = _RecordWriter("<")
    w.record("FAR", "BB", 2, 4)
    w.record("MIR", "IIBcccHcnn", 0, 0, 1, b"P", b" ", b" ", 65535, b" ", "LOTF", "PROD")
    w.record("WIR", "BBIn", 1, 255, 0, "LOTF-01")
    # OPT_FLAG .. PGM_ICNT (0 indexes), FAIL_PIN (Dn, 0 bits), VECT_NAM, TIME_SET, OP_CODE,
    # TEST_TXT; the rest omitted, as STDF allows
    ftr_tail = "BIIIIiihHH" + "H" + "nnnn"
    for x, ftr_flag, ptr_flag in ((0, 0x80, 0), (1, 0, 0x80)):
        w.record("PIR", "BB", 1, 0)
        w.record("FTR", "IBBB" + ftr_tail, 7, 1, 0, ftr_flag, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                 0, "", "", "", "func_vec")
        w.record("PTR", "IBBBBfnnBbbbffn", 5, 1, 0, ptr_flag, 0, 1.5, "vdd", "", 0x0E, 0, 0, 0,
                 1.0, 2.0, "V")
        w.record("PRR", "BBBHHHhh", 1, 0, 0, 2, 1 if x == 1 else 3, 1, x, 0)
    w.record("WRR", "BBII", 1, 255, 0, 2)
    w.record("MRR", "I", 0)
    path = tmp_path / "ftr.stdf"
    path.write_bytes(bytes(w.out))
    ds = _quiet(read_stdf, path, progress=False)
    assert list(ds["test"].values) == ["vdd", "func_vec"]
    assert list(ds["test_num"].values) == [5, 7]
    func = ds.sel(test="func_vec")
    assert np.isnan(func["value"].values).all()
    order = np.argsort(ds["col"].values)
    np.testing.assert_array_equal(func["test_flag"].values[0][order], [1, 0])
    np.testing.assert_array_equal(ds["first_fail_test"].values[0][order], ["func_vec", "vdd"])
    assert ds.attrs["stdf_invalid_results"] == 0  # a functional test has no value to be invalid


# ---- reading a folder, a glob, a list ----------------------------------------------------

def test_read_takes_a_folder_a_glob_and_a_list(stdf_dir, lot):
    files = [stdf_dir / n for n in sorted(STDF_FILES)]
    by_glob = _quiet(fio.read, str(stdf_dir / "*.stdf"), progress=False)
    by_list = _quiet(fio.read, files, progress=False)
    for other in (by_glob, by_list):
        assert other.identical(lot)
    assert lot.sizes == {"wafer": 2, "die": 1456, "test": 74}
    for name in STDF_FILES:
        one = _quiet(read_stdf, stdf_dir / name, progress=False)
        wafer = one["wafer"].values[0]
        got = lot.sel(wafer=[wafer]).set_index(die=["col", "row"])
        want = one.set_index(die=["col", "row"])
        got = got.sel(die=want["die"])
        np.testing.assert_array_equal(got["hbin"].values, want["hbin"].values)
        np.testing.assert_allclose(got["value"].values, want["value"].values, rtol=1e-12)


def test_read_of_a_25_wafer_folder(stdf_dir, tmp_path):
    """A lot folder of wafer files written from the real data under new wafer ids reads
    as one Dataset in natural order (w2 before w10), nothing lost."""
    real = _quiet(read_stdf, stdf_dir / "lot2.stdf", progress=False)
    folder = tmp_path / "LOT42"
    folder.mkdir()
    n = 12
    for k in range(1, n + 1):
        one = real.assign_coords(wafer=[f"LOT42-{k:02d}"], lot=("wafer", ["LOT42"]))
        fio.write_stdf(one, folder / f"w{k}.stdf.gz" if k % 3 else folder / f"w{k}.stdf")
    (folder / "README.txt").write_text("probe notes")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = fio.read(folder, progress=False)
    assert list(ds["wafer"].values) == [f"LOT42-{k:02d}" for k in range(1, n + 1)]
    assert any("README.txt" in str(w.message) for w in caught)  # named, not read
    assert ds.sizes["die"] == real.sizes["die"] and ds.sizes["test"] == real.sizes["test"]
    expected = real.set_index(die=["col", "row"])
    got = ds.set_index(die=["col", "row"]).sel(die=expected["die"])
    for k in range(n):
        np.testing.assert_array_equal(got["hbin"].values[k], expected["hbin"].values[0])
        np.testing.assert_allclose(got["value"].values[k],
                                   expected["value"].values[0].astype(np.float32), rtol=1e-6)


def test_the_same_wafer_in_two_files_names_both(stdf_dir, tmp_path):
    for name in ("a.stdf", "b.stdf"):
        shutil.copy(stdf_dir / "lot2.stdf", tmp_path / name)
    both = r"'GAL-LOT-02' is in two files: .*a\.stdf and .*b\.stdf"
    with pytest.raises(FabDataError, match=both):
        _quiet(fio.read, tmp_path, progress=False)


def test_tests_union_by_number_and_changed_names_are_disagreements(stdf_dir):
    """The two real files name tests 1132..1160 'simN ref <> Simule_N' and 'simN ... <>
    Simule_N': one TEST_NUM, the first name kept, each file's listed, warned; strict
    runs raise."""
    files = [stdf_dir / "lot2.stdf", stdf_dir / "demofile.stdf"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_stdf(files, progress=False)
    changed = json.loads(ds.attrs["stdf_test_defaults_by_file"])
    assert sorted(map(int, changed)) == list(range(1132, 1161, 2))
    assert [e["name"] for e in changed["1132"]] == ["sim1 ref <> Simule_1", "sim1 ... <> Simule_1"]
    assert ds["test"].values[list(ds["test_num"].values).index(1132)] == "sim1 ref <> Simule_1"
    assert any("test 1132 named 'sim1 ... <> Simule_1'" in str(w.message) for w in caught)
    with pytest.raises(FabDataError, match=r"demofile.stdf: 1 test 1132 named"):
        read_stdf(files, progress=False, errors="raise")


def test_warnings_point_at_the_callers_line(stdf_dir):
    """Through fabnb.io.read, a reader's warning names this file, not fabnb's source."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fio.read(stdf_dir / "lot2.stdf", progress=False)
    stdf_warnings = [w for w in caught if issubclass(w.category, StdfWarning)]
    assert stdf_warnings and all(w.filename == __file__ for w in stdf_warnings)


@pytest.mark.parametrize("suffix", [".stdf.bz2", ".stdf.xz", ".stdf.gz", ".bz2", ".xz", ".dat"])
def test_compressed_stdf_is_recognised_by_name_and_by_magic(tmp_path, suffix):
    """.stdf.bz2/.stdf.xz by name; a compressed STDF without a telling name by the FAR
    magic under the compression."""
    import bz2
    import gzip
    import lzma

    ds = make_dataset(n_wafers=1)
    raw = fio.write_stdf(ds, tmp_path / "src.stdf").read_bytes()
    compress = {".bz2": bz2.compress, ".xz": lzma.compress, ".gz": gzip.compress}
    target = tmp_path / f"probe{suffix}"
    target.write_bytes(compress.get(target.suffix, bytes)(raw))
    back = _quiet(fio.read, target, progress=False)
    np.testing.assert_array_equal(np.sort(back["hbin"].values[0]),
                                  np.sort(ds["hbin"].values[0][ds["hbin"].values[0] >= 0]))


def test_a_glob_matching_nothing_and_an_empty_list_are_named(tmp_path):
    with pytest.raises(FabDataError, match=r"no file matches .*\*\.stdf"):
        fio.read(str(tmp_path / "*.stdf"))
    with pytest.raises(FabDataError, match="empty list"):
        fio.read([])
    with pytest.raises(FabParameterError, match="progress"):
        fio.read(tmp_path, progress="yes")


def test_g85_maps_of_a_folder_are_joined(g85_dir, tmp_path):
    """Two G85 maps of other wafers (the sample with its SubstrateId changed) -> one
    Dataset, dies unioned by (col, row), x/y in mm from DeviceSize."""
    text = (g85_dir / "ex.xml").read_text()
    (tmp_path / "w1.xml").write_text(text)
    (tmp_path / "w2.xml").write_text(text.replace("123456705F2", "123456706F2"))
    one = _quiet(fio.read, g85_dir / "ex.xml")
    ds = _quiet(fio.read, tmp_path, progress=False)
    assert list(ds["wafer"].values) == ["123456705F2", "123456706F2"]
    assert ds.sizes["die"] == one.sizes["die"] == 1086
    np.testing.assert_array_equal(ds["hbin"].values[1], one["hbin"].values[0])
    assert ds["x"].attrs["units"] == "mm" and one["x"].attrs["units"] == "mm"
    with pytest.raises(FabDataError, match="is in two files"):
        _quiet(fio.read, [g85_dir / "ex.xml", g85_dir / "ex2.xml"], progress=False)


def test_files_with_other_die_sets_and_tests_are_unioned(tmp_path):
    """NetCDF files of other wafers, each missing some dies and tests: union of dies by
    (col, row) and of tests by name, the gaps filled with 'not there'."""
    ds = make_dataset(n_wafers=2, n_tests=3)
    a = ds.isel(wafer=[0], die=slice(0, 40), test=[0, 1])
    b = ds.isel(wafer=[1], die=slice(10, None), test=[1, 2])
    fio.write_netcdf(a, tmp_path / "a.nc")
    fio.write_netcdf(b, tmp_path / "b.nc")
    got = fio.read(tmp_path, progress=False)
    assert got.sizes == ds.sizes and list(got["test"].values) == ["T01", "T02", "T03"]
    want = ds.copy(deep=True)
    want["value"][0, 40:, :] = np.nan
    want["value"][0, :, 2] = np.nan
    want["value"][1, :10, :] = np.nan
    want["value"][1, :, 0] = np.nan
    want["hbin"][0, 40:] = -1
    want["hbin"][1, :10] = -1
    np.testing.assert_array_equal(got["col"].values, ds["col"].values)
    np.testing.assert_array_equal(got["hbin"].values, want["hbin"].values)
    np.testing.assert_array_equal(got["value"].values, want["value"].values)  # copied, not computed
    fio.write_netcdf(ds.isel(wafer=[0]), tmp_path / "a.nc")
    clash = ds.isel(wafer=[1], test=[2]).assign_coords(usl=("test", [9.0]))
    fio.write_netcdf(clash, tmp_path / "b.nc")
    with pytest.raises(FabDataError, match=r"test 'T03' has usl=9.0 in b.nc but 2.0 in a.nc"):
        fio.read(tmp_path, progress=False)


# ---- units ---------------------------------------------------------------------------------

def test_xy_units_say_die_pitch_when_no_die_size_is_given(lot, g85_dir, tmp_path):
    assert lot["x"].attrs["units"] == lot["y"].attrs["units"] == "die pitch"  # WCR sizes 0
    g85 = _quiet(fio.read, g85_dir / "ex.xml")
    assert g85["x"].attrs["units"] == "mm"
    bare = (g85_dir / "ex.xml").read_text()
    bare = re.sub(r'\s+DeviceSize[XY]="[^"]*"', "", bare)
    (tmp_path / "bare.xml").write_text(bare)
    pitch = _quiet(fio.read, tmp_path / "bare.xml")
    assert pitch["x"].attrs["units"] == pitch["y"].attrs["units"] == "die pitch"
    fio.write_e142(pitch, tmp_path / "back.xml")  # no sizes written for die pitches
    assert _quiet(fio.read, tmp_path / "back.xml")["x"].attrs["units"] == "die pitch"
    for ext in ("csv", "parquet"):
        fio.write_table(lot, tmp_path / f"lot.{ext}")
        assert fio.read_table(tmp_path / f"lot.{ext}")["x"].attrs["units"] == "die pitch"


def test_zero_test_datasets_round_trip_netcdf_and_zarr(tmp_path):
    ds = make_dataset().isel(test=slice(0, 0))
    for name, write, read in (("a.nc", fio.write_netcdf, fio.read_netcdf),
                              ("a.zarr", fio.write_zarr, fio.read_zarr)):
        write(ds, tmp_path / name)
        back = read(tmp_path / name)
        assert back["test"].dtype.kind == "U" and back["unit"].dtype.kind == "U"
        assert back.sizes == ds.sizes and back.identical(ds)


# ---- export for a colleague: long and wide tables, CSV and Parquet -------------------------

@pytest.mark.parametrize("layout", ["long", "wide"])
@pytest.mark.parametrize("ext", ["csv", "parquet", "csv.gz"])
def test_tables_of_the_real_lot_round_trip(lot, tmp_path, layout, ext):
    """Every die, bins, part ids, first-pass bins, product, geometry, units, limits and
    test numbers come back; the wide layout has no place for test_flag (warned)."""
    path = tmp_path / f"lot_{layout}.{ext}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fio.write_table(lot, path, layout=layout)
    back = fio.read_table(path)
    want = lot if layout == "long" else lot.drop_vars("test_flag")
    if layout == "wide":
        assert any("test_flag" in str(w.message) for w in caught)
    assert back.identical(want)  # values read back from text/Parquet exactly as stored


def test_wide_csv_is_what_jmp_and_excel_open(lot, tmp_path):
    path = tmp_path / "lot.csv"
    _quiet(fio.write_table, lot, path, layout="wide")
    lines = path.read_text().splitlines()
    block = [line for line in lines if line.startswith("# ")]
    assert [b.split(":")[0] for b in block] == ["# layout", "# attrs", "# text_columns"]
    assert json.loads(block[1].split(": ", 1)[1])["product"] == "AB24ROOM, GOLD8BAR"
    import pandas as pd

    df = pd.read_csv(path, skiprows=len(block))
    assert len(df) == lot.sizes["wafer"] * lot.sizes["die"]  # one row per wafer x die
    for column in ("wafer", "part_id", "site", "touchdowns", "hbin", "sbin", "hbin_first"):
        assert column in df.columns
    num, name = int(lot["test_num"].values[0]), lot["test"].values[0]
    assert f"{num} {name}" in df.columns
    # a colleague's sheet without the metadata block still reads (geometry from x/y)
    df.to_csv(tmp_path / "edited.csv", index=False)
    back = fio.read_table(tmp_path / "edited.csv")
    assert back.sizes == lot.sizes and f"{num} {name}" in back["test"].values
    np.testing.assert_array_equal(back["hbin"].values, lot["hbin"].values)


def test_bad_layout_is_a_parameter_error(tmp_path):
    with pytest.raises(FabParameterError, match="layout"):
        fio.write_table(make_dataset(), tmp_path / "x.csv", layout="tall")


# ---- the report's dataset parameter --------------------------------------------------------

def test_report_dataset_takes_a_folder_a_glob_and_a_list(stdf_dir, lot):
    from fabnb.report.data import load_dataset

    for given in (stdf_dir, str(stdf_dir / "*.stdf"), [stdf_dir / n for n in sorted(STDF_FILES)]):
        assert _quiet(load_dataset, given).identical(lot)
    with pytest.raises(FabDataError, match="no file matches"):
        load_dataset(str(stdf_dir / "*.nothing"))


def test_report_parameters_take_a_glob_and_a_list(stdf_dir, monkeypatch):
    """The report's parameter check lets a glob and a list of paths through, made
    absolute so the kernel finds them from any directory."""
    from fabnb.report.params import check_parameters

    declared = {"dataset": "synthetic"}
    monkeypatch.chdir(stdf_dir.parent)
    pattern = Path(check_parameters(declared, {"dataset": f"{stdf_dir.name}/*.stdf"}, "lot_report")["dataset"])
    assert pattern.is_absolute() and pattern.name == "*.stdf"
    assert pattern.parent.resolve() == stdf_dir.resolve()  # the shared folder may sit behind a link
    files = [f"{stdf_dir.name}/{n}" for n in sorted(STDF_FILES)]
    listed = check_parameters(declared, {"dataset": files}, "lot_report")["dataset"]
    assert [Path(p) for p in listed] == [(stdf_dir / n).resolve() for n in sorted(STDF_FILES)]
    with pytest.raises(FabDataError, match="matches no file"):
        check_parameters(declared, {"dataset": f"{stdf_dir.name}/*.nothing"}, "lot_report")
    with pytest.raises(FabDataError, match="does not exist"):
        check_parameters(declared, {"dataset": [f"{stdf_dir.name}/missing.stdf"]}, "lot_report")


def test_written_stdf_keeps_the_pass_fail_flags(stdf_dir, tmp_path):
    """write_stdf writes test_flag as TEST_FLG bit 7: the flags of every written result
    read back (results without a value are not written, nor their flags)."""
    real = _quiet(read_stdf, stdf_dir / "lot2.stdf", progress=False)
    back = _quiet(read_stdf, fio.write_stdf(real, tmp_path / "w.stdf"), progress=False)
    want = real.set_index(die=["col", "row"])
    got = back.set_index(die=["col", "row"]).sel(die=want["die"])
    written = np.isfinite(want["value"].values)
    np.testing.assert_array_equal(got["test_flag"].values[written],
                                  want["test_flag"].values[written])
    assert (got["test_flag"].values[written] == 1).sum() > 0


@pytest.mark.parametrize("name", ["lot.nc", "lot.zarr"])
def test_the_real_lot_round_trips_netcdf_and_zarr(lot, tmp_path, name):
    """The new variables (int8 flags, first-pass bins, first failing test names) and the
    JSON attrs (TSR, bin counts) survive the stores exactly."""
    write, read = {"lot.nc": (fio.write_netcdf, fio.read_netcdf),
                   "lot.zarr": (fio.write_zarr, fio.read_zarr)}[name]
    write(lot, tmp_path / name)
    back = read(tmp_path / name)
    assert back.identical(lot) and back["test_flag"].dtype == np.int8


def test_ftr_with_pin_indexes_is_walked_to_its_test_text(tmp_path):
    """RTN_ICNT/PGM_ICNT arrays, nibble arrays and a Dn bit field sit before TEST_TXT."""
    w = _RecordWriter(">")
    w.record("FAR", "BB", 1, 4)
    w.record("MIR", "IIBcccHcnn", 0, 0, 1, b"P", b" ", b" ", 65535, b" ", "LOTF", "PROD")
    w.record("WIR", "BBIn", 1, 255, 0, "LOTF-02")
    w.record("PIR", "BB", 1, 0)
    # RTN_ICNT 3, PGM_ICNT 2: RTN_INDX U2 x3, RTN_STAT N1 x3 (2 bytes), PGM_INDX U2 x2,
    # PGM_STAT N1 x2 (1 byte), FAIL_PIN Dn of 10 bits (2 bytes), then the texts
    w.record("FTR", "IBBB" + "BIIIIiihHH" + "HHH" + "BB" + "HH" + "B" + "HBB" + "nnnn",
             9, 1, 0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 3, 2, 1, 2, 3, 0x21, 0x03, 4, 5, 0x12,
             10, 0xFF, 0x03, "vec", "ts", "op", "scan_chain")
    w.record("PRR", "BBBHHHhh", 1, 0, 0, 1, 4, 4, 0, 0)
    w.record("WRR", "BBII", 1, 255, 0, 1)
    w.record("MRR", "I", 0)
    path = tmp_path / "ftr2.stdf"
    path.write_bytes(bytes(w.out))
    ds = _quiet(read_stdf, path, progress=False)
    assert list(ds["test"].values) == ["scan_chain"]
    assert ds["test_flag"].values.ravel().tolist() == [1]
    assert ds["first_fail_test"].values.ravel().tolist() == ["scan_chain"]


def test_an_hbr_count_other_than_the_parts_read_is_a_disagreement(tmp_path):
    """HBR says 5 parts in bin 1, the file holds 2: kept and warned (errors='raise'
    raises naming file, bin and offset); the counts sit side by side in attrs."""
    w = _RecordWriter("<")
    w.record("FAR", "BB", 2, 4)
    w.record("MIR", "IIBcccHcnn", 0, 0, 1, b"P", b" ", b" ", 65535, b" ", "LOTH", "PROD")
    w.record("WIR", "BBIn", 1, 255, 0, "LOTH-01")
    for x in (0, 1):
        w.record("PIR", "BB", 1, 0)
        w.record("PRR", "BBBHHHhh", 1, 0, 0, 0, 1, 1, x, 0)
    w.record("WRR", "BBII", 1, 255, 0, 2)
    w.record("HBR", "BBHIcn", 255, 0, 1, 5, b"P", "PASS")
    w.record("MRR", "I", 0)
    path = tmp_path / "hbr.stdf"
    path.write_bytes(bytes(w.out))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = read_stdf(path, progress=False)
    assert any("HBR count 5 of bin 1 disagrees with the 2 parts" in str(m.message) for m in caught)
    counts = json.loads(ds.attrs["stdf_bin_counts"])["hbin"]["1"]
    assert counts == {"summary": 5, "parts": 2, "map": 2}
    assert "sbin" in json.loads(ds.attrs["stdf_bin_counts"])
    strict = r"hbr.stdf: 1 HBR count 5 of bin 1 .*byte offset \d+ \(HBR\)"
    with pytest.raises(FabDataError, match=strict):
        read_stdf(path, progress=False, errors="raise")
