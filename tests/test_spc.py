"""SPC/FDC against published ARL tables, simulation, closed forms and hand computations."""

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest

from sklearn.exceptions import NotFittedError

from fabnb import FabDataError, FabFitError, FabParameterError
from fabnb import spc

# Montgomery, Introduction to Statistical Quality Control (6th ed.), Table 9.3:
# two-sided tabular CUSUM, k = 0.5; shifts in sigma.
CUSUM_TABLE = {
    4.0: {0.0: 168, 0.5: 26.6, 1.0: 8.38, 2.0: 3.34, 3.0: 2.19},
    5.0: {0.0: 465, 0.5: 38.0, 1.0: 10.4, 2.0: 4.01, 3.0: 2.57},
}
# Lucas & Saccucci (1990), Technometrics 32(1), as reprinted in Montgomery Table 9.11:
# EWMA designs with in-control ARL ~500.
EWMA_TABLE = {
    (0.40, 3.054): {0.0: 500, 0.5: 71.2, 1.0: 14.3, 2.0: 3.5},
    (0.25, 2.998): {0.0: 500, 0.5: 48.2, 1.0: 11.1, 2.0: 3.6},
    (0.10, 2.814): {0.0: 500, 0.5: 31.3, 1.0: 10.3, 2.0: 4.4},
    (0.05, 2.615): {0.0: 500, 0.5: 28.8, 1.0: 11.4, 2.0: 5.2},
}


