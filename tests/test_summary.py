"""fabnb.summary against independent computations: pandas groupbys on a long table built
from the dataset, and tiny datasets whose bins are set so the answer is known."""

import json
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import make_dataset, name_of_test_number

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


# --------------------------------------------------------------------------- real tester data


def name_of_test_number(ds, number):
    """The test name whose ``test_num`` is ``number``, looked up without fabnb."""
    return str(ds["test"].values[list(ds["test_num"].values).index(number)])


def test_resolve_test_by_number_clean_name_side_and_substring(lot2):
    svrr, rds, imax = (name_of_test_number(lot2, n) for n in (1590, 1460, 1470))
    assert "\t" in imax and "  " in rds  # the file's own padding and tab
    assert summary.resolve_test(lot2, 1590) == svrr
    assert summary.resolve_test(lot2, "1590") == svrr
    assert summary.resolve_test(lot2, np.int64(1590)) == svrr
    assert summary.resolve_test(lot2, "Rds on <> RDS_ON") == rds
    assert summary.resolve_test(lot2, "  rds ON <>  rds_on ") == rds
    assert summary.resolve_test(lot2, "Imax bef zap <> IMAX") == imax
    assert summary.resolve_test(lot2, "RDS_ON") == rds  # one side of "description <> label"
    assert summary.resolve_test(lot2, "IMAX") == imax  # a side, though a substring of three
    assert summary.resolve_test(lot2, "svrr") == svrr  # a unique substring
    assert summary.resolve_test(lot2, rds) == rds  # the exact name still works
    assert summary.resolve_tests(lot2, [1590, "RDS_ON"]) == [svrr, rds]


def test_resolve_test_names_the_candidates(lot2):
    with pytest.raises(FabDataError, match="ambiguous") as err:
        summary.resolve_test(lot2, "sim1")
    assert "1132 sim1 ref <> Simule_1" in str(err.value) and "1150 sim10 ref <> Simule_10" in str(err.value)
    with pytest.raises(FabDataError, match="nearest: 1460 Rds on <> RDS_ON"):
        summary.resolve_test(lot2, "Rds off")
    with pytest.raises(FabDataError, match="unknown test 1591"):
        summary.resolve_test(lot2, 1591)


def test_resolve_test_without_test_numbers(fab):
    assert summary.resolve_test(fab, "t02") == "T02"
    assert summary.resolve_tests(fab) == ["T01", "T02", "T03"]
    with pytest.raises(FabDataError, match=r"ambiguous: it matches 3 tests \(T01, T02, T03\)"):
        summary.resolve_test(fab, "T0")
    with pytest.raises(FabDataError, match="no tests selected"):
        summary.resolve_tests(fab, [])


def test_functions_taking_a_test_accept_its_number(lot2):
    rds = name_of_test_number(lot2, 1460)
    np.testing.assert_array_equal(summary.spec_status(lot2, 1460).values,
                                  summary.spec_status(lot2, rds).values)
    assert list(summary.zone_stats(lot2, "RDS_ON")["n"]) == list(summary.zone_stats(lot2, rds)["n"])


# --------------------------------------------------------------------------- test fails


def fails_dataset():
    """Two wafers, four dies, three tests with limits [0, 1]; the fails are set by hand."""
    ds = make_dataset(n_wafers=2, n_tests=3, die_mm=40.0).isel(die=slice(0, 4))
    ds = ds.assign_coords(lsl=("test", [0.0, 0.0, 0.0]), usl=("test", [1.0, 1.0, 1.0]))
    v = np.full((2, 4, 3), 0.5)
    v[0, 0] = [-1.0, 2.0, 0.5]  # T01 low (first), T02 high
    v[0, 1] = [0.5, 2.0, 2.0]   # T02 high (first), T03 high
    v[0, 2] = [0.5, np.nan, -3.0]  # T03 low; T02 not measured
    v[1, 0] = [0.5, 0.5, 5.0]   # T03 high
    v[1, 3] = [np.nan, np.nan, np.nan]
    ds["value"] = (("wafer", "die", "test"), v)
    ds["hbin"] = (("wafer", "die"), np.array([[2, 2, 3, 1], [2, 7, 1, -1]]))  # die (1, 1): no failing test
    return ds


def test_fail_pareto_by_construction():
    ds = fails_dataset()
    first = summary.first_fail(ds)
    assert first.values.tolist() == [["T01", "T02", "T03", ""], ["T03", "", "", ""]]
    table = summary.test_fail_pareto(ds)
    assert list(table.index) == ["T03", "T02", "T01"]  # first fails, then fails break the tie
    assert table.loc["T03"].to_dict() == {
        "unit": "V", "fails": 3, "fails_low": 1, "fails_high": 2, "first_fails": 2,
        "share": pytest.approx(0.5), "cumulative_share": pytest.approx(0.5)}
    assert table["fails"].tolist() == [3, 2, 1]
    assert table["first_fails"].tolist() == [2, 1, 1]
    assert table["cumulative_share"].iloc[-1] == pytest.approx(1.0)
    assert table.attrs == {"failing_dies": 5, "failing_dies_without_failing_test": 1}
    per_wafer = summary.test_fail_pareto(ds, by_wafer=True)
    assert per_wafer.loc["L0001-01", "first_fails"].to_dict() == {"T01": 1, "T02": 1, "T03": 1}
    assert per_wafer.loc["L0001-02", "first_fails"].to_dict() == {"T03": 1, "T01": 0, "T02": 0}


