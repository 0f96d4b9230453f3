"""Likelihood, gradient, ML-II fit and prediction of a GP whose covariance is a
composite kernel (:mod:`fabnb.spatial.kernels`).

Model: ``y = H β + g`` with ``g ~ N(0, K_θ(X, X))``, where the kernel carries its own
amplitudes and white noise, so K *is* the covariance (no separate σ_f² or noise ratio
as in :mod:`.gp`'s single-kernel model), and ``H`` is the mean basis of
:func:`fabnb.spatial.gp.mean_basis` (zero, constant or linear).  With ``L Lᵀ = K``:

* β is profiled by generalised least squares, ``β̂ = (Hᵀ K⁻¹ H)⁻¹ Hᵀ K⁻¹ y``,
  ``r = y − H β̂``, ``α = K⁻¹ r``;
* ``ℓ(θ) = −½ rᵀα − Σ log L_ii − (n/2) log 2π`` (Rasmussen & Williams, *Gaussian
  Processes for Machine Learning*, 2006, eq. 2.30 with the GLS mean);
* ``∂ℓ/∂θ_j = ½ tr((ααᵀ − K⁻¹) ∂K/∂θ_j)`` (R&W eq. 5.9; β̂ is a stationary point, so
  profiling adds no term), with ``∂K/∂θ_j`` from :meth:`Kernel.gradient` and θ the log
  of the free hyperparameters;
* ML-II: L-BFGS-B (:func:`._optimize.maximise`) on θ inside the kernel's log bounds,
  from the kernel's own values and ``n_restarts`` starts drawn uniformly in the log
  bounds by ``default_rng(seed)``, keeping the best optimum;
* prediction at ``X*`` with ``k* = K(X, X*)`` (no white noise: it is not shared),
  ``V = L⁻¹ k*`` and ``U = L_A⁻¹ (H*ᵀ − (L⁻¹H)ᵀ V)`` (``L_A L_Aᵀ = Hᵀ K⁻¹ H``):
  ``m = H* β̂ + k*ᵀ α``, ``cov f = K_f(X*, X*) − VᵀV + UᵀU`` where ``K_f`` leaves out
  white terms; the ``UᵀU`` term is universal kriging's price of estimating β.
  ``include_noise`` adds the white variance back (a new measurement, not the field).

Cholesky and inverse: :mod:`._linalg` (jitter escalation, :class:`FabFitError` saying
why).  :func:`fit_estimator` and :func:`keep` are what
:class:`~fabnb.spatial.GaussianProcess` calls when its ``kernel`` is a kernel object.

Example
-------
>>> import numpy as np
>>> from fabnb.spatial.kernels import RBF, WhiteKernel
>>> rng = np.random.default_rng(0)
>>> X = rng.uniform(0, 10, (60, 1)); y = np.sin(X[:, 0]) + 0.05 * rng.standard_normal(60)
>>> post = fit(1.0 * RBF(1.0) + WhiteKernel(0.01), X, y, np.ones((60, 1)))
>>> mean, std = post.predict(np.array([[5.0]]), np.ones((1, 1)), return_std=True)
>>> bool(abs(mean[0] - np.sin(5.0)) < 0.1 and std[0] < 0.1)
True
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import lapack, solve_triangular

from ..errors import FabFitError, FabParameterError
from ._linalg import cholesky, cholesky_inverse
from ._optimize import FAILED, dense, maximise
from ._threads import blas_threads
from .kernels import ConstantKernel, GroupKernel, Kernel, Product, Sum, _Stationary

_LOG_2PI = math.log(2 * math.pi)
#: GaussianProcess parameters that must stay None with a kernel object: it carries its
#: own length scales, amplitudes, noise and bounds
KERNEL_OWNED = ("length_scale", "signal_variance", "noise", "bounds")
GROUP_BOUNDS = (1e-6, 1e3)  # a group effect's variance, in multiples of var(y)


class Posterior:
    """A GP with kernel ``kernel`` conditioned on ``(X, y)`` and mean basis ``H``: the
    factorisation, β̂, α and ℓ; predictions and the likelihood's gradient."""

    def __init__(self, kernel: Kernel, X: np.ndarray, y: np.ndarray, H: np.ndarray, with_gradient=False):
        self.kernel, self.X, self.y, self.H = kernel, X, y, H
        # ∂K/∂θ shares K's distances and exponentials: an optimiser step computes both
        K, self.dK = kernel.K_and_gradient(X) if with_gradient else (kernel.K(X), None)
        self.L, self.jitter = cholesky(K, "kernel matrix")
        self.LinvH = solve_triangular(self.L, H, lower=True, check_finite=False)
        Linvy = solve_triangular(self.L, y, lower=True, check_finite=False)
        if H.shape[1]:
            self.LA, _ = cholesky(self.LinvH.T @ self.LinvH, "mean design Hᵀ K⁻¹ H (collinear mean basis)")
            self.beta = lapack.dpotrs(self.LA, self.LinvH.T @ Linvy, lower=1)[0]
            z = Linvy - self.LinvH @ self.beta
        else:
            self.LA, self.beta, z = None, np.empty(0), Linvy
        self.alpha = solve_triangular(self.L, z, lower=True, trans="T", check_finite=False)
        n = X.shape[0]
        self.log_likelihood = float(-0.5 * z @ z - np.log(np.diag(self.L)).sum() - 0.5 * n * _LOG_2PI)
        self.theta = kernel.theta
        self.hess_inv = None  # the optimiser's inverse Hessian at θ, for warm starts
        self.n_iter = 0

    def gradient(self) -> np.ndarray:
        """``∂ℓ/∂θ_j = ½ Σ_ik (α_i α_k − K⁻¹_ik) ∂K_ik/∂θ_j``."""
        Kinv = cholesky_inverse(self.L)  # lower triangle
        Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
        W = np.outer(self.alpha, self.alpha) - Kinv
        dK = self.kernel.gradient(self.X) if self.dK is None else self.dK
        self.dK = None  # (n, n, n_θ) floats: not kept past its one use
        return 0.5 * (W.reshape(-1) @ dK.reshape(-1, dK.shape[2]))

    def log_marginal_likelihood(self, theta=None, eval_gradient: bool = False):
        """ℓ at ``theta`` (log free hyperparameters, :attr:`Kernel.theta`; default the
        fitted θ) on the training data, and its gradient when ``eval_gradient``."""
        with blas_threads(float(self.X.shape[0]) ** 3):
            post = self if theta is None else Posterior(self.kernel.with_theta(theta), self.X, self.y, self.H,
                                                        with_gradient=eval_gradient)
            return (post.log_likelihood, post.gradient()) if eval_gradient else post.log_likelihood

    def conditioned(self, X, y, H) -> Posterior:
        """The same kernel conditioned on other data: one factorisation, no fit."""
        with blas_threads(float(X.shape[0]) ** 3):
            return Posterior(self.kernel, X, y, H)

    def predict(self, Xs, Hs, return_std=False, return_cov=False, include_noise=False):
        """Mean at ``Xs`` (mean basis ``Hs``); with its std and/or covariance."""
        Ks = self.kernel.K(self.X, Xs)  # (n, m); white noise has no cross-covariance
        mean = Hs @ self.beta + Ks.T @ self.alpha
        if not (return_std or return_cov):
            return mean
        V = solve_triangular(self.L, Ks, lower=True, check_finite=False)
        U = None
        if self.LA is not None:
            U = solve_triangular(self.LA, Hs.T - self.LinvH.T @ V, lower=True, check_finite=False)
        out = [mean]
        if return_std:
            var = self.kernel.diag(Xs, include_noise) - np.einsum("ij,ij->j", V, V)
            if U is not None:
                var += np.einsum("ij,ij->j", U, U)
            out.append(np.sqrt(np.maximum(var, 0.0)))  # rounding can leave −1e-16 at training sites
        if return_cov:
            cov = self.kernel.K(Xs, None, include_noise=include_noise) - V.T @ V
            if U is not None:
                cov += U.T @ U
            out.append(cov)
        return tuple(out)

    def summary(self) -> dict:
        """Single-kernel-style figures of the fitted kernel: the latent field's variance
        and the white noise's at the training sites (their means: both are constant for
        stationary kernels), and per input the longest length scale of the stationary
        terms acting on it (the range over which the field decorrelates; the input's
        span where only periodic or constant terms act), for neighbourhood searches and
        :func:`fabnb.spatial.progressive.hyperparameters`."""
        d = self.X.shape[1]
        total = float(self.kernel.diag(self.X).mean())
        latent = float(self.kernel.diag(self.X, include_noise=False).mean())
        span = np.ptp(self.X, axis=0)
        ls = np.zeros(d)
        for leaf in _leaves(self.kernel):
            if isinstance(leaf, _Stationary):
                dims = list(range(d)) if leaf.active_dims is None else list(leaf.active_dims)
                ls[dims] = np.maximum(ls[dims], np.broadcast_to(leaf.length_scale, (len(dims),)))
        ls = np.where(ls > 0, ls, np.where(span > 0, span, 1.0))
        return {"length_scale": ls, "signal_variance": latent, "noise": total - latent}


def _leaves(kernel: Kernel):
    if hasattr(kernel, "k1"):
        yield from _leaves(kernel.k1)
        yield from _leaves(kernel.k2)
    else:
        yield kernel


def fit(kernel: Kernel, X, y, H, *, optimizer="lbfgsb", n_restarts=0, seed=None, previous=None) -> Posterior:
    """Fit the free hyperparameters of ``kernel`` by ML-II (unless ``optimizer`` is None
    or none is free) and return the :class:`Posterior` at the optimum.

    ``previous``: a posterior of the same kernel structure fitted before (progressive
    sampling's refit on more sites); the optimiser then starts from its θ and inverse
    Hessian scaled by n_old/n, as :class:`~fabnb.spatial.GaussianProcess` does.
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if optimizer is None or kernel.theta.size == 0:
        with blas_threads(float(X.shape[0]) ** 3):
            return Posterior(kernel, X, y, H)
    lo, hi = kernel.bounds.T
    # Every start is optimised on all n sites, as scikit-learn does: the single-kernel
    # GP's coarse-to-fine ladder (a 100-site subsample first) ended 3.7 nat below this on
    # the Mauna Loa example, where the short-range terms are not identifiable from 100
    # random months.
    with blas_threads(float(X.shape[0]) ** 3):
        if (previous is not None and previous.hess_inv is not None
                and previous.kernel._structure() == kernel._structure()):
            scaled = previous.hess_inv * (previous.X.shape[0] / X.shape[0])  # curvature grows ~n
            best, post = _maximise(kernel, X, y, H, [previous.theta], lo, hi, scaled)
        else:
            rng = np.random.default_rng(seed)
            starts = [kernel.theta] + [rng.uniform(lo, hi) for _ in range(n_restarts)]
            best, post = _maximise(kernel, X, y, H, starts, lo, hi, None)
    post.hess_inv = dense(best.hess_inv)
    post.n_iter = int(best.nit)
    return post


def _maximise(kernel, X, y, H, starts, lo, hi, hess_inv):
    """:func:`._optimize.maximise` of ℓ over θ: the best result and its posterior."""

    def evaluate(p):
        try:
            post = Posterior(kernel.with_theta(p), X, y, H, with_gradient=True)
        except FabFitError:
            return None, FAILED, np.zeros_like(p)
        return post, -post.log_likelihood, -post.gradient()

    best, post = maximise(evaluate, starts, lo, hi, hess_inv)
    if post is None:
        raise FabFitError(f"no hyperparameters of {kernel!r} gave a factorisable kernel matrix (n={X.shape[0]})")
    return best, post


# ---------------------------------------------------------------------- estimator glue
def n_min(kernel: Kernel, mean: str, d: int) -> int:
    """Fewest training sites for ``kernel`` and the mean basis ``mean`` on d inputs: one
    more than the free hyperparameters and mean coefficients together."""
    return kernel.theta.size + {"zero": 0, "constant": 1, "linear": d + 1}[mean] + 1


def fit_estimator(estimator, X, y, H):
    """Fit ``estimator`` (a :class:`~fabnb.spatial.GaussianProcess` whose ``kernel`` is a
    :class:`~fabnb.spatial.kernels.Kernel`) on validated ``(X, y)`` with mean basis ``H``
    and return it fitted (:func:`keep`).

    The kernel carries its own length scales, amplitudes, noise and bounds: setting any
    of :data:`KERNEL_OWNED` as well raises :class:`~fabnb.errors.FabParameterError`;
    ``ard`` does not apply (ARD is a kernel's ``length_scale`` array).  ``group_column``
    adds a per-group random effect to the kernel (:func:`with_group_effect`).
    ``warm_start`` refits start from the previous optimum.
    """
    given = [name for name in KERNEL_OWNED if getattr(estimator, name) is not None]
    if given:
        raise FabParameterError(
            f"The {given} parameter(s) of {type(estimator).__name__} must be None when 'kernel' is a kernel "
            f"object ({estimator.kernel!r}): a kernel object carries its own hyperparameters and bounds."
        )
    kernel = with_group_effect(estimator, estimator.kernel, X, y)
    previous = getattr(estimator, "_posterior", None) if estimator.warm_start else None
    post = fit(kernel, X, y, H, optimizer=estimator.optimizer, n_restarts=estimator.n_restarts,
               seed=estimator.seed, previous=previous)
    return keep(estimator, post)


def with_group_effect(estimator, kernel: Kernel, X, y) -> Kernel:
    """``kernel`` plus the estimator's per-group random effect ``σ_w² 1[g = g′]`` when its
    ``group_column`` is set (``group_variance`` given: σ_w² fixed; else fitted from 0.1
    var(y) within :data:`GROUP_BOUNDS` × var(y)), the same model the single-kernel GP
    builds for ``group_column``."""
    column = getattr(estimator, "group_column", None)
    if column is None:
        return kernel
    d = X.shape[1]
    if not -d <= column < d:
        raise FabParameterError(f"The 'group_column' parameter of {type(estimator).__name__} must be a column "
                                f"of X (-{d} <= group_column < {d}). Got {column!r} instead.")
    given = getattr(estimator, "group_variance", None)
    if given == 0:
        return kernel
    var = float(np.var(y))
    amplitude = (ConstantKernel(given, "fixed") if given is not None
                 else ConstantKernel(0.1 * var, (GROUP_BOUNDS[0] * var, GROUP_BOUNDS[1] * var)))
    return kernel + amplitude * GroupKernel(active_dims=[column % d])


def group_variance(kernel: Kernel) -> float:
    """Total variance of the ``c * GroupKernel`` terms of a sum of kernels (0 if none)."""
    if isinstance(kernel, Sum):
        return group_variance(kernel.k1) + group_variance(kernel.k2)
    if isinstance(kernel, Product) and isinstance(kernel.k1, ConstantKernel) and isinstance(kernel.k2, GroupKernel):
        return kernel.k1.constant_value
    return 1.0 if isinstance(kernel, GroupKernel) else 0.0


def keep(estimator, post: Posterior):
    """Store ``post`` as ``estimator``'s fitted state: ``kernel_`` (the fitted kernel),
    ``X_train_``, ``y_train_``, ``mean_coef_``, ``log_marginal_likelihood_``, ``alpha_``,
    ``L_``, ``jitter_``, ``n_iter_``, ``group_variance_`` (of the group terms) and
    :meth:`Posterior.summary`'s ``length_scale_``, ``signal_variance_`` (less the group
    variance, as in the single-kernel model) and ``noise_``."""
    estimator._posterior = post
    estimator.kernel_ = post.kernel
    estimator.X_train_, estimator.y_train_ = post.X, post.y
    estimator.mean_coef_ = post.beta
    estimator.log_marginal_likelihood_ = post.log_likelihood
    estimator.alpha_, estimator.L_, estimator.jitter_ = post.alpha, post.L, post.jitter
    estimator.n_iter_ = post.n_iter
    summary = post.summary()
    estimator.group_variance_ = group_variance(post.kernel)
    estimator.length_scale_ = summary["length_scale"]
    estimator.signal_variance_ = summary["signal_variance"] - estimator.group_variance_
    estimator.noise_ = summary["noise"]
    return estimator