@pytest.mark.parametrize("module", ["arl", "charts", "pca", "drift", "rules", "constants", "hotelling"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(f"fabnb.spc.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_shewhart_arl():
    assert spc.arl_shewhart(3.0) == pytest.approx(370.4, abs=0.05)
    assert spc.arl_shewhart(3.0, shift=1.0) == pytest.approx(43.9, abs=0.05)  # Montgomery Table 9.? (1 sigma)


@pytest.mark.parametrize("h", sorted(CUSUM_TABLE))
def test_cusum_arl_matches_published_table(h):
    for shift, published in CUSUM_TABLE[h].items():
        assert spc.arl_cusum(0.5, h, shift) == pytest.approx(published, rel=0.02), shift


@pytest.mark.parametrize("lam, L", sorted(EWMA_TABLE))
def test_ewma_arl_matches_published_table(lam, L):
    for shift, published in EWMA_TABLE[(lam, L)].items():
        assert spc.arl_ewma(lam, L, shift) == pytest.approx(published, rel=0.03), shift


@pytest.mark.parametrize(
    "chart, params, shift",
    [("cusum", dict(k=0.5, h=4.0), 0.0), ("cusum", dict(k=0.5, h=4.0, headstart=2.0), 1.0),
     ("ewma", dict(lam=0.2, L=2.5), 0.0), ("ewma", dict(lam=0.1, L=2.814), 1.0),
     ("shewhart", dict(L=2.5), 0.0)],
)
def test_markov_chain_arl_agrees_with_simulation(chart, params, shift):
    exact = spc.detection_delay(chart, shift, **params)
    sim, se = spc.simulate_arl(chart, shift, n_rep=3000, seed=1, **params)
    assert abs(sim - exact) < 3 * se + 0.02 * exact


def test_fast_initial_response_shortens_detection_only():
    base = spc.arl_cusum(0.5, 5.0, shift=1.0)
    fir = spc.arl_cusum(0.5, 5.0, shift=1.0, headstart=2.5)
    assert fir < 0.8 * base
    assert spc.arl_cusum(0.5, 5.0, 0.0, headstart=2.5) > 0.8 * spc.arl_cusum(0.5, 5.0, 0.0)


def test_designed_charts_reach_target_arl_in_simulation():
    h = spc.design_cusum(0.5, arl0=200)
    L = spc.design_ewma(0.2, arl0=200)
    assert spc.arl_cusum(0.5, h) == pytest.approx(200, rel=1e-4)
    for chart, params in (("cusum", dict(k=0.5, h=h)), ("ewma", dict(lam=0.2, L=L))):
        sim, se = spc.simulate_arl(chart, 0.0, n_rep=3000, seed=5, **params)
        assert abs(sim - 200) < 3 * se + 4, chart
    assert spc.design_cusum(0.5, arl0=465) == pytest.approx(5.0, abs=0.01)  # back to Table 9.3


def test_control_chart_constants_match_published_values():
    from fabnb.spc.constants import c4, d2, d3

    # Montgomery Appendix Table VI
    assert (round(d2(2), 3), round(d2(5), 3), round(d2(10), 3)) == (1.128, 2.326, 3.078)
    assert (d3(2), d3(5), d3(10)) == pytest.approx((0.853, 0.864, 0.797), abs=6e-4)  # 3 decimals
    assert (round(c4(2), 4), round(c4(5), 4), round(c4(10), 4)) == (0.7979, 0.94, 0.9727)


def test_individuals_chart_estimates_sigma_and_flags_outlier():
    rng = np.random.default_rng(2)
    chart = spc.ShewhartChart("individuals").fit(rng.normal(5, 2, 2000))
    assert chart.sigma_ == pytest.approx(2, rel=0.05) and chart.center_ == pytest.approx(5, abs=0.15)
    new = rng.normal(5, 2, 50)
    new[20] = 5 + 4 * 2
    out = chart.apply(new)
    assert "WE1" in out.loc[20, "rules"] and out.loc[20, "alarm"]


def test_xbar_r_and_xbar_s_limits_are_3_sigma_of_the_mean():
    rng = np.random.default_rng(3)
    data = rng.normal(10, 1.5, size=(400, 5))
    for kind in ("xbar_r", "xbar_s"):
        c = spc.ShewhartChart(kind, rules="limits").fit(data)
        assert c.ucl_ - c.center_ == pytest.approx(3 * 1.5 / np.sqrt(5), rel=0.05), kind
        out = c.apply(rng.normal(10, 1.5, size=(20000, 5)))
        beyond = ((out["statistic"] > out["ucl"]) | (out["statistic"] < out["lcl"])).mean()
        assert beyond == pytest.approx(0.0027, rel=0.5), kind
        assert (out["rules"] != "").mean() == beyond


@pytest.mark.parametrize(
    "seq, rule, at",
    [
        ([0.5] * 9, "N2", 8),
        ([0.5] * 8, "WE4", 7),
        ([2.5, 0, 2.5], "WE2", 2),
        ([1.5, 1.5, 0, 1.5, 1.5], "WE3", 4),
        ([0, 0.1, 0.2, 0.3, 0.4, 0.5], "N3", 5),
        ([0.3, -0.3] * 7, "N4", 13),
        ([0.2] * 15, "N7", 14),
        ([1.5, -1.5] * 4, "N8", 7),
    ],
)
def test_run_rules_fire_where_the_pattern_completes(seq, rule, at):
    hits = spc.run_rules(np.asarray(seq, float), [rule])
    assert [i for i, h in enumerate(hits) if h] == [at]


def test_cusum_and_ewma_catch_a_one_sigma_shift_long_before_shewhart():
    """A sustained 1 sigma step: wafers to first alarm over seeds (ARLs 8.4 / 10.3 / 43.9)."""
    first = {"shewhart": [], "cusum": [], "ewma": []}
    for seed in range(30):
        rng = np.random.default_rng(seed)
        ref = rng.normal(0, 1, 500)
        shifted = 1.0 + rng.normal(0, 1, 300)
        charts = {"shewhart": spc.ShewhartChart(rules="limits").fit(ref),
                  "cusum": spc.CusumChart(0.5, 4.0).fit(ref), "ewma": spc.EwmaChart(0.1, 2.814).fit(ref)}
        for name, chart in charts.items():
            alarm = chart.apply(shifted)["alarm"].to_numpy()
            first[name].append(np.argmax(alarm) + 1 if alarm.any() else 300)
    med = {k: np.median(v) for k, v in first.items()}
    assert med["cusum"] < 0.5 * med["shewhart"] and med["ewma"] < 0.5 * med["shewhart"]
    assert 4 <= med["cusum"] <= 15 and 4 <= med["ewma"] <= 15


@pytest.mark.parametrize("make", [lambda: spc.CusumChart(0.5, 4.0, headstart=2.0), lambda: spc.EwmaChart(0.2, 2.8)])
def test_streaming_equals_batch_and_skips_nan(make):
    rng = np.random.default_rng(4)
    chart = make().fit(rng.normal(0, 1, 100))
    x = rng.normal(0.4, 1, 300)
    x[[10, 50]] = np.nan
    batch = chart.apply(x)
    stream = pd.DataFrame([chart.update(v) for v in x])
    ok = ~np.isnan(x)
    for col in set(batch.columns) & set(stream.columns) - {"missing"}:
        # One kernel serves both paths; still two calls, so compare to rounding, not bits.
        np.testing.assert_allclose(batch[col].to_numpy()[ok], stream[col].to_numpy()[ok], rtol=1e-12, atol=1e-12)
    assert chart.n_skipped_ == 2


def _correlated(n, seed, p=8):
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(99).normal(size=(3, p))
    return rng.normal(size=(n, 3)) @ mix + 0.3 * rng.normal(size=(n, p))


def test_t2_and_q_limits_give_nominal_false_alarm_rate():
    mon = spc.PCAMonitor(n_components=3, alpha=0.01).fit(_correlated(3000, 0))
    scores = mon.score(_correlated(40000, 1))
    assert scores["t2_alarm"].mean() == pytest.approx(0.01, rel=0.25)
    assert scores["q_alarm"].mean() == pytest.approx(0.01, rel=0.35)


def test_contributions_point_at_the_faulted_sensor():
    mon = spc.PCAMonitor(explained_variance=0.9).fit(_correlated(1000, 0))
    x = _correlated(1, 7)[0]
    x[5] += 3.0  # a sensor fault that breaks the correlation structure
    row = mon.score(x[None, :]).iloc[0]
    assert row["q_alarm"] and not row["t2_alarm"] or row["q"] > mon.q_limit_
    contrib = mon.contributions(x)
    assert contrib["q"].idxmax() == "x5"
    T2 = mon.score(x[None, :])["t2"].iloc[0]
    assert contrib["t2"].sum() == pytest.approx(T2, rel=1e-10)


def test_t2_matches_direct_linear_algebra():
    X = _correlated(500, 0)
    mon = spc.PCAMonitor(n_components=3).fit(X)
    new = _correlated(20, 3)
    xs = (new - X.mean(0)) / X.std(0, ddof=1)
    t = xs @ mon.loadings_
    np.testing.assert_allclose(mon.score(new)["t2"], (t**2 / mon.eigenvalues_).sum(1), rtol=1e-10)
    np.testing.assert_allclose(mon.score(new)["q"], ((xs - t @ mon.loadings_.T) ** 2).sum(1), rtol=1e-10)


def test_pca_streaming_equals_batch():
    mon = spc.PCAMonitor(n_components=3).fit(_correlated(500, 0))
    new = _correlated(50, 2)
    new[7, 2] = np.nan
    batch = mon.score(new)
    stream = pd.DataFrame([mon.update(r) for r in new])
    np.testing.assert_allclose(batch["t2"].to_numpy(), stream["t2"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(batch["q"].to_numpy(), stream["q"].to_numpy(), rtol=1e-12)
    assert mon.n_skipped_ == 1 and batch.loc[7, "missing"]


def test_psi_matches_hand_computation():
    ref = np.arange(100.0)  # quartile cuts at 24.75, 49.5, 74.25: 25 % per bin
    cur = np.r_[np.zeros(50), np.full(50, 99.0)]  # half in the first bin, half in the last
    eps = 1e-4
    hand = 2 * (0.5 - 0.25) * np.log(0.5 / 0.25) + 2 * (eps - 0.25) * np.log(eps / 0.25)
    assert spc.psi(ref, cur, bins=4, eps=eps) == pytest.approx(hand, rel=1e-12)
    assert spc.psi(ref, ref, bins=4) == 0.0


def test_retrain_check_report():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000), "c": rng.normal(size=2000)})
    # PSI of a δ mean shift of a normal is about δ² (the symmetric KL divergence):
    # 0, ~0.15 (moderate band) and ~1 (significant band).
    cur = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(1.0, size=2000),
                        "c": rng.normal(0.4, size=2000)})
    report = spc.retrain_check(ref, cur, alarms=rng.random(500) < 0.1, events=["PM 2026-11-02"])
    assert list(report["band"][:3]) == ["stable", "significant", "moderate"]
    assert list(report["retrain"]) == [False, True, False, True, True]
    assert report.loc["false_alarm_rate", "value"] == pytest.approx(0.1, abs=0.03)
    for col in "abc":  # the report's value is psi's, with the bands retrain_check was given
        assert report.loc[f"psi:{col}", "value"] == pytest.approx(spc.psi(ref[col], cur[col]), rel=1e-12)
    # Tighter bands and trigger (configurable): the moderate shift now triggers.
    tight = spc.retrain_check(ref, cur, psi_threshold=0.10, psi_bands=(0.05, 0.10))
    assert list(tight["band"]) == ["stable", "significant", "significant"]
    assert list(tight["retrain"]) == [False, True, True] and (tight["threshold"] == 0.10).all()


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: spc.CusumChart().fit(np.ones(5)), FabFitError, "at least 10"),
        (lambda: spc.EwmaChart().fit(np.ones(50)), FabFitError, "zero variation"),
        (lambda: spc.ShewhartChart("xbar_r").fit(np.ones(50)), FabFitError, "2-D data"),
        (lambda: spc.PCAMonitor().fit(np.c_[np.random.default_rng(0).normal(size=(50, 3)), np.ones(50)]),
         FabFitError, r"zero variance in Phase I: \[3\]"),
        (lambda: spc.run_rules([0.0], ["N9"]), FabParameterError, "unknown run rule"),
        (lambda: spc.ShewhartChart(rules=["N9"]).fit(np.arange(20.0)), FabParameterError, "unknown run rule"),
        (lambda: spc.arl_cusum(0.5, -1), FabParameterError, "'h' parameter of arl_cusum"),
        (lambda: spc.arl_ewma(1.5, 3.0), FabParameterError, "'lam' parameter of arl_ewma"),
        (lambda: spc.detection_delay("xbar", 1.0, L=3.0), FabParameterError, "'chart' parameter"),
        (lambda: spc.simulate_arl("cusum", k=0.5, h=0), FabParameterError, "'h' parameter of simulate_arl"),
        (lambda: spc.design_ewma(0.1, arl0=1), FabParameterError, "'arl0' parameter of design_ewma"),
        (lambda: spc.design_cusum(0.5, arl0=-5), FabParameterError, "'arl0' parameter of design_cusum"),
        # Nonsense parameters that used to fit and then never (or always) alarm.
        (lambda: spc.ShewhartChart(L=-3).fit(np.arange(20.0)), FabParameterError, "'L' parameter of ShewhartChart"),
        (lambda: spc.ShewhartChart(kind="xbar").fit(np.arange(20.0)), FabParameterError, "'kind'"),
        (lambda: spc.CusumChart(h=0).fit(np.arange(20.0)), FabParameterError, "'h' parameter of CusumChart"),
        (lambda: spc.CusumChart(k=-1).fit(np.arange(20.0)), FabParameterError, "'k' parameter of CusumChart"),
        (lambda: spc.CusumChart(h=4, headstart=4).fit(np.arange(20.0)), FabParameterError, "'headstart'"),
        (lambda: spc.EwmaChart(lam=0).fit(np.arange(20.0)), FabParameterError, "'lam' parameter of EwmaChart"),
        (lambda: spc.EwmaChart(sigma=-1.0).fit(np.arange(20.0)), FabParameterError, "'sigma'"),
        (lambda: spc.PCAMonitor(alpha=1.5).fit(_correlated(100, 0)), FabParameterError, "'alpha'"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("arl, args", [
    (spc.arl_cusum, (0.5, 4.0)), (spc.arl_cusum, (0.5, 5.0)),
    (spc.arl_ewma, (0.40, 3.054)), (spc.arl_ewma, (0.10, 2.814)), (spc.arl_ewma, (0.05, 2.615)),
])
def test_default_markov_chain_reaches_1e_6_on_the_in_control_table_entries(arl, args):
    # In control is the slowest to converge (one 300-state chain was 2e-6 to 6e-4 off).
    # The reference is the same extrapolation on chains 3x finer (its error ~ 1/m^3 is 27x smaller).
    assert arl(*args) == pytest.approx(arl(*args, states=1200), rel=1e-6)


@pytest.mark.parametrize("make", [lambda: spc.ShewhartChart(), lambda: spc.CusumChart(), lambda: spc.EwmaChart()])
def test_phase1_with_an_infinite_sample_is_refused(make):
    # One inf used to give infinite limits (Shewhart) or vanish silently (CUSUM/EWMA).
    x = np.random.default_rng(0).normal(0, 1, 50)
    x[17] = np.inf
    with pytest.raises(FabDataError, match=r"infinite value.*at index 17:"):
        make().fit(x)
    x[17] = np.nan  # a missing sample is still skipped
    assert make().fit(x)


def test_pca_never_returns_fewer_components_than_asked():
    X = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(FabParameterError, match=r"'n_components'.*below the number of sensors \(2\).*Got 2"):
        spc.PCAMonitor(n_components=2).fit(X)
    assert spc.PCAMonitor(n_components=1).fit(X).n_components_ == 1


@pytest.mark.parametrize("use", [
    lambda: spc.ShewhartChart().apply(np.ones(3)), lambda: spc.CusumChart().update(1.0),
    lambda: spc.EwmaChart().apply(np.ones(3)), lambda: spc.PCAMonitor().score(np.ones((2, 3))),
])
def test_unfitted_use_raises_not_fitted(use):
    with pytest.raises(NotFittedError):
        use()


def test_mismatched_sensors_between_fit_and_apply():
    X = pd.DataFrame(_correlated(100, 0), columns=[f"s{j}" for j in range(8)])
    mon = spc.PCAMonitor(n_components=2).fit(X)
    with pytest.raises(FabDataError, match=r"missing \['s7'\]"):
        mon.score(X.drop(columns="s7"))
    np.testing.assert_allclose(mon.score(X[X.columns[::-1]])["t2"], mon.score(X)["t2"])


def test_plots_render_charts_and_contributions():
    import matplotlib

    matplotlib.use("Agg")
    from fabnb.plot.spc import contribution_chart, control_chart, t2q_chart

    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=40), rng.normal(2, 1, 20)]
    for chart in (spc.ShewhartChart(), spc.CusumChart(), spc.EwmaChart()):
        scored = chart.fit(x[:40]).apply(x[40:])
        ax = control_chart(scored)
        alarm_line = [ln for ln in ax.lines if ln.get_label() == "alarm"][0]
        assert len(alarm_line.get_xdata()) == scored["alarm"].sum() > 0
    mon = spc.PCAMonitor(n_components=3).fit(_correlated(300, 0))
    axes = t2q_chart(mon, mon.score(_correlated(50, 1)))
    assert len(axes) == 2
    bars = contribution_chart(mon.contributions(_correlated(1, 2))).patches
    assert len(bars) == 8


