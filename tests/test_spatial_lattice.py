"""Lattice sums (fabnb.spatial._lattice) against the dense matrices they replace."""

import numpy as np
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from fabnb.geometry import die_grid
from fabnb.spatial import GaussianProcess, _kernels
from fabnb.spatial._lattice import Lattice


def lattice_points(shape, spacing, rng, n_train):
    """All points of a lattice (queries) and a random subset of them (training)."""
    axes = [np.arange(k) * h for k, h in zip(shape, spacing)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(shape))
    return grid, grid[np.sort(rng.choice(len(grid), n_train, replace=False))]


@pytest.mark.parametrize("shape", [(40,), (15, 12), (9, 8, 5)])
def test_weighted_sum_equals_the_dense_cross_correlation(shape):
    rng = np.random.default_rng(len(shape))
    Xq, Xt = lattice_points(shape, [1.5, 2.0, 1.0][: len(shape)], rng, 25)
    inv_ls = rng.uniform(0.1, 0.8, len(shape))
    w = rng.normal(size=(len(Xt), 3))
    dense = _kernels.correlation(Xq, Xt, inv_ls, 0)
    np.testing.assert_allclose(Lattice(Xq, Xt).weighted_sum(inv_ls, w), dense @ w, rtol=1e-12, atol=1e-12)


def test_quadratic_form_equals_the_dense_diagonal():
    rng = np.random.default_rng(3)
    Xq, Xt = lattice_points((14, 11), (3.5, 3.5), rng, 70)
    inv_ls = np.array([1 / 9.0, 1 / 6.0])
    A = rng.normal(size=(70, 70))
    W = A @ A.T / 70 + np.eye(70)
    Rq = _kernels.correlation(Xq, Xt, inv_ls, 0)
    expected = np.einsum("qi,ij,qj->q", Rq, W, Rq)
    got = Lattice(Xq, Xt).quadratic_form(inv_ls, np.tril(W))  # only the lower triangle is read
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def wafer(seed, n_train=300, noise=0.15):
    grid = die_grid(200, die_width_mm=5.0, die_height_mm=5.0)
    xy = np.c_[grid["x"].values, grid["y"].values]
    rng = np.random.default_rng(seed)
    field = np.sin(xy[:, 0] / 25) + np.cos(xy[:, 1] / 35) + noise * rng.normal(size=len(xy))
    train = np.sort(rng.choice(len(xy), n_train, replace=False))
    return xy, xy[train], field[train]


@pytest.mark.parametrize("mean", ["zero", "constant", "linear"])
@pytest.mark.parametrize("ard", [False, True])
def test_gp_predictions_on_the_lattice_equal_the_dense_path(monkeypatch, mean, ard):
    xy, X, y = wafer(seed=4)
    gp = GaussianProcess(mean=mean, ard=ard).fit(X, y)
    calls = []
    gram = _kernels.lattice_gram
    monkeypatch.setattr(_kernels, "lattice_gram", lambda *a: calls.append(1) or gram(*a))
    m, s = gp.predict(xy, return_std=True)
    assert calls  # the lattice path ran
    # with return_std the variance's cost decides the path: force the dense formulas
    monkeypatch.setattr(GaussianProcess, "_lattice_applies", lambda *a: False)
    m_dense, s_dense = gp.predict(xy, return_std=True)
    assert len(calls) == 1
    np.testing.assert_allclose(m, m_dense, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s, s_dense, rtol=1e-6)


@pytest.mark.parametrize("noise", [1e-5, 1e-4])
def test_tiny_noise_ratio_still_matches_sklearn(monkeypatch, noise):
    """With a tiny noise ratio 1 − Q cancels at and next to the training dies: those
    queries are recomputed by the triangular solve, the rest stay on the lattice, and
    the std equals scikit-learn's everywhere."""
    xy, X, y = wafer(seed=5, n_train=150, noise=0.0)
    calls, dense_rows = [], []
    gram = _kernels.lattice_gram
    monkeypatch.setattr(_kernels, "lattice_gram", lambda *a: calls.append(1) or gram(*a))
    dense = GaussianProcess._dense_moments
    monkeypatch.setattr(GaussianProcess, "_dense_moments",
                        lambda self, X, *a: dense_rows.append(len(X)) or dense(self, X, *a))
    gp = GaussianProcess(mean="zero", optimizer=None, length_scale=[10.0, 12.0], signal_variance=1.0,
                         noise=noise).fit(X, y)
    m, s = gp.predict(xy, return_std=True, include_noise=True)
    assert calls and dense_rows and len(X) <= dense_rows[0] < len(xy) // 2
    sk = GaussianProcessRegressor(ConstantKernel(1.0) * RBF([10.0, 12.0]) + WhiteKernel(noise),
                                  optimizer=None, alpha=0.0).fit(X, y)
    m_sk, s_sk = sk.predict(xy, return_std=True)
    np.testing.assert_allclose(m, m_sk, rtol=1e-6, atol=1e-6 * np.abs(m_sk).max())
    np.testing.assert_allclose(s, s_sk, rtol=1e-6)


