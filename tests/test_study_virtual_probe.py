"""The resumable virtual-probe study runner (benchmarks/study_virtual_probe.py) on the small fab.

The reference for every ε is a direct ``virtual_probe`` + ``spec_range_error`` call on the
same lots, outside the runner.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fabnb
from benchmarks import study_virtual_probe as study
from fabnb.errors import FabDataError
from fabnb.spatial import METHODS, delta_mre, spec_range_error, virtual_probe

LOTS = ["L0001", "L0002"]
TESTS = ["T01", "T02"]


def _argv(results_dir, *extra):
    return ["--preset", "small", "--tests", ",".join(TESTS), "--results-dir", str(results_dir),
            "--no-progress", *extra]


@pytest.fixture(scope="module")
def reference():
    """ε (wafer, test) per method from one direct call on the first two lots."""
    ds = fabnb.synth.fab("small", seed=0)
    two = ds.isel(wafer=np.isin(np.asarray(ds["lot"].values, dtype=str), LOTS))
    eps = {}
    for method in METHODS:
        out = virtual_probe(two, TESTS, method=method, seed=0, progress=False)
        eps[method] = spec_range_error(two["value"].sel(test=TESTS), out["value_pred"], out["sampled"])
    return eps


@pytest.fixture(scope="module")
def whole_run(tmp_path_factory):
    """One run over both lots and every method."""
    results_dir = tmp_path_factory.mktemp("whole")
    study.main(_argv(results_dir, "--lots", "2"))
    return results_dir


def _as_array(table, method):
    rows = table[table["method"] == method].set_index(["wafer", "test"])["eps"]
    return xr.DataArray.from_series(rows)


def test_whole_run_writes_one_file_per_lot_and_method(whole_run, reference):
    for method in METHODS:
        for lot in LOTS:
            frame = study.read_result(study.result_path(whole_run, method, lot))
            assert set(frame["lot"]) == {lot} and set(frame["method"]) == {method}
            assert sorted(set(frame["test"])) == TESTS
            assert frame["wafer"].str.startswith(lot).all()
            assert len(frame) == len(TESTS) * (reference[method]["wafer"].str.startswith(lot)).sum()
    assert not list(whole_run.rglob("*.tmp"))
    assert (whole_run / study.FIGURE).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_second_run_skips_done_lots(whole_run, capsys):
    files = sorted(whole_run.glob("*/*.csv"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    capsys.readouterr()
    study.main(_argv(whole_run, "--lots", "2"))
    printed = capsys.readouterr().out
    for method in METHODS:
        assert f"{method:9s} 2 lot(s) done, 0 left" in printed
    assert "unit(s) in" not in printed  # nothing computed
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_split_by_lot_equals_single_run_and_direct_call(whole_run, reference, tmp_path):
    split_dir = tmp_path / "split"
    study.main(_argv(split_dir, "--lot-range", "0:1"))
    study.main(_argv(split_dir, "--lot-range", "1:2", "--out", str(tmp_path / "all.csv")))
    split, whole = study.load_results(split_dir), study.load_results(whole_run)
    key = ["method", "wafer", "test"]
    pd.testing.assert_series_equal(split.set_index(key)["eps"].sort_index(), whole.set_index(key)["eps"].sort_index())
    for method in METHODS:
        ours = _as_array(split, method)
        direct = reference[method].reset_coords(drop=True).transpose("wafer", "test")
        xr.testing.assert_allclose(ours.sortby("wafer"), direct.sortby("wafer"), rtol=1e-13, atol=0)
    combined = pd.read_csv(tmp_path / "all.csv")  # --out holds that run's lots
    assert set(combined["lot"]) == {"L0002"} and len(combined) == (split["lot"] == "L0002").sum()


@pytest.mark.parametrize(("extra", "option"), [(["--budget", "0.05"], "budget"), (["--seed", "1"], "seed"),
                                               (["--wafer-offsets"], "wafer_offsets")])
def test_mixing_options_is_refused(whole_run, extra, option):
    files = sorted(whole_run.glob("*/*.csv"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    with pytest.raises(FabDataError, match=rf"\.csv was computed with other options: {option}="):
        study.main(_argv(whole_run, "--lots", "2", *extra))
    assert [f.stat().st_mtime_ns for f in files] == mtimes


def test_changed_code_is_refused_unless_accepted(tmp_path):
    frame = pd.DataFrame([{c: v for c, v in zip(study.COLUMNS, ["gp", "L0001", "L0001-01", "T01", 0.1, "", 1.0,
                                                                 "small", 0, 0.1, 0.025, False, "0" * 12])}])
    study.write_atomic(frame, study.result_path(tmp_path, "gp", "L0001"))
    with pytest.raises(FabDataError, match=r"L0001\.csv was computed with other options: code='000000000000'"):
        study.main(_argv(tmp_path, "--lots", "1", "--methods", "gp"))


def test_summary_matches_direct_delta_mre_and_means(whole_run, reference):
    figures = study.print_summary(whole_run)
    assert figures["n_common"] == reference["gp"].size
    for method in METHODS:
        direct = 100 * delta_mre(reference[method], reference["gp"], dim="test")
        assert figures["overall"].loc[method, "δ-MRE vs GP (%)"] == pytest.approx(direct, rel=1e-12, abs=1e-12)
        assert figures["overall"].loc[method, "mean ε (%)"] == pytest.approx(100 * float(reference[method].mean()),
                                                                             rel=1e-12)
        per_test = 100 * reference[method].mean("wafer").to_series()
        np.testing.assert_allclose(figures["per_test"][method].loc[TESTS], per_test.loc[TESTS], rtol=1e-12)
    means = [100 * float(reference[m].mean()) for m in METHODS]
    assert figures["ordering"] == bool(np.all(np.diff(means) < 0))


def test_two_workers_and_completing_a_partial_file(reference, tmp_path):
    """--workers 2 on T01, then one worker adds T02 to the same files: both equal the direct call."""
    methods = ["gp", "gp-st"]
    study.main(["--preset", "small", "--tests", "T01", "--lots", "2", "--methods", ",".join(methods),
                "--results-dir", str(tmp_path), "--workers", "2", "--no-progress"])
    first = study.load_results(tmp_path)
    study.main(_argv(tmp_path, "--lots", "2", "--methods", ",".join(methods)))
    table = study.load_results(tmp_path)
    kept = table.merge(first, on=["method", "wafer", "test"], suffixes=("", "_first"))
    assert len(kept) == len(first)
    np.testing.assert_array_equal(kept["eps"], kept["eps_first"])
    np.testing.assert_array_equal(kept["seconds_per_test"], kept["seconds_per_test_first"])  # not recomputed
    for method in methods:
        ours = _as_array(table, method).sortby("wafer")
        direct = reference[method].reset_coords(drop=True).transpose("wafer", "test").sortby("wafer")
        xr.testing.assert_allclose(ours, direct, rtol=1e-13, atol=0)


def test_lot_selection():
    lots = ["L1", "L2", "L3", "L4"]
    assert study.select_lots(lots, n_lots=2) == ["L1", "L2"]
    assert study.select_lots(lots, lot_range="2:") == ["L3", "L4"]
    with pytest.raises(FabDataError, match="not both"):
        study.select_lots(lots, n_lots=2, lot_range="0:1")
    with pytest.raises(FabDataError, match="no lot selected"):
        study.select_lots(lots, lot_range="9:10")


def test_floor_is_the_true_fields_error_and_below_every_method(whole_run, reference):
    """The reference row: ε of the simulator's noise-free field on every measured die."""
    ds = fabnb.synth.fab("small", seed=0)
    two = ds.isel(wafer=np.isin(np.asarray(ds["lot"].values, dtype=str), LOTS))
    direct = spec_range_error(two["value"].sel(test=TESTS), fabnb.synth.truth(two)["field"].sel(test=TESTS))
    ours = _as_array(study.load_results(whole_run), study.FLOOR).sortby("wafer")
    xr.testing.assert_allclose(ours, direct.reset_coords(drop=True).transpose("wafer", "test").sortby("wafer"),
                               rtol=1e-6, atol=0)  # the field is float32 in the simulator
    overall = study.print_summary(whole_run)["overall"]
    removed = overall["removed of GP's excess over the floor (%)"]
    assert removed["gp"] == 0 and removed[study.FLOOR] == pytest.approx(100)
    # die noise is independent of what a method sees: none beats the true field
    assert (overall.loc[list(METHODS), "mean ε (%)"] > overall.loc[study.FLOOR, "mean ε (%)"]).all()