# --- PSI from shares and its bands (issue 23) --------------------------------------------------------


def test_psi_from_shares_matches_hand_formula():
    ref = np.array([0.2, 0.3, 0.5, 0.0])  # an empty reference bin is floored at eps
    cur = np.array([0.25, 0.25, 0.25, 0.25])
    eps = 1e-4
    r, c = np.array([0.2, 0.3, 0.5, eps]), cur
    hand = sum((ci - ri) * np.log(ci / ri) for ri, ci in zip(r, c))
    value = spc.psi_from_shares(ref, cur, eps=eps)
    assert value == pytest.approx(hand, rel=1e-12)
    assert isinstance(value, float) and value.band == "significant"
    # The sample form is the share form on the counted shares of the reference's quantile bins.
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=1000), rng.normal(0.3, 1, 700)
    edges = np.quantile(a, [0.25, 0.5, 0.75])
    shares = [np.bincount(np.searchsorted(edges, v, side="right"), minlength=4) / v.size for v in (a, b)]
    assert spc.psi(a, b, bins=4) == pytest.approx(spc.psi_from_shares(*shares), rel=1e-12)


@pytest.mark.parametrize("value, band", [(0.0, "stable"), (0.0999, "stable"), (0.10, "moderate"),
                                         (0.25, "moderate"), (0.2501, "significant")])
