"""Issue 22.1: the default GP fit reaches the best optimum of the likelihood, not a lower
peak that the coarse-to-fine ladder happened to walk into, and pays for the search only
where the likelihood shows a second basin.

The seeded panel is default fab seed 1, 10 % of the measured dies drawn with
``default_rng(7)``: the issue's reproducer (wafer 0, test T01: the single-path ladder
ended at ℓ ≈ 215 mm and log L 2369.2; scikit-learn's optimum, evaluated in fabnb's model,
has 2390.8 at ℓ ≈ 106 mm), wafer 224 / T11 (the single path ended 7 nat low) and wafer
149 / T12 (one peak: no second refinement).  The reference is the best of several
L-BFGS-B runs on all the sites, with no coarse stage.
"""

import math

import numpy as np
import pytest

import fabnb
import fabnb.spatial._optimize as optimize
import fabnb.spatial.gp as gp_module
from benchmarks.bench_gp import make_lot
from fabnb.spatial import GaussianProcess
from fabnb.spatial.gp import mean_basis

# (wafer index, test) of default fab seed 1, 10 % of the measured dies drawn with default_rng(7)
SECOND_BASIN = [(0, "T01"), (224, "T11")]  # the single path ends on a lower peak
ONE_PEAK = (149, "T12")


@pytest.fixture(scope="module")
def fab_pairs():
    ds = fabnb.synth.fab("default", seed=1)
    xy = np.c_[ds.x.values, ds.y.values]
    pairs = {}
    for wafer, test in [*SECOND_BASIN, ONE_PEAK]:
        values = ds.value.isel(wafer=wafer).sel(test=test).values
        measured = np.flatnonzero(np.isfinite(values))
        sampled = np.zeros(len(values), bool)
        sampled[np.random.default_rng(7).choice(measured, round(0.1 * measured.size), replace=False)] = True
        pairs[wafer, test] = (xy[sampled], values[sampled])
    return pairs


@pytest.fixture(scope="module")
def w1_sample():
    """The W1 workload of benchmarks/bench_gp.py: 550 random dies of a smooth wafer."""
    xy, _, Y = make_lot(1, 0)
    sampled = np.zeros(len(xy), bool)
    sampled[np.random.default_rng(0).choice(len(xy), 550, replace=False)] = True
    return xy[sampled], Y[0][sampled]


@pytest.fixture(scope="module")
def best_of_restarts(fab_pairs):
    """Per pair, the best of L-BFGS-B runs on all the sites from a 3 × 2 grid of starts
    around the default one (ℓ × 1/3, 1, 3; noise ratio 1e-3, 1e-1)."""
    best = {}
    for pair, (X, y) in fab_pairs.items():
        gp = GaussianProcess(ard=False)
        H = mean_basis(X, "constant")
        lo, hi = gp._log_bounds(X)
        log_ls = gp._start(X, y, H)[0]
        starts = [np.r_[log_ls + a, math.log(eta)] for a in (-math.log(3), 0.0, math.log(3)) for eta in (1e-3, 1e-1)]
        best[pair] = -gp._maximise(X, y, H, starts, lo, hi)[0].fun
    return best


def full_n_stages(monkeypatch, n):
    """Record the GP's optimiser stages on all ``n`` sites ("refine" or "probe") and count
    the likelihood evaluations by number of sites."""
    stages, evaluations = [], {}
    maximise, factorised = GaussianProcess._maximise, gp_module._Factorised

    def recording(self, X, y, H, starts, lo, hi, hess_inv=None):
        if X.shape[0] == n:
            stages.append("probe" if hess_inv is not None and not np.any(hess_inv) else "refine")
        return maximise(self, X, y, H, starts, lo, hi, hess_inv=hess_inv)

    class Counted(factorised):
        def __init__(self, X, *args, **kwargs):
            evaluations[X.shape[0]] = evaluations.get(X.shape[0], 0) + 1
            super().__init__(X, *args, **kwargs)

    monkeypatch.setattr(GaussianProcess, "_maximise", recording)
    monkeypatch.setattr(gp_module, "_Factorised", Counted)
    return stages, evaluations


def test_default_fit_reaches_the_best_of_restarts(fab_pairs, best_of_restarts):
    for pair, (X, y) in fab_pairs.items():
        fit = GaussianProcess(ard=False).fit(X, y)
        assert fit.log_marginal_likelihood_ >= best_of_restarts[pair] - 0.5, pair


