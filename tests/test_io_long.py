"""fabnb.io.long: long tables <-> contract Datasets, CSV/Parquet, and every bad input."""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import make_dataset
from hypothesis import given
from hypothesis import strategies as st
from test_io import HYPOTHESIS, contract_datasets

import fabnb.io as fio
from fabnb import FabDataError
from fabnb.errors import FabParameterError
from fabnb.geometry import die_grid, radial_zones


def tiny_table(**extra):
    """Two wafers x two dies x one test, col/row only."""
    df = pd.DataFrame({
        "wafer": ["W1", "W1", "W2", "W2"],
        "col": [0, 1, 0, 1],
        "row": [0, 0, 0, 0],
        "test": ["T01"] * 4,
        "value": [1.0, 2.0, 3.0, 4.0],
    })
    return df.assign(**extra)


GEO = {"die_width_mm": 10.0, "die_height_mm": 10.0}


def assert_same_dataset(back: xr.Dataset, ds: xr.Dataset):
    """A long table keeps every die (measured or only binned), test, bin and value.

    ``r``/``theta`` are recomputed by the reader (another code path): compared to 1e-12;
    everything else is stored in the table and read back exactly.
    """
    derived = ["r", "theta"]
    xr.testing.assert_identical(back.drop_vars(derived).drop_attrs(),
                                ds.drop_vars(derived).drop_attrs())
    for name in derived:
        np.testing.assert_allclose(back[name].values, ds[name].values, rtol=1e-12, atol=1e-12)
    # values are stored exactly (CSV writes round-trip reprs, Parquet float64): bitwise equal
    np.testing.assert_array_equal(back["value"].values.view(np.uint64),
                                  ds["value"].values.view(np.uint64))


# --------------------------------------------------------------------------- round trips


def test_table_round_trip_reproduces_the_dataset():
    ds = make_dataset(n_wafers=3, n_tests=3)
    ds = ds.assign_coords(time=("wafer", pd.date_range("2026-01-01", periods=3, freq="D").values),
                          seq=("wafer", np.array([5, 6, 7])))
    df = fio.to_long_table(ds)
    assert len(df) == ds["value"].size and list(df.columns[:5]) == ["wafer", "lot", "slot", "seq", "time"]
    back = fio.from_long_table(df)
    assert_same_dataset(back, ds)
    assert back.attrs == ds.attrs


def test_to_long_table_drops_unmeasured_and_selects_tests():
    ds = make_dataset(n_tests=2)
    ds["value"][0, :4, 1] = np.nan
    df = fio.to_long_table(ds, tests=["T02"])
    # the 4 dies without a T02 value keep one row each (their bins), with an empty value
    assert set(df["test"]) == {"T02"} and len(df) == ds.sizes["wafer"] * ds.sizes["die"]
    assert int(df["value"].isna().sum()) == 4
    assert len(fio.to_long_table(ds, dropna=False)) == ds["value"].size
    with pytest.raises(FabDataError, match="T09"):
        fio.to_long_table(ds, tests=["T09"])


@HYPOTHESIS
@given(ds=contract_datasets())
def test_random_datasets_round_trip_through_long_table(ds):
    assert_same_dataset(fio.from_long_table(fio.to_long_table(ds)), ds)


text_ids = st.characters(categories=("L", "N", "P", "S"), exclude_characters="\x00\r\n")


@HYPOTHESIS
@given(ds=contract_datasets(alphabet=text_ids))
def test_random_datasets_round_trip_through_csv_and_parquet(ds):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("t.csv", "t.parquet"):
            fio.write_table(ds, Path(tmp) / name)
            geometry = {k: ds.attrs[k] for k in ("die_width_mm", "die_height_mm")}
            back = fio.read_table(Path(tmp) / name, geometry=geometry)  # CSV has no attrs
            assert_same_dataset(back, ds)
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["t.csv", "t.parquet"]


def test_csv_keeps_ids_as_text(tmp_path):
    path = tmp_path / "ids.csv"
    tiny_table(lot=["0007", "0007", "NA", "NA"]).assign(wafer=["001", "001", "NA", "NA"]) \
        .to_csv(path, index=False)
    ds = fio.read_table(path, geometry=GEO)
    assert ds["wafer"].values.tolist() == ["001", "NA"] and ds["lot"].values.tolist() == ["0007", "NA"]