def test_psi_bands_follow_the_common_convention(value, band):
    # < 0.10 stable, 0.10-0.25 moderate, > 0.25 significant (Siddiqi 2006).
    v = spc.PSIValue(value)
    assert v.band == band and float(v) == value
    assert spc.PSIValue(value, bands=(0.2, 0.3)).band == ("stable" if value < 0.2 else
                                                          "significant" if value > 0.3 else "moderate")


def test_psi_value_is_a_float_that_keeps_its_band_through_pickle():
    import pickle

    v = spc.psi_from_shares([0.5, 0.5], [0.3, 0.7], bands=(0.1, 0.2))  # PSI 0.1695
    back = pickle.loads(pickle.dumps(v))
    assert back.band == v.band == "moderate" and back.bands == (0.1, 0.2)
    assert float(back) == float(v)  # read back from a pickle, which stores the float exactly
    assert "band='moderate'" in repr(v)


@pytest.mark.parametrize("call, error, match", [
    (lambda: spc.psi_from_shares([30, 70], [0.5, 0.5]), FabDataError, r"reference shares sums to 100.*counts / total"),
    (lambda: spc.psi_from_shares([0.5, 0.5], [0.2, 0.3, 0.5]), FabDataError, "same bins"),
    (lambda: spc.psi_from_shares([1.5, -0.5], [0.5, 0.5]), FabDataError, "negative or non-finite share.*bin 1"),
    (lambda: spc.psi_from_shares([0.5, np.nan], [0.5, 0.5]), FabDataError, "non-finite"),
    (lambda: spc.psi_from_shares([0.5, 0.5], [0.5, 0.5], bands=(0.3, 0.1)), FabParameterError, "'bands'"),
    (lambda: spc.psi_from_shares([0.5, 0.5], [0.5, 0.5], eps=0), FabParameterError, "'eps' parameter"),
    (lambda: spc.psi(np.arange(20.0), np.arange(5.0), bins=1), FabParameterError, "'bins' parameter of psi"),
    (lambda: spc.retrain_check(pd.DataFrame({"a": np.arange(20.0)}), pd.DataFrame({"a": np.arange(20.0)}),
                               psi_bands="0.1"), FabParameterError, "'bands' parameter of retrain_check"),
])
def test_psi_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- ARL of Shewhart charts with zone run rules (issue 23) -------------------------------------------

