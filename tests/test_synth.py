"""fabnb.synth: the synthetic fab against its own ground truth and the contract."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import xarray as xr

import fabnb
from fabnb import FabDataError, FabParameterError
from fabnb.schema import validate
from fabnb.synth import fab, tables, truth
from fabnb.synth._build import build
from fabnb.synth._truth import truth_dict


@pytest.fixture(scope="module")
def small():
    return fab("small", seed=0)


@pytest.fixture(scope="module")
def default():
    return fab("default", seed=0)


def test_default_is_a_valid_contract_dataset_of_the_documented_size(default):
    validate(default)
    assert 5000 <= default.sizes["die"] <= 6000
    assert default.sizes["test"] == 39 and default.sizes["etest"] == 8
    assert default.sizes["step"] == 40 and default.sizes["vmin_test"] == 9
    assert 20 * 8 <= default.sizes["wafer"] <= 30 * 12
    assert default["value"].dtype == np.float64
    span = default["time"].max() - default["time"].min()
    assert pd.Timedelta(days=150) < pd.Timedelta(span.values) < pd.Timedelta(days=190)
    lot_sizes = default["lot"].to_series().value_counts()
    assert lot_sizes.between(8, 12).all()
    # yields in the realistic band
    y = (default["hbin"] == 1).mean("die")
    assert 0.8 < float(y.median()) < 0.95


def test_small_is_valid_and_has_the_same_structure(small):
    validate(small)
    assert small.sizes["wafer"] == 18 and small.sizes["die"] < 1000
    assert list(small["test"].values) == [f"T{k:02d}" for k in range(1, 40)]
    assert small["wafer"].values[0] == "L0001-" + f"{small['slot'].values[0]:02d}"
    assert set(small["slot"].values) <= set(range(1, 26))
    assert sorted(small["seq"].values) == list(range(small.sizes["wafer"]))
    by_seq = small["time"].values[np.argsort(small["seq"].values)]
    assert np.all(np.diff(by_seq) >= np.timedelta64(0))
    tools = small["tool"].to_pandas()
    assert tools.loc[:, "S22"].str.fullmatch(r"S22-C[1-4]").all()
    chambers = tools.apply(lambda c: c.nunique())
    assert (chambers <= 6).all()
    assert set(small["route"].values) <= {"R1", "R2", "R3"}
    # one-sided limits exist and at least one limit per test
    assert small["lsl"].isnull().any() and small["usl"].isnull().any()
    assert (small["lsl"].notnull() | small["usl"].notnull()).all()


def test_same_seed_reproduces_exactly_and_other_seeds_differ():
    a = fab("small", seed=4)
    b = build.__wrapped__(a.attrs["synth"]).ds  # a genuine rebuild, not a cache hit
    xr.testing.assert_identical(a, b)
    c = fab("small", seed=5)
    assert not np.allclose(a["value"].values, c["value"].values)


def test_fab_returns_a_writable_copy(small):
    ds = fab("small", seed=0)
    ds["value"][0, 0, 0] = -1e9
    assert fab("small", seed=0)["value"].values[0, 0, 0] != -1e9


def test_overrides_change_the_build_and_unknown_ones_are_named():
    ds = fab("small", n_lots=2, wafers_per_lot=(3, 4), die_width_mm=8.0, die_height_mm=8.0)
    assert ds["lot"].to_series().nunique() == 2
    assert ds["lot"].to_series().value_counts().between(3, 4).all()
    assert ds.attrs["die_width_mm"] == 8.0
    with pytest.raises(FabDataError, match="n_wafers"):
        fab("small", n_wafers=3)
    with pytest.raises(FabDataError, match="wafers_per_lot"):
        fab("small", wafers_per_lot=(5, 2))
    with pytest.raises(FabDataError, match="preset"):
        fab("huge")


def test_truth_field_equals_value_up_to_die_noise(small):
    t = truth(small)
    resid = (small["value"] - t["field"]).where(~t["outlier"])
    n = int(resid.notnull().sum("wafer").sum("die").min())
    ratio = resid.std(("wafer", "die")) / t["noise_sd"]
    assert np.all(np.abs(ratio - 1) < 5 / np.sqrt(2 * n))  # sd of a sample sd
    for test in small["test"].values[::5]:
        r = resid.sel(test=test).values.ravel()
        f = t["field"].sel(test=test).values.ravel()
        ok = np.isfinite(r)
        assert abs(np.corrcoef(r[ok], f[ok])[0, 1]) < 5 / np.sqrt(ok.sum())
    # outliers are rare and far from the field
    share = float(t["outlier"].mean())
    assert 0 < share < 0.003
    spread = small["value"].std(("wafer", "die"))
    jump = np.abs(small["value"] - t["field"]).where(t["outlier"]) / spread
    assert float(jump.min()) > 1.0


def test_within_lot_gradient_grows_with_wafer_order_as_truth_says():
    ds = fab("small", seed=0, n_lots=6)
    t = truth(ds)
    trend = t["lot_trend"]
    radius = ds.attrs["wafer_diameter_mm"] / 2 - ds.attrs["edge_exclusion_mm"]
    design = np.c_[np.ones(ds.sizes["die"]), ds["x"].values / radius, ds["y"].values / radius]
    clean = ds["value"].where(~t["outlier"]).fillna(t["field"]).values  # drop outliers
    coef = np.linalg.lstsq(design, clean.transpose(1, 0, 2).reshape(ds.sizes["die"], -1),
                           rcond=None)[0].reshape(3, ds.sizes["wafer"], ds.sizes["test"])
    estimated, true = [], []
    for lot in np.unique(ds["lot"].values):
        w = ds["lot"].values == lot
        tau = trend["tau"].values[w]
        for k, test in enumerate(ds["test"].values):
            angle = float(trend["angle"].sel(lot=lot, test=test))
            along = coef[1, w, k] * np.cos(angle) + coef[2, w, k] * np.sin(angle)
            estimated.append(np.polyfit(tau, along, 1)[0])
            true.append(float(trend["amplitude"].sel(lot=lot, test=test)))
    ratio = np.array(estimated) / np.array(true)
    assert 0.9 < np.median(ratio) < 1.1
    lo, hi = np.percentile(ratio, [5, 95])
    assert 0.4 < lo and hi < 1.6


def test_bins_agree_with_spec_limits_and_defects(small):
    t = truth(small)
    v = small["value"].values
    lsl, usl = small["lsl"].values, small["usl"].values
    outside = (v < lsl) | (v > usl)  # NaN limits never fail
    hbin, sbin = small["hbin"].values, small["sbin"].values
    assert not np.any((hbin == 1) & outside.any(axis=2))
    killed = t["defect"].values | t["killer_defect"].values
    assert not np.any((hbin == 1) & killed)
    assert np.all((hbin == 1) == (~outside.any(axis=2) & ~killed))
    # a parametric fail takes the soft bin of the first failing test's group
    groups = t["bins"].set_index("name")["sbin"]
    from fabnb.synth._catalog import TESTS

    parametric = outside.any(axis=2) & ~killed
    first = outside.argmax(axis=2)
    expected = np.array([groups[TESTS[name].group] for name in small["test"].values])[first]
    assert np.array_equal(sbin[parametric], expected[parametric])
    hard_of_soft = t["bins"].set_index("sbin")["hbin"]
    assert np.array_equal(hbin.ravel(), hard_of_soft.reindex(sbin.ravel()).to_numpy())


def test_zones_are_balanced(small, default):
    for ds in (small, default):
        counts = ds["zone"].to_series().value_counts()
        assert set(counts.index) == {"center", "inner", "outer", "edge"}
        assert counts.max() - counts.min() <= 1


def test_vmin_regression_recovers_weights_and_intra_biases(small):
    t = truth(small)
    feats = t["vmin_features"]
    assert small["vmin"].notnull().mean() > 0.05
    X = small["value"].sel(test=feats).to_dataset("test")
    for vt in ("dc_25", "ac_m45", "mbist_125"):
        frame = X.assign(vmin=small["vmin"].sel(vmin_test=vt)).drop_vars(
            [c for c in X.coords if c not in ("wafer", "zone")])
        frame = frame.to_dataframe().dropna().reset_index()
        fit = smf.ols("vmin ~ " + " + ".join(feats) + " + C(wafer) + C(zone)", frame).fit()
        w_true = t["vmin_weights"].sel(vmin_test=vt)
        for f in feats:
            assert abs(fit.params[f] - float(w_true.sel(feature=f))) < 4 * fit.bse[f]
        intra = t["intra_bias"].sel(vmin_test=vt)
        for z in ("edge", "inner", "outer"):
            name = f"C(zone)[T.{z}]"
            true_diff = float(intra.sel(zone=z) - intra.sel(zone="center"))
            assert abs(fit.params[name] - true_diff) < 4 * fit.bse[name]
        assert abs(np.sqrt(fit.scale) - float(t["vmin_noise_sd"].sel(vmin_test=vt))) < 0.0015
        # wafer effects track the true inter-wafer bias
        waf = fit.params.filter(like="C(wafer)")
        est = pd.Series(waf.values, index=[n.split("T.")[1][:-1] for n in waf.index])
        true = t["inter_bias"].sel(vmin_test=vt).to_series()
        true = true[est.index] - true.iloc[0]
        assert np.corrcoef(est, true)[0, 1] > 0.9
    v = small["vmin"].values
    assert 0.45 < np.nanmin(v) and np.nanmax(v) < 1.0


def _stratified_att(y, flag, strata):
    """Effect on the flagged wafers, comparing within strata; with its standard error."""
    est, var, n = 0.0, 0.0, flag.sum()
    for idx in y.groupby(strata).groups.values():
        f, g = flag[idx], y[idx]
        if f.sum() < 2 or (~f).sum() < 2:
            continue
        share = f.sum() / n
        est += share * (g[f].mean() - g[~f].mean())
        var += share**2 * (g[f].var() / f.sum() + g[~f].var() / (~f).sum())
    return est, np.sqrt(var)


def test_killer_effect_is_confounded_by_route_and_recovered_by_adjustment(default):
    t = truth(default)
    y = (default["hbin"] == 1).mean("die").to_series()
    tools = default["tool"].to_pandas()
    killer = tools[t["killer"]["step"]] == t["killer"]["tool"]
    co = tools[t["co_routed"]["step"]] == t["co_routed"]["tool"]
    route = default["route"].to_series()
    assert t["co_routed"]["effect"] == 0.0 and co[killer].mean() > 0.7
    # the truth is the counterfactual the simulator ran
    assert t["killer"]["effect"] == pytest.approx(
        float((t["yield"] - t["yield_without_killer"])[killer.values].mean()))
    assert t["killer"]["effect"] < -0.02
    naive_co = y[co].mean() - y[~co].mean()
    se_co = np.sqrt(y[co].var() / co.sum() + y[~co].var() / (~co).sum())
    assert naive_co < -4 * se_co
    naive_killer = y[killer].mean() - y[~killer].mean()
    adjusted, se = _stratified_att(y, killer, route)
    assert abs(adjusted - t["killer"]["effect"]) < 3 * se
    assert abs(naive_killer - t["killer"]["effect"]) > abs(adjusted - t["killer"]["effect"])


def test_trace_timestamps_corrected_by_the_true_clock_line_up_with_mes(small):
    t, tab = truth(small), tables(small)
    mes, trace = tab["mes"], tab["trace"]
    assert len(mes) == small.sizes["wafer"] * small.sizes["step"]
    assert (mes["end_time"] > mes["start_time"]).all()
    first_step = mes[mes["step"] == "S01"].set_index("wafer")["start_time"]
    assert (first_step.reindex(small["wafer"].values).values == small["time"].values).all()
    assert set(trace["quality"].unique()) == {"good", "bad"}
    epoch = t["clock_epoch"]
    tools = trace["tool_id"].astype(str)
    off = t["clock_offset"].reindex(tools).to_numpy()
    ppm = t["clock_drift_ppm"].reindex(tools).to_numpy()
    tool_s = (trace["timestamp"] - epoch).dt.total_seconds().to_numpy()
    mes_s = (tool_s - off) / (1 + ppm * 1e-6)

    def inside(seconds):
        t_row = epoch + pd.to_timedelta(seconds, unit="s") + pd.Timedelta("1us")  # rounding
        rows = pd.DataFrame({"tool_id": tools.to_numpy(), "t": t_row}).sort_values("t")
        runs = mes.assign(tool_id=mes["tool_id"].astype(str)).sort_values("start_time")
        m = pd.merge_asof(rows, runs, left_on="t", right_on="start_time", by="tool_id")
        return (m["end_time"] >= m["t"] - pd.Timedelta("2us")).fillna(False)

    assert inside(mes_s).all()
    assert inside(tool_s).mean() < 0.99  # the raw tool clock does not line up


def test_tool_states_explain_every_trace_gap_but_the_data_loss(small):
    t, tab = truth(small), tables(small)
    trace, state = tab["trace"], tab["tool_state"]
    unexplained = []
    for tool_id, rows in trace.groupby("tool_id", observed=True):
        ts = np.unique(rows["timestamp"].to_numpy())
        gap = np.flatnonzero(np.diff(ts) > np.timedelta64(1500, "ms"))
        st = state[state["tool_id"] == tool_id]
        idle = st[st["state"] != "PRODUCTIVE"]
        for g in gap:
            a, b = ts[g], ts[g + 1]
            covered = ((idle["start_time"] < b) & (idle["end_time"] > a)).any()
            if not covered:
                unexplained.append((tool_id, a, b))
    loss = t["trace_data_loss"]
    assert len(unexplained) == len(loss) >= 2
    got = sorted((str(k), a + np.timedelta64(1, "s")) for k, a, _ in unexplained)
    want = sorted(zip(loss["tool_id"], loss["start"].to_numpy()))
    for (k1, a1), (k2, a2) in zip(got, want):
        assert k1 == k2 and abs(a1 - a2) < np.timedelta64(1, "ms")
    assert set(state["state"]) <= {"PRODUCTIVE", "IDLE", "MAINTENANCE"}


def test_truth_survives_a_netcdf_round_trip(small, tmp_path):
    path = tmp_path / "fab.nc"
    small.to_netcdf(path, engine="h5netcdf")
    with xr.open_dataset(path, engine="h5netcdf") as back:
        back = back.load()
    assert back.attrs["synth"] == small.attrs["synth"]
    t0, t1 = truth(small), truth(back)
    xr.testing.assert_equal(t0["field"], t1["field"])
    rebuilt = truth_dict(build.__wrapped__(back.attrs["synth"]))
    np.testing.assert_array_equal(rebuilt["field"].values, t1["field"].values)
    assert t1["killer"] == t0["killer"]
    pd.testing.assert_series_equal(t0["clock_offset"], t1["clock_offset"])


def test_truth_follows_a_subset_and_rejects_foreign_data(small):
    sub = small.isel(wafer=[2, 5], die=slice(10, 40))
    t = truth(sub)
    assert t["field"].sizes == {"wafer": 2, "die": 30, "test": 39}
    np.testing.assert_array_equal(t["field"]["x"].values, sub["x"].values)
    resid = (sub["value"] - t["field"]).where(~t["outlier"])
    assert float(np.abs(resid / t["noise_sd"]).max()) < 6
    with pytest.raises(FabDataError, match="synth"):
        truth(small.drop_attrs())


def test_synth_is_reachable_lazily():
    assert fabnb.synth.fab is fab


# --------------------------------------------------------------------------- latent defects

def test_latent_rate_zero_leaves_the_presets_unchanged(small):
    """latent_rate 0 (the presets' value) draws nothing: passed explicitly it gives the
    same fab bit for bit (the committed studies and many tests pin these arrays)."""
    zero = fab("small", seed=0, latent_rate=0.0)
    assert zero.attrs["synth"] != small.attrs["synth"]  # a genuine second build, not a cache hit
    for name in ("value", "hbin", "sbin", "vmin", "etest_value", "tool"):
        np.testing.assert_array_equal(zero[name].values, small[name].values, err_msg=name)
    t = truth(zero)
    assert not t["latent"].any() and not t["latent_test"].any() and not t["weak_site"].any()
    np.testing.assert_array_equal(t["defect"].values, truth(small)["defect"].values)


@pytest.mark.parametrize("overrides, words", [
    ({"latent_rate": 1.5}, "latent_rate=1.5 must lie in [0, 1]"),
    ({"latent_rate": "some"}, "latent_rate='some' is not a number"),
    ({"outlier_rate": -0.1}, "outlier_rate=-0.1 must lie"),
    ({"die_width_mm": 0}, "die_width_mm=0.0 must be positive"),
    ({"n_lots": 2.5}, "n_lots=2.5 must be an int"),
    ({"n_wafers": 3}, "unknown synth override(s) n_wafers"),
])
def test_bad_overrides_are_parameter_errors_naming_the_override(overrides, words):
    with pytest.raises(FabParameterError) as info:
        fab("small", **overrides)
    assert words in str(info.value)
    assert isinstance(info.value, FabDataError)  # callers that catch data errors still do


def test_etch_simulator_options_are_parameter_errors():
    from fabnb.synth.etch import etch_response, true_response

    with pytest.raises(FabParameterError, match="'response' parameter of true_response"):
        true_response(pd.DataFrame({"power": [1.0]}), "yield")
    design = pd.DataFrame({"power": [1.0]})
    design.attrs["doe"] = {"factors": ["power", "bias"]}
    with pytest.raises(FabParameterError, match=r"\['bias'\] are not knobs"):
        etch_response(design)


@pytest.fixture(scope="module")
def latent_fab():
    ds = fab("small", seed=1, latent_rate=0.02)
    return ds, truth(ds), build(ds.attrs["synth"])


def test_latent_dies_pass_every_spec_and_shift_one_test_group(latent_fab):
    from fabnb.synth._catalog import TESTS

    ds, t, _ = latent_fab
    latent, shifted = t["latent"].values, t["latent_test"].values
    assert 60 <= latent.sum() <= 200  # ~2 % of the passing dies and their neighbours' share
    assert (ds["hbin"].values[latent] == 1).all()  # they pass every spec...
    assert not shifted[~latent].any()
    group = np.array([s.group for s in TESTS.values()])
    w, d = np.nonzero(latent)
    for i, j in zip(w, d):  # ...and carry a shift in 2 or more tests of one group
        tests = np.nonzero(shifted[i, j])[0]
        assert tests.size >= 2 and np.unique(group[tests]).size == 1
    # the shift is a few die-noise sigmas (3-8 x 0.75-1.25, plus the die's own noise)
    z = ((ds["value"] - t["field"]) / t["noise_sd"]).values[shifted & ~t["outlier"].values]
    assert 3.0 < np.median(np.abs(z)) < 7.0 and np.abs(z).max() < 14
    # towards the only spec limit of one-sided tests: up for leakage, down for speed
    upper_only = np.isnan(ds["lsl"].values) & np.isfinite(ds["usl"].values)
    up = z[np.broadcast_to(upper_only, shifted.shape)[shifted & ~t["outlier"].values]]
    assert up.size > 10 and (up > 0).mean() > 0.95


def test_latent_dies_gather_next_to_kills_and_at_weak_sites(latent_fab):
    from fabnb.synth._latent import killed_neighbours

    ds, t, b = latent_fab
    killed = t["defect"].values | t["killer_defect"].values
    n_killed = killed_neighbours(killed, ds["col"].values, ds["row"].values)
    carrier = b.latent.carrier
    weak = t["weak_site"].values
    alive = ~killed & ~weak
    lonely = carrier[alive & (n_killed == 0)].mean()
    crowded = carrier[alive & (n_killed >= 2)].mean()
    assert crowded > 4 * lonely  # model: 0.02 (1 + 4 n) -> 0.02 vs >= 0.18
    # a weak site is the same location on every wafer of its lot, fails often, and its
    # surviving dies carry latent defects half the time
    lots = ds["lot"].values
    for lot in np.unique(lots):
        assert (weak[lots == lot] == weak[lots == lot][0]).all()
    assert weak.any()
    assert 0.4 < killed[weak].mean() < 0.8
    assert 0.3 < carrier[weak & ~killed].mean() < 0.7
