"""Exact Gaussian-process regression with a profiled mean (universal kriging).

Model
-----
``y = H β + f(x) + ε`` with ``f ~ GP(0, σ_f² R_ℓ)`` and ``ε ~ N(0, σ_n²)``, where ``R_ℓ``
is a stationary unit-variance correlation (squared exponential, Matérn 3/2 or 5/2, see
:mod:`._kernels`) with one length scale per input (ARD) or one shared, and ``H`` holds
the mean's basis: nothing (``mean="zero"``), a column of ones (``"constant"``, ordinary
kriging) or ``[1, x]`` (``"linear"``, universal kriging).

Writing ``K = σ_f² (R + η I)`` with the noise ratio ``η = σ_n²/σ_f²``:

* β is profiled out by generalised least squares, ``β̂ = (Hᵀ K⁻¹ H)⁻¹ Hᵀ K⁻¹ y``,
  residual ``r = y − H β̂``, ``α = K⁻¹ r``;
* the log marginal likelihood is
  ``ℓ(θ) = −½ rᵀα − ½ log|K| − (n/2) log 2π``;
* when hyperparameters are optimised, σ_f² is profiled out too:
  ``σ̂_f² = rᵀ(R + ηI)⁻¹r / n``, leaving L-BFGS-B only ``log ℓ_k`` and ``log η``;
* because β̂ and σ̂_f² are stationary points, the gradient of the profiled likelihood is
  the partial gradient of ℓ (envelope theorem):
  ``∂ℓ/∂θ_j = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ_j)``, with ``∂K/∂log η = σ_f² η I`` and
  ``∂K/∂log ℓ_k = σ_f² ∂R/∂log ℓ_k`` (summed in Numba without forming the matrix).

Group random effect (``group_column``, issue 22).  Rows that share a value ``g`` of one
column (a wafer of a lot) share an independent offset ``b_g ~ N(0, σ_f² ω)``:
``k((x, g), (x', g')) = σ_f² [R(x, x') + ω 1[g = g'] + η 1[same site]]``, i.e.
``K = σ_f² (R + ω Z Zᵀ + η I)`` with ``Z`` the (n, groups) indicator matrix.  ω is one
more ML-II hyperparameter (log ω optimised with the others, σ_f² still profiled) with
``∂ℓ/∂log ω = ½ σ_f² ω Σ_groups Σ_{i,j ∈ g} (α_i α_j − K⁻¹_ij)``; the group column also
stays an input of ``R`` (the smooth drift in t).  Prediction: ``k*`` gains
``σ_f² ω 1[g* = g_j]`` and the prior variance ``σ_f² ω``; a query in a group without
training rows gets the offset's full variance.  Without ``group_column`` (the default)
the model, the arithmetic and the results are those above, unchanged.

Prediction at ``x*`` with ``k* = σ_f² R(X, x*)``, ``h*`` its mean basis, ``L Lᵀ = K``,
``v = L⁻¹ k*`` and ``u = h* − (L⁻¹H)ᵀ v``:
``m(x*) = h*ᵀβ̂ + k*ᵀα`` and ``var f(x*) = σ_f² − vᵀv + uᵀ(Hᵀ K⁻¹ H)⁻¹ u``
(the last term is the price of estimating β, as in universal kriging).

Fitting.  Hyperparameters are found coarse to fine (:mod:`._optimize`): every start is
optimised with L-BFGS-B on 100 random sites, the optimum is refined on nested subsamples
of 200, 400, … sites and finally on all n, each stage starting from the previous one's
inverse Hessian scaled by m_prev/m, and stopping once a Newton step could gain less than
0.01 nat.  A stage then costs 1–3 evaluations.  One more evaluation on all n, a probe at
half the length scale and e times the noise ratio of the optimum, decides whether a
second basin may hold a higher peak (a single path ended 4–22 nat below the best of
several full restarts on about 1 (wafer, test) pair in 4 of the synthetic fab, issue 22);
only then is the probe refined too and the better peak kept; where its refinement only
climbs back along a ridge, probes twice and four times as far follow the ridge, and a
higher peak found is probed beyond in turn.  A refinement that ends on a bound, or jumps
far from its start, is checked by L-BFGS-B from its start.  ``warm_start`` refits start
from the previous fit instead.

Prediction on a die lattice.  With the squared exponential and sites on a grid, the
mean and the variance are computed by separable lattice sums (:mod:`._lattice`), which
give the same numbers as the formulas above at ~1/8 of the time on a 300 mm wafer
(550 training dies, 5,356 queries: 16 ms instead of 130 ms for mean and std), reusing
the ``(R + ηI)⁻¹`` that the fit's last gradient formed.  A group effect adds per-group
terms to those sums (one more weighted sum per queried group and per-group scalars:
``GaussianProcess._lattice_moments``), so it keeps the lattice path.

Cholesky factorisation and inverse: :mod:`._linalg` (LAPACK, with jitter escalation and
:class:`~fabnb.errors.FabFitError` saying why when even that fails).

Example
-------
>>> import numpy as np
>>> from fabnb.spatial import GaussianProcess
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(-1, 1, (80, 2)); y = np.sin(3 * X[:, 0]) + X[:, 1]
>>> gp = GaussianProcess(kernel="rbf").fit(X, y)
>>> mean, std = gp.predict(X[:3], return_std=True)
>>> bool(np.allclose(mean, y[:3], atol=0.05))
True
"""

from __future__ import annotations

import copy
import math

import numpy as np
from scipy.linalg import cho_solve, lapack, solve_triangular
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted, validate_data

from .._params import CheckedParams, Integral, Interval, Real, StrOptions
from ..errors import FabDataError, FabFitError, FabParameterError
from . import _composite, _kernels, _lattice
from ._correlation import correlation, levels
from ._linalg import cholesky, cholesky_inverse
from ._optimize import FAILED, coarse_to_fine, dense, maximise
from ._threads import blas_threads
from .kernels import Kernel

