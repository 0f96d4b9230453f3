"""fabnb.spatial.GaussianProcess against scikit-learn's exact GP, finite differences and
data drawn from a known GP."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, WhiteKernel

from sklearn.utils.estimator_checks import parametrize_with_checks

from fabnb.errors import FabDataError, FabFitError, FabParameterError
from fabnb.spatial import GaussianProcess, SpatioTemporalGP
from fabnb.spatial._linalg import cholesky

SK_KERNELS = {
    "rbf": lambda ls: RBF(ls),
    "matern32": lambda ls: Matern(ls, nu=1.5),
    "matern52": lambda ls: Matern(ls, nu=2.5),
}


def draw_gp(X, length_scale, signal_variance, noise, seed):
    """One draw of y ~ GP(0, σ² RBF(ℓ)) + N(0, noise) using scikit-learn's kernel."""
    K = (ConstantKernel(signal_variance) * RBF(length_scale))(X) + noise * np.eye(len(X))
    return np.linalg.cholesky(K) @ np.random.default_rng(seed).normal(size=len(X))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (150, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.05 * rng.normal(size=150)
    return X, y, rng.uniform(-1.2, 1.2, (60, 2))


@pytest.mark.parametrize("kernel", ["rbf", "matern32", "matern52"])
def test_matches_sklearn_with_fixed_kernel(data, kernel):
    X, y, Xs = data
    ls, s2, noise = [0.3, 0.5], 1.3, 0.01
    ours = GaussianProcess(kernel=kernel, length_scale=ls, signal_variance=s2, noise=noise,
                           mean="zero", optimizer=None).fit(X, y)
    sk = GaussianProcessRegressor(ConstantKernel(s2) * SK_KERNELS[kernel](ls) + WhiteKernel(noise),
                                  optimizer=None, alpha=0.0).fit(X, y)
    m, s = ours.predict(Xs, return_std=True, include_noise=True)
    m_sk, s_sk = sk.predict(Xs, return_std=True)
    np.testing.assert_allclose(m, m_sk, rtol=1e-6, atol=1e-6 * np.abs(m_sk).max())
    np.testing.assert_allclose(s, s_sk, rtol=1e-6)
    assert ours.log_marginal_likelihood_ == pytest.approx(sk.log_marginal_likelihood_value_, rel=1e-8)
    # the latent-field std leaves out exactly the white noise
    s_f = ours.predict(Xs, return_std=True)[1]
    np.testing.assert_allclose(s_f**2 + noise, s_sk**2, rtol=1e-6)
    # full covariance agrees with sklearn's too
    cov = ours.predict(Xs[:10], return_cov=True, include_noise=True)[1]
    np.testing.assert_allclose(cov, sk.predict(Xs[:10], return_cov=True)[1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kernel,mean", [("rbf", "constant"), ("matern32", "linear"), ("matern52", "zero")])
def test_log_likelihood_gradient_matches_finite_differences(data, kernel, mean):
    X, y, _ = data
    gp = GaussianProcess(kernel=kernel, mean=mean, length_scale=[0.4, 0.7], signal_variance=0.8,
                         noise=0.02, optimizer=None).fit(X, y)
    theta = np.log([0.4, 0.7, 0.8, 0.02])
    _, grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    h = 1e-5
    fd = [(gp.log_marginal_likelihood(theta + h * e) - gp.log_marginal_likelihood(theta - h * e)) / (2 * h)
          for e in np.eye(4)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_recovers_hyperparameters_of_a_known_gp():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 10, (400, 2))
    truth = {"length_scale": np.array([1.0, 2.5]), "signal_variance": 2.0, "noise": 0.05}
    fits = [GaussianProcess(mean="zero").fit(X, draw_gp(X, truth["length_scale"], 2.0, 0.05, seed))
            for seed in range(3)]
    ls = np.mean([f.length_scale_ for f in fits], axis=0)
    np.testing.assert_allclose(ls, truth["length_scale"], rtol=0.2)
    assert np.mean([f.noise_ for f in fits]) == pytest.approx(0.05, rel=0.3)
    # σ_f² of a 10-unit window is poorly identified: only require the right magnitude
    assert 0.7 < np.mean([f.signal_variance_ for f in fits]) < 6.0
    # the optimum beats the truth's likelihood (it is a maximum) but not by much
    f = fits[0]
    at_truth = f.log_marginal_likelihood(np.log([1.0, 2.5, 2.0, 0.05]))
    assert at_truth <= f.log_marginal_likelihood_ < at_truth + 10


def test_optimum_is_stationary_and_at_least_as_good_as_sklearn(data):
    X, y, _ = data
    gp = GaussianProcess(kernel="matern52", mean="zero").fit(X, y)
    _, grad = gp.log_marginal_likelihood(eval_gradient=True)
    assert np.abs(grad).max() < 1e-2 * len(y)
    sk = GaussianProcessRegressor(ConstantKernel() * Matern([1.0, 1.0], nu=2.5) + WhiteKernel(),
                                  alpha=0.0).fit(X, y)
    assert gp.log_marginal_likelihood_ >= sk.log_marginal_likelihood_value_ - 1e-3


def test_linear_mean_recovers_the_trend():
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 10, (200, 2))
    y = 3.0 + 0.5 * X[:, 0] - 0.2 * X[:, 1] + draw_gp(X, [1.5, 1.5], 0.1, 0.01, seed=6)
    gp = GaussianProcess(mean="linear", ard=False).fit(X, y)
    np.testing.assert_allclose(gp.mean_coef_[1:], [0.5, -0.2], atol=0.1)
    # far outside the data the prediction follows the trend, not a constant
    far = np.array([[20.0, 5.0]])
    assert gp.predict(far)[0] == pytest.approx(3.0 + 10.0 - 1.0, abs=1.0)


def test_restarts_are_seeded(data):
    X, y, _ = data
    a = GaussianProcess(n_restarts=2, seed=4).fit(X, y)
    b = GaussianProcess(n_restarts=2, seed=4).fit(X, y)
    # the same code path on the same data: the same numbers to the last bit
    np.testing.assert_array_equal(a.length_scale_, b.length_scale_)
    assert a.log_marginal_likelihood_ >= GaussianProcess().fit(X, y).log_marginal_likelihood_ - 1e-6


def test_sklearn_estimator_protocol(data):
    X, y, _ = data
    gp = GaussianProcess(kernel="matern32", ard=False)
    with pytest.raises(NotFittedError):
        gp.predict(X)
    assert gp.fit(X, y) is gp
    twin = clone(gp)
    assert twin.get_params() == gp.get_params() and not hasattr(twin, "length_scale_")
    assert twin.set_params(kernel="rbf").kernel == "rbf"
    assert isinstance(gp.length_scale_, np.ndarray) and gp.length_scale_.shape == (1,)  # ard=False
    assert GaussianProcess().fit(X, y).length_scale_.shape == (2,)
    assert gp.score(X, y) > 0.95  # RegressorMixin R²


def test_bad_input_names_the_problem(data):
    X, y, _ = data
    y_nan = y.copy()
    y_nan[7] = np.nan
    with pytest.raises(FabDataError, match="NaN.*rows \\[7\\]"):
        GaussianProcess().fit(X, y_nan)
    with pytest.raises(FabDataError, match="duplicate sites"):
        GaussianProcess().fit(np.vstack([X, X[:1]]), np.r_[y, y[0]])
    with pytest.raises(FabFitError, match="constant training values"):
        GaussianProcess().fit(X, np.full(len(y), 2.5))
    with pytest.raises(FabFitError, match="too few training sites: 4"):
        GaussianProcess().fit(X[:4], y[:4])
    with pytest.raises(FabParameterError, match="'kernel' parameter of GaussianProcess"):
        GaussianProcess(kernel="cubic").fit(X, y)
    with pytest.raises(FabDataError, match="NaN/inf coordinates in X at rows \\[3\\]"):
        GaussianProcess().fit(np.where(np.arange(len(X))[:, None] == 3, np.inf, X), y)


def test_empty_training_set_is_a_data_error():
    """Issue 25: fitting on nothing raised a plain ValueError from a reshape."""
    with pytest.raises(FabDataError, match="0 sample"):
        GaussianProcess().fit(np.empty((0, 2)), np.empty(0))
    with pytest.raises(FabDataError, match="0 feature"):
        GaussianProcess().fit(np.empty((12, 0)), np.arange(12.0))


@pytest.mark.parametrize("bounds,match", [
    ({"noise": (1e-3, 1.0)}, "unknown key.*'noise'.*allowed keys are \\['length_scale', 'noise_ratio', 'group_ratio'\\]"),
    ({"noise_ratio": (1.0, 1e-3)}, "'noise_ratio' must be a pair.*lo <= hi"),
    ({"length_scale": (0.0, 10.0)}, "'length_scale' must be a pair"),
    ({"length_scale": (-1.0, 10.0)}, "'length_scale' must be a pair"),
    ({"noise_ratio": (1e-6, np.inf)}, "'noise_ratio' must be a pair"),
    ({"noise_ratio": (np.nan, 1.0)}, "'noise_ratio' must be a pair"),
    ({"length_scale": (0.1, None)}, "'length_scale' must be a pair"),
    ({"noise_ratio": 1.0}, "'noise_ratio' must be a pair"),
])
def test_bad_bounds_are_refused(data, bounds, match):
    """Issue 25: bounds={"noise": ...} (a typo for noise_ratio) was accepted and ignored,
    lo > hi was not checked."""
    X, y, _ = data
    with pytest.raises(FabParameterError, match=match):
        GaussianProcess(bounds=bounds).fit(X, y)


def test_bounds_are_used(data):
    X, y, _ = data
    gp = GaussianProcess(ard=False, bounds={"noise_ratio": (0.5, 1.0), "length_scale": (None, 0.05)}).fit(X, y)
    assert 0.5 * (1 - 1e-9) <= gp.noise_ / gp.signal_variance_ <= 1.0 * (1 + 1e-9)
    # an upper bound below the default lower one (half the sites' spacing) wins
    assert gp.length_scale_[0] <= 0.05 * np.ptp(X, axis=0).mean() * (1 + 1e-9)


@pytest.mark.parametrize("params", [
    {"length_scale": -1.0}, {"length_scale": [1.0, 2.0, 3.0]}, {"signal_variance": 0.0},
    {"noise": -1e-3}, {"n_restarts": -1}, {"optimizer": "adam"}, {"mean": "quadratic"},
    {"seed": -1}, {"ard": "yes"}, {"bounds": [(0.1, 1)]},
])
def test_bad_parameters_raise_one_error_naming_the_parameter(data, params):
    X, y, _ = data
    name = next(iter(params))
    with pytest.raises(FabParameterError, match=f"'{name}' parameter of GaussianProcess"):
        GaussianProcess(**params).fit(X, y)


def test_zero_noise_start_with_the_optimiser(data):
    """noise=0 is a valid start (it starts at the noise ratio's lower bound): it used
    to fail with 'math domain error'."""
    X, y, _ = data
    gp = GaussianProcess(noise=0.0).fit(X, y)
    assert gp.noise_ > 0 and np.isfinite(gp.log_marginal_likelihood_)


@pytest.mark.parametrize("factor", [1e-20, 1e-9, 1e9, 1e100])
def test_predictions_scale_with_y(data, factor):
    """Issue 25: the GP is scale-equivariant: fitting factor × y predicts factor × the
    predictions on y (mean and std), at any representable scale.  Values in farads or
    amperes (1e-12) were refused as "constant"."""
    X, y, Xs = data
    gp = GaussianProcess().fit(X, y)
    m, s = gp.predict(Xs, return_std=True)
    # the optimiser stops < 0.01 nat from the optimum, on a likelihood shifted by n log(factor):
    # the hyperparameters agree to ~1e-5, so do the predictions (relative to their scale)
    fitted = GaussianProcess().fit(X, factor * y)
    m_c, s_c = fitted.predict(Xs, return_std=True)
    np.testing.assert_allclose(fitted.length_scale_, gp.length_scale_, rtol=1e-4)
    np.testing.assert_allclose(m_c, factor * m, rtol=1e-4, atol=1e-4 * factor * np.abs(m).max())
    np.testing.assert_allclose(s_c, factor * s, rtol=1e-4)
    # with the same hyperparameters the prediction itself is equivariant to rounding
    fixed = GaussianProcess(length_scale=gp.length_scale_, signal_variance=factor**2 * gp.signal_variance_,
                            noise=factor**2 * gp.noise_, optimizer=None).fit(X, factor * y)
    m_f, s_f = fixed.predict(Xs, return_std=True)
    np.testing.assert_allclose(m_f, factor * m, rtol=1e-9, atol=1e-12 * factor * np.abs(m).max())
    np.testing.assert_allclose(s_f, factor * s, rtol=1e-9)


@pytest.mark.parametrize("factor,match", [(1e200, "overflows"), (1e-200, "underflows")])
def test_unrepresentable_scale_is_a_clear_error_not_nan(data, factor, match):
    """Issue 25: a GP on y of order 1e200 predicted NaN."""
    X, y, _ = data
    with pytest.raises(FabDataError, match=match):
        GaussianProcess().fit(X, factor * y)


def test_ill_conditioning_jitter_then_error():
    X = np.c_[np.linspace(0, 1, 60), np.zeros(60)]
    y = np.sin(X[:, 0])
    gp = GaussianProcess(length_scale=10.0, signal_variance=1.0, noise=0.0, optimizer=None).fit(X, y)
    assert gp.jitter_ > 0  # noise-free smooth kernel on dense sites needs jitter
    with pytest.raises(FabFitError, match="n=2.*not positive definite.*condition number"):
        cholesky(np.array([[1.0, 2.0], [2.0, 1.0]]), "kernel matrix")


def expected_failed_checks(estimator):
    """scikit-learn checks that cannot apply, with the reason."""
    return {
        "check_positive_only_tag_during_fit": (
            "fits iris, which has a repeated row; the GP refuses duplicate sites by design "
            "(FabDataError: average repeats first) — negative X itself is fine"),
    }


@parametrize_with_checks([GaussianProcess(), SpatioTemporalGP()], expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    """Every scikit-learn estimator check, warnings not suppressed."""
    check(estimator)


def test_grid_sites_use_the_lookup_path_and_still_match_sklearn(monkeypatch):
    """Dies on a lattice: the training matrix is built by table look-up
    (fabnb.spatial._correlation) and predictions by the separable lattice sums
    (fabnb.spatial._lattice); they must still equal scikit-learn's."""
    from fabnb.spatial import _correlation, _kernels

    g = np.arange(-10.0, 10.5, 1.0)
    grid = np.c_[np.repeat(g, g.size), np.tile(g, g.size)]
    rng = np.random.default_rng(2)
    X = grid[rng.choice(len(grid), 120, replace=False)]
    y = np.sin(X[:, 0] / 3) + 0.1 * X[:, 1] + 0.05 * rng.normal(size=len(X))
    inv_ls = np.array([1 / 3.0, 1 / 5.0])
    np.testing.assert_allclose(_correlation.correlation(X, None, inv_ls, 0),
                               _kernels.correlation_sym(X, inv_ls, 0), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(_correlation.correlation(X, grid, inv_ls, 0),
                               _kernels.correlation(X, grid, inv_ls, 0), rtol=1e-14, atol=1e-300)
    calls = []
    lookup, gram = _kernels.separable_correlation, _kernels.lattice_gram
    monkeypatch.setattr(_kernels, "separable_correlation", lambda *a: calls.append("lookup") or lookup(*a))
    monkeypatch.setattr(_kernels, "lattice_gram", lambda *a: calls.append("lattice") or gram(*a))
    ours = GaussianProcess(length_scale=[3.0, 5.0], signal_variance=1.1, noise=0.01, mean="zero",
                           optimizer=None).fit(X, y)
    m, s = ours.predict(grid, return_std=True, include_noise=True)
    assert calls == ["lookup", "lattice"]  # training matrix by look-up, variances on the lattice
    sk = GaussianProcessRegressor(ConstantKernel(1.1) * RBF([3.0, 5.0]) + WhiteKernel(0.01),
                                  optimizer=None, alpha=0.0).fit(X, y)
    m_sk, s_sk = sk.predict(grid, return_std=True)
    np.testing.assert_allclose(m, m_sk, rtol=1e-6, atol=1e-6 * np.abs(m_sk).max())
    np.testing.assert_allclose(s, s_sk, rtol=1e-6)


def test_coarse_to_fine_fit_reaches_the_full_data_optimum():
    """n >= 2 × the coarse subsample: the optimum found must be as good as a plain
    L-BFGS-B run from scratch on all the data, up to the refinement's stopping rule
    (< 0.01 nat left to gain; one standard error of a hyperparameter costs 0.5 nat)."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(11)
    X = rng.uniform(0, 10, (450, 2))
    y = draw_gp(X, [1.2, 2.0], 1.5, 0.03, seed=12)
    gp = GaussianProcess(mean="zero").fit(X, y)
    _, grad = gp.log_marginal_likelihood(eval_gradient=True)
    assert np.abs(grad).max() < 1.0  # the curvature is ~n = 450 per log-unit

    def negative(theta):
        value, g = gp.log_marginal_likelihood(theta, eval_gradient=True)
        return -value, -g

    start = np.log([2.0, 2.0, float(np.var(y)), 0.05 * float(np.var(y))])
    plain = minimize(negative, start, jac=True, method="L-BFGS-B")
    assert gp.log_marginal_likelihood_ >= -plain.fun - 0.02


def test_warm_start_refit_matches_a_cold_fit():
    rng = np.random.default_rng(13)
    X = rng.uniform(0, 10, (300, 2))
    y = draw_gp(X, [1.5, 1.5], 1.0, 0.02, seed=14)
    warm = GaussianProcess(ard=False, warm_start=True).fit(X[:120], y[:120])
    first = warm.length_scale_.copy()
    warm.fit(X, y)
    cold = GaussianProcess(ard=False).fit(X, y)
    assert abs(warm.length_scale_[0] - first[0]) > 1e-6 * first[0]  # it really refitted
    # equal up to the refinement's stopping rule (< 0.01 nat left to gain, see GaussianProcess._maximise)
    assert warm.log_marginal_likelihood_ == pytest.approx(cold.log_marginal_likelihood_, abs=0.02)
    np.testing.assert_allclose(warm.length_scale_, cold.length_scale_, rtol=1e-2)


def test_conditioned_equals_a_fixed_kernel_fit(data):
    X, y, Xs = data
    gp = GaussianProcess(kernel="matern52").fit(X, y)
    local = gp.conditioned(X[:70], y[:70])
    fixed = GaussianProcess(kernel="matern52", length_scale=gp.length_scale_, signal_variance=gp.signal_variance_,
                            noise=gp.noise_, optimizer=None).fit(X[:70], y[:70])
    for a, b in zip(local.predict(Xs, return_std=True), fixed.predict(Xs, return_std=True)):
        np.testing.assert_allclose(a, b, rtol=1e-8)  # same model; only rounding differs
    assert gp.X_train_.shape[0] == len(X)  # the original model is untouched


# ---------------------------------------------------------------- group random effect (issue 22)
def grouped_data(seed=0, n=150, n_groups=6, offset_sd=0.5):
    """Sites (x, y, g) with a smooth field, an independent offset per group g and noise."""
    rng = np.random.default_rng(seed)
    X = np.c_[rng.uniform(-1, 1, (n, 2)), rng.integers(0, n_groups, n).astype(float)]
    offsets = offset_sd * rng.normal(size=n_groups)
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + offsets[X[:, 2].astype(int)] + 0.05 * rng.normal(size=n)
    return X, y


def dense_group_model(X1, X2, ls, s2, sw):
    """σ_f² RBF(ℓ) + σ_w² 1[g = g'] built by hand with scikit-learn's RBF (g = last column)."""
    return s2 * RBF(ls)(X1, X2) + sw * (X1[:, -1][:, None] == X2[:, -1][None, :])


GROUP_HYPER = {"ls": [0.4, 0.6, 2.0], "s2": 0.8, "sw": 0.3, "sn": 0.01}


def fixed_group_gp(X, y, mean="constant"):
    h = GROUP_HYPER
    return GaussianProcess(length_scale=h["ls"], signal_variance=h["s2"], noise=h["sn"], group_column=-1,
                           group_variance=h["sw"], mean=mean, optimizer=None).fit(X, y)


@pytest.mark.parametrize("mean", ["constant", "linear", "zero"])
def test_group_effect_likelihood_equals_a_dense_gaussian(mean):
    """With k = σ_f² R + σ_w² 1[g = g'] + σ_n² 1[same site], ℓ is the multivariate normal
    log-pdf of y (scipy) with the full covariance built by hand and the GLS mean."""
    from scipy.stats import multivariate_normal

    from fabnb.spatial.gp import mean_basis

    X, y = grouped_data()
    gp = fixed_group_gp(X, y, mean)
    h = GROUP_HYPER
    K = dense_group_model(X, X, h["ls"], h["s2"], h["sw"]) + h["sn"] * np.eye(len(y))
    H = mean_basis(X, mean)
    Kinv = np.linalg.inv(K)
    beta = np.linalg.solve(H.T @ Kinv @ H, H.T @ Kinv @ y) if H.shape[1] else np.empty(0)
    expected = multivariate_normal(H @ beta, K).logpdf(y)
    assert gp.log_marginal_likelihood_ == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(gp.mean_coef_, beta, rtol=1e-8, atol=1e-10)
    assert gp.group_variance_ == pytest.approx(h["sw"], rel=1e-12)


@pytest.mark.parametrize("kernel", ["rbf", "matern32"])
def test_group_effect_gradient_matches_finite_differences(kernel):
    """∂ℓ/∂log σ_w² (= ∂ℓ/∂log ω at fixed σ_f²) and the others, against central differences."""
    X, y = grouped_data(seed=1)
    h = GROUP_HYPER
    gp = GaussianProcess(kernel=kernel, length_scale=h["ls"], signal_variance=h["s2"], noise=h["sn"],
                         group_column=-1, group_variance=h["sw"], optimizer=None).fit(X, y)
    theta = np.log(h["ls"] + [h["s2"], h["sw"], h["sn"]])
    _, grad = gp.log_marginal_likelihood(theta, eval_gradient=True)
    step = 1e-5
    fd = [(gp.log_marginal_likelihood(theta + step * e) - gp.log_marginal_likelihood(theta - step * e)) / (2 * step)
          for e in np.eye(theta.size)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)
    # the optimiser's own parametrisation: log ω at fixed σ_f², σ_f² profiled
    fitted = GaussianProcess(kernel=kernel, group_column=-1, seed=0).fit(X, y)
    _, g_fit = fitted.log_marginal_likelihood(eval_gradient=True)
    assert abs(g_fit[-2]) < 1e-2 * len(y)  # stationary in log σ_w² (or at its bound)


def test_group_effect_prediction_equals_the_dense_conditional_gaussian():
    """Mean, std and covariance at new sites (one in a group never seen in training:
    its offset is a fresh draw, prior variance σ_f² + σ_w²) by the universal-kriging
    formulas written out densely."""
    X, y = grouped_data(seed=2)
    h = GROUP_HYPER
    gp = fixed_group_gp(X, y)
    rng = np.random.default_rng(3)
    Xs = np.c_[rng.uniform(-1, 1, (7, 2)), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 9.0]]
    K = dense_group_model(X, X, h["ls"], h["s2"], h["sw"]) + h["sn"] * np.eye(len(y))
    Ks = dense_group_model(Xs, X, h["ls"], h["s2"], h["sw"])
    Kss = dense_group_model(Xs, Xs, h["ls"], h["s2"], h["sw"])
    Kinv = np.linalg.inv(K)
    H = np.ones((len(y), 1))
    A = H.T @ Kinv @ H
    beta = np.linalg.solve(A, H.T @ Kinv @ y)
    mean = beta[0] + Ks @ Kinv @ (y - H @ beta)
    U = 1.0 - Ks @ Kinv @ H
    cov = Kss - Ks @ Kinv @ Ks.T + U @ np.linalg.solve(A, U.T)
    m, c = gp.predict(Xs, return_cov=True)
    np.testing.assert_allclose(m, mean, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(c, cov, rtol=1e-8, atol=1e-10)
    m, s = gp.predict(Xs, return_std=True, include_noise=True)
    np.testing.assert_allclose(s, np.sqrt(np.diag(cov) + h["sn"]), rtol=1e-8)
    assert s[-1] > np.sqrt(h["s2"] + h["sw"]) * 0.9  # unseen group: the offset is unknown


def test_group_column_is_checked():
    X, y = grouped_data()
    with pytest.raises(FabParameterError, match="'group_column' parameter of GaussianProcess"):
        GaussianProcess(group_column=3).fit(X, y)
    with pytest.raises(FabParameterError, match="'group_column' parameter of GaussianProcess"):
        GaussianProcess(group_column=1.5).fit(X, y)
    with pytest.raises(FabParameterError, match="'group_variance' parameter of GaussianProcess"):
        GaussianProcess(group_column=-1, group_variance=-1.0).fit(X, y)


# ------------------------------------- GP-ST-PS: warm refits skip a decided test (issue 22)
def offset_lot(seed, n_wafers=8, offset_sd=0.6, n_per_wafer=40):
    """Sites (x, y, t) of a lot whose wafers share a smooth pattern and each carry an
    independent offset N(0, offset_sd²), in a random picking order (as progressive
    sampling adds them)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-50, 50, (n_wafers * n_per_wafer, 2))
    t = np.repeat(np.arange(float(n_wafers)), n_per_wafer)
    offsets = offset_sd * rng.normal(size=n_wafers)
    y = np.sin(xy[:, 0] / 20) + np.cos(xy[:, 1] / 25) + offsets[t.astype(int)] + 0.05 * rng.normal(size=t.size)
    order = rng.permutation(t.size)
    return np.c_[xy, t][order], y[order]


def test_warm_refits_keep_a_decided_wafer_effect_as_the_full_test_would():
    """Once the likelihood-ratio test kept the effect with 2Δℓ >= 30, warm refits on a
    growing training set refit only the model with the effect; at every increment the
    choice is the one a cold fit of both models makes on the same rows (real offsets)."""
    X, y = offset_lot(seed=3)
    warm = SpatioTemporalGP(seed=0, warm_start=True)
    fitted = []
    for n in (80, 160, 240, 320):
        warm.fit(X[:n], y[:n])
        cold = SpatioTemporalGP(seed=0).fit(X[:n], y[:n])
        assert cold.lr_statistic_ > 2.706 and cold.wafer_effect_  # the full test keeps it
        assert warm.wafer_effect_ == cold.wafer_effect_
        fitted.append(set(warm.log_marginal_likelihoods_))
    assert fitted[0] == {False, True} and warm.lr_statistic_ >= 30
    assert fitted[1:] == [{True}] * 3  # the decided test was not repeated


def test_warm_refit_on_other_data_tests_again():
    """The shortcut needs the new rows to extend the previous ones: a warm refit on
    another lot (smooth in t, no offsets) fits both models again and drops the effect
    if the test says so, instead of carrying the old decision over."""
    X, y = offset_lot(seed=3)
    warm = SpatioTemporalGP(seed=0, warm_start=True).fit(X[:160], y[:160])
    assert warm.lr_statistic_ >= 30
    X2, y2 = offset_lot(seed=4, offset_sd=0.0)
    warm.fit(X2[:160], y2[:160])
    cold = SpatioTemporalGP(seed=0).fit(X2[:160], y2[:160])
    assert set(warm.log_marginal_likelihoods_) == {False, True}
    assert warm.wafer_effect_ == cold.wafer_effect_


def test_linear_mean_on_sites_that_do_not_span_the_inputs_raises():
    """All sites on one die row: the mean's y slope is not estimable.  Before this check
    the fit factorised HᵀK⁻¹H with jitter and predicted a std of ~5e4 off the row for data
    of range ±1; now the fit says why and what to do."""
    x = np.linspace(-100, 100, 60)
    X = np.c_[x, np.zeros(60)]
    y = np.sin(x / 30)
    with pytest.raises(FabFitError, match=r"mean='linear'.*input 1 is constant \(0\).*mean='constant'"):
        GaussianProcess(mean="linear").fit(X, y)
    with pytest.raises(FabFitError, match="lie on a line"):
        GaussianProcess(mean="linear").fit(np.c_[x, 2 * x + 1], y)
    fitted = GaussianProcess(mean="constant").fit(X, y)  # the constant mean needs no spread
    assert np.all(fitted.predict(np.array([[0.0, 50.0]]), return_std=True)[1] < 10)
