"""The dataset contract: validate accepts contract data and names what is wrong otherwise."""

import numpy as np
import pytest

import fabnb
from fabnb import FabDataError, FabFitError
from fabnb.schema import validate

from conftest import make_dataset


def test_errors_are_value_errors():
    assert issubclass(FabDataError, ValueError) and issubclass(FabFitError, ValueError)


def test_accepts_contract_dataset(grid_ds):
    assert validate(grid_ds) is grid_ds


@pytest.mark.parametrize("preset", ["small", "default"])
def test_accepts_every_synth_preset(preset):
    ds = fabnb.synth.fab(preset, seed=3)
    assert validate(ds) is ds and ds.sizes["wafer"] > 0


def test_rejects_non_dataset():
    with pytest.raises(FabDataError, match="xarray.Dataset"):
        validate(np.zeros(3))


@pytest.mark.parametrize("name", ["x", "y", "col", "zone", "lot"])
def test_missing_coordinate_is_named(grid_ds, name):
    with pytest.raises(FabDataError, match=f"'{name}'"):
        validate(grid_ds.drop_vars(name))


def test_missing_attribute_is_named(grid_ds):
    del grid_ds.attrs["die_width_mm"]
    with pytest.raises(FabDataError, match="die_width_mm"):
        validate(grid_ds)


def test_duplicated_die_sites_name_the_dies(grid_ds):
    col = grid_ds["col"].values.copy()
    row = grid_ds["row"].values.copy()
    col[5], row[5] = col[4], row[4]
    ds = grid_ds.assign_coords(col=("die", col), row=("die", row))
    with pytest.raises(FabDataError, match=r"duplicated die sites .*die 4, 5"):
        validate(ds)


def test_non_finite_coordinates_name_the_die(grid_ds):
    x = grid_ds["x"].values.copy()
    x[7] = np.nan
    with pytest.raises(FabDataError, match=r"non-finite die coordinates .*die 7"):
        validate(grid_ds.assign_coords(x=("die", x)))


def test_radius_inconsistent_with_xy(grid_ds):
    r = grid_ds["r"].values.copy()
    r[3] += 1.0
    with pytest.raises(FabDataError, match=r"'r' disagrees .*die 3"):
        validate(grid_ds.assign_coords(r=("die", r)))


def test_wafer_with_no_data_is_named(grid_ds):
    ds = grid_ds.copy(deep=True)
    ds["value"][1] = np.nan
    ds["hbin"][1] = -1
    ds["sbin"][1] = -1
    with pytest.raises(FabDataError, match="wafers with no data: wafer L0001-02"):
        validate(ds)


def test_duplicated_wafer_ids(grid_ds):
    ds = grid_ds.assign_coords(wafer=("wafer", ["A", "A", "B"]))
    with pytest.raises(FabDataError, match="duplicated wafer ids: wafer A"):
        validate(ds)


def test_crossed_spec_limits_name_the_test(grid_ds):
    ds = grid_ds.assign_coords(lsl=("test", [-2.0, 3.0]))
    with pytest.raises(FabDataError, match="lsl > usl for test T02"):
        validate(ds)


def test_wrong_dims_are_reported(grid_ds):
    ds = grid_ds.copy()
    ds["value"] = ds["value"].transpose("die", "wafer", "test")
    with pytest.raises(FabDataError, match=r"'value' must have dims \('wafer', 'die', 'test'\)"):
        validate(ds)


def test_wrong_dtype_is_reported(grid_ds):
    ds = grid_ds.copy()
    ds["hbin"] = ds["hbin"].astype(float)
    with pytest.raises(FabDataError, match="'hbin' has dtype float64"):
        validate(ds)


def test_bin_codes_below_untested(grid_ds):
    ds = grid_ds.copy(deep=True)
    ds["hbin"][2, 0] = -5
    with pytest.raises(FabDataError, match="'hbin' has codes below -1 on wafer L0001-03"):
        validate(ds)


def test_infinite_values_name_the_test(grid_ds):
    ds = grid_ds.copy(deep=True)
    ds["value"][0, 0, 1] = np.inf
    with pytest.raises(FabDataError, match="infinite values in 'value' for test T02"):
        validate(ds)


def test_schema_version_checked():
    ds = make_dataset()
    ds.attrs["schema_version"] = 2
    with pytest.raises(FabDataError, match="schema_version 2"):
        validate(ds)


@pytest.mark.parametrize("name, bad", [
    ("wafer_diameter_mm", -200.0),  # G85 WaferSize="-200" read silently before
    ("wafer_diameter_mm", np.nan),
    ("die_width_mm", 0.0),  # G85 DeviceSizeX="0"
    ("die_height_mm", -5.0),
    ("die_height_mm", np.inf),
    ("edge_exclusion_mm", -1.0),
    ("die_width_mm", "wide"),
])
def test_geometry_attributes_must_be_sizes(grid_ds, name, bad):
    grid_ds.attrs[name] = bad
    with pytest.raises(FabDataError, match=f"attribute {name}=.* is not a finite"):
        validate(grid_ds)


def test_no_edge_exclusion_and_numeric_strings_are_sizes(grid_ds):
    grid_ds.attrs.update(edge_exclusion_mm=0.0, wafer_diameter_mm="200")
    assert validate(grid_ds) is grid_ds


@pytest.mark.parametrize("bad", ["north", ["down"], np.array(["down", "up"])])
def test_notch_is_a_data_check(grid_ds, bad):
    grid_ds.attrs["notch"] = bad
    # the dataset's attribute, not a caller's option: FabDataError, not the parameter error
    with pytest.raises(FabDataError, match="attribute notch=.* is not a direction") as err:
        validate(grid_ds)
    assert not isinstance(err.value, fabnb.errors.FabParameterError)