KERNELS = {"rbf": 0, "matern32": 1, "matern52": 2}
MEANS = ("zero", "constant", "linear")
_PREDICT_BLOCK = 4096  # columns of k* per block: bounds memory at n × 4096 floats
_LOG_2PI = math.log(2 * math.pi)
# |y| above this (or a spread below its inverse) leaves y², and sums of n of them, outside
# float64: variances overflow to inf (then NaN) or underflow to 0.
_Y_LIMIT = 1e150
BOUNDS = {"length_scale": (None, 100.0), "noise_ratio": (1e-6, 10.0), "group_ratio": (1e-6, 1e3)}


def check_training_data(estimator, X, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate a training set for ``estimator``: scikit-learn's format checks (2-D numeric
    ``X`` with at least one row and column, 1-D ``y`` of the same length, no sparse or
    complex input; they also set ``n_features_in_``), then finite values, at least
    ``estimator._n_min(n_features)`` distinct sites, values whose variance float64 can
    hold, not constant.  Raises :class:`FabDataError` / :class:`FabFitError` (and
    scikit-learn's ``TypeError`` for sparse or non-numeric ``X``)."""
    name = type(estimator).__name__
    values = np.asarray(y)
    if values.dtype.kind in "biuf":  # else scikit-learn's checks below say what is wrong
        bad = ~np.isfinite(values.reshape(-1))
        if bad.any():
            raise FabDataError(
                f"{bad.sum()} NaN/inf training value(s) at rows {np.flatnonzero(bad)[:5].tolist()}: "
                "drop unmeasured sites before fitting"
            )
    try:
        X, y = validate_data(estimator, X, y, dtype=np.float64, ensure_all_finite=False, y_numeric=True)
    except ValueError as err:  # a TypeError (sparse X, a dict in X) stays what it is
        raise FabDataError(f"{name}.fit: {err}") from None
    y = np.asarray(y, dtype=float)
    _check_finite_sites(X)
    n_min = estimator._n_min(X.shape[1])
    if X.shape[0] < n_min:
        raise FabFitError(f"too few training sites: {X.shape[0]} sample(s), {name} with these "
                          f"parameters needs at least {n_min}")
    _, first, counts = np.unique(X, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        raise FabDataError(
            f"duplicate sites in X ({(counts > 1).sum()} sites measured more than once, "
            f"first at row {np.sort(first[counts > 1])[0]}): average repeats first"
        )
    scale, spread = float(np.abs(y).max()), float(np.ptp(y))
    if scale > _Y_LIMIT:
        raise FabDataError(f"training values up to {scale:.3g} in magnitude: their variance overflows "
                           f"float64 (|y| must stay below {_Y_LIMIT:g}); fit y in other units")
    if spread <= 1e-12 * scale:
        raise FabFitError(f"constant training values (all {y[0]:g}): nothing to model")
    if spread < 1 / _Y_LIMIT:
        raise FabDataError(f"training values vary by only {spread:.3g}: their variance underflows "
                           f"float64 (the spread must exceed {1 / _Y_LIMIT:g}); fit y in other units")
    return X, y


def _check_finite_sites(X: np.ndarray) -> None:
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise FabDataError(f"NaN/inf coordinates in X at rows {np.flatnonzero(bad)[:5].tolist()}")


def check_query(estimator, X) -> np.ndarray:
    """Validate prediction sites for a fitted ``estimator``: 2-D numeric, as many
    columns as in training (scikit-learn's checks), finite.  Raises :class:`FabDataError`."""
    try:
        X = validate_data(estimator, X, reset=False, dtype=np.float64, ensure_all_finite=False)
    except ValueError as err:
        raise FabDataError(f"{type(estimator).__name__}.predict: {err}") from None
    _check_finite_sites(X)
    return X


def check_length_scale(owner: str, length_scale, n_ls: int) -> None:
    """Raise :class:`FabParameterError` unless ``length_scale`` is None, one positive
    finite number or ``n_ls`` of them."""
    if length_scale is None:
        return
    try:
        ls = np.asarray(length_scale, dtype=float)
        ok = ls.ndim <= 1 and ls.size in (1, n_ls) and bool(np.isfinite(ls).all() and (ls > 0).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FabParameterError(
            f"The 'length_scale' parameter of {owner} must be a positive finite number or {n_ls} of "
            f"them (one per length scale of the model). Got {length_scale!r} instead."
        )


def check_bounds(owner: str, bounds) -> None:
    """Raise :class:`FabParameterError` unless ``bounds`` (a dict or None) has only the
    keys of :data:`BOUNDS`, each a pair ``(lo, hi)`` of positive finite numbers with
    ``lo <= hi`` (the length scale's ``lo`` may be None: see :class:`GaussianProcess`)."""
    if bounds is None:
        return
    unknown = sorted(set(bounds) - set(BOUNDS), key=str)
    if unknown:
        raise FabParameterError(f"The 'bounds' parameter of {owner} has unknown key(s) {unknown}: "
                                f"allowed keys are {list(BOUNDS)}.")
    for key, pair in bounds.items():
        try:
            lo, hi = pair
            ok = all(v is None and (key, i) == ("length_scale", 0)
                     or isinstance(v, Real) and 0 < v < math.inf for i, v in enumerate((lo, hi)))
            ok = ok and (lo is None or lo <= hi)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise FabParameterError(
                f"The 'bounds' parameter of {owner}: {key!r} must be a pair (lo, hi) of positive "
                f"finite numbers with lo <= hi{' (lo may be None)' if key == 'length_scale' else ''}. "
                f"Got {pair!r} instead."
            )


def mean_basis(X: np.ndarray, mean: str) -> np.ndarray:
    """The mean's design matrix H: (n, 0), ones (n, 1) or ``[1, X]`` (n, d+1)."""
    n = X.shape[0]
    if mean == "zero":
        return np.empty((n, 0))
    if mean == "constant":
        return np.ones((n, 1))
    return np.hstack([np.ones((n, 1)), X])


def training_mean_basis(owner: str, X: np.ndarray, mean: str) -> np.ndarray:
    """The mean's design matrix H on training sites, which must determine its coefficients.

    ``mean="linear"`` on sites that do not span the inputs (one die row, one line, one
    wafer of a lot) leaves a slope that no data decides: the fit would return an arbitrary
    coefficient and, off that line, a predictive std of ~1e4 times the data's (H's
    Cholesky only factorises after jitter).  So this raises instead.

    Example
    -------
    >>> X = np.c_[np.linspace(0, 1, 5), np.zeros(5)]      # every site at y = 0
    >>> training_mean_basis("GaussianProcess", X, "constant").shape
    (5, 1)
    >>> training_mean_basis("GaussianProcess", X, "linear")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    fabnb.errors.FabFitError: GaussianProcess(mean='linear'): the 5 training sites do not span...
    """
    H = mean_basis(X, mean)
    if H.shape[1] > 1 and np.linalg.matrix_rank(H) < H.shape[1]:
        flat = [f"input {j} is constant ({X[0, j]:g})" for j in range(X.shape[1]) if np.ptp(X[:, j]) == 0]
        why = ", ".join(flat) if flat else "they lie on a line (plane) of the inputs"
        raise FabFitError(
            f"{owner}(mean='linear'): the {X.shape[0]} training sites do not span the inputs "
            f"({why}), so a slope of the mean cannot be estimated; use mean='constant' or "
            "add sites off that line")
    return H


def same_group(groups1: np.ndarray, groups2: np.ndarray) -> np.ndarray:
    """``1[g_i = g'_j]`` as a float matrix (n1, n2): the random effect's correlation."""
    return (groups1[:, None] == groups2[None, :]).astype(float)


class _Factorised:
    """Everything a likelihood evaluation computes, reused by ``fit`` and ``predict``.

    ``groups`` (integer codes, one per site) and ``omega`` add the group random effect:
    the factorised matrix is ``R + ω Z Zᵀ + η I`` while ``self.R`` keeps the kernel's own
    off-diagonal (the length-scale gradient reads it)."""

    def __init__(self, X, y, H, kind, inv_ls, eta, signal_variance=None, site_levels=None,
                 groups=None, omega=0.0):
        n = X.shape[0]
        self.R = correlation(X, None, inv_ls, kind, site_levels)
        self.R[np.diag_indices(n)] += eta  # the gradient reads only the off-diagonal
        self.groups, self.omega = groups, omega
        if groups is None:
            self.L, self.jitter = cholesky(self.R, "correlation matrix")
        else:
            self.L, self.jitter = cholesky(self.R + omega * same_group(groups, groups), "correlation matrix")
        self.LinvH = solve_triangular(self.L, H, lower=True, check_finite=False)
        Linvy = solve_triangular(self.L, y, lower=True, check_finite=False)
        if H.shape[1]:
            A = self.LinvH.T @ self.LinvH  # Hᵀ(R+ηI)⁻¹H
            self.LA, _ = cholesky(A, "mean design Hᵀ K⁻¹ H (collinear mean basis)")
            rhs = self.LinvH.T @ Linvy
            self.beta = lapack.dpotrs(self.LA, rhs, lower=1)[0]
            z = Linvy - self.LinvH @ self.beta
        else:
            self.LA, self.beta, z = None, np.empty(0), Linvy
        self.quad = float(z @ z)  # rᵀ(R+ηI)⁻¹r
        self.n = n
        self.sigma2 = self.quad / n if signal_variance is None else float(signal_variance)
        self.alpha_R = solve_triangular(self.L, z, lower=True, trans="T", check_finite=False)
        self.logdet_R = 2.0 * float(np.log(np.diag(self.L)).sum())
        self.Rinv = None  # (R + ηI)⁻¹, lower triangle, once the gradient has needed it

    def inverse(self) -> np.ndarray:
        """``(R + ηI)⁻¹`` (lower triangle), kept once formed."""
        if self.Rinv is None:
            self.Rinv = cholesky_inverse(self.L)
        return self.Rinv

    def log_likelihood(self) -> float:
        s2 = self.sigma2
        return -0.5 * self.quad / s2 - 0.5 * (self.n * math.log(s2) + self.logdet_R) - 0.5 * self.n * _LOG_2PI

    def gradient(self, X, kind, inv_ls, eta, n_ls):
        """∂ℓ/∂(log ℓ_1..d, log σ_f², [log ω,] log η) at fixed σ_f² (see module docstring)."""
        s2 = self.sigma2
        Rinv = self.inverse()
        a = self.alpha_R / math.sqrt(s2)
        g_ls = 0.5 * _kernels.lengthscale_grad(X, inv_ls, a, Rinv, kind, self.R)
        if n_ls == 1:
            g_ls = np.array([g_ls.sum()])
        g_s2 = 0.5 * (self.quad / s2 - self.n)
        g_eta = 0.5 * eta * (float(a @ a) - float(np.trace(Rinv)))
        if self.groups is None:
            return np.concatenate([g_ls, [g_s2, g_eta]])
        # ∂K/∂log ω = σ_f² ω Z Zᵀ: ½ ω Σ_groups [(Σ_{i∈g} a_i)² − Σ_{i,j∈g} (R+ωZZᵀ+ηI)⁻¹_ij]
        a_sums = np.bincount(self.groups, weights=a)
        g_omega = 0.5 * self.omega * (float(a_sums @ a_sums) - _kernels.same_group_sum(Rinv, self.groups))
        return np.concatenate([g_ls, [g_s2, g_omega, g_eta]])


class GaussianProcess(CheckedParams, RegressorMixin, BaseEstimator):
    """Gaussian-process regression (kriging) with ML-II hyperparameters.

    Parameters
    ----------
    kernel : {"rbf", "matern32", "matern52"} or fabnb.spatial.kernels.Kernel
        Correlation function; "rbf" is the squared exponential of the virtual-probe paper.
        A kernel object (sums and products of :mod:`fabnb.spatial.kernels`, e.g.
        :func:`~fabnb.spatial.kernels.reticle_kernel`) is the whole covariance, all its
        free hyperparameters fitted by ML-II (:mod:`._composite`); ``length_scale``,
        ``signal_variance``, ``noise`` and ``bounds`` must then be None, ``ard`` does not
        apply, ``group_column`` adds a fitted group term, and the fitted kernel is
        ``kernel_``.
    length_scale : float or array-like, optional
        Fixed length scale(s) when ``optimizer=None``, otherwise the optimiser's starting
        point.  Default: 0.3 × the data's span in each input.
    ard : bool
        One length scale per input column (True) or one shared (False).
    signal_variance, noise : float, optional
        Signal variance σ_f² and white-noise variance σ_n² (same units as y²).  Used as
        given when ``optimizer=None``; otherwise σ_f² is profiled out in closed form and
        ``noise`` sets the starting noise ratio.  Defaults: var(y) and 0.05 var(y).
    mean : {"constant", "linear", "zero"}
        Mean basis, profiled out by generalised least squares.
    optimizer : {"lbfgsb", None}
        Maximise the log marginal likelihood with L-BFGS-B and analytic gradients, or
        keep the given hyperparameters.
    n_restarts : int
        Extra optimiser starts drawn uniformly (in log space) inside ``bounds``.
    bounds : dict, optional
        ``{"length_scale": (lo, hi), "noise_ratio": (lo, hi), "group_ratio": (lo, hi)}``,
        each key optional; lo/hi are multiples of each input's span (length scale) and
        plain ratios σ_n²/σ_f² (noise) and σ_w²/σ_f² (group), positive, finite, lo <= hi.
        Default ``{"length_scale": (None, 100), "noise_ratio": (1e-6, 10),
        "group_ratio": (1e-6, 1e3)}``, where ``None``
        means half the median nearest-neighbour spacing of the training sites (at least
        0.01, at most hi): shorter scales cannot be resolved by the sample.  Other keys
        raise :class:`~fabnb.errors.FabParameterError`.
    seed : int, optional
        Seed of the restart draws and of the coarse-stage subsample.
    warm_start : bool
        When refitting an already fitted model (typically to a superset of the sites, as
        progressive sampling does), start the optimiser at the previous hyperparameters
        with the previous inverse Hessian scaled by n_old/n, instead of from scratch.
    group_column : int, optional
        Column of X whose value names each row's group (e.g. ``-1``, the wafer's ``t`` in
        a lot): adds the group random effect of the module docstring, variance
        ``σ_w² = σ_f² ω``, ω fitted in ``bounds["group_ratio"]`` (default (1e-6, 1e3)).
        None (default): no group effect.
    group_variance : float, optional
        σ_w², used as given when ``optimizer=None``, else the starting point (default:
        the spread of the groups' mean residuals).

    Attributes
    ----------
    length_scale_ : ndarray of shape (n_features,), or (1,) when ``ard=False``
    signal_variance_, noise_ : float
    group_variance_ : float, σ_w² of the group effect (0.0 without ``group_column``)
    mean_coef_ : ndarray, the GLS mean coefficients β̂
    log_marginal_likelihood_ : float
    X_train_, y_train_, alpha_, L_ : training data, ``K⁻¹r`` and ``chol(K)``
    jitter_ : float, relative diagonal jitter that factorisation needed

    Example
    -------
    >>> import numpy as np
    >>> X = np.c_[np.linspace(0, 1, 30), np.zeros(30)]; y = np.sin(6 * X[:, 0])
    >>> gp = GaussianProcess(mean="zero").fit(X, y)
    >>> round(float(gp.predict([[0.5, 0.0]])[0]), 2) == round(float(np.sin(3.0)), 2)
    True
    """

    def __init__(
        self,
        kernel="rbf",
        length_scale=None,
        ard=True,
        signal_variance=None,
        noise=None,
        mean="constant",
        optimizer="lbfgsb",
        n_restarts=0,
        bounds=None,
        seed=None,
        warm_start=False,
        group_column=None,
        group_variance=None,
    ):
        self.kernel = kernel
        self.length_scale = length_scale
        self.ard = ard
        self.signal_variance = signal_variance
        self.noise = noise
        self.mean = mean
        self.optimizer = optimizer
        self.n_restarts = n_restarts
        self.bounds = bounds
        self.seed = seed
        self.warm_start = warm_start
        self.group_column = group_column
        self.group_variance = group_variance

    _parameter_constraints = {
        "kernel": [StrOptions(set(KERNELS)), Kernel],  # a Kernel object: fabnb.spatial._composite
        "length_scale": [Interval(Real, 0, None, closed="neither"), "array-like", None],
        "ard": ["boolean"],
        "signal_variance": [Interval(Real, 0, None, closed="neither"), None],
        "noise": [Interval(Real, 0, None, closed="left"), None],
        "mean": [StrOptions(set(MEANS))],
        "optimizer": [StrOptions({"lbfgsb"}), None],
        "n_restarts": [Interval(Integral, 0, None, closed="left")],
        "bounds": [dict, None],  # keys and pairs: check_bounds
        "seed": [Interval(Integral, 0, None, closed="left"), None],
        "warm_start": ["boolean"],
        "group_column": [Interval(Integral, None, None, closed="neither"), None],  # range: _check_group_column
        "group_variance": [Interval(Real, 0, None, closed="left"), None],
    }

    # ------------------------------------------------------------------ setup
    def _n_min(self, d: int) -> int:
        if isinstance(self.kernel, Kernel):
            return _composite.n_min(self.kernel, self.mean, d)
        n_ls = d if self.ard else 1
        n_mean = {"zero": 0, "constant": 1, "linear": d + 1}[self.mean]
        return n_ls + n_mean + 3 + (self.group_column is not None)

    def _check_group_column(self, d: int) -> None:
        if self.group_column is not None and not -d <= self.group_column < d:
            raise FabParameterError(f"The 'group_column' parameter of {type(self).__name__} must be a column "
                                    f"of X (-{d} <= group_column < {d}). Got {self.group_column!r} instead.")

    def _groups(self, X) -> np.ndarray | None:
        """Integer group code of each row (from the ``group_column``), None without groups."""
        if self.group_column is None:
            return None
        return np.unique(X[:, self.group_column], return_inverse=True)[1].astype(np.int64).ravel()

    def _labels(self, X) -> np.ndarray:
        """The group label of each row: the ``group_column`` of X."""
        return X[:, self.group_column]

    def _unpack(self, p):
        """Optimiser vector ``[log ℓ.., [log ω,] log η]`` -> (log ℓ, ω, η); ω = 0 without groups."""
        omega = math.exp(p[-2]) if self.group_column is not None else 0.0
        n_ls = len(p) - 1 - (self.group_column is not None)
        return p[:n_ls], omega, math.exp(p[-1])

    def _span(self, X):
        span = np.ptp(X, axis=0)
        return np.where(span > 0, span, 1.0)

    def _start(self, X, y, H):
        """Data-scaled starting (or fixed) log length scales, σ_f², ω and η."""
        d = X.shape[1]
        n_ls = d if self.ard else 1
        span = self._span(X)
        if self.length_scale is None:
            ls = 0.3 * (span if self.ard else np.array([span.mean()]))
        else:
            ls = np.broadcast_to(np.asarray(self.length_scale, dtype=float), (n_ls,)).copy()
        resid = y - H @ np.linalg.lstsq(H, y, rcond=None)[0] if H.shape[1] else y
        var = float(resid.var()) if resid.var() > 0 else float(y.var())
        s2 = var if self.signal_variance is None else float(self.signal_variance)
        noise = 0.05 * var if self.noise is None else float(self.noise)
        omega = 0.0
        if self.group_column is not None and self.group_variance is not None:
            omega = float(self.group_variance) / s2
        elif self.group_column is not None:
            # the share of the residual variance between the groups' means (their spread
            # also holds the field's sampling noise: a start, not an estimate)
            groups = self._groups(X)
            means = np.bincount(groups, weights=resid) / np.bincount(groups)
            omega = min(max(float(means.var()) / var, 1e-3), 10.0)
        return np.log(ls), s2, omega, noise / s2

    def _log_bounds(self, X):
        b = {**BOUNDS, **(self.bounds or {})}
        span = self._span(X)
        ref = span if self.ard else np.array([span.mean()])
        ls_lo = b["length_scale"][0]
        if ls_lo is None:
            # Scales below the sample's own spacing cannot be resolved: they only open a
            # flat "white noise" basin.  Half the median nearest-neighbour distance (in
            # span-normalised coordinates), and at least 1 % of the span.
            nn = np.sqrt(np.median(_kernels.nearest_neighbour_sq(X / span)))
            ls_lo = min(max(0.01, 0.5 * nn), b["length_scale"][1])
        ratios = ("group_ratio", "noise_ratio") if self.group_column is not None else ("noise_ratio",)
        lo = np.concatenate([np.log(ls_lo * ref), [math.log(b[key][0]) for key in ratios]])
        hi = np.concatenate([np.log(b["length_scale"][1] * ref), [math.log(b[key][1]) for key in ratios]])
        return lo, hi

    def _fitted_inv_ls(self):
        """1/ℓ per input of the fitted model."""
        return 1.0 / np.broadcast_to(np.asarray(self.length_scale_, dtype=float), (self.n_features_in_,))

    def _inv_ls(self, log_ls, d):
        return np.broadcast_to(np.exp(-np.asarray(log_ls)), (d,)).copy()

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Fit hyperparameters (unless ``optimizer=None``) and factorise ``K``."""
        self._validate_params()
        check_bounds(type(self).__name__, self.bounds)
        X, y = check_training_data(self, X, y)
        if isinstance(self.kernel, Kernel):
            return _composite.fit_estimator(self, X, y, training_mean_basis(type(self).__name__, X, self.mean))
        check_length_scale(type(self).__name__, self.length_scale, X.shape[1] if self.ard else 1)
        self._check_group_column(X.shape[1])
        with blas_threads(float(len(y)) ** 3):
            return self._fit(X, y)

    def _fit(self, X, y):
        d = X.shape[1]
        kind = KERNELS[self.kernel]
        H = training_mean_basis(type(self).__name__, X, self.mean)
        log_ls, s2, omega, eta = self._start(X, y, H)

        if self.optimizer is None:
            fac = _Factorised(X, y, H, kind, self._inv_ls(log_ls, d), eta, signal_variance=s2,
                              groups=self._groups(X), omega=omega)
        else:
            lo, hi = self._log_bounds(X)
            if self.warm_start and hasattr(self, "_theta"):
                # the previous fit's curvature, rescaled to this many sites (it grows ~n)
                best, fac = self._maximise(X, y, H, [self._theta], lo, hi,
                                           hess_inv=self._theta_hess_inv * (self.X_train_.shape[0] / X.shape[0]))
            else:
                best, fac = self._cold_maximise(X, y, H, log_ls, omega, eta, lo, hi)
            log_ls, omega, eta = self._unpack(best.x)
            self.n_iter_ = int(best.nit)
            self._theta = best.x
            self._theta_hess_inv = dense(best.hess_inv)

        self.length_scale_ = np.exp(log_ls)
        return self._keep(X, y, fac, eta)

    def _keep(self, X, y, fac, eta):
        """Store the training data and the factorisation ``fac`` as fitted state."""
        self.X_train_, self.y_train_ = X, y
        self.signal_variance_ = fac.sigma2
        self.noise_ = fac.sigma2 * eta
        self.group_variance_ = fac.sigma2 * fac.omega
        self.mean_coef_ = fac.beta
        self.log_marginal_likelihood_ = fac.log_likelihood()
        self.jitter_ = fac.jitter
        sd = math.sqrt(fac.sigma2)
        self.L_ = fac.L * sd  # chol(K) = σ_f chol(R + ηI)
        self.alpha_ = fac.alpha_R / fac.sigma2
        self._LinvH = fac.LinvH / sd
        self._LA = None if fac.LA is None else fac.LA / sd  # chol(Hᵀ K⁻¹ H)
        self._Rinv = fac.Rinv  # (R [+ ωZZᵀ] + ηI)⁻¹ when the fit formed it: lattice variances reuse it
        return self

    def conditioned(self, X, y):
        """A copy with this model's fitted hyperparameters, conditioned on other training
        data ``(X, y)`` (already validated): no optimisation, one factorisation.

        This is what local (moving-neighbourhood) prediction needs: the same kernel,
        many small training sets.

        Example
        -------
        >>> import numpy as np
        >>> X = np.c_[np.linspace(0, 1, 40), np.zeros(40)]; y = np.sin(6 * X[:, 0])
        >>> gp = GaussianProcess().fit(X, y)
        >>> local = gp.conditioned(X[:20], y[:20])
        >>> bool(local.length_scale_[0] == gp.length_scale_[0]) and local.X_train_.shape
        (20, 2)
        """
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        if isinstance(self.kernel, Kernel):
            return _composite.keep(copy.copy(self), self._posterior.conditioned(X, y, training_mean_basis(type(self).__name__, X, self.mean)))
        inv_ls = self._fitted_inv_ls()
        eta = self.noise_ / self.signal_variance_
        with blas_threads(float(len(y)) ** 3):
            fac = _Factorised(X, y, training_mean_basis(type(self).__name__, X, self.mean), KERNELS[self.kernel], inv_ls, eta,
                              signal_variance=self.signal_variance_, groups=self._groups(X),
                              omega=self.group_variance_ / self.signal_variance_)
        return copy.copy(self)._keep(X, y, fac, eta)

    def _pack(self, log_ls, omega, eta, lo):
        """The optimiser vector ``[log ℓ.., [log ω,] log η]``; a ratio of 0 starts at its
        lower bound."""
        ratios = (omega, eta) if self.group_column is not None else (eta,)
        tail = [math.log(r) if r > 0 else lo[i] for i, r in zip(range(len(lo) - len(ratios), len(lo)), ratios)]
        return np.concatenate([log_ls, tail])

    def _cold_maximise(self, X, y, H, log_ls, omega, eta, lo, hi):
        """Optimise from the data-scaled (or given) start, the default start when values
        were given, and ``n_restarts`` random ones; coarse to fine when n is large."""
        rng = np.random.default_rng(self.seed)
        starts = [self._pack(log_ls, omega, eta, lo)]
        if self.length_scale is not None or self.noise is not None or self.group_variance is not None:
            # Given starting values can sit in the basin of a poor local optimum; the
            # data-scaled default start is always tried too and the better optimum kept.
            default = clone(self).set_params(length_scale=None, noise=None, signal_variance=None,
                                             group_variance=None)
            ls0, _, omega0, eta0 = default._start(X, y, H)
            starts.append(default._pack(ls0, omega0, eta0, lo))
        starts += [rng.uniform(lo, hi) for _ in range(self.n_restarts)]

        def stage(sites, starts, hess_inv):
            data = (X, y, H) if sites is None else (X[sites], y[sites], H[sites])
            return self._maximise(*data, starts, lo, hi, hess_inv=hess_inv)

        # the probe for a second basin (._optimize.coarse_to_fine): half the length
        # scale(s), e times the noise ratio, the group ratio (if any) unchanged
        n_ls = len(lo) - 1 - (self.group_column is not None)
        final_offset = np.r_[np.full(n_ls, -math.log(2.0)), np.zeros(len(lo) - 1 - n_ls), 1.0]
        return coarse_to_fine(stage, X.shape[0], starts, self.seed, final_offset=final_offset)

    def _maximise(self, X, y, H, starts, lo, hi, hess_inv=None):
        """:func:`._optimize.maximise` on the profiled likelihood of ``(X, y)``: the best
        result and the factorisation at its optimum."""
        d, kind = X.shape[1], KERNELS[self.kernel]
        n_ls = len(lo) - 1 - (self.group_column is not None)
        site_levels = levels(X) if kind == 0 else None  # the same sites in every evaluation
        groups = self._groups(X)

        def evaluate(p):
            log_ls, omega, eta = self._unpack(p)
            inv_ls = self._inv_ls(log_ls, d)
            try:
                fac = _Factorised(X, y, H, kind, inv_ls, eta, site_levels=site_levels, groups=groups, omega=omega)
            except FabFitError:
                return None, FAILED, np.zeros_like(p)
            g = np.delete(fac.gradient(X, kind, inv_ls, eta, n_ls), n_ls)  # σ_f² is profiled
            return fac, -fac.log_likelihood(), -g

        best, fac = maximise(evaluate, starts, lo, hi, hess_inv)
        if fac is None:
            raise FabFitError(f"no hyperparameters gave a factorisable kernel matrix (n={X.shape[0]})")
        return best, fac

    # ------------------------------------------------------------------ likelihood
    def log_marginal_likelihood(self, theta=None, eval_gradient=False):
        """Log marginal likelihood at ``theta = [log ℓ_1..d, log σ_f², log σ_n²]``, or
        ``[log ℓ_1..d, log σ_f², log σ_w², log σ_n²]`` with a ``group_column`` (σ_w² =
        σ_f² ω, the group effect's variance).

        Default ``theta`` is the fitted one.  With ``eval_gradient`` also returns the
        analytic gradient with respect to ``theta``.
        """
        check_is_fitted(self)
        if isinstance(self.kernel, Kernel):  # theta: log of the kernel's free hyperparameters (kernel_.theta)
            return self._posterior.log_marginal_likelihood(theta, eval_gradient)
        grouped = self.group_column is not None
        if theta is None:
            ls = np.atleast_1d(self.length_scale_)
            variances = [self.signal_variance_] + [self.group_variance_] * grouped + [self.noise_]
            theta = np.concatenate([np.log(ls), np.log(variances)])
        theta = np.asarray(theta, dtype=float)
        X, y, d = self.X_train_, self.y_train_, self.n_features_in_
        n_ls = theta.size - 2 - grouped
        s2, noise = math.exp(theta[n_ls]), math.exp(theta[-1])
        eta, omega = noise / s2, (math.exp(theta[-2]) / s2 if grouped else 0.0)
        inv_ls = self._inv_ls(theta[:n_ls], d)
        kind = KERNELS[self.kernel]
        fac = _Factorised(X, y, mean_basis(X, self.mean), kind, inv_ls, eta, signal_variance=s2,
                          groups=self._groups(X), omega=omega)
        if not eval_gradient:
            return fac.log_likelihood()
        g = fac.gradient(X, kind, inv_ls, eta, n_ls)
        # (log σ_f², [log ω,] log η) -> (log σ_f², [log σ_w²,] log σ_n²): each ratio's log
        # is its variance's log minus log σ_f²
        g_ls, g_s2, g_ratios = g[:n_ls], g[n_ls], g[n_ls + 1:]
        return fac.log_likelihood(), np.concatenate([g_ls, [g_s2 - g_ratios.sum()], g_ratios])

    # ------------------------------------------------------------------ predict
    def predict(self, X, return_std=False, return_cov=False, include_noise=False):
        """Posterior mean at ``X``; optionally its std or covariance.

        ``include_noise=True`` adds σ_n² to the variance (predicting a new measurement
        rather than the underlying field).
        """
        check_is_fitted(self)
        X = check_query(self, X)
        n = self.X_train_.shape[0]
        work = n * n * min(len(X), _PREDICT_BLOCK) if (return_std or return_cov) else n * len(X)
        with blas_threads(work):
            return self._predict(X, return_std, return_cov, include_noise)

    def _predict(self, X, return_std, return_cov, include_noise):
        if isinstance(self.kernel, Kernel):
            return self._posterior.predict(X, mean_basis(X, self.mean), return_std, return_cov, include_noise)
        kind = KERNELS[self.kernel]
        lattice = _lattice.Lattice(X, self.X_train_)
        if not return_cov and self._lattice_applies(lattice, kind, return_std):
            mean, var = self._lattice_moments(X, lattice, return_std)
        else:
            mean, var, cov = self._dense_moments(X, return_std, return_cov)
        out = [mean]
        if return_std:
            out.append(np.sqrt(np.maximum(var, 0.0) + (self.noise_ if include_noise else 0.0)))
        if return_cov:
            if include_noise:
                cov[np.diag_indices(X.shape[0])] += self.noise_
            out.append(cov)
        return out[0] if len(out) == 1 else tuple(out)

    def _dense_moments(self, X, return_std, return_cov):
        """Mean, variance of f and covariance (None unless asked) by the formulas of the
        module docstring: one triangular solve per query."""
        kind, inv_ls, s2 = KERNELS[self.kernel], self._fitted_inv_ls(), self.signal_variance_
        m = X.shape[0]
        mean = np.empty(m)
        var = np.empty(m) if return_std else None
        cov = np.empty((m, m)) if return_cov else None
        V_all = []
        for start in range(0, m, _PREDICT_BLOCK):
            Xb = X[start:start + _PREDICT_BLOCK]
            # built as (m, n) and transposed: Fortran order, so LAPACK's solve needs no copy
            Ks = s2 * correlation(Xb, self.X_train_, inv_ls, kind).T
            if self.group_column is not None:  # k* gains σ_f² ω 1[g* = g_j]
                Ks += self.group_variance_ * same_group(self._labels(self.X_train_), self._labels(Xb))
            Hs = mean_basis(Xb, self.mean)
            mean[start:start + len(Xb)] = Hs @ self.mean_coef_ + Ks.T @ self.alpha_
            if not (return_std or return_cov):
                continue
            V = solve_triangular(self.L_, Ks, lower=True, check_finite=False, overwrite_b=True)
            if return_cov:
                V_all.append((Xb, Hs, V))
            if return_std:
                v = s2 + self.group_variance_ - np.einsum("ij,ij->j", V, V)
                if self._LA is not None:
                    U = solve_triangular(self._LA, Hs.T - self._LinvH.T @ V, lower=True, check_finite=False)
                    v += np.einsum("ij,ij->j", U, U)
                var[start:start + len(Xb)] = v
        if return_cov:
            Xc = np.vstack([b[0] for b in V_all])
            V = np.hstack([b[2] for b in V_all])
            cov[:] = s2 * correlation(Xc, None, inv_ls, kind) - V.T @ V
            if self.group_column is not None:
                cov += self.group_variance_ * same_group(self._labels(Xc), self._labels(Xc))
            if self._LA is not None:
                Hs = np.vstack([b[1] for b in V_all])
                U = solve_triangular(self._LA, Hs.T - self._LinvH.T @ V, lower=True, check_finite=False)
                cov += U.T @ U
        return mean, var, cov

    def _lattice_applies(self, lattice, kind, return_std) -> bool:
        """Whether the lattice sums of :mod:`._lattice` are cheaper here than the dense path
        (with variances, the variance decides: the mean's share is small either way, as is
        a group effect's, see :meth:`_lattice_moments`)."""
        if return_std:
            return lattice.variance_applies(kind, self._Rinv is not None)
        return lattice.mean_applies(kind)

    def _lattice_moments(self, X, lattice, return_std):
        """Mean and variance of f by the separable lattice sums: the dense path's numbers
        to ~1e-6 relative.  Where the variance is too small for the explicit inverse's
        rounding (sites at or next to training dies when the noise ratio is tiny), those
        queries' variances come from the dense path.

        With ``S = R + ω ZZᵀ + ηI`` (``K = σ_f² S``), ``r`` the query's correlations and
        ``W = [α, K⁻¹H]``, the sums are ``rᵀW`` and ``Q = rᵀS⁻¹r``.  A group effect adds
        ``σ_f² ω g`` to ``k* = σ_f² r``, ``g`` the indicator of the training rows in the
        query's group (zero for a group without training rows), so that

        * ``k*ᵀW = σ_f² (rᵀW + ω gᵀW)``: the lattice sum plus a per-group row ``ZᵀW``
          (the mean ``h*ᵀβ̂ + k*ᵀα`` and the mean basis' ``HᵀK⁻¹k*`` alike);
        * ``k*ᵀK⁻¹k* = σ_f² (Q + 2ω rᵀu + ω² gᵀu)`` with ``u = S⁻¹g``: the lattice
          quadratic form, one more weighted sum per queried group (weights ``u``, from
          two triangular solves) and a per-group scalar;
        * with the prior variance ``σ_f² (1 + ω)``,
          ``var f = σ_f² [(1 − Q) + ω (1 − 2 rᵀu − ω gᵀu)] + uₕᵀ(HᵀK⁻¹H)⁻¹uₕ``,
          ``uₕ = h* − HᵀK⁻¹k*`` built from the corrected sums above.

        Without a group effect ω = 0 and these are the plain lattice formulas (the
        predictive equations of Rasmussen & Williams, *Gaussian Processes for Machine
        Learning*, 2006, eqs. 2.25–2.26 and 2.42 for the mean basis)."""
        s2, inv_ls = self.signal_variance_, self._fitted_inv_ls()
        Hs = mean_basis(X, self.mean)
        weights = self.alpha_[:, None]
        if return_std and self._LA is not None:  # K⁻¹H, for the mean basis' share of the variance
            KinvH = solve_triangular(self.L_, self._LinvH, lower=True, trans="T", check_finite=False)
            weights = np.hstack([weights, KinvH])
        c = weights.shape[1]
        grouped = self.group_column is not None
        if grouped:
            Z, group = self._queried_groups(X)
            omega = self.group_variance_ / s2
            if return_std:  # u = S⁻¹g per queried group: K = σ_f² S, so S⁻¹ = σ_f² K⁻¹
                weights = np.hstack([weights, s2 * cho_solve((self.L_, True), Z, check_finite=False)])
        raw = lattice.weighted_sum(inv_ls, weights)
        sums = s2 * raw[:, :c]  # k*ᵀα and Hᵀ K⁻¹ k*
        if grouped:
            sums += s2 * omega * (Z.T @ weights[:, :c])[group]
        mean = Hs @ self.mean_coef_ + sums[:, 0]
        if not return_std:
            return mean, None
        if self._Rinv is None:
            self._Rinv = cholesky_inverse(self.L_ / math.sqrt(s2))
        one_minus_q = 1.0 - lattice.quadratic_form(inv_ls, self._Rinv)
        scale = 1.0
        if grouped:
            r_u = raw[np.arange(len(X)), c + group]
            g_u = np.einsum("ij,ij->j", Z, weights[:, c:])[group]
            one_minus_q += omega * (1.0 - 2.0 * r_u - omega * g_u)
            scale = (1.0 + omega) ** 2
        var = s2 * one_minus_q
        if self._LA is not None:
            U = solve_triangular(self._LA, Hs.T - sums[:, 1:].T, lower=True, check_finite=False)
            var += np.einsum("ij,ij->j", U, U)
        noise_ratio = self.noise_ / s2 + self.jitter_
        inexact = _lattice.cancels(one_minus_q, lattice.n, noise_ratio, scale)
        if inexact.any():
            var[inexact] = self._dense_moments(X[inexact], True, False)[1]
        return mean, var

    def _queried_groups(self, X):
        """Indicators ``Z`` (n, w + 1) of the training rows of each of the w groups that
        have both training rows and queries in ``X``, plus a zero column, and each query's
        column of ``Z``: the zero column for a group without training rows."""
        train, query = self._labels(self.X_train_), self._labels(X)
        queried = np.intersect1d(train, query)
        Z = np.zeros((len(train), len(queried) + 1))
        Z[:, :-1] = train[:, None] == queried[None, :]
        pos = np.minimum(np.searchsorted(queried, query), len(queried))
        seen = pos < len(queried)
        seen[seen] = queried[pos[seen]] == query[seen]
        return Z, np.where(seen, pos, len(queried))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags
