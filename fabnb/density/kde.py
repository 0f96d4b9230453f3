r"""Kernel density estimation, fixed or adaptive bandwidth, in d dimensions.

With data ``t_1..t_n`` in ``R^d``, per-dimension bandwidths ``h_k`` (kernel standard
deviations) and local factors ``λ_i``::

    f̂(x) = 1/n Σ_i  K_{λ_i}((x − t_i) / h) / (λ_i^d Π_k h_k)

where ``K`` is a unit-variance-per-coordinate kernel:

* ``"gaussian"``: ``φ_d(u)``;
* ``"epanechnikov"``: the spherical kernel ``c_d (1 − ‖u‖²/R²)/R^d`` on the ball of radius
  ``R = √(d + 4)`` (``c_d = (d + 2)/(2 V_d)``), whose per-coordinate variance is
  ``E‖u‖²/d = R²/(d + 4) = 1``.  In 1-D ``R = √5`` h: KDEpy's ``'epa'`` with ``bw = h``.

**Log density** (:meth:`KDE.score_samples`, scikit-learn's ``KernelDensity`` API): for the
Gaussian kernel ``log f̂(x) = log Σ_i exp(ℓ_i(x)) − log n − Σ_k log h_k`` with
``ℓ_i = −‖u_i‖²/2 − d log λ_i − (d/2) log 2π`` summed by log-sum-exp, so the log stays
finite (and exact) far from the data where ``f̂`` itself underflows to 0; for the
Epanechnikov kernel ``log f̂``, ``−inf`` outside the support (the exact value).
scikit-learn's Epanechnikov ``bandwidth`` is the kernel's radius: ours with ``h`` is
scikit-learn's with ``bandwidth = √(d + 4) · h`` (same scalar ``h`` in every dimension).

**Adaptive** (the paper's eqs. 8–10, Silverman 1986 §5.3): a pilot fixed-bandwidth
estimate ``f̂`` at the data, its geometric mean ``g = exp(1/n Σ log f̂(t_i))`` and local
factors ``λ_i = (f̂(t_i) / g)^{−α}``; the estimate uses ``h λ_i`` for point ``i``.

**Sampling** draws exactly from the mixture: a component ``i`` uniformly, then
``t_i + h λ_i u`` with ``u ~ K``.  For the Epanechnikov kernel ``u = R ρ s``, ``s``
uniform on the unit sphere (a normalised Gaussian vector) and ``ρ² ~ Beta(d/2, 2)``,
the radial law of ``(1 − ρ²)`` on the unit ball (density ∝ ρ^{d−1}(1 − ρ²)), drawn as
``ρ = U₁^{1/d} U₂^{1/(d+2)}`` (a product of independent Beta(a, 1) and Beta(a + 1, 1)
is Beta(a, 2)).

Example
-------
>>> import numpy as np
>>> from fabnb.density import KDE
>>> x = np.random.default_rng(0).normal(size=2000)
>>> kde = KDE(adaptive=True).fit(x)
>>> float(kde.cdf([0.0])[0]).__round__(1)
0.5
>>> kde.sample(5, seed=1).shape
(5,)
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads
from scipy.special import ndtr
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import CheckedParams, Integral, Interval, Real, StrOptions, check_params
from ..errors import FabDataError, FabParameterError
from . import _kernels
from ._validate import as_matrix, check_spread
from .bandwidth import RULES, rule_bandwidth

KERNELS = ("epanechnikov", "gaussian")
PARALLEL_WORK = 4_000_000  # n·m below which threads cost more than they save
SWEEP_BLOCK = 128  # points per anchor of the 1-D polynomial sweep


class KDE(CheckedParams, BaseEstimator):
    """Kernel density estimate with Epanechnikov or Gaussian kernel, optionally adaptive.

    Parameters
    ----------
    kernel : {"epanechnikov", "gaussian"}
    bandwidth : {"scipy_silverman", "scipy_scott", "silverman", "scott", "isj"} or float or array of length d
        A rule of :mod:`fabnb.density.bandwidth` (``"silverman"`` is Silverman's rule
        of thumb, R's ``bw.nrd0``; ``"scott"`` R's ``bw.nrd``; those two and ``"isj"``
        are 1-D only; the default ``"scipy_silverman"`` is SciPy's factor, formerly
        called ``"silverman"``), or the kernel standard deviation in data units
        (one value for all dimensions or one per dimension).  For an adaptive estimate
        this is the pilot (and global) bandwidth ``h``.
    adaptive : bool
        Variable bandwidth ``h λ_i`` with ``λ_i = (f̂(t_i)/g)^{−α}``.
    alpha : float
        Sensitivity ``α`` in [0, 1] (0 = fixed bandwidth; 0.5 = Abramson's choice).

    Attributes
    ----------
    bandwidth_ : ndarray (d,)
        Global bandwidth per dimension (data units).
    local_factors_ : ndarray (n,)
        ``λ_i`` in the order of the training data (all ones when not adaptive).
    pilot_density_ : ndarray (n,) or None
        Pilot ``f̂(t_i)`` (adaptive only).
    n_features_in_, n_samples_ : int

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 2))
    >>> kde = KDE(kernel="gaussian", bandwidth="scipy_scott").fit(x)
    >>> kde.pdf([[0.0, 0.0]]).round(2)
    array([0.14])
    """

    _parameter_constraints = {
        "kernel": [StrOptions(set(KERNELS))],
        # a rule, one bandwidth for every dimension, or one per dimension (checked in fit)
        "bandwidth": [StrOptions(set(RULES)), Interval(Real, 0, None, closed="neither"), "array-like"],
        "adaptive": ["boolean"],
        "alpha": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, kernel="epanechnikov", bandwidth="scipy_silverman", adaptive=False, alpha=0.5):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.adaptive = adaptive
        self.alpha = alpha

    # -- fitting ---------------------------------------------------------------------
    def _bandwidth(self, d: int) -> np.ndarray | str:
        """The rule name, or the fixed bandwidth as a length-d array."""
        if isinstance(self.bandwidth, str):
            return self.bandwidth
        h = np.asarray(self.bandwidth, dtype=float)
        if h.ndim > 1 or h.size not in (1, d) or not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise FabParameterError(f"The 'bandwidth' parameter of KDE must be a positive finite float or "
                                    f"{d} of them (one per dimension). Got {self.bandwidth!r} instead.")
        return np.broadcast_to(h, (d,)).astype(float)

    def fit(self, x, y=None):
        """Fit to data ``x`` of shape (n,) or (n, d).  Returns self."""
        self._validate_params()
        data = as_matrix(x, "x")
        n, d = data.shape
        h = self._bandwidth(d)
        check_spread(data, "x")
        self.bandwidth_ = rule_bandwidth(data, h) if isinstance(h, str) else h
        self.n_samples_, self.n_features_in_ = n, d
        self.shift_ = data.mean(axis=0)
        z = (data - self.shift_) / self.bandwidth_
        self._order = np.argsort(z[:, 0], kind="stable")
        self._z = np.ascontiguousarray(z[self._order])
        self._lam = np.ones(n)
        self.pilot_density_ = None
        if self.adaptive:
            pilot = self._density_z(self._z)
            g = np.exp(np.mean(np.log(pilot)))
            self._lam = (pilot / g) ** (-float(self.alpha))
            self.pilot_density_ = self._unsort(pilot) / np.prod(self.bandwidth_)
        self.local_factors_ = self._unsort(self._lam)
        return self

    def _unsort(self, values: np.ndarray) -> np.ndarray:
        out = np.empty_like(values)
        out[self._order] = values
        return out

    def _kernel_scale(self) -> float:
        """Kernel radius (Epanechnikov) or std (Gaussian) per unit local factor."""
        return np.sqrt(self.n_features_in_ + 4.0) if self.kernel == "epanechnikov" else 1.0

    # -- evaluation ------------------------------------------------------------------
    def _density_z(self, zq: np.ndarray, sweep: bool = True) -> np.ndarray:
        """Mixture density in standardised coordinates at (m, d) points ``zq``.

        ``sweep=False`` sums the non-negative Epanechnikov terms directly in 1-D too: the
        sweep's running sums lose relative accuracy where the density is a small
        remainder of large ones (the log density in the tails needs every digit).
        """
        scale = self._lam * self._kernel_scale()
        if self.kernel == "gaussian":
            return _kernels.gaussian_sum(self._z, scale, zq) / self.n_samples_
        order = np.argsort(zq[:, 0], kind="stable")
        zs = np.ascontiguousarray(zq[order])
        key = np.ascontiguousarray(zs[:, 0])
        if self.n_features_in_ == 1 and sweep:
            dens = _kernels.epanechnikov_sweep_1d(np.ascontiguousarray(self._z[:, 0]), scale, key, False, SWEEP_BLOCK)
            np.maximum(dens, 0.0, out=dens)  # a density is >= 0; the running sums can round below
        elif self.n_samples_ * zs.shape[0] < PARALLEL_WORK:
            dens = np.zeros(zs.shape[0])
            _kernels.epanechnikov_block(self._z, scale, zs, key, 0, self.n_samples_, dens)
        else:
            dens = _kernels.epanechnikov_sum(self._z, scale, zs, key, get_num_threads())
        out = np.empty(zq.shape[0])
        out[order] = dens / self.n_samples_
        return out

    def _standardise(self, points, name="points") -> np.ndarray:
        check_is_fitted(self)
        q = as_matrix(points, name, self.n_features_in_, type(self).__name__)
        return np.ascontiguousarray((q - self.shift_) / self.bandwidth_)

    def pdf(self, points) -> np.ndarray:
        """Density at ``points`` (m,) or (m, d); returns (m,).

        >>> import numpy as np
        >>> KDE(bandwidth=1.0).fit([0.0, 1.0]).pdf([0.5]).round(4)
        array([0.3186])
        """
        return self._density_z(self._standardise(points)) / np.prod(self.bandwidth_)

    def score_samples(self, X) -> np.ndarray:
        """Log density at each row of ``X`` (m, d) or (m,): scikit-learn's ``KernelDensity``
        API, computed in log space (see the module docstring); ``−inf`` outside the
        Epanechnikov support.

        >>> kde = KDE(kernel="gaussian", bandwidth=1.0).fit([0.0, 1.0])
        >>> kde.score_samples([0.5]).round(3)  # log φ(0.5) = −0.5·0.25 − log √(2π)
        array([-1.044])
        >>> bool(np.isfinite(kde.score_samples([60.0])[0]))  # pdf underflows to 0 there
        True
        """
        zq = self._standardise(X, "X")
        log_h = np.sum(np.log(self.bandwidth_))
        if self.kernel == "gaussian":
            return _kernels.gaussian_logsum(self._z, self._lam, zq) - np.log(self.n_samples_) - log_h
        with np.errstate(divide="ignore"):
            return np.log(self._density_z(zq, sweep=False)) - log_h

    def score(self, X, y=None) -> float:
        """Total log-likelihood ``Σ log f̂(x)`` of the rows of ``X`` (scikit-learn's
        ``KernelDensity.score``); ``y`` is ignored.

        >>> round(KDE(kernel="gaussian", bandwidth=1.0).fit([0.0, 1.0]).score([0.5, 0.5]), 3)
        -2.088
        """
        return float(np.sum(self.score_samples(X)))

    def logpdf(self, points) -> np.ndarray:
        """``log pdf``: :meth:`score_samples` under SciPy's name.

        >>> KDE(kernel="gaussian", bandwidth=1.0).fit([0.0, 1.0]).logpdf([0.5]).round(3)
        array([-1.044])
        """
        return self.score_samples(points)

    def cdf(self, points) -> np.ndarray:
        """1-D cumulative distribution at ``points`` (m,).

        >>> KDE(bandwidth=1.0).fit([0.0, 1.0]).cdf([0.5]).round(6)
        array([0.5])
        """
        zq = self._standardise(points)
        if self.n_features_in_ != 1:
            raise FabDataError(f"cdf is 1-D only; the KDE was fitted with d={self.n_features_in_}")
        scale = self._lam * self._kernel_scale()
        z = self._z[:, 0]
        if self.kernel == "gaussian":
            out = np.empty(zq.shape[0])
            for start in range(0, zq.shape[0], 256):  # bounded memory: 256 × n at a time
                block = zq[start:start + 256, 0]
                out[start:start + 256] = ndtr((block[:, None] - z) / scale).mean(axis=1)
            return out
        order = np.argsort(zq[:, 0], kind="stable")
        key = np.ascontiguousarray(zq[order, 0])
        out = np.empty(zq.shape[0])
        out[order] = _kernels.epanechnikov_sweep_1d(np.ascontiguousarray(z), scale, key, True,
                                                  SWEEP_BLOCK) / self.n_samples_
        return out

    def mass(self, lsl, usl) -> float:
        """Probability of the box ``lsl ≤ x ≤ usl`` (exact: 1-D any kernel, Gaussian any d).

        >>> KDE(kernel="gaussian", bandwidth=1.0).fit([0.0, 1.0]).mass(-np.inf, np.inf)
        1.0
        """
        check_is_fitted(self)
        lo = (np.broadcast_to(np.asarray(lsl, float), (self.n_features_in_,)) - self.shift_) / self.bandwidth_
        hi = (np.broadcast_to(np.asarray(usl, float), (self.n_features_in_,)) - self.shift_) / self.bandwidth_
        if self.kernel == "gaussian":
            scale = self._lam[:, None]
            inside = ndtr((hi - self._z) / scale) - ndtr((lo - self._z) / scale)
            return float(np.prod(inside, axis=1).mean())
        if self.n_features_in_ != 1:
            raise FabDataError("exact box mass of a d > 1 Epanechnikov KDE is not available; sample instead")
        u = np.clip((np.array([[lo[0]], [hi[0]]]) - self._z[:, 0]) / (self._lam * self._kernel_scale()), -1.0, 1.0)
        cdf = (0.5 + 0.75 * u - 0.25 * u**3).mean(axis=1)
        return float(cdf[1] - cdf[0])

    def sample(self, n: int, seed=0) -> np.ndarray:
        """``n`` draws from the fitted mixture: (n,) for 1-D data, else (n, d).

        >>> import numpy as np
        >>> kde = KDE().fit(np.random.default_rng(0).normal(size=100))
        >>> bool(np.array_equal(kde.sample(10, seed=3), kde.sample(10, seed=3)))
        True
        """
        check_is_fitted(self)
        check_params("KDE.sample", {"n": [Interval(Integral, 0, None, closed="left")]}, {"n": n})
        rng = np.random.default_rng(seed)
        n, d = int(n), self.n_features_in_
        pick = rng.integers(0, self.n_samples_, size=n)
        scale = (self._lam * self._kernel_scale())[pick]
        if self.kernel == "gaussian":
            u = rng.standard_normal((n, d))
        elif d == 1:
            # ρ·sign with ρ = U₁ U₂^{1/3}: a uniform on (−1, 1) carries both |U₁| and the sign
            u = rng.random(n)
            u *= 2.0
            u -= 1.0
            u *= np.cbrt(rng.random(n))
            u *= scale
            u += self._z[pick, 0]
            return u * self.bandwidth_[0] + self.shift_[0]
        else:
            # ρ² ~ Beta(d/2, 2) as the product Beta(d/2, 1)·Beta(d/2 + 1, 1) = U₁^{2/d} U₂^{2/(d+2)}
            rho = rng.random(n) ** (1.0 / d) * rng.random(n) ** (1.0 / (d + 2.0))
            u = rng.standard_normal((n, d))
            u *= (rho / np.linalg.norm(u, axis=1))[:, None]
        draws = (self._z[pick] + u * scale[:, None]) * self.bandwidth_ + self.shift_
        return draws[:, 0] if d == 1 else draws