def test_fail_pareto_prefers_the_tester_record():
    ds = fails_dataset()
    flag = np.zeros((2, 4, 3), dtype=np.int8)
    flag[0, 0, 1] = 1  # the tester failed T02 on die 0 only
    ds["test_flag"] = (("wafer", "die", "test"), flag)
    ds["first_fail_test"] = (("wafer", "die"), np.array([["T02", "", "", ""], ["", "", "", ""]]))
    table = summary.test_fail_pareto(ds)
    assert table.index[0] == "T02"
    assert table["fails"].to_dict() == {"T01": 0, "T02": 1, "T03": 0}
    assert table["fails_high"].to_dict() == {"T01": 0, "T02": 2, "T03": 2}  # the limits still say so
    ds["first_fail_test"][0, 0] = "T77"
    with pytest.raises(FabDataError, match="T77"):
        summary.test_fail_pareto(ds)


def test_fail_pareto_of_the_real_file_matches_its_records(lot2):
    table = summary.test_fail_pareto(lot2)
    names = pd.Series(lot2["first_fail_test"].values.ravel())
    ref = names[names != ""].value_counts()
    assert table["first_fails"][table["first_fails"] > 0].to_dict() == ref.to_dict()
    flagged = (lot2["test_flag"] == 1).sum(("wafer", "die")).to_series()
    assert table["fails"].to_dict() == flagged.to_dict()
    assert table["first_fails"].is_monotonic_decreasing
    assert table.loc[name_of_test_number(lot2, 1460), "test_num"] == 1460


# --------------------------------------------------------------------------- capability


def one_wafer(values, lsl, usl):
    """One wafer, one test holding ``values`` exactly, limits ``lsl``/``usl``."""
    ds = make_dataset(n_wafers=1, n_tests=1, die_mm=5.0).isel(die=slice(0, len(values)))
    ds["value"] = (("wafer", "die", "test"), np.asarray(values, dtype=float)[None, :, None])
    return ds.assign_coords(lsl=("test", [lsl]), usl=("test", [usl]))


