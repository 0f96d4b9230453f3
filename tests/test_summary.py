"""fabnb.summary against independent computations: pandas groupbys on a long table built
from the dataset, and tiny datasets whose bins are set so the answer is known."""

import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import make_dataset

from fabnb import FabDataError, summary
from fabnb.errors import FabParameterError
from fabnb.io.e142 import E142Warning, read_e142, write_e142
from fabnb.schema import validate


def two_lot_dataset(seed=3):
    """make_dataset plus two lots, several fail bins, untested dies and NaN values."""
    ds = make_dataset(n_wafers=6, n_tests=3, seed=seed, die_mm=12.0)
    rng = np.random.default_rng(seed)
    ds = ds.assign_coords(lot=("wafer", ["L0001"] * 3 + ["L0002"] * 3),
                          unit=("test", ["V", "mA", "ns"]))
    shape = (ds.sizes["wafer"], ds.sizes["die"])
    bins = rng.choice([1, 1, 1, 1, 1, 2, 3, 3, 7, -1], size=shape)
    ds["hbin"] = (("wafer", "die"), bins)
    value = ds["value"].values.copy()
    value[rng.random(value.shape) < 0.1] = np.nan
    ds["value"] = (("wafer", "die", "test"), value)
    return validate(ds)


def long_table(ds):
    """One row per (wafer, die): bins, lot, zone and the value of each test."""
    table = ds["hbin"].to_dataframe().reset_index()
    table["lot"] = np.repeat(ds["lot"].values.astype(str), ds.sizes["die"])
    table["zone"] = np.tile(ds["zone"].values.astype(str), ds.sizes["wafer"])
    for t in ds["test"].values:
        table[str(t)] = ds["value"].sel(test=t).transpose("wafer", "die").values.ravel()
    table["tested"] = table["hbin"] != -1
    table["passed"] = table["hbin"] == 1
    return table


@pytest.fixture(scope="module")
def fab():
    return two_lot_dataset()


def test_yield_by_wafer_matches_pandas(fab):
    got = summary.yield_by_wafer(fab)
    ref = long_table(fab).groupby("wafer")[["tested", "passed"]].sum()
    assert list(got.columns) == ["lot", "slot", "tested", "passed", "yield"]
    assert list(got.index) == list(fab["wafer"].values)
    np.testing.assert_array_equal(got["tested"], ref.loc[got.index, "tested"])
    np.testing.assert_array_equal(got["passed"], ref.loc[got.index, "passed"])
    np.testing.assert_allclose(got["yield"], ref["passed"] / ref["tested"])
    assert list(got["lot"]) == ["L0001"] * 3 + ["L0002"] * 3


def test_yield_by_lot_matches_pandas(fab):
    got = summary.yield_by_lot(fab)
    ref = long_table(fab).groupby("lot")[["tested", "passed"]].sum()
    np.testing.assert_array_equal(got.loc[ref.index, "tested"], ref["tested"])
    np.testing.assert_allclose(got.loc[ref.index, "yield"], ref["passed"] / ref["tested"])
    assert list(got["wafers"]) == [3, 3]


@pytest.mark.parametrize("by_wafer", [False, True])
def test_zone_stats_match_pandas(fab, by_wafer):
    got = summary.zone_stats(fab, "T02", by_wafer=by_wafer)
    keys = ["wafer", "zone"] if by_wafer else ["zone"]
    grouped = long_table(fab).groupby(keys)
    ref = pd.DataFrame({
        "tested": grouped["tested"].sum(),
        "passed": grouped["passed"].sum(),
        "mean": grouped["T02"].mean(),
        "std": grouped["T02"].std(),
        "median": grouped["T02"].median(),
        "n": grouped["T02"].count(),
    })
    ref = ref.loc[got.index]
    for column in ("tested", "passed", "n"):
        np.testing.assert_array_equal(got[column], ref[column], err_msg=column)
    for column in ("mean", "std", "median"):
        np.testing.assert_allclose(got[column], ref[column], rtol=1e-12, err_msg=column)
    np.testing.assert_allclose(got["yield"], ref["passed"] / ref["tested"])
    assert len(got) == len(ref) == (fab.sizes["wafer"] if by_wafer else 1) * 4