# --------------------------------------------------------------------------- geometry


def grid_table(grid, drop=()):
    """One measurement per die of ``grid`` for one wafer, as a long table."""
    df = pd.DataFrame({k: grid[k].values for k in ("col", "row", "x", "y")})
    df = df.assign(wafer="W1", test="T01", value=np.arange(len(df), dtype=float))
    return df.drop(columns=list(drop)).sample(frac=1.0, random_state=0)  # order must not matter


def test_col_row_with_die_size_places_dies_like_die_grid():
    grid = die_grid(300, die_width_mm=12.0, die_height_mm=9.0, edge_exclusion_mm=3)
    ds = fio.from_long_table(grid_table(grid, drop=("x", "y")),
                             geometry={"die_width_mm": 12.0, "die_height_mm": 9.0})
    for name in ("col", "row", "zone"):
        np.testing.assert_array_equal(ds[name].values, grid[name].values, err_msg=name)
    for name in ("x", "y", "r", "theta"):  # computed here and by die_grid: two code paths
        np.testing.assert_allclose(ds[name].values, grid[name].values, rtol=1e-12, atol=1e-12,
                                   err_msg=name)
    np.testing.assert_array_equal(ds["value"].values[0, :, 0], np.arange(grid.sizes["die"]))
    assert ds.attrs["wafer_diameter_mm"] == 300.0 and ds.attrs["die_width_mm"] == 12.0


def test_x_y_only_infers_pitch_and_indices():
    grid = die_grid(200, die_width_mm=8.0, die_height_mm=5.0, edge_exclusion_mm=3)
    ds = fio.from_long_table(grid_table(grid, drop=("col", "row")))
    for name in ("col", "row", "x", "y", "zone"):
        np.testing.assert_array_equal(ds[name].values, grid[name].values, err_msg=name)
    assert (ds.attrs["die_width_mm"], ds.attrs["die_height_mm"]) == pytest.approx((8.0, 5.0),
                                                                                 rel=1e-12)
    assert ds.attrs["wafer_diameter_mm"] == 200.0


def test_zones_are_balanced_over_the_dies_present():
    grid = die_grid(200, die_width_mm=10.0, die_height_mm=10.0)
    df = grid_table(grid)
    df = df[df["x"] > 0]  # half a wafer
    ds = fio.from_long_table(df)
    expected = radial_zones(np.hypot(ds["x"], ds["y"]).values, theta=ds["theta"].values)
    np.testing.assert_array_equal(ds["zone"].values, expected)
    counts = pd.Series(ds["zone"].values).value_counts()
    assert counts.max() - counts.min() <= 1


def test_center_override_and_off_lattice_positions():
    ds = fio.from_long_table(tiny_table(), geometry={**GEO, "center_col": 0, "center_row": 0})
    np.testing.assert_allclose(ds["x"].values, [0.0, 10.0], rtol=1e-12)
    np.testing.assert_allclose(ds["y"].values, [0.0, 0.0], atol=1e-12)
    off = tiny_table(x=[0.0, 10.0, 0.0, 13.0], y=0.0).drop(columns=["col", "row"])
    with pytest.raises(FabDataError, match="not on a regular grid"):
        fio.from_long_table(off, geometry=GEO)


# --------------------------------------------------------------------------- duplicates