# Champ & Woodall (1987), "Exact results for Shewhart control charts with supplementary runs
# rules", Technometrics 29(4), 393-399: in-control ARLs of the rule combinations (rule 1 = one
# point beyond 3 sigma, 2 = 2 of 3 beyond 2 sigma, 3 = 4 of 5 beyond 1 sigma, 4 = 8 in a row).
CHAMP_WOODALL_ARL0 = {("WE1",): 370.40, ("WE1", "WE2"): 225.44, ("WE1", "WE3"): 166.05,
                      ("WE1", "WE4"): 152.73, ("WE1", "WE2", "WE3", "WE4"): 91.75}


@pytest.mark.parametrize("rules", sorted(CHAMP_WOODALL_ARL0))
def test_run_rules_arl_matches_champ_woodall(rules):
    assert spc.arl_run_rules(list(rules)) == pytest.approx(CHAMP_WOODALL_ARL0[rules], abs=0.006)


def test_run_rules_arl_reduces_to_the_closed_forms():
    for shift in (0.0, 1.0, 2.0):
        assert spc.arl_run_rules("limits", shift) == pytest.approx(spc.arl_shewhart(3.0, shift), rel=1e-12)
    assert spc.arl_run_rules("western_electric") == pytest.approx(
        spc.arl_run_rules(["WE1", "WE2", "WE3", "WE4"]), rel=1e-12)
    # Rule 2 alone (no limit), by a hand-built chain on the last two zones (M: |z| <= 2, U: z > 2,
    # D: z < -2): a new U signals if a U is among the last two, likewise D.
    from itertools import product

    from scipy import stats

    p_out = stats.norm.sf(2.0)
    prob = {"M": 1 - 2 * p_out, "U": p_out, "D": p_out}
    states = list(product("MUD", repeat=2))  # (lag 1, lag 2)
    R = np.zeros((9, 9))
    for i, (a, b) in enumerate(states):
        for z, pz in prob.items():
            if z != "M" and z in (a, b):
                continue
            R[i, states.index((z, a))] += pz
    hand = np.linalg.solve(np.eye(9) - R, np.ones(9))[states.index(("M", "M"))]
    assert spc.arl_run_rules(["WE2"]) == pytest.approx(hand, rel=1e-10)


