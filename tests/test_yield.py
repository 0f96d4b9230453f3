"""fabnb.density.estimate_yield and the Section V-B study: convergence to known yields,
bootstrap coverage, joint yield, seeds, bad input, the study on the small synthetic fab."""

import numpy as np
import pytest
from scipy import stats

import fabnb
from fabnb.density import estimate_yield
from fabnb.density.study import (
    METHODS,
    early_silicon,
    early_values,
    hvm_limits,
    hvm_population,
    summary,
    yield_study,
)
from fabnb.errors import FabDataError, FabParameterError


@pytest.mark.parametrize("method", ["empirical", "histogram", "kde"])
def test_yield_converges_to_the_truth(method):
    """Normal(0, 1) inside [−1.5, 2]: truth Φ(2) − Φ(−1.5); the error shrinks with n.

    A fixed 20-bin histogram is biased at limits inside a bin (uniform within the bin), so
    the histogram converges only with bins growing with n (20 → 100).
    """
    truth = stats.norm.cdf(2.0) - stats.norm.cdf(-1.5)
    errors = []
    for n in (500, 20000):
        x = np.random.default_rng(n).normal(size=n)
        est = estimate_yield(x, -1.5, 2.0, method=method, bins=20 if n < 1000 else 100,
                             n_synthetic=400_000, n_bootstrap=0, seed=1)
        errors.append(abs(est.estimate - truth))
    assert errors[1] < 0.006
    assert errors[1] < max(errors[0], 0.004)


def test_bootstrap_interval_covers_the_truth_and_seeds_reproduce():
    x = np.random.default_rng(5).gamma(4.0, size=1500)
    truth = stats.gamma(4.0).cdf(8.0) - stats.gamma(4.0).cdf(1.5)
    kw = {"method": "kde", "n_synthetic": 200_000, "n_bootstrap": 60, "progress": False}
    a = estimate_yield(x, 1.5, 8.0, seed=3, **kw)
    assert a.ci_low < truth < a.ci_high
    assert a.ci_high - a.ci_low < 0.05
    b = estimate_yield(x, 1.5, 8.0, seed=3, **kw)
    assert (a.estimate, a.ci_low, a.ci_high) == (b.estimate, b.ci_low, b.ci_high)
    c = estimate_yield(x, 1.5, 8.0, seed=4, **kw)
    assert c.estimate != a.estimate


def test_joint_yield_over_two_tests():
    """Independent normals: joint yield = product of the marginal yields; NaN limit = none."""
    x = np.random.default_rng(0).normal(size=(3000, 2))
    truth = (stats.norm.cdf(1.0) - stats.norm.cdf(-2.0)) * stats.norm.cdf(1.5)
    for method in ("empirical", "histogram", "kde"):
        est = estimate_yield(x, [-2.0, np.nan], [1.0, 1.5], method=method, n_synthetic=300_000,
                             n_bootstrap=10, bootstrap_draws=10_000, progress=False)
        assert est.estimate == pytest.approx(truth, abs=0.02), method
        assert est.ci_low <= est.estimate <= est.ci_high


def test_yield_bad_input():
    x = np.random.default_rng(0).normal(size=100)
    with pytest.raises(FabDataError, match="lsl > usl"):
        estimate_yield(x, 1.0, -1.0)
    with pytest.raises(FabDataError, match="NaN"):
        estimate_yield(np.r_[x, np.nan], -1.0, 1.0)
    with pytest.raises(FabDataError, match="one value per test"):
        estimate_yield(np.c_[x, x], [-1.0, -1.0, -1.0], 1.0)


@pytest.mark.parametrize("option", [
    {"method": "magic"}, {"bins": 0}, {"bins": 2.5}, {"n_synthetic": 0}, {"n_bootstrap": -1},
    {"confidence": 1.0}, {"confidence": 0.0}, {"bootstrap_draws": 0}, {"kde_options": "wide"},
    {"progress": "no"},
])
def test_yield_bad_options_name_the_option(option):
    """#6: one exception type for a bad option, naming it, checked before any work."""
    x = np.random.default_rng(0).normal(size=100)
    (name,) = option
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of estimate_yield"):
        estimate_yield(x, -1.0, 1.0, **option)


def test_study_bad_options_name_the_option(fab_small):
    ds = fab_small[0]
    early = early_silicon(ds, n_lots=2)
    with pytest.raises(FabParameterError, match="'methods' parameter of yield_study"):
        yield_study(ds, tests=["T01"], methods=("hist-rs", "kde-random"), n_lots=2)
    for kw, name in (({"bins": 0}, "bins"), ({"n_sigma": -3.0}, "n_sigma"), ({"budget": 0.0}, "budget"),
                     ({"n_lots": 0}, "n_lots"), ({"n_synthetic": 0.5}, "n_synthetic")):
        with pytest.raises(FabParameterError, match=f"'{name}' parameter of yield_study"):
            yield_study(ds, tests=["T01"], methods=("hist-rs",), **kw)
    with pytest.raises(FabParameterError, match="'sampling' parameter of early_values"):
        early_values(early, ["T01"], sampling="gp")
    with pytest.raises(FabParameterError, match="'budget' parameter of early_values"):
        early_values(early, ["T01"], budget=1.5)
    with pytest.raises(FabParameterError, match="'n_sigma' parameter of hvm_limits"):
        hvm_limits(hvm_population(ds, early), ["T01"], n_sigma=0)
    with pytest.raises(FabParameterError, match="'n_lots' parameter of early_silicon"):
        early_silicon(ds, n_lots=-1)


def test_study_on_the_small_fab():
    ds = fabnb.synth.fab("small", seed=0)
    early = early_silicon(ds, n_lots=3)
    assert early.sizes["wafer"] == 3 and len(set(early["lot"].values.tolist())) == 3
    hvm = hvm_population(ds, early)
    assert hvm.sizes["wafer"] == ds.sizes["wafer"] - 3
    limits = hvm_limits(hvm, ["T01"])
    v = hvm["value"].sel(test="T01").values
    v = v[np.isfinite(v)]
    assert limits.loc["T01", "usl"] == pytest.approx(v.mean() + 3 * v.std())
    table = yield_study(ds, tests=["T01", "T02"], methods=("hist-rs", "kde-rs"), n_lots=3,
                        n_synthetic=50_000, progress=False)
    assert len(table) == 4
    # ±3σ limits on a near-normal HVM population: the actual yield is ~99.7 %
    assert table["yield_actual"].between(0.98, 1.0).all()
    assert (table["abs_yield_error"] < 0.05).all() and (table["ks"] < 0.5).all()
    assert list(summary(table).index) == ["hist-rs", "kde-rs"]
    with pytest.raises(FabDataError, match="needs 5 lots"):
        early_silicon(ds, n_lots=5)
    assert set(METHODS) == {"hist-rs", "hist-gp-st-ps", "kde-rs", "kde-gp-st-ps"}