def test_exact_duplicates_collapse_with_a_warning():
    df = tiny_table()
    df = pd.concat([df, df.iloc[[0, 0, 3]]], ignore_index=True)
    with pytest.warns(UserWarning, match="3 exact duplicate"):
        ds = fio.from_long_table(df, geometry=GEO)
    assert ds["value"].values[:, :, 0].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_conflicting_duplicates_name_wafer_die_and_test():
    df = pd.concat([tiny_table(), tiny_table().iloc[[3]].assign(value=9.0)], ignore_index=True)
    with pytest.raises(FabDataError) as err:
        fio.from_long_table(df, geometry=GEO)
    msg = str(err.value)
    assert "wafer W2" in msg and "col=1, row=0" in msg and "test T01" in msg and "9.0" in msg
    for policy, expected in (("first", 4.0), ("last", 9.0), ("mean", 6.5)):
        with pytest.warns(UserWarning, match=f"1 conflicting.*{policy}"):
            ds = fio.from_long_table(df, geometry=GEO, duplicates=policy)
        assert ds["value"].values[1, 1, 0] == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("drop, named", [
    (["col", "row"], "'col'/'row' or 'x'/'y'"), (["row"], "no 'row'"),
    (["test"], "'test'"), (["value"], "'value'"), (["wafer"], "'wafer'"),
])
def test_missing_columns_are_named(tmp_path, drop, named):
    path = tmp_path / "probe.csv"
    tiny_table().drop(columns=drop).to_csv(path, index=False)
    with pytest.raises(FabDataError) as err:
        fio.read_table(path, geometry=GEO)
    assert named in str(err.value) and "probe.csv" in str(err.value)


def test_a_column_named_in_the_mapping_must_exist():
    with pytest.raises(FabDataError, match="'meas'"):
        fio.from_long_table(tiny_table(), value="meas", geometry=GEO)


def test_mixed_units_and_conflicting_limits_name_the_test():
    df = tiny_table(unit=["V", "V", "mV", "V"])
    with pytest.raises(FabDataError, match=r"mixed units for test T01: 'V', 'mV'"):
        fio.from_long_table(df, geometry=GEO)
    df = tiny_table(lsl=[0.0, 0.0, 0.5, np.nan])
    with pytest.raises(FabDataError, match=r"conflicting lsl for test T01: 0.0, 0.5"):
        fio.from_long_table(df, geometry=GEO)
    df = tiny_table(hbin=[1, 1, 2, 1]).iloc[[0, 1, 2, 3, 2]].assign(test=["T01"] * 4 + ["T02"],
                                                                    hbin=[1, 1, 2, 1, 3])
    with pytest.raises(FabDataError, match=r"conflicting hbin for wafer W2, die \(col=0, row=0\)"):
        fio.from_long_table(df, geometry=GEO)


def test_non_finite_and_non_integer_coordinates():
    with pytest.raises(FabDataError, match="non-finite die coordinate 'x' at table rows 2"):
        fio.from_long_table(tiny_table(x=[0.0, 10.0, np.inf, 10.0], y=0.0), geometry=GEO)
    with pytest.raises(FabDataError, match="non-finite die coordinate 'row'"):
        fio.from_long_table(tiny_table(row=[0, 0, np.nan, 0]), geometry=GEO)
    with pytest.raises(FabDataError, match="'col' must hold integers; not at table rows 1"):
        fio.from_long_table(tiny_table(col=[0, 1.5, 0, 1]), geometry=GEO)
    with pytest.raises(FabDataError, match="'hbin' must hold integers; not at table rows 3"):
        fio.from_long_table(tiny_table(hbin=[1, np.nan, 1, 2.5]), geometry=GEO)


def test_wafer_with_no_data_is_named():
    df = tiny_table(value=[1.0, 2.0, np.nan, np.nan])
    with pytest.raises(FabDataError, match="wafers with no data: wafer W2"):
        fio.from_long_table(df, geometry=GEO)


def test_other_bad_values():
    with pytest.raises(FabDataError, match="non-numeric values at table rows 1"):
        fio.from_long_table(tiny_table(value=[1.0, "high", 3.0, 4.0]), geometry=GEO)
    with pytest.raises(FabDataError, match="'wafer' has missing values at table rows 3"):
        fio.from_long_table(tiny_table(wafer=["W1", "W1", "W2", None]), geometry=GEO)
    with pytest.raises(FabDataError, match="no 'x'/'y'.*die_width_mm"):
        fio.from_long_table(tiny_table())
    with pytest.raises(FabDataError, match="die size from a single die column"):
        fio.from_long_table(tiny_table(col=0, row=[0, 1, 0, 1], x=0.0, y=[5.0, -5.0, 5.0, -5.0]))

    
def test_bad_options_raise_parameter_errors_naming_them(tmp_path):
    with pytest.raises(FabParameterError, match="'geometry key'.*'die_width'"):
        fio.from_long_table(tiny_table(), geometry={"die_width": 10})
    with pytest.raises(FabParameterError, match="'duplicates' parameter of from_long_table.*'max'"):
        fio.from_long_table(tiny_table(), geometry=GEO, duplicates="max")
    with pytest.raises(FabParameterError, match="'max_gb'"):
        fio.from_long_table(tiny_table(), geometry=GEO, max_gb=-1)
    with pytest.raises(FabParameterError, match="'dropna' parameter of to_long_table"):
        fio.to_long_table(make_dataset(), dropna="no")
    path = tmp_path / "t.csv"
    tiny_table().to_csv(path, index=False)
    with pytest.raises(FabParameterError, match="'duplicates'"):  # not re-labelled a file error
        fio.read_table(path, geometry=GEO, duplicates="max")


def test_write_table_is_atomic_and_checks_extension(tmp_path, monkeypatch):
    ds = make_dataset()
    path = tmp_path / "probe.parquet"
    fio.write_table(ds, path)
    before = path.read_bytes()

    def crash(self, target, *args, **kwargs):
        Path(target).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        fio.write_table(make_dataset(seed=5), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]
    with pytest.raises(FabDataError, match="unknown table extension"):
        fio.write_table(ds, tmp_path / "probe.xlsx")


def test_from_long_table_does_not_touch_its_input():
    df = tiny_table(unit="V")
    copy = df.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fio.from_long_table(df, geometry=GEO)
    pd.testing.assert_frame_equal(df, copy)


# --------------------------------------------------------------------------- lost data