def test_reproducer_reaches_scikit_learns_optimum(fab_pairs):
    """The issue's reproducer: scikit-learn's GPR (constant × RBF + white noise,
    normalised y, 3 optimiser restarts) finds ℓ ≈ 106 mm; in fabnb's model (constant
    mean, σ_f² profiled) that optimum has log L 2390.8 (issue 22).  The default fit must
    reach it within 0.5 nat."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    X, y = fab_pairs[0, "T01"]
    kernel = ConstantKernel(1.0) * RBF(40.0, (1e-2, 1e4)) + WhiteKernel(1e-2, (1e-6, 1e1))
    sk = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=3,
                                  random_state=0).fit(X, y).kernel_.get_params()
    ls_sk = float(sk["k1__k2__length_scale"])
    eta_sk = sk["k2__noise_level"] / sk["k1__k1__constant_value"]  # the noise ratio does not see y's scale
    ll_sk = gp_module._Factorised(X, y, mean_basis(X, "constant"), 0, np.full(2, 1 / ls_sk), eta_sk).log_likelihood()
    assert 95 < ls_sk < 115
    assert ll_sk == pytest.approx(2390.8, abs=0.3)  # the figure for scikit-learn's optimum

    fit = GaussianProcess(ard=False).fit(X, y)
    assert fit.log_marginal_likelihood_ >= 2390.8 - 0.5
    assert fit.log_marginal_likelihood_ >= ll_sk - 0.5
    assert 90 < fit.length_scale_[0] < 115


def test_the_panel_tells_the_single_path_ladder_apart(fab_pairs, best_of_restarts, monkeypatch):
    """Without the probe every SECOND_BASIN pair ends on a lower peak: the panel above can
    fail."""
    ladder = gp_module.coarse_to_fine

    def single_path(stage, n, starts, seed, final_offset=None):
        return ladder(stage, n, starts, seed)

    monkeypatch.setattr(gp_module, "coarse_to_fine", single_path)
    for pair in SECOND_BASIN:
        X, y = fab_pairs[pair]
        fit = GaussianProcess(ard=False).fit(X, y)
        assert fit.log_marginal_likelihood_ < best_of_restarts[pair] - 0.5, pair


@pytest.mark.parametrize("data", ["w1", "one peak"])
def test_one_peak_costs_one_probe(data, fab_pairs, w1_sample, monkeypatch):
    """Where the probe finds no second basin (the W1 wafer, a fab pair with one peak) the
    fit on all n is one refinement plus exactly one evaluation: the cost claim can fail."""
    X, y = w1_sample if data == "w1" else fab_pairs[ONE_PEAK]
    stages, evaluations = full_n_stages(monkeypatch, len(y))
    refine_only = {}

    def ladder_without_probe(stage, n, starts, seed, final_offset=None):
        out = optimize.coarse_to_fine(stage, n, starts, seed)
        refine_only.update(evaluations)
        return out

    monkeypatch.setattr(gp_module, "coarse_to_fine", ladder_without_probe)
    GaussianProcess(ard=False).fit(X, y)
    single_path_evaluations = refine_only[len(y)]
    monkeypatch.setattr(gp_module, "coarse_to_fine", optimize.coarse_to_fine)
    stages.clear()
    evaluations.clear()
    GaussianProcess(ard=False).fit(X, y)
    assert stages == ["refine", "probe"]
    assert evaluations[len(y)] == single_path_evaluations + 1


def test_second_basin_refines_the_probe(fab_pairs, monkeypatch):
    X, y = fab_pairs[0, "T01"]
    stages, _ = full_n_stages(monkeypatch, len(y))
    GaussianProcess(ard=False).fit(X, y)
    assert stages == ["refine", "probe", "refine", "probe"]  # and one probe beyond the higher peak


# ---------------------------------------------------------------- the ladder on known surfaces
def two_peaks(p, second):
    """−ℓ of two Gaussian bumps (width 0.16, overlap < 1e-12): height 10 at the origin and
    ``second`` at (−0.7, 1)."""
    b = np.array([-0.7, 1.0])
    e1, e2 = math.exp(-(p @ p) / 0.05), math.exp(-((p - b) @ (p - b)) / 0.05)
    value = -10 * e1 - second * e2
    grad = 10 * e1 * 2 * p / 0.05 + second * e2 * 2 * (p - b) / 0.05
    return None, value, grad


@pytest.mark.parametrize("second, refined", [(15.0, True), (0.0, False)])
def test_probe_is_refined_only_beside_a_second_basin(second, refined):
    """The ladder starts at the origin's peak; the probe at the offset (−0.7, 1) lands on
    the second bump, which is refined (and kept, being higher) when there is one; with
    one peak the probe is 10 nat below it and falling away, and costs one evaluation."""
    calls = []
    lo, hi = np.full(2, -5.0), np.full(2, 5.0)

    def stage(sites, starts, hess_inv):
        calls.append((sites is None, hess_inv is not None and not np.any(hess_inv)))
        return optimize.maximise(lambda p: two_peaks(p, second), starts, lo, hi, hess_inv)

    best, _ = optimize.coarse_to_fine(stage, 400, [np.array([0.05, -0.05])], 0,
                                      final_offset=np.array([-0.7, 1.0]))
    full = [probe for on_all, probe in calls if on_all]
    # refined: the second bump is reached and probed beyond (10 nat below it, falling away)
    assert full == ([False, True, False, True] if refined else [False, True])
    np.testing.assert_allclose(best.x, [-0.7, 1.0] if refined else [0.0, 0.0], atol=1e-3)
    assert -best.fun == pytest.approx(second if refined else 10.0, rel=1e-4)


# ---------------------------------------------------------------- a peak on a bound
def sklearn_optimum_in_fabnb(X, y):
    """scikit-learn's optimum (constant × RBF + white noise, normalised y) evaluated in
    fabnb's model (constant mean, σ_f² profiled): its log L."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

    kernel = ConstantKernel(1.0) * RBF(40.0, (1e-2, 1e4)) + WhiteKernel(1e-2, (1e-6, 1e1))
    sk = GaussianProcessRegressor(kernel, normalize_y=True).fit(X, y).kernel_.get_params()
    eta = sk["k2__noise_level"] / sk["k1__k1__constant_value"]
    inv_ls = np.full(2, 1 / float(sk["k1__k2__length_scale"]))
    return gp_module._Factorised(X, y, mean_basis(X, "constant"), 0, inv_ls, eta).log_likelihood()