@pytest.mark.parametrize("rules, shift, L", [("western_electric", 0.0, 3.0), ("western_electric", 1.0, 3.0),
                                              (["WE1", "WE3", "N2"], 0.5, 2.5)])
def test_run_rules_arl_agrees_with_simulation_through_run_rules(rules, shift, L):
    exact = spc.arl_run_rules(rules, shift, L=L)
    sim, se = spc.simulate_arl("shewhart", shift, n_rep=1500, seed=11, L=L, rules=rules)
    assert abs(sim - exact) < 3.5 * se, (sim, se, exact)


def test_run_rules_shorten_detection_and_in_control_arl():
    assert spc.detection_delay("shewhart", 1.0, L=3.0, rules="western_electric") == pytest.approx(
        spc.arl_run_rules("western_electric", 1.0), rel=1e-12)
    for shift in (0.5, 1.0, 2.0):
        assert spc.arl_run_rules("western_electric", shift) < spc.arl_shewhart(3.0, shift)
    # symmetric in the direction of the shift
    assert spc.arl_run_rules("western_electric", -0.7) == pytest.approx(spc.arl_run_rules("western_electric", 0.7),
                                                                        rel=1e-10)


@pytest.mark.parametrize("call, match", [
    (lambda: spc.arl_run_rules("nelson"), r"'rules' parameter of arl_run_rules.*\['N3', 'N4', 'N7', 'N8'\]"),
    (lambda: spc.arl_run_rules("westinghouse"), "'rules' parameter of arl_run_rules"),
    (lambda: spc.arl_run_rules([]), "'rules' parameter of arl_run_rules"),
    (lambda: spc.arl_run_rules(L=0), "'L' parameter of arl_run_rules"),
    (lambda: spc.simulate_arl("cusum", k=0.5, h=4.0, rules="western_electric"), "'rules' parameter of simulate_arl"),
    (lambda: spc.simulate_arl("shewhart", L=3.0, rules=["N9"]), "unknown run rule"),
])
def test_run_rules_arl_bad_input(call, match):
    with pytest.raises(FabParameterError, match=match):
        call()


# --- Hotelling T² charts (issue 23) -----------------------------------------------------------------


def _qcc_limits(m, n, p, alpha, dof=None):
    """The limits as R qcc's limits.T2 / limits.T2.single write them (and, for S2, as the module
    documents them), computed directly with scipy."""
    from scipy import stats

    q = 1 - alpha
    if n > 1:
        d = m * n - m - p + 1
        return (p * (m - 1) * (n - 1) / d * stats.f.ppf(q, p, d), p * (m + 1) * (n - 1) / d * stats.f.ppf(q, p, d))
    if dof is None:  # the sample covariance: Tracy, Young & Mason (1992)
        return ((m - 1) ** 2 / m * stats.beta.ppf(q, p / 2, (m - p - 1) / 2),
                p * (m + 1) * (m - 1) / (m * (m - p)) * stats.f.ppf(q, p, m - p))
    # successive differences: chi-square in Phase I, F with the effective dof in Phase II
    return stats.chi2.ppf(q, p), p * (m + 1) * dof / (m * (dof - p + 1)) * stats.f.ppf(q, p, dof - p + 1)


def _mvn(shape, seed):
    rng = np.random.default_rng(seed)
    mix = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.3, -0.2, 0.5]])
    return rng.normal(size=shape + (3,)) @ mix.T + np.array([10.0, -2.0, 0.5])


def test_hotelling_subgroup_limits_match_montgomery_example_11_1():
    # Montgomery, Introduction to Statistical Quality Control, 6th ed., Section 11.3.1, Example 11.1
    # (tensile strength and diameter of a textile fibre): m = 20 samples of n = 10, p = 2, alpha = 0.001:
    # Phase I UCL = 2(19)(9)/179 F(0.001; 2, 179) = 13.72, Phase II UCL = 2(21)(9)/179 F = 15.16.
    X = np.random.default_rng(0).normal(size=(20, 10, 2))
    chart = spc.HotellingT2Chart(alpha=0.001).fit(X)
    assert chart.ucl_phase1_ == pytest.approx(13.72, abs=0.01)
    assert chart.ucl_ == pytest.approx(15.16, abs=0.01)
    # Known mean and covariance: chi-square(2) at 0.001, 13.82 in any chi-square table.
    known = spc.HotellingT2Chart(alpha=0.001, mean=[115.59, 1.06], cov=[[1.23, 0.79], [0.79, 0.83]]).fit(X)
    assert known.ucl_ == known.ucl_phase1_ == pytest.approx(13.82, abs=0.005)
    # With Example 11.1's grand mean and pooled covariance (115.59, 1.06; S1² = 1.23, S2² = 0.83,
    # S12 = 0.79) as known values, a subgroup (here one with mean 115.25, 1.04) scores
    # T² = n (x̄ − x̿)ᵀ S̄⁻¹ (x̄ − x̿).
    xbar = np.array([115.25, 1.04])
    d = xbar - [115.59, 1.06]
    S = np.array([[1.23, 0.79], [0.79, 0.83]])
    t2 = known.update(np.tile(xbar, (10, 1)))["t2"]
    assert t2 == pytest.approx(10 * d @ np.linalg.solve(S, d), rel=1e-12)


@pytest.mark.parametrize("shape, covariance, alpha", [((25, 4), "auto", 0.0027), ((20, 10), "auto", 0.001),
                                                      ((50,), "sample", 0.0027), ((50,), "successive", 0.01),
                                                      ((12,), "auto", 0.05)])
def test_hotelling_limits_match_qcc_formulas_computed_with_scipy(shape, covariance, alpha):
    X = _mvn(shape, 1)
    chart = spc.HotellingT2Chart(alpha=alpha, covariance=covariance).fit(X)
    m, n = shape[0], (shape[1] if len(shape) > 1 else 1)
    dof = 2 * (m - 1) ** 2 / (3 * m - 4) if covariance == "successive" else None
    np.testing.assert_allclose([chart.ucl_phase1_, chart.ucl_], _qcc_limits(m, n, 3, alpha, dof), rtol=1e-12)


def test_hotelling_t2_matches_direct_linear_algebra():
    from scipy.spatial.distance import mahalanobis

    # Subgroups: pooled within-subgroup covariance = the mean of the subgroup covariances.
    X = _mvn((30, 5), 2)
    chart = spc.HotellingT2Chart().fit(X)
    pooled = np.mean([np.cov(g, rowvar=False) for g in X], axis=0)
    np.testing.assert_allclose(chart.cov_, pooled, rtol=1e-12)
    centre = X.mean(axis=(0, 1))
    inv = np.linalg.inv(pooled)
    np.testing.assert_allclose(chart.phase1_["t2"], [5 * mahalanobis(g.mean(0), centre, inv) ** 2 for g in X],
                               rtol=1e-10)
    new = _mvn((7, 5), 3)
    np.testing.assert_allclose(chart.apply(new)["t2"], [5 * mahalanobis(g.mean(0), centre, inv) ** 2 for g in new],
                               rtol=1e-10)
    # Individuals: the sample covariance, or Sullivan & Woodall's S2 = V'V / (2 (m - 1)).
    Y = _mvn((40,), 4)
    for covariance, S in (("sample", np.cov(Y, rowvar=False)),
                          ("successive", np.diff(Y, axis=0).T @ np.diff(Y, axis=0) / (2 * 39))):
        c = spc.HotellingT2Chart(covariance=covariance).fit(Y)
        np.testing.assert_allclose(c.cov_, S, rtol=1e-12)
        inv = np.linalg.inv(S)
        np.testing.assert_allclose(c.phase1_["t2"], [mahalanobis(y, Y.mean(0), inv) ** 2 for y in Y], rtol=1e-10)


@pytest.mark.parametrize("shape, covariance", [((30, 5), "auto"), ((30,), "sample"), ((30,), "successive")])
def test_hotelling_false_alarm_rates_are_nominal(shape, covariance):
    # Over repeated Phase I samples the per-point false-alarm rate of both limits is alpha (exact
    # for the beta and F limits, approximate (chi-square / effective-dof F) for successive differences).
    alpha, hits1, hits2, count1, count2 = 0.05, 0, 0, 0, 0
    for seed in range(300):
        X = _mvn(shape, 100 + seed)
        chart = spc.HotellingT2Chart(alpha=alpha, covariance=covariance).fit(X)
        hits1 += chart.phase1_["alarm"].sum()
        count1 += len(chart.phase1_)
        out = chart.apply(_mvn((10,) + shape[1:], 10_000 + seed))
        hits2 += out["alarm"].sum()
        count2 += len(out)
    tol = 0.006 if covariance != "successive" else 0.012
    assert hits1 / count1 == pytest.approx(alpha, abs=tol)
    assert hits2 / count2 == pytest.approx(alpha, abs=tol)