@pytest.fixture(scope="module")
def stdf_wafer():
    path = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stdf" / "demofile.stdf"
    if not path.is_file():
        pytest.skip(f"shared STDF sample absent ({path})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the reader's notes on retests and skipped records
        return fio.read_stdf(path, progress=False)


def assert_same_dies_bins_values(back, ds):
    """``back`` has the dies, bins and values of ``ds``; returns it in ``ds``'s die order."""
    # a long table orders dies row by row (die_grid's order); the source may not
    where = {site: k for k, site in enumerate(zip(back["col"].values.tolist(),
                                                  back["row"].values.tolist()))}
    assert back.sizes["die"] == ds.sizes["die"]
    back = back.isel(die=[where[site] for site in zip(ds["col"].values.tolist(),
                                                      ds["row"].values.tolist())])
    for name in ("col", "row", "hbin", "sbin"):
        np.testing.assert_array_equal(back[name].values, ds[name].values, err_msg=name)
    np.testing.assert_allclose(back["x"].values, ds["x"].values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(back["y"].values, ds["y"].values, rtol=0, atol=1e-12)
    assert back["test"].values.tolist() == ds["test"].values.tolist()
    # values are read back from the file that stores them exactly: bitwise equal
    np.testing.assert_array_equal(back["value"].values.view(np.uint64),
                                  ds["value"].values.view(np.uint64))
    return back


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_write_table_keeps_dies_with_a_bin_but_no_value(stdf_wafer, tmp_path, name):
    ds = stdf_wafer
    binned_only = (ds["hbin"] != -1) & ds["value"].isnull().all("test")
    # about half the dies of this wafer (718 of 1456, 41 failing): the dies that were lost
    assert int(binned_only.sum()) > 0.4 * ds.sizes["die"]
    assert int((binned_only & (ds["hbin"] > 1)).sum()) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # test_num has no column (the synthetic case checks it)
        fio.write_table(ds, tmp_path / name)
    die_vars = ["site", "touchdowns", "part_id"]
    back = assert_same_dies_bins_values(
        fio.read_table(tmp_path / name, die_variables=die_vars), ds)
    if name.endswith(".parquet"):  # Parquet keeps the list of die variables itself
        auto = assert_same_dies_bins_values(fio.read_table(tmp_path / name), ds)
        for var in die_vars:
            np.testing.assert_array_equal(auto[var].values, ds[var].values)
    for var in ("site", "touchdowns"):
        np.testing.assert_array_equal(back[var].values, ds[var].values)
    # a CSV keeps no types: part ids that look like numbers come back as numbers
    assert back["part_id"].values.astype(str).tolist() == ds["part_id"].values.tolist()
    yield_of = lambda d: float((d["hbin"] == 1).sum() / (d["hbin"] != -1).sum())  # noqa: E731
    assert yield_of(back) == pytest.approx(yield_of(ds), rel=1e-12)


def test_write_table_round_trip_of_the_synthetic_fab(tmp_path):
    synth = pytest.importorskip("fabnb.synth")
    ds = synth.fab("small", seed=0)
    ds["value"][0, :7, :] = np.nan  # binned but not measured
    ds["hbin"][1, 3] = -1  # measured, not binned
    with pytest.warns(UserWarning, match="etest_value, tool, vmin"):
        fio.write_table(ds, tmp_path / "fab.csv")
    back = fio.read_table(tmp_path / "fab.csv")
    assert_same_dies_bins_values(back, ds)
    for name in ("wafer", "lot", "slot", "zone", "unit"):
        np.testing.assert_array_equal(back[name].values, ds[name].values, err_msg=name)
    np.testing.assert_allclose(back["lsl"].values, ds["lsl"].values, rtol=1e-15)


def test_never_tested_dies_and_unmeasured_tests_survive():
    ds = make_dataset(n_wafers=2, n_tests=3)
    ds["value"][:, 5, :] = np.nan  # a die of the map measured on no wafer ...
    ds["hbin"][:, 5] = -1  # ... and binned on none
    ds["value"][:, :, 2] = np.nan  # a test measured nowhere keeps its unit and limits
    df = fio.to_long_table(ds)
    assert len(df) == int(ds["value"].notnull().sum()) + 2 + 1  # + die 5 twice + test T03 once
    assert_same_dataset(fio.from_long_table(df), ds)


# --------------------------------------------------------------------------- memory


def test_a_sparse_table_that_would_make_a_huge_cube_is_refused_before_allocating():
    n = 800  # one die and one test per wafer: an 800 x 800 x 800 cube (4.1 GB)
    df = pd.DataFrame({"wafer": [f"W{k}" for k in range(n)], "col": np.arange(n),
                       "row": np.zeros(n, dtype=int), "test": [f"T{k}" for k in range(n)],
                       "value": np.ones(n)})
    with pytest.raises(FabDataError, match=r"needs 4.1 GB \(max_gb=2\): 800 wafers x 800 dies x "
                                           r"800 tests.*pass max_gb="):
        fio.from_long_table(df, geometry=GEO)
    small = df.iloc[:20]  # the same shape, small enough: allowed, and max_gb can lower the bar
    assert fio.from_long_table(small, geometry=GEO)["value"].shape == (20, 20, 20)
    with pytest.raises(FabDataError, match="needs 6.4e-05 GB"):
        fio.from_long_table(small, geometry=GEO, max_gb=1e-5)


@pytest.mark.parametrize("column, bad", [("col", 99999999999999999999), ("row", 2.0**40),
                                         ("hbin", 2.0**60)])
def test_huge_integers_are_refused_not_wrapped(column, bad):
    df = tiny_table(hbin=[1, 1, 1, 1])
    df[column] = df[column].astype(float)
    df.loc[2, column] = float(bad)
    with pytest.raises(FabDataError, match=f"'{column}' holds integers beyond .* table rows 2"):
        fio.from_long_table(df, geometry=GEO)


def test_extreme_positions_are_no_die_grid():
    df = tiny_table(x=[0.0, 10.0, 0.0, 1e300], y=0.0).drop(columns=["col", "row"])
    with pytest.raises(FabDataError, match="'x' positions span more than"):
        fio.from_long_table(df, geometry=GEO)


# --------------------------------------------------------------------------- compressed files


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not gzip"])
def test_damaged_csv_gz_names_the_file(tmp_path, damage):
    path = tmp_path / "probe.csv.gz"
    fio.write_table(make_dataset(), path)
    raw = bytearray(path.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "corrupt":
        raw[40:60] = bytes(20)  # inside the deflate stream
    else:
        raw[1] ^= 0xFF  # gzip magic
    path.write_bytes(bytes(raw))
    with pytest.raises(FabDataError, match="probe.csv.gz: cannot read as csv"):
        fio.read_table(path)