def test_zones_run_centre_outwards(fab):
    table = summary.yield_by_zone(fab)
    assert list(table.index) == ["center", "inner", "outer", "edge"]
    assert list(table.columns) == ["tested", "passed", "yield"]


def tiny(bins, n_tests=1):
    """A contract dataset whose hbin is ``bins`` (wafers x dies, dies from the grid)."""
    bins = np.asarray(bins)
    ds = make_dataset(n_wafers=bins.shape[0], n_tests=n_tests, die_mm=40.0)
    ds = ds.isel(die=slice(0, bins.shape[1]))
    ds["hbin"] = (("wafer", "die"), bins)
    return ds


def test_bin_counts_by_construction():
    bins = [[3, 3, 3, 5, 1, 1, -1],
            [3, 3, 3, 3, 5, 1, -1],
            [5, 9, 1, 1, 1, 1, 1]]
    ds = tiny(bins)
    table = summary.bin_counts(ds)
    assert list(table["bin"]) == [3, 5, 9]
    assert list(table["count"]) == [7, 3, 1]
    np.testing.assert_allclose(table["share"], [7 / 11, 3 / 11, 1 / 11])
    np.testing.assert_allclose(table["cumulative_share"], [7 / 11, 10 / 11, 1.0])
    with_pass = summary.bin_counts(ds, include_pass=True)
    assert list(with_pass["bin"]) == [1, 3, 5, 9]
    assert list(with_pass["count"]) == [8, 7, 3, 1]
    everything = summary.bin_counts(ds, include_pass=True, include_untested=True)
    assert int(everything["count"].sum()) == np.size(bins)


@pytest.mark.parametrize("names", [
    {1: "PASS", 3: "OPEN", 5: "SHORT"},
    json.dumps({"1": "PASS", "3": "OPEN", "5": "SHORT"}),
    ["1:PASS", "3:OPEN", "5:SHORT"],
    json.dumps({str(c): {"name": n, "pf": "F", "count": 0}  # as fabnb.io.read_stdf writes
                for c, n in [(1, "PASS"), (3, "OPEN"), (5, "SHORT")]}),
])
def test_bin_names_from_attrs(names):
    ds = tiny([[3, 3, 5, 9, 1]]).assign_attrs(hbin_names=names)
    table = summary.bin_counts(ds)
    assert dict(zip(table["bin"], table["name"])) == {3: "OPEN", 5: "SHORT", 9: ""}


def test_bin_names_from_a_coordinate():
    ds = tiny([[3, 3, 5, 1]]).assign_coords(
        hbin_name=("hbin_code", ["PASS", "OPEN", "SHORT"]), hbin_code=[1, 3, 5]
    )
    assert summary.bin_names(ds) == {1: "PASS", 3: "OPEN", 5: "SHORT"}


def test_unusable_bin_names_are_ignored():
    ds = tiny([[3, 1]]).assign_attrs(hbin_names="not a mapping")
    assert summary.bin_names(ds) == {}


def test_stdf_records_without_a_name_name_nothing():
    # read_stdf's HBR/SBR summary of a tester that writes no BIN_NAM (the real samples)
    records = {"1": {"name": "", "pf": " ", "count": 3}, "5": {"name": "SHORT", "pf": "F", "count": 1}}
    ds = tiny([[5, 1, 1, 1]]).assign_attrs(hbin_names=json.dumps(records), sbin_names=json.dumps(records))
    assert summary.bin_names(ds) == summary.bin_names(ds, "sbin") == {5: "SHORT"}