def test_off_lattice_sites_and_matern_take_the_dense_path():
    rng = np.random.default_rng(6)
    X = rng.uniform(0, 10, (200, 2))
    assert not Lattice(X, X[:50]).mean_applies(0)  # 200 distinct values per axis
    xy, Xt, _ = wafer(seed=6)
    assert Lattice(xy, Xt).mean_applies(0) and not Lattice(xy, Xt).mean_applies(2)


# ------------------------------------------------- group (wafer) random effect, issue 22
def lot(seed, shape, n_per_wafer, trained_wafers):
    """A lot on a die lattice: query rows ``(x[, y], t)`` of every die of every wafer, a
    smooth field plus an independent offset per wafer, and training rows drawn from the
    wafers ``trained_wafers`` only (the others are queried without training data)."""
    rng = np.random.default_rng(seed)
    n_wafers = shape[-1]
    Xq, _ = lattice_points(shape, [2.0] * (len(shape) - 1) + [1.0], rng, 1)
    offsets = 0.7 * rng.normal(size=n_wafers)
    field = np.sin(Xq[:, 0] / 9) + 0.05 * Xq[:, -1] + offsets[Xq[:, -1].astype(int)]
    if len(shape) == 3:
        field += np.cos(Xq[:, 1] / 11)
    train = np.concatenate([rng.choice(np.flatnonzero(Xq[:, -1] == w), n_per_wafer, replace=False)
                            for w in trained_wafers])
    y = field[train] + 0.1 * rng.normal(size=train.size)
    return Xq, Xq[train], y


def both_paths(monkeypatch, gp, Xq, return_std):
    """Predictions by the lattice sums (checked to run) and by the dense formulas."""
    monkeypatch.setattr(GaussianProcess, "_lattice_applies", lambda *a: True)
    sums = []
    weighted = Lattice.weighted_sum
    monkeypatch.setattr(Lattice, "weighted_sum", lambda *a: sums.append(1) or weighted(*a))
    lattice = gp.predict(Xq, return_std=return_std)
    assert sums  # the lattice path ran
    monkeypatch.setattr(GaussianProcess, "_lattice_applies", lambda *a: False)
    return lattice, gp.predict(Xq, return_std=return_std)


@pytest.mark.parametrize("mean", ["constant", "linear"])
@pytest.mark.parametrize("trained_wafers", [range(6), range(4)], ids=["all-wafers", "unseen-wafers"])
def test_group_effect_lattice_moments_equal_the_dense_path(monkeypatch, mean, trained_wafers):
    """GP with a per-wafer random effect on (x, t), 6 wafers of 40 dies: mean and std by
    the lattice sums plus the per-wafer corrections equal the dense formulas, also for
    wafers without training rows (their k* has no group term, their prior variance the
    whole ω)."""
    Xq, X, y = lot(7, (40, 6), 18, trained_wafers)
    gp = GaussianProcess(mean=mean, group_column=-1, seed=0).fit(X, y)
    assert gp.group_variance_ > 1e-3 * gp.signal_variance_  # the effect is really there
    (m, s), (m_dense, s_dense) = both_paths(monkeypatch, gp, Xq, return_std=True)
    np.testing.assert_allclose(m, m_dense, rtol=1e-10, atol=1e-12 * np.abs(m_dense).max())
    # Both paths get the variance as a difference of O(σ_f²) terms; next to training dies
    # it is ~1e-7 σ_f², so they agree to 1e-12 of the prior variance, not 1e-10 relative.
    prior = gp.signal_variance_ + gp.group_variance_
    np.testing.assert_allclose(s**2, s_dense**2, rtol=1e-10, atol=1e-12 * prior)
    if len(trained_wafers) < 6:  # unseen wafers: the offset's variance is not explained away
        unseen = Xq[:, -1] >= len(trained_wafers)
        assert s[unseen].min() > np.sqrt(gp.group_variance_)


@pytest.mark.parametrize("mean", ["constant", "linear"])
def test_group_effect_lattice_mean_in_three_inputs(monkeypatch, mean):
    """GP-ST's geometry (x, y, t): the mean by the lattice sums with the per-wafer term
    equals the dense one (the variance's quadratic form is two-input only)."""
    Xq, X, y = lot(8, (12, 10, 5), 30, range(4))
    gp = GaussianProcess(mean=mean, group_column=-1, length_scale=[8.0, 9.0, 3.0], signal_variance=1.0,
                         noise=0.01, group_variance=0.4, optimizer=None).fit(X, y)
    m, m_dense = both_paths(monkeypatch, gp, Xq, return_std=False)
    np.testing.assert_allclose(m, m_dense, rtol=1e-10, atol=1e-12 * np.abs(m_dense).max())


def test_group_model_takes_the_lattice_path_by_cost():
    """A grouped model is no longer sent to the dense path: on a lattice with a fitted
    inverse the cost model picks the lattice sums, as without the effect."""
    Xq, X, y = lot(9, (40, 6), 18, range(6))
    gp = GaussianProcess(group_column=-1, seed=0).fit(X, y)
    assert gp._lattice_applies(Lattice(Xq, gp.X_train_), 0, return_std=True)
