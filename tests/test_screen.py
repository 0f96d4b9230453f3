"""fabnb.screen against hand computations, hand-made maps with known answers, the real
STDF samples, and the simulator's known outlier dies."""

import doctest
import importlib
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fabnb
from fabnb import FabDataError, FabFitError, FabParameterError
from fabnb import screen as S


def hand_map(bins, values=None, lots=None, lsl=-10.0, usl=10.0):
    """A dataset from a stack of bin maps (wafer, row, col); -1 marks no die site."""
    bins = np.asarray(bins)
    n_w, n_r, n_c = bins.shape
    row, col = np.nonzero(bins[0] != -9)
    if values is None:
        values = np.zeros((n_w, n_r, n_c, 1))
    values = np.asarray(values, dtype=float)
    n_t = values.shape[-1]
    wafers = [f"W{i:02d}" for i in range(n_w)]
    return xr.Dataset(
        {"hbin": (("wafer", "die"), bins[:, row, col]),
         "value": (("wafer", "die", "test"), values[:, row, col, :])},
        coords={"wafer": wafers, "lot": ("wafer", lots or ["L1"] * n_w), "col": ("die", col), "row": ("die", row),
                "test": [f"T{t}" for t in range(n_t)], "lsl": ("test", np.full(n_t, lsl)),
                "usl": ("test", np.full(n_t, usl))})