def test_successive_differences_find_a_step_hidden_in_phase1():
    # Sullivan & Woodall (1996): a sustained step in the Phase I individuals inflates S, so the
    # usual T² chart misses it; S2 from successive differences is barely moved and finds it.
    Y = _mvn((60,), 5)
    Y[30:] += 2.2 * np.array([1.0, 0.8, 0.3])  # a step along the first principal direction
    usual = spc.HotellingT2Chart(alpha=0.01).fit(Y).phase1_["alarm"].sum()
    s2 = spc.HotellingT2Chart(alpha=0.01, covariance="successive").fit(Y)
    assert s2.phase1_["alarm"].sum() > usual + 5


def test_hotelling_streaming_equals_batch_and_skips_missing():
    chart = spc.HotellingT2Chart().fit(pd.DataFrame(_mvn((40,), 6), columns=["a", "b", "c"]))
    new = _mvn((25,), 7)
    new[4, 1] = np.nan
    new[9] += [6.0, -4.0, 0.0]
    batch = chart.apply(pd.DataFrame(new[:, ::-1], columns=["c", "b", "a"]))  # columns by name
    stream = pd.DataFrame([chart.update(row) for row in new])
    ok = ~batch["missing"].to_numpy()
    np.testing.assert_allclose(batch["t2"][ok], stream["t2"][ok], rtol=1e-12)
    assert list(batch["missing"]) == list(stream["missing"]) and batch.loc[4, "missing"]
    assert np.isnan(batch.loc[4, "t2"]) and not batch.loc[4, "alarm"] and chart.n_skipped_ == 1
    assert batch.loc[9, "alarm"] and stream.loc[9, "alarm"]
    with pytest.raises(FabDataError, match=r"missing \['c'\], unexpected \['d'\]"):
        chart.apply(pd.DataFrame(new, columns=["a", "b", "d"]))
    # A refit on other variables starts afresh.
    assert list(chart.fit(pd.DataFrame(_mvn((40,), 8), columns=["u", "v", "w"])).feature_names_in_) == ["u", "v", "w"]


@pytest.mark.parametrize("call, error, match", [
    (lambda: spc.HotellingT2Chart(alpha=0).fit(_mvn((20,), 0)), FabParameterError, "'alpha' parameter of Hotelling"),
    (lambda: spc.HotellingT2Chart(covariance="mcd").fit(_mvn((20,), 0)), FabParameterError, "'covariance'"),
    (lambda: spc.HotellingT2Chart(covariance="successive").fit(_mvn((20, 4), 0)), FabParameterError,
     "'successive' only for individual"),
    (lambda: spc.HotellingT2Chart(mean=[0, 0, 0]).fit(_mvn((20,), 0)), FabParameterError, "'mean' and 'cov'"),
    (lambda: spc.HotellingT2Chart(mean=[0, 0], cov=np.eye(2)).fit(_mvn((20,), 0)), FabParameterError,
     r"shapes \(3,\) and \(3, 3\)"),
    (lambda: spc.HotellingT2Chart().fit(np.where(np.arange(60).reshape(20, 3) == 31, np.nan, _mvn((20,), 0))),
     FabDataError, r"missing or infinite value.*\(10, 1\)"),
    (lambda: spc.HotellingT2Chart().fit(np.c_[_mvn((20,), 0), np.ones(20)]), FabFitError, "singular"),
    (lambda: spc.HotellingT2Chart().fit(_mvn((4,), 0)), FabFitError, "too few"),
    (lambda: spc.HotellingT2Chart().fit(_mvn((20, 1), 0)), FabFitError, "size 1"),
    (lambda: spc.HotellingT2Chart().fit(np.ones(5)), FabDataError, "must be"),
    (lambda: spc.HotellingT2Chart().fit(_mvn((20, 4), 0)).apply(_mvn((5, 3), 1)), FabDataError,
     r"limits were set for \(subgroups, 4, 3\)"),
    (lambda: spc.HotellingT2Chart().fit(_mvn((20,), 0)).apply(np.ones((2, 2))), FabDataError, "2 variables"),
])
def test_hotelling_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_hotelling_unfitted_use_raises_not_fitted():
    for use in (lambda c: c.apply(np.ones((2, 3))), lambda c: c.update(np.ones(3))):
        with pytest.raises(NotFittedError):
            use(spc.HotellingT2Chart())


def test_hotelling_plot():
    import matplotlib

    matplotlib.use("Agg")
    from fabnb.plot.spc import hotelling_chart

    chart = spc.HotellingT2Chart().fit(_mvn((25, 5), 0))
    new = _mvn((10, 5), 1)
    new[3] += 2.0
    scored = chart.apply(new)
    ax = hotelling_chart(chart, scored)
    alarm = [ln for ln in ax.lines if ln.get_label() == "alarm"][0]
    assert len(alarm.get_xdata()) == chart.phase1_["alarm"].sum()
    assert scored["alarm"].sum() >= 1