def with_mean_sd(mean, sd, n=50, seed=0):
    """``n`` values whose sample mean and sample sd (ddof=1) are exactly ``mean``, ``sd``."""
    z = np.random.default_rng(seed).normal(size=n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


def test_capability_nist_worked_example():
    # NIST/SEMATECH e-Handbook of Statistical Methods, §6.1.6 "What is Process Capability?",
    # example: USL = 20, LSL = 8, mean 16, s = 2 -> Cp = 1.0, Cpk = min(0.6667, 1.3333) = 0.6667
    cap = summary.capability(one_wafer(with_mean_sd(16.0, 2.0), 8.0, 20.0)).loc["T01"]
    assert cap["cp"] == pytest.approx(1.0, rel=1e-12)
    assert cap["cpk"] == pytest.approx(4 / 6, rel=1e-12)
    assert cap["cpk"] == pytest.approx(0.6667, abs=5e-5)
    # one wafer: within-wafer sd is the overall sd, so Pp/Ppk equal Cp/Cpk
    assert (cap["pp"], cap["ppk"]) == (pytest.approx(1.0, rel=1e-12), pytest.approx(4 / 6, rel=1e-12))
    assert cap["count"] == 50 and cap["fails_low"] + cap["fails_high"] == 0


def test_capability_montgomery_one_sided_example():
    # Montgomery, Introduction to Statistical Quality Control, 6th ed., §8.3.1 (bottle
    # bursting strength): LSL = 200 psi only, x̄ = 264, s = 32 -> Cpl = 64 / 96 = 0.67
    cap = summary.capability(one_wafer(with_mean_sd(264.0, 32.0, n=100), 200.0, np.nan)).loc["T01"]
    assert cap["cpk"] == pytest.approx(0.67, abs=5e-3)
    assert cap["cpk"] == pytest.approx(64 / 96, rel=1e-12)
    assert np.isnan(cap["cp"]) and np.isnan(cap["pp"])  # Cp needs both limits


def test_capability_within_wafer_sd_is_the_anova_pooled_sd(fab_small):
    import statsmodels.formula.api as smf

    ds = fab_small[0]
    cap = summary.capability(ds)
    for test in ("T01", "T14"):
        frame = ds["value"].sel(test=test).to_dataframe().reset_index().dropna(subset=["value"])
        fit = smf.ols("value ~ C(wafer)", data=frame).fit()  # residual MSE = pooled within-wafer variance
        row = cap.loc[test]
        np.testing.assert_allclose(row["sd_within"], np.sqrt(fit.mse_resid), rtol=1e-10)
        np.testing.assert_allclose(row["sd"], frame["value"].std(ddof=1), rtol=1e-10)
        lsl, usl = float(ds.lsl.sel(test=test)), float(ds.usl.sel(test=test))
        mean = frame["value"].mean()
        if np.isfinite(lsl) and np.isfinite(usl):
            np.testing.assert_allclose(row["cp"], (usl - lsl) / (6 * np.sqrt(fit.mse_resid)), rtol=1e-10)
        assert row["sd_within"] < row["sd"]  # the synthetic lot has wafer-to-wafer shifts


def test_capability_of_the_real_file_matches_numpy(lot2):
    cap = summary.capability(lot2)
    assert cap.attrs["untestable"] == {}
    constant = cap.loc[name_of_test_number(lot2, 1300)]  # USL only, every die measured 0.0
    assert constant["sd"] == 0 and constant["ppk"] == np.inf and np.isnan(constant["pp"])
    for number in (1460, 1590, 1175):
        name = name_of_test_number(lot2, number)
        v = lot2["value"].sel(test=name).values.ravel()
        v = v[np.isfinite(v)]
        lsl, usl = float(lot2.lsl.sel(test=name)), float(lot2.usl.sel(test=name))
        s, m = np.std(v, ddof=1), np.mean(v)
        row = cap.loc[name]
        assert row["count"] == v.size and row["test_num"] == number
        np.testing.assert_allclose([row["mean"], row["sd"], row["sd_within"]], [m, s, s], rtol=1e-10)
        k = min(usl - m, m - lsl) / (3 * s)
        np.testing.assert_allclose([row["ppk"], row["cpk"]], [k, k], rtol=1e-10)
        np.testing.assert_allclose([row["pp"], row["cp"]], [(usl - lsl) / (6 * s)] * 2, rtol=1e-10)
        assert row["fails_low"] == int((v < lsl).sum()) and row["fails_high"] == int((v > usl).sum())


def test_capability_names_what_it_cannot_compute():
    ds = one_wafer([1.0, np.nan, np.nan], 0.0, 2.0)
    cap = summary.capability(ds)
    assert cap.attrs["untestable"] == {"T01": "1 measured value(s)"}
    assert np.isnan(cap.loc["T01", "cpk"])
    cap = summary.capability(one_wafer([1.0, 2.0], np.nan, np.nan))
    assert cap.attrs["untestable"] == {"T01": "no spec limits"}


# --------------------------------------------------------------------------- retests


def test_first_pass_yield_of_the_real_file(lot2):
    table = summary.first_pass_yield(lot2)
    first, final = lot2["hbin_first"].values[0], lot2["hbin"].values[0]
    touched = lot2["touchdowns"].values[0]
    tested = final != -1
    row = table.loc[str(lot2.wafer.values[0])]
    assert row["tested"] == tested.sum()
    assert row["passed_first"] == ((first == 1) & tested).sum()
    assert row["passed"] == (final == 1).sum()
    assert row["retested"] == (touched > 1).sum() == 113  # the README's 113 retested sites
    assert row["recovered"] == ((first != 1) & (final == 1)).sum()
    assert row["first_pass_yield"] < row["yield"]
    np.testing.assert_allclose(row["recovery"], row["recovered"] / (row["tested"] - row["passed_first"]),
                               rtol=1e-12)


def test_first_pass_yield_needs_first_pass_bins_when_dies_were_retested(fab):
    table = summary.first_pass_yield(fab)  # no touchdowns: nothing retested
    np.testing.assert_array_equal(table["passed_first"], table["passed"])
    retested = fab.assign(touchdowns=(("wafer", "die"), np.full((fab.sizes["wafer"], fab.sizes["die"]), 2)))
    with pytest.raises(FabDataError, match="hbin_first"):
        summary.first_pass_yield(retested)
    first = retested.assign(hbin_first=xr.where(retested["hbin"] == 1, 3, retested["hbin"]))
    table = summary.first_pass_yield(first)
    assert (table["passed_first"] == 0).all()
    np.testing.assert_array_equal(table["recovered"], table["passed"])
    np.testing.assert_allclose(table["recovery"], table["passed"] / table["tested"], rtol=1e-12)


def test_accessor_delegates_the_new_tables(lot2):
    assert lot2.fab.test(1460) == name_of_test_number(lot2, 1460)
    pd.testing.assert_frame_equal(lot2.fab.capability(), summary.capability(lot2))
    pd.testing.assert_frame_equal(lot2.fab.test_fails(), summary.test_fail_pareto(lot2))
    pd.testing.assert_frame_equal(lot2.fab.first_pass_yield(), summary.first_pass_yield(lot2))