@pytest.mark.parametrize("module", ["pat", "gdbn", "nnr", "zpat", "screen", "_grid", "_robust"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"fabnb.screen.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_one_sort_quantiles_equal_numpys_nanquantile():
    from fabnb.screen._robust import nan_quantiles

    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 40, 3))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[2, :, 1] = np.nan  # an empty slice
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanquantile(x, qs, axis=1)
    np.testing.assert_allclose(nan_quantiles(x, qs, axis=1), expected, rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- PAT limits

def test_static_limits_are_the_aec_formula_on_the_real_tester_file(shared_data):
    from fabnb.io.stdf import StdfWarning

    with pytest.warns(StdfWarning):  # its stale RTST_CNT etc.: tested in test_stdf
        ds = fabnb.io.read_stdf(shared_data / "stdf" / "demofile.stdf")
    with pytest.warns(UserWarning, match="zero_sigma"):  # quantised readings: their IQR is 0
        lim = S.pat_limits(ds, k=6.0, min_parts=30)
    ok = lim.index[lim["status"] == "ok"]
    assert set(lim.index[lim["status"] == "zero_sigma"]) <= set(lim.index[lim["sigma"] == 0])
    assert len(ok) >= 20
    passing = ds["hbin"].values == 1
    for test in ok[:: max(1, len(ok) // 10)]:
        v = ds["value"].sel(test=test).values
        lo, hi = float(ds["lsl"].sel(test=test)), float(ds["usl"].sel(test=test))
        keep = passing & np.isfinite(v) & ~(v < lo) & ~(v > hi)
        q1, med, q3 = np.percentile(v[keep], [25, 50, 75])  # by hand: numpy's type 7
        sigma = (q3 - q1) / 1.35
        row = lim.loc[test]
        assert row["n"] == keep.sum()
        assert row["center"] == pytest.approx(med, rel=1e-12, abs=1e-15)
        assert row["sigma"] == pytest.approx(sigma, rel=1e-12, abs=1e-15)
        assert row["pat_lsl"] == pytest.approx(np.fmax(med - 6 * sigma, lo), rel=1e-12, abs=1e-15)
        assert row["pat_usl"] == pytest.approx(np.fmin(med + 6 * sigma, hi), rel=1e-12, abs=1e-15)


def test_limits_are_clipped_to_spec_and_mean_sd_is_the_sample_formula():
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, size=(2, 10, 10, 1))
    ds = hand_map(np.ones((2, 10, 10), dtype=int), values, lsl=-3.0, usl=np.nan)
    lim = S.pat_limits(ds, k=6.0)
    assert lim.loc["T0", "pat_lsl"] == -3.0  # the spec limit is tighter than median − 6σ̃
    assert lim.loc["T0", "pat_usl"] > 3.0  # no USL: nothing to clip to
    lim_sd = S.pat_limits(ds, k=2.0, method="mean_sd")
    keep = values.ravel()[values.ravel() >= -3]
    assert lim_sd.loc["T0", "pat_usl"] == pytest.approx(keep.mean() + 2 * keep.std(ddof=1), rel=1e-12)


def test_too_few_parts_and_zero_iqr_fall_back_loudly():
    values = np.zeros((1, 6, 6, 2))
    values[..., 1] = np.random.default_rng(1).normal(size=(1, 6, 6))
    ds = hand_map(np.ones((1, 6, 6), dtype=int), values)
    with pytest.warns(UserWarning, match=r"T0 \(zero_sigma, n=36\)"):
        lim = S.pat_limits(ds, min_parts=30)
    assert lim.loc["T0", "status"] == "zero_sigma" and lim.loc["T0", "pat_lsl"] == -10.0
    with pytest.warns(UserWarning, match=r"T1 \(too_few_parts, n=36\)"):
        lim = S.pat_limits(ds, ["T1"], min_parts=40)
    assert lim.loc["T1", "pat_usl"] == 10.0
    with pytest.raises(FabFitError, match="T1"):
        S.pat_limits(ds, ["T1"], min_parts=40, errors="raise")


def test_dynamic_limits_never_exceed_static_and_follow_each_wafer():
    rng = np.random.default_rng(2)
    values = rng.normal(0, 1, size=(3, 12, 12, 1))
    values[1] = values[1] * 0.3 + 0.5  # a tighter, shifted wafer
    ds = hand_map(np.ones((3, 12, 12), dtype=int), values)
    static = S.pat_limits(ds, k=4.0)
    dyn = S.dynamic_pat_limits(ds, static)
    assert dyn.attrs["k"] == 4.0
    assert bool((dyn["dpat_lsl"] >= static["pat_lsl"].values).all())
    assert bool((dyn["dpat_usl"] <= static["pat_usl"].values).all())
    w1 = values[1].ravel()
    w1 = w1[(w1 >= static.loc["T0", "pat_lsl"]) & (w1 <= static.loc["T0", "pat_usl"])]
    q1, med, q3 = np.percentile(w1, [25, 50, 75])
    assert float(dyn["dpat_usl"][1, 0]) == pytest.approx(med + 4 * (q3 - q1) / 1.35, rel=1e-12)
    by_lot = S.dynamic_pat_limits(ds, static, by="lot")
    assert np.ptp(by_lot["dpat_usl"].values) == 0  # one lot: one set of limits on every wafer


def test_saved_limits_reapply_to_a_new_lot(tmp_path):
    ref = fabnb.synth.fab("small", seed=0)
    new = fabnb.synth.fab("small", seed=3)
    lim = S.pat_limits(ref, ["T01", "T05", "T09"])
    S.save_limits(lim, tmp_path / "pat.json")
    back = S.load_limits(tmp_path / "pat.json")
    assert back.attrs["reference"]["wafers"] == [str(w) for w in ref["wafer"].values]
    pd.testing.assert_frame_equal(back[["pat_lsl", "pat_usl"]], lim[["pat_lsl", "pat_usl"]])
    np.testing.assert_array_equal(S.pat_flags(new, back).values, S.pat_flags(new, lim).values)
    (tmp_path / "bad.json").write_text("{\"limits\": []}")
    with pytest.raises(FabDataError, match="not a fabnb PAT-limits file"):
        S.load_limits(tmp_path / "bad.json")


# --------------------------------------------------------------------------- spatial rules

def test_gdbn_counts_failing_neighbours_on_a_hand_made_map():
    b = np.ones((1, 5, 5), dtype=int)
    b[0, 0:3, 0:3] = 2  # a 3x3 fail block in the corner
    b[0, 1, 1] = 1  # with a good die at its centre: 8 bad neighbours
    ds = hand_map(b)
    score = S.bad_neighbours(ds).values.reshape(5, 5)
    assert score[1, 1] == 8 and score[3, 3] == 1 and score[0, 3] == 2 and score[4, 4] == 0
    flags = S.gdbn(ds, min_bad=5).values.reshape(5, 5)
    assert flags.sum() == 1 and flags[1, 1]
    # two rings, outer ring at half weight: die (3, 3) sees (2, 2), then (1, 2) and (2, 1): 1 + 0.5*2
    two = S.bad_neighbours(ds, rings=2, weights=(1.0, 0.5)).values.reshape(5, 5)
    assert two[3, 3] == pytest.approx(2.0, rel=1e-12)
    with pytest.raises(FabParameterError, match="weights"):
        S.bad_neighbours(ds, rings=2, weights=(1.0,))


def test_gdbn_cluster_needs_a_big_enough_cluster():
    b = np.ones((2, 6, 6), dtype=int)
    b[0, 0, 0:4] = 3  # a 4-die line
    b[1, 5, 5] = 3  # a lone fail
    ds = hand_map(b)
    flags = S.gdbn_cluster(ds, min_cluster=4).values.reshape(2, 6, 6)
    assert flags[0, 1, 0:5].all() and flags[0, 0, 4] and flags[0].sum() == 6
    assert not flags[1].any()


def test_zpat_flags_a_location_on_every_wafer_of_the_lot():
    b = np.ones((6, 4, 4), dtype=int)
    b[:4, 2, 2] = 4  # fails on 4 of the lot's 5 wafers
    lots = ["A"] * 5 + ["B"]
    b[5, 2, 2] = 1
    ds = hand_map(b, lots=lots)
    with pytest.warns(UserWarning, match=r"fewer than 5 tested wafers.*\['B'\]"):
        res = S.zpat(ds, threshold=0.5)
    rate = res["location_fail_rate"].values.reshape(6, 4, 4)
    assert rate[0, 2, 2] == pytest.approx(0.8, rel=1e-12) and np.isnan(rate[5, 2, 2])
    flags = res["zpat"].values.reshape(6, 4, 4)
    assert flags[4, 2, 2] and flags.sum() == 1  # only the wafer where it passed


def test_nnr_finds_a_die_off_a_sloped_surface():
    r, c = np.mgrid[0:9, 0:9]
    noise = 0.001 * np.random.default_rng(3).normal(size=(9, 9))
    values = (0.002 * r + 0.001 * c + noise)[None, :, :, None].copy()  # slope of a few noise sigmas per die
    values[0, 4, 4, 0] += 0.05
    ds = hand_map(np.ones((1, 9, 9), dtype=int), values)
    res = S.nnr(ds, k=6.0)
    fail = res["nnr_fail"].values[0, :, 0].reshape(9, 9)
    assert fail[4, 4] and fail.sum() == 1
    nb = np.delete(values[0, 3:6, 3:6, 0].ravel(), 4)
    resid = res["residual"].values[0, :, 0].reshape(9, 9)
    assert resid[4, 4] == pytest.approx(values[0, 4, 4, 0] - np.median(nb), rel=1e-12)
    assert res.attrs["unscreened"] == 0
    sparse = S.nnr(ds, min_neighbours=4)  # the four corners have 3 neighbours
    assert sparse.attrs["unscreened"] == 4 and np.isnan(sparse["residual"].values[0, 0, 0])


@pytest.mark.parametrize("rings", [1, 2])
def test_neighbour_median_kernel_equals_numpys_nanmedian(rings):
    """The kernel (sorting network for 8 neighbours, insertion sort otherwise) against
    np.nanmedian over the gathered neighbourhoods, with gaps, edges and ties."""
    from fabnb.screen import _grid, _kernels

    rng = np.random.default_rng(11)
    r, c = np.nonzero(np.hypot(*np.mgrid[-6:7, -6:7]) <= 6.2)  # a round map: edge dies
    v = rng.normal(size=(3, r.size, 4))
    v[..., 3] = rng.integers(0, 3, size=(3, r.size))  # many ties
    v[rng.random(v.shape) < 0.1] = np.nan
    table, _ = _grid.neighbour_table(c, r, rings=rings)
    nb = _grid.gather(v.transpose(0, 2, 1), table, np.nan)  # (wafer, test, die, offset)
    count = np.isfinite(nb).sum(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = v - np.where(count >= 3, np.nanmedian(nb, axis=-1), np.nan).transpose(0, 2, 1)
    got = _kernels.neighbour_residual(v, table, 3)
    assert ((count > 2) & (count != 8)).sum() > 50  # insertion sort runs
    assert rings > 1 or (count == 8).sum() > 50  # and, with one ring, the sorting network
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_screen_flags_are_the_rule_functions_flags(fab1):
    """screen() takes the value cube once and shares the rules' code: same flags as the
    public functions one by one."""
    ds, _ = fab1
    res = S.screen(ds, rules=ALL_RULES, min_bad=3)
    passing = (ds["hbin"] == 1).values
    lim = S.pat_limits(ds)
    dyn = S.dynamic_pat_limits(ds, lim)
    np.testing.assert_array_equal(res["static_pat_fail"].values, S.pat_flags(ds, lim).values & passing[..., None])
    np.testing.assert_array_equal(res["dynamic_pat_fail"].values,
                                  S.dynamic_pat_flags(ds, dyn).values & passing[..., None])
    np.testing.assert_array_equal(res["nnr_fail"].values, S.nnr(ds)["nnr_fail"].values)
    np.testing.assert_array_equal(res["gdbn"].values, S.gdbn(ds, min_bad=3).values)
    np.testing.assert_array_equal(res["gdbn_cluster"].values, S.gdbn_cluster(ds).values)
    np.testing.assert_array_equal(res["zpat"].values, S.zpat(ds)["zpat"].values)
    np.testing.assert_allclose(res["dpat_usl"].values, dyn["dpat_usl"].values, rtol=1e-12)


def test_spatial_rules_need_die_indices():
    ds = hand_map(np.ones((1, 3, 3), dtype=int)).drop_vars(["col", "row"])
    for rule in (S.gdbn, S.nnr):
        with pytest.raises(FabDataError, match="die coordinates"):
            rule(ds)


# --------------------------------------------------------------------------- one screen

@pytest.fixture(scope="module")
def fab1():
    ds = fabnb.synth.fab("small", seed=1)
    return ds, fabnb.synth.truth(ds)


def test_screen_catches_the_simulators_outlier_dies(fab1):
    # Truth: a known 0.1 % of values jump by 6-14 scale units; some still pass spec.
    ds, truth = fab1
    res = S.screen(ds)
    passing = ds["hbin"].values == 1
    outlier = truth["outlier"].transpose("wafer", "die", "test").values.any(-1) & passing
    assert outlier.sum() >= 30
    rates = {r: (res[r].values[outlier].mean(), res[r].values[passing & ~outlier].mean())
             for r in ("static_pat", "dynamic_pat", "nnr")}
    # measured on this fab: static 0.82, dynamic 0.91, NNR 1.00 detection; false scrap
    # 0, 0, 0.0005 of the clean passing dies
    assert rates["static_pat"][0] >= 0.75 and rates["static_pat"][1] <= 1e-4
    assert rates["dynamic_pat"][0] >= 0.85 and rates["dynamic_pat"][1] <= 1e-4
    assert rates["nnr"][0] >= 0.95 and rates["nnr"][1] <= 2e-3


def test_screen_keeps_tester_bins_and_counts_loss(fab1):
    ds, _ = fab1
    res = S.screen(ds, rules=("gdbn", "static_pat"))
    hbin = ds["hbin"].values
    changed = res["pat_bin"].values != hbin
    assert (hbin[changed] == 1).all()  # only passing dies are screened out
    both = res["gdbn"].values & res["static_pat"].values
    assert (res["pat_bin"].values[res["gdbn"].values] == S.PAT_BINS["gdbn"]).all()  # first rule wins
    assert (res["first_rule"].values[both] == "gdbn").all()
    loss = S.yield_loss(res)
    assert loss.loc["any", "dies"] == changed.sum()
    assert loss.loc["any", "yield_loss"] == pytest.approx(changed.sum() / (hbin == 1).sum())
    per_wafer = S.yield_loss(res, by="wafer")
    assert per_wafer["any"].sum() == changed.sum()
    assert S.yield_loss(res, by="test")["static_pat"].sum() == res["static_pat_fail"].sum()


ALL_RULES = ("static_pat", "dynamic_pat", "nnr", "gdbn", "gdbn_cluster", "zpat")


def detection_and_false_scrap(ds, truth, res):
    """Per rule (and "any"): share of the latent dies flagged, share of the clean passing
    dies (no latent defect, no outlier value) flagged."""
    latent = truth["latent"].values
    clean = (ds["hbin"].values == 1) & ~latent & ~truth["outlier"].values.any(-1)
    flags = {r: res[r].values for r in res.attrs["rules"]}
    flags["any"] = np.any(list(flags.values()), axis=0)
    return {r: (f[latent].mean(), f[clean].mean()) for r, f in flags.items()}


def test_each_rule_on_the_simulators_latent_dies():
    """Dies that pass every spec but carry a latent defect (a 3-8 noise-sigma shift in a
    few tests of one group; more likely next to kills and at weak sites of the lot):
    detection and false-scrap rate of each rule, held to what was measured on this fab
    (seed 1, latent_rate 0.02: 119 latent among 4,020 passing dies)."""
    ds = fabnb.synth.fab("small", seed=1, latent_rate=0.02)
    truth = fabnb.synth.truth(ds)
    assert truth["latent"].sum() >= 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small lots: Z-PAT and PAT notices
        res = S.screen(ds, rules=ALL_RULES)
    rates = detection_and_false_scrap(ds, truth, res)
    # measured (detection, false scrap): static PAT 0.008, 0; dynamic PAT 0.008, 0;
    # NNR 0.361, 0.0005; GDBN 0.017, 0.0023; GDBN cluster 0.101, 0.038; Z-PAT 0.118, 0.035;
    # any rule 0.504, 0.071.  A shift of a few noise sigmas hides inside limits made from
    # the lot's whole spread (PAT) but not from the die's neighbours (NNR).
    expected = {"static_pat": (0.0, 0.02, 0.0, 1e-4), "dynamic_pat": (0.0, 0.02, 0.0, 1e-4),
                "nnr": (0.30, 0.45, 0.0, 2e-3), "gdbn": (0.008, 0.05, 0.0005, 0.005),
                "gdbn_cluster": (0.07, 0.15, 0.025, 0.05), "zpat": (0.08, 0.16, 0.025, 0.05),
                "any": (0.44, 0.57, 0.055, 0.09)}
    for rule, (det_lo, det_hi, fs_lo, fs_hi) in expected.items():
        det, fs = rates[rule]
        assert det_lo <= det <= det_hi and fs_lo <= fs <= fs_hi, (rule, det, fs)
    for rule in ("nnr", "gdbn", "gdbn_cluster", "zpat"):  # the spatial rules find latent dies above chance
        assert rates[rule][0] > 2.5 * rates[rule][1], rule


@pytest.mark.parametrize("call, match", [
    (lambda ds: S.screen(ds, rules=("pat",)), "'rules' parameter of screen"),
    (lambda ds: S.pat_limits(ds, k=-1), "'k' parameter of pat_limits"),
    (lambda ds: S.gdbn(ds, min_bad=0), "'min_bad' parameter of gdbn"),
    (lambda ds: S.zpat(ds, threshold=1.5), "'threshold' parameter of zpat"),
    (lambda ds: S.dynamic_pat_limits(ds, S.pat_limits(ds), by="die"), "'by' parameter"),
])
def test_bad_parameters(call, match):
    ds = hand_map(np.ones((1, 4, 4), dtype=int), np.random.default_rng(0).normal(size=(1, 4, 4, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FabParameterError, match=match):
            call(ds)


def test_infinite_values_are_refused_by_name():
    values = np.zeros((1, 4, 4, 1))
    values[0, 1, 2, 0] = np.inf
    ds = hand_map(np.ones((1, 4, 4), dtype=int), values)
    with pytest.raises(FabDataError, match=r"wafer 'W00', die 6, test 'T0'"):
        S.pat_limits(ds)


# --------------------------------------------------------------------------- pictures

def test_pictures_show_what_the_screen_found(fab1):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.colors import to_hex

    from fabnb.plot.screen import RULE_COLORS, pat_histogram, screen_map, screen_pareto

    ds, _ = fab1
    res = S.screen(ds)
    wafer = str(ds["wafer"].values[0])
    ax = screen_map(ds, res, wafer)
    colours = [to_hex(c) for c in ax.collections[0].get_facecolors()]
    first = res["first_rule"].sel(wafer=wafer).values
    for rule in res.attrs["rules"]:
        assert colours.count(RULE_COLORS[rule]) == (first == rule).sum(), rule
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"static PAT ({(first == 'static_pat').sum()})" in legend
    ax = pat_histogram(ds, res, "T03")
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert any(lab.startswith("PAT L") for lab in labels) and any(lab.startswith("USL") for lab in labels)
    ax = screen_pareto(res)
    loss = S.yield_loss(res).drop(index="any")
    assert sorted(p.get_height() for p in ax.patches) == sorted(loss["dies"].tolist())
