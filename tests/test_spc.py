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


@pytest.mark.parametrize("module", ["arl", "charts", "pca", "drift", "rules", "constants"])
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
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    cur = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(1.0, size=2000)})
    report = spc.retrain_check(ref, cur, alarms=rng.random(500) < 0.1, events=["PM 2026-11-02"])
    assert list(report["retrain"]) == [False, True, True, True]
    assert report.loc["false_alarm_rate", "value"] == pytest.approx(0.1, abs=0.03)


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