def _read_g85(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", E142Warning)  # ex.xml's own BinCount disagrees
        return read_e142(path)


@pytest.fixture
def g85_sample(shared_data):
    path = shared_data / "g85" / "ex.xml"
    if not path.is_file():
        pytest.skip(f"shared G85 sample absent ({path})")
    return path


def test_bin_names_of_an_e142_ascii_map(g85_sample, tmp_path):
    # ex.xml: ASCII codes "G" (pass) and "X" (fail) become hbin 1 and 2; without a
    # BinDescription the map's own code is the only name the bin has
    ds = _read_g85(g85_sample)
    assert summary.bin_names(ds) == {1: "G", 2: "X"}
    table = summary.bin_counts(ds, include_pass=True)
    assert dict(zip(table["bin"], table["name"])) == {1: "G", 2: "X"}
    # the same map with a BinDescription on "X": the description names the bin
    tree = ET.parse(g85_sample)
    for elem in tree.iter():
        if elem.tag.endswith("Bin") and elem.get("BinCode") == "X":
            elem.set("BinDescription", "Open contact")
    tree.write(tmp_path / "described.xml")
    assert summary.bin_names(_read_g85(tmp_path / "described.xml")) == {1: "G", 2: "Open contact"}


def test_bin_names_of_a_written_e142_map(tmp_path):
    ds = tiny([[3, 3, 5, 1, -1]])
    path = write_e142(ds, tmp_path / "m.xml")
    # write_e142 writes decimal codes that spell their bin: no name is invented for them
    # (the untested dies' code is named by its map code, as it is not -1)
    names = summary.bin_names(read_e142(path))
    assert set(names) <= {-1}
    # the BinDescription a G85 producer writes comes back under the bin number
    tree = ET.parse(path)
    described = {3: "OPEN", 5: "SHORT"}
    for elem in tree.iter():
        if elem.tag.endswith("Bin") and elem.get("BinQuality") == "Fail":
            elem.set("BinDescription", described[int(elem.get("BinCode"))])
    tree.write(tmp_path / "named.xml")
    named = read_e142(tmp_path / "named.xml")
    names = summary.bin_names(named)
    assert {k: names[k] for k in (3, 5)} == {3: "OPEN", 5: "SHORT"} and 1 not in names
    table = summary.bin_counts(named)
    assert dict(zip(table["bin"], table["name"])) == {3: "OPEN", 5: "SHORT"}


def test_e142_codes_read_as_one_bin_share_its_name():
    ds = tiny([[1, 2, 1]]).assign_attrs(e142_bin_codes=json.dumps({"G": 1, "H": 1, "X": 2}),
                                        e142_bin_names=json.dumps({"X": "scratch"}))
    assert summary.bin_names(ds) == {1: "G, H", 2: "scratch"}
    assert summary.bin_names(ds, "sbin") == {}  # read_e142 writes hbin only


def test_fail_rate_by_die_by_construction():
    bins = [[2, -1, 2, 1, 1],
            [2, -1, 1, 1, -1],
            [4, -1, -1, 1, 1]]
    rate = summary.fail_rate_by_die(tiny(bins))
    assert rate.dims == ("die",)
    np.testing.assert_allclose(rate.values, [1.0, np.nan, 0.5, 0.0, 0.0])
    assert "x" in rate.coords and "zone" in rate.coords


def test_fail_rate_matches_pandas(fab):
    table = long_table(fab)
    tested = table[table["tested"]]
    ref = (~tested["passed"]).groupby(tested["die"]).mean()
    np.testing.assert_allclose(summary.fail_rate_by_die(fab).values[ref.index], ref.values)


def test_spec_status_matches_limits(fab):
    status = summary.spec_status(fab, "T01")
    value = fab["value"].sel(test="T01").values
    expected = np.where(np.isnan(value), np.nan, np.where(value < -2, -1.0, np.where(value > 2, 1.0, 0.0)))
    np.testing.assert_array_equal(status.transpose("wafer", "die").values, expected)


def test_radial_signature_of_a_radial_field():
    ds = make_dataset(n_wafers=2, n_tests=1, die_mm=8.0)
    r, theta = ds["r"], ds["theta"]
    radial = 0.001 * r**2
    tilted = radial + 0.5 * np.cos(theta)  # a one-sided (azimuthal) signature
    ds["value"] = xr.concat([radial, tilted], "wafer").expand_dims(test=ds["test"]).transpose(
        "wafer", "die", "test").assign_coords(wafer=ds["wafer"])
    sig = summary.radial_signature(ds, "T01", n_rings=10)
    assert sig["profile"].dims == ("wafer", "ring")
    # profile = ring means of r: compare with pandas on equal-width rings
    edges = np.linspace(0, float(r.max()) * (1 + 1e-12), 11)
    ring = pd.cut(r.values, edges, right=False, labels=False)
    ref = pd.Series(radial.values).groupby(ring).mean()
    np.testing.assert_allclose(sig["profile"].isel(wafer=0).values[ref.index], ref.values)
    assert np.all(np.diff(ref.values) > 0)
    nonuniformity = sig["azimuthal_nonuniformity"].values
    sector = np.floor(np.mod(theta.values, 2 * np.pi) / (np.pi / 4)).astype(int)
    bump = pd.Series(0.5 * np.cos(theta.values)).groupby(sector).mean()
    expected = (bump.max() - bump.min()) / float(tilted.std())
    assert nonuniformity[0] < 0.02
    assert nonuniformity[1] == pytest.approx(expected, rel=0.05)
    # the cos(theta) bump points along +x: sector 0 or the last one holds the largest residual
    assert int(sig["sector_mean"].isel(wafer=1).argmax("sector")) in (0, 7)
    one = summary.radial_signature(ds, "T01", wafer=str(ds.wafer.values[1]), n_rings=10)
    assert "wafer" not in one.dims
    np.testing.assert_allclose(one["profile"], sig["profile"].isel(wafer=1))


def test_overview(fab):
    info = summary.overview(fab)
    table = long_table(fab)
    assert (info["lots"], info["wafers"], info["tests"], info["dies"]) == (
        2, 6, 3, fab.sizes["die"])
    assert info["yield"] == pytest.approx(table["passed"].sum() / table["tested"].sum())
    assert summary.overview(fab.drop_vars(["hbin", "sbin"]))["yield"] is None


def test_bad_input_names_what_is_wrong(fab):
    with pytest.raises(FabDataError, match=r"unknown test 'T99'.*T01, T02, T03"):
        summary.zone_stats(fab, "T99")
    with pytest.raises(FabDataError, match=r"unknown wafer.*NOPE.*L0001-01"):
        summary.radial_signature(fab, "T01", wafer="NOPE")
    with pytest.raises(FabDataError, match="no 'hbin'"):
        summary.yield_by_wafer(fab.drop_vars("hbin"))
    with pytest.raises(FabDataError, match="no 'hbin'"):
        summary.fail_rate_by_die(fab.drop_vars("hbin"))
    with pytest.raises(FabDataError, match="kind"):
        summary.bin_counts(fab, kind="xbin")
    empty = fab.copy()
    empty["value"] = empty["value"].where(empty["wafer"] != "L0001-02")
    with pytest.raises(FabDataError, match="wafer L0001-02"):
        summary.radial_signature(empty, "T01")


@pytest.mark.parametrize("call, name", [
    (lambda ds: summary.bin_counts(ds, kind="xbin"), "kind"),
    (lambda ds: summary.bin_names(ds, kind="xbin"), "kind"),
    # these two read an unknown kind as "no bins" before: a silent wrong answer
    (lambda ds: summary.zone_stats(ds, "T01", kind="xbin"), "kind"),
    (lambda ds: summary.overview(ds, kind="xbin"), "kind"),
    (lambda ds: summary.radial_signature(ds, "T01", n_rings=0), "n_rings"),
    (lambda ds: summary.radial_signature(ds, "T01", n_sectors=-2), "n_sectors"),
    (lambda ds: summary.radial_signature(ds, "T01", n_rings=2.5), "n_rings"),
])
def test_bad_options_raise_the_parameter_error_naming_them(fab, call, name):
    with pytest.raises(FabParameterError, match=f"'{name}' parameter"):
        call(fab)


def test_dask_chunked_dataset_gives_the_same_tables(fab):
    chunked = fab.chunk(wafer=2)
    pd.testing.assert_frame_equal(summary.yield_by_wafer(chunked), summary.yield_by_wafer(fab))
    pd.testing.assert_frame_equal(summary.yield_by_lot(chunked), summary.yield_by_lot(fab))
    pd.testing.assert_frame_equal(summary.zone_stats(chunked, "T03", by_wafer=True),
                                  summary.zone_stats(fab, "T03", by_wafer=True))
    pd.testing.assert_frame_equal(summary.bin_counts(chunked), summary.bin_counts(fab))
    xr.testing.assert_allclose(summary.fail_rate_by_die(chunked).compute(),
                               summary.fail_rate_by_die(fab))