def test_a_step_onto_a_bound_is_checked_from_its_start(monkeypatch):
    """Fab seed 21, wafer L0011-17, test T32 (pair 6 of the benchmark panel's seed 21, found
    on fresh seeds): a nearly noiseless test.  On all n the quasi-Newton steps, sized by
    the 200-site stage's curvature, overshot onto the noise ratio's floor (1e-6, ℓ 159 mm,
    log L −1661.6), 19 nat below the interior peak (ℓ ≈ 84 mm) that scikit-learn finds
    too.  A refinement that ends on a bound is now finished by L-BFGS-B from its start as
    well; without that the fit stays on the floor."""
    from benchmarks.bench_gp import panel_pairs

    label, xy, values, sampled = panel_pairs(21, 6)[5]
    assert label == "fab 21 L0011-17 T32"
    X, y = xy[sampled], values[sampled]
    ll_sk = sklearn_optimum_in_fabnb(X, y)

    fit = GaussianProcess(ard=False).fit(X, y)
    assert fit.log_marginal_likelihood_ >= ll_sk - 0.5
    assert fit.noise_ / fit.signal_variance_ > 2e-6  # off the floor
    assert 70 < fit.length_scale_[0] < 100

    monkeypatch.setattr(optimize, "on_bound", lambda x, lo, hi: False)
    monkeypatch.setattr(optimize, "FAR_STEP", math.inf)  # the jump (4.9 in log η) is long too
    stuck = GaussianProcess(ard=False).fit(X, y)
    assert stuck.log_marginal_likelihood_ < ll_sk - 5


def best_peak(X, y, starts):
    """The best L-BFGS-B optimum on all sites from the given (ℓ, noise ratio) starts."""
    gp = GaussianProcess(ard=False)
    lo, hi = gp._log_bounds(X)
    starts = [np.log(s) for s in starts]
    return -gp._maximise(X, y, mean_basis(X, "constant"), starts, lo, hi)[0].fun


# Misses found on fresh panel seeds (benchmarks.bench_gp.panel_pairs(seed, …)[index]), a
# start near the higher peak, and the rule of ._optimize that reaches it, switched off:
PANEL_MISSES = {
    # the ladder ends at ℓ ≈ 430 mm; the probe at half of it is 2 nat below, on a ridge,
    # and its refinement climbs back; the peak 5.5 nat higher (ℓ 47 mm, 12× the noise
    # ratio) is reached from the probe twice as far out
    "ridge": (31, 23, "fab 31 L0001-07 T08", (50.0, 0.5), "PROBE_STEPS", (1,)),
    # from the 200-site optimum (ℓ 81 mm, noise ratio 1.5e-3) the quasi-Newton steps on all
    # n jump to ℓ 155 mm and 1.4e-6, near but not on the floor, 15 nat below the peak at
    # ℓ 82 mm and 3.6e-5: a jump longer than FAR_STEP is rechecked by L-BFGS-B
    "long jump": (43, 2, "fab 43 L0021-01 T22", (80.0, 3e-5), "FAR_STEP", math.inf),
    # ℓ 750 mm, then the probe's refinement finds 181 mm (25 nat higher), and a probe
    # beyond that peak finds the best, 78 mm (10.6 nat higher again)
    "walk": (42, 12, "fab 42 L0006-20 T37", (80.0, 5e-3), "MAX_WALK", 1),
}


@pytest.mark.parametrize("case", PANEL_MISSES)
def test_panel_misses_reach_the_higher_peak(case, monkeypatch):
    """The default fit reaches the higher peak within 0.5 nat; without the rule made for
    it, it stays more than 5 nat below."""
    from benchmarks.bench_gp import panel_pairs

    seed, index, label, near, rule, off = PANEL_MISSES[case]
    found, xy, values, sampled = panel_pairs(seed, index + 1)[index]
    assert found == label
    X, y = xy[sampled], values[sampled]
    higher = best_peak(X, y, [near])
    assert GaussianProcess(ard=False).fit(X, y).log_marginal_likelihood_ >= higher - 0.5
    monkeypatch.setattr(optimize, rule, off)
    assert GaussianProcess(ard=False).fit(X, y).log_marginal_likelihood_ < higher - 5
