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


def measured_part(ds: xr.Dataset) -> xr.Dataset:
    """What a long table keeps of ``ds``: measured dies and tests; bins of untested sites -1."""
    has = ds["value"].notnull()
    part = ds.isel(die=has.any(("wafer", "test")).values, test=has.any(("wafer", "die")).values)
    site_measured = part["value"].notnull().any("test")
    for b in ("hbin", "sbin"):
        part[b] = part[b].where(site_measured, -1)
    return part


def assert_same_measured(back: xr.Dataset, ds: xr.Dataset):
    expected = measured_part(ds)
    back = back.sel(test=expected["test"].values)  # tests come in order of first appearance
    xr.testing.assert_identical(back.drop_attrs(), expected.drop_attrs())
    np.testing.assert_array_equal(back["value"].values.view(np.uint64),
                                  expected["value"].values.view(np.uint64))


# --------------------------------------------------------------------------- round trips


def test_table_round_trip_reproduces_the_dataset():
    ds = make_dataset(n_wafers=3, n_tests=3)
    ds = ds.assign_coords(time=("wafer", pd.date_range("2026-01-01", periods=3, freq="D").values),
                          seq=("wafer", np.array([5, 6, 7])))
    df = fio.to_long_table(ds)
    assert len(df) == ds["value"].size and list(df.columns[:5]) == ["wafer", "lot", "slot", "seq", "time"]
    back = fio.from_long_table(df)
    xr.testing.assert_identical(back, ds)
    assert back.attrs == ds.attrs


def test_to_long_table_drops_unmeasured_and_selects_tests():
    ds = make_dataset(n_tests=2)
    ds["value"][0, :4, 1] = np.nan
    df = fio.to_long_table(ds, tests=["T02"])
    assert set(df["test"]) == {"T02"} and len(df) == ds.sizes["wafer"] * ds.sizes["die"] - 4
    assert len(fio.to_long_table(ds, dropna=False)) == ds["value"].size
    with pytest.raises(FabDataError, match="T09"):
        fio.to_long_table(ds, tests=["T09"])


@HYPOTHESIS
@given(ds=contract_datasets())
def test_random_datasets_round_trip_through_long_table(ds):
    assert_same_measured(fio.from_long_table(fio.to_long_table(ds)), ds)


text_ids = st.characters(categories=("L", "N", "P", "S"), exclude_characters="\x00\r\n")


@HYPOTHESIS
@given(ds=contract_datasets(alphabet=text_ids))
def test_random_datasets_round_trip_through_csv_and_parquet(ds):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("t.csv", "t.parquet"):
            fio.write_table(ds, Path(tmp) / name)
            geometry = {k: ds.attrs[k] for k in ("die_width_mm", "die_height_mm")}
            back = fio.read_table(Path(tmp) / name, geometry=geometry)  # CSV has no attrs
            assert_same_measured(back, ds)
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
    for name in ("col", "row", "x", "y", "r", "theta", "zone"):
        np.testing.assert_array_equal(ds[name].values, grid[name].values, err_msg=name)
    np.testing.assert_array_equal(ds["value"].values[0, :, 0], np.arange(grid.sizes["die"]))
    assert ds.attrs["wafer_diameter_mm"] == 300.0 and ds.attrs["die_width_mm"] == 12.0


def test_x_y_only_infers_pitch_and_indices():
    grid = die_grid(200, die_width_mm=8.0, die_height_mm=5.0, edge_exclusion_mm=3)
    ds = fio.from_long_table(grid_table(grid, drop=("col", "row")))
    for name in ("col", "row", "x", "y", "zone"):
        np.testing.assert_array_equal(ds[name].values, grid[name].values, err_msg=name)
    assert (ds.attrs["die_width_mm"], ds.attrs["die_height_mm"]) == (8.0, 5.0)
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
    assert ds["x"].values.tolist() == [0.0, 10.0] and ds["y"].values.tolist() == [0.0, 0.0]
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
        assert ds["value"].values[1, 1, 0] == expected


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
    with pytest.raises(FabDataError, match="unknown geometry key"):
        fio.from_long_table(tiny_table(), geometry={"die_width": 10})
    with pytest.raises(FabDataError, match="duplicates must be one of"):
        fio.from_long_table(tiny_table(), geometry=GEO, duplicates="max")


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
