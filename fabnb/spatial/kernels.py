"""Covariance kernels that compose: sums and products of RBF, Matérn, rational quadratic,
periodic, constant and white-noise terms, each with analytic gradients.

A wafer map is rarely one smooth field: a radial bowl, a reticle-periodic intra-field
signature and die noise add up.  A kernel here is a small object holding its
hyperparameters; ``k1 + k2`` and ``k1 * k2`` build :class:`Sum` and :class:`Product`
(a number becomes a :class:`ConstantKernel`, so ``4.0 * RBF(10.0)`` has amplitude 4).
Pass one to :class:`~fabnb.spatial.GaussianProcess` as ``kernel=`` and the GP fits every
free hyperparameter by ML-II (:mod:`._composite`).

Every kernel gives

* ``K(X, Y=None)``: the covariance matrix; ``Y=None`` means ``K(X, X)`` *with* the white
  noise on the diagonal, a given ``Y`` the cross-covariance (white noise has none, as in
  scikit-learn); ``include_noise=False`` drops white terms (the latent field's covariance);
* ``gradient(X)``: ``∂K(X, X)/∂θ_j`` of shape (n, n, n_θ), with ``θ = log`` of the free
  hyperparameters (:attr:`Kernel.theta`; a hyperparameter whose bounds are ``"fixed"``
  is not in θ);
* ``diag(X)``, ``theta``, ``bounds`` (log bounds of θ), ``with_theta(θ)`` (a copy), a
  scikit-learn-like ``repr``, and :meth:`Kernel.to_sklearn` / :func:`from_sklearn` to
  check against ``sklearn.gaussian_process.kernels``.

Stationary kernels act on the columns ``active_dims`` of X (all by default), scaled by
one length scale (isotropic) or one per column (ARD, ``length_scale`` an array).  With
``Δ_k`` the difference in column k and ``r² = Σ_k (Δ_k/ℓ_k)²`` (Rasmussen & Williams,
*Gaussian Processes for Machine Learning*, MIT Press 2006, ch. 4, eqs. 4.9, 4.14, 4.17,
4.19, 4.31):

* RBF:                ``k = exp(−r²/2)``
* Matérn ν=1/2:       ``k = exp(−r)``;  ν=3/2: ``(1 + √3 r) e^{−√3 r}``;
  ν=5/2: ``(1 + √5 r + 5r²/3) e^{−√5 r}``
* rational quadratic: ``k = (1 + r²/(2α))^{−α}``
* periodic (ExpSineSquared): ``k = exp(−2 sin²(π d/p) / ℓ²)`` with ``d = |x_j − x′_j|``
  on its one active column j (unscaled) and period ``p``; on two or more columns this
  function of the Euclidean distance is not positive definite, so it is refused
* constant: ``k = c``;  white: ``k = σ² 1[x = x′]`` (on ``K(X)``'s diagonal only);
  group: ``k = 1[x_j = x′_j]`` (a per-wafer random effect when j is the wafer column).

A periodic term that acts per axis (the reticle's shot pitch in x and in y) is the
product of two periodic kernels, each with one active column: :func:`reticle_kernel`.

Example
-------
>>> import numpy as np
>>> from fabnb.spatial.kernels import RBF, ExpSineSquared, WhiteKernel
>>> k = 2.0 * RBF(10.0) + 0.5 * ExpSineSquared(1.0, 5.0, periodicity_bounds="fixed") + WhiteKernel(0.1)
>>> k
1.41**2 * RBF(length_scale=10) + 0.707**2 * ExpSineSquared(length_scale=1, periodicity=5) + WhiteKernel(noise_level=0.1)
>>> X = np.c_[np.linspace(0, 20, 5)]
>>> k.K(X).shape, k.gradient(X).shape, k.theta.size     # periodicity is fixed: 5 free
((5, 5), (5, 5, 5), 5)
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import numpy as np

from .._params import Integral, Interval, Real, check_option, check_params
from ..errors import FabDataError, FabParameterError

__all__ = ["RBF", "ConstantKernel", "ExpSineSquared", "GroupKernel", "Hyperparameter", "Kernel", "Matern",
           "Product", "RationalQuadratic", "Sum", "WhiteKernel", "from_sklearn", "reticle_kernel"]

MATERN_NUS = (0.5, 1.5, 2.5)
DEFAULT_BOUNDS = (1e-5, 1e5)  # scikit-learn's default for every hyperparameter
_SQRT3, _SQRT5 = math.sqrt(3.0), math.sqrt(5.0)


class Hyperparameter(NamedTuple):
    """One hyperparameter of a kernel: its (prefixed) name, value(s), bounds and whether
    it is held fixed (``bounds == "fixed"``) or fitted in log space."""

    name: str
    value: np.ndarray
    bounds: tuple | str

    @property
    def fixed(self) -> bool:
        return isinstance(self.bounds, str)

    @property
    def n_elements(self) -> int:
        return self.value.size


# ---------------------------------------------------------------------- checks
def _check_positive(owner: str, name: str, value, scalar_only: bool = False) -> None:
    try:
        v = np.asarray(value, dtype=float)
        ok = v.ndim <= (0 if scalar_only else 1) and v.size >= 1 and bool(np.isfinite(v).all() and (v > 0).all())
    except (TypeError, ValueError):
        ok = False
    if not ok:
        what = "a positive finite number" if scalar_only else "a positive finite number or a 1-D array of them"
        raise FabParameterError(f"The {name!r} parameter of {owner} must be {what}. Got {value!r} instead.")


def _check_bounds(owner: str, name: str, bounds, value) -> None:
    """``bounds`` is ``"fixed"`` or a pair ``0 < lo <= hi < inf`` that contains ``value``."""
    if isinstance(bounds, str):
        if bounds != "fixed":
            raise FabParameterError(f"The {name + '_bounds'!r} parameter of {owner} must be a pair (lo, hi) "
                                    f"or 'fixed'. Got {bounds!r} instead.")
        return
    try:
        lo, hi = (float(b) for b in bounds)
        ok = 0 < lo <= hi < math.inf
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise FabParameterError(f"The {name + '_bounds'!r} parameter of {owner} must be 'fixed' or a pair "
                                f"(lo, hi) of positive finite numbers with lo <= hi. Got {bounds!r} instead.")
    v = np.asarray(value, dtype=float)
    if (v < lo).any() or (v > hi).any():
        raise FabParameterError(f"The {name!r} parameter of {owner} ({value!r}) lies outside its bounds "
                                f"({lo:g}, {hi:g}): widen {name}_bounds or start inside them.")


def _check_active_dims(owner: str, active_dims) -> tuple | None:
    if active_dims is None:
        return None
    try:
        dims = tuple(active_dims)
        ok = len(dims) >= 1 and all(isinstance(d, Integral) and d >= 0 for d in dims) and len(set(dims)) == len(dims)
    except TypeError:
        ok = False
    if not ok:
        raise FabParameterError(f"The 'active_dims' parameter of {owner} must be None or distinct non-negative "
                                f"column indices. Got {active_dims!r} instead.")
    return tuple(int(d) for d in dims)


def _fmt(value) -> str:
    v = np.asarray(value, dtype=float)
    return f"{float(v):.3g}" if v.ndim == 0 else "[" + ", ".join(f"{x:.3g}" for x in v) + "]"


# ---------------------------------------------------------------------- base
class Kernel:
    """Base of all kernels: hyperparameter bookkeeping, θ, operators.

    Leaf kernels list their hyperparameter names in ``_HYPER`` (alphabetical, the order
    scikit-learn uses, so θ vectors line up) and keep ``<name>`` and ``<name>_bounds``
    attributes.
    """

    _HYPER: tuple[str, ...] = ()
    active_dims: tuple | None = None

    # --- hyperparameters and θ
    @property
    def hyperparameters(self) -> list[Hyperparameter]:
        return [Hyperparameter(name, np.atleast_1d(np.asarray(getattr(self, name), dtype=float)),
                               getattr(self, name + "_bounds")) for name in self._HYPER]

    @property
    def theta(self) -> np.ndarray:
        """Log of the free hyperparameters, in :attr:`hyperparameters` order."""
        free = [np.log(h.value) for h in self.hyperparameters if not h.fixed]
        return np.concatenate(free) if free else np.empty(0)

    @property
    def bounds(self) -> np.ndarray:
        """Log bounds of θ, shape (n_θ, 2)."""
        rows = [np.tile(np.log(h.bounds), (h.n_elements, 1)) for h in self.hyperparameters if not h.fixed]
        return np.vstack(rows) if rows else np.empty((0, 2))

    def with_theta(self, theta) -> Kernel:
        """A copy with the free hyperparameters set to ``exp(theta)``."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != self.theta.shape:
            raise FabParameterError(f"theta of {self!r} must have {self.theta.size} entries, got shape {theta.shape}")
        new = copy.deepcopy(self)
        new._assign(theta, 0)
        return new

    def _assign(self, theta: np.ndarray, start: int) -> int:
        for h in self.hyperparameters:
            if h.fixed:
                continue
            value = np.exp(theta[start:start + h.n_elements])
            scalar = np.ndim(getattr(self, h.name)) == 0
            setattr(self, h.name, float(value[0]) if scalar else value)
            start += h.n_elements
        return start

    # --- covariance
    def _columns(self, X: np.ndarray) -> np.ndarray:
        if self.active_dims is None:
            return X
        if max(self.active_dims) >= X.shape[1]:
            raise FabDataError(f"{self!r} acts on columns {list(self.active_dims)} but X has {X.shape[1]} column(s)")
        return X[:, list(self.active_dims)]

    def K(self, X, Y=None, include_noise: bool = True) -> np.ndarray:
        """Covariance ``K(X, Y)``; ``Y=None`` is ``K(X, X)`` with the white noise."""
        raise NotImplementedError

    def gradient(self, X) -> np.ndarray:
        """``∂K(X, X)/∂θ_j``, shape (n, n, n_θ)."""
        return self.K_and_gradient(X)[1]

    def K_and_gradient(self, X) -> tuple[np.ndarray, np.ndarray]:
        """``K(X)`` and :meth:`gradient` in one pass (shared distances and exponentials)."""
        raise NotImplementedError

    def diag(self, X, include_noise: bool = True) -> np.ndarray:
        """The diagonal of ``K(X)`` (``include_noise=False``: of the latent field's)."""
        raise NotImplementedError

    # --- composition
    def __add__(self, other):
        return Sum(self, _as_kernel(other))

    def __radd__(self, other):
        return Sum(_as_kernel(other), self)

    def __mul__(self, other):
        return Product(self, _as_kernel(other))

    def __rmul__(self, other):
        return Product(_as_kernel(other), self)

    def _structure(self):
        """Names, bounds and active columns: equal structures share θ's meaning."""
        return ([(h.name, h.bounds, h.n_elements) for h in self.hyperparameters], self.active_dims)

    def to_sklearn(self):
        """The same kernel as a ``sklearn.gaussian_process.kernels`` object."""
        raise NotImplementedError

    def _sk_check(self):
        if self.active_dims is not None:
            raise FabParameterError(f"{self!r}: scikit-learn kernels have no active_dims; "
                                    "compare kernels on all columns")


def _no_gradient(X) -> np.ndarray:
    """The (n, n, 0) gradient of a kernel without free hyperparameters."""
    return np.empty((len(X), len(X), 0))


def _scale_gradient(kernel, X) -> tuple[np.ndarray, np.ndarray]:
    """K and ∂K/∂log θ of a kernel linear in its one hyperparameter θ (a constant, a
    white noise level): the gradient is K itself, or nothing when θ is fixed."""
    K = kernel.K(X)
    return K, K[..., None].copy() if not kernel.hyperparameters[0].fixed else _no_gradient(X)


def _as_kernel(other) -> Kernel:
    if isinstance(other, Kernel):
        return other
    if isinstance(other, Real) and not isinstance(other, bool):
        return ConstantKernel(float(other))
    raise FabParameterError(f"a kernel can be added to or multiplied by a kernel or a number, not {other!r}")


class _Stationary(Kernel):
    """Kernels of the scaled distance ``r² = Σ_k (Δ_k/ℓ_k)²`` over the active columns."""

    def _scaled(self, X):
        A = self._columns(np.asarray(X, dtype=float))
        ls = np.asarray(self.length_scale, dtype=float)
        if ls.ndim == 1 and ls.size != A.shape[1]:
            raise FabDataError(f"{self!r} has {ls.size} length scales but acts on {A.shape[1]} column(s)")
        return A / ls

    def _sq(self, X, Y):
        A = self._scaled(X)
        B = A if Y is None else self._scaled(Y)
        r2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        np.maximum(r2, 0.0, out=r2)
        if Y is None:
            np.fill_diagonal(r2, 0.0)  # exact zeros where the expansion leaves rounding
        return r2

    def _per_dim(self, X):
        """``D[i, j, k] = (Δ_k/ℓ_k)²`` for ARD gradients."""
        A = self._scaled(X)
        return (A[:, None, :] - A[None, :, :]) ** 2

    def _ls_gradient(self, X, factor):
        """∂K/∂log ℓ = factor(r)·D_k (ARD) or factor(r)·r² (isotropic)."""
        if np.ndim(self.length_scale) == 0:
            return (factor * self._sq(X, None))[..., None]
        return factor[..., None] * self._per_dim(X)

    def _ls_repr(self):
        return _fmt(self.length_scale)

    def _dims_repr(self):
        return "" if self.active_dims is None else f", active_dims={list(self.active_dims)}"

    def diag(self, X, include_noise=True):
        return np.ones(np.asarray(X).shape[0])


# ---------------------------------------------------------------------- leaves
class RBF(_Stationary):
    """Squared exponential ``k(x, x′) = exp(−r²/2)``, ``r² = Σ_k ((x_k − x′_k)/ℓ_k)²``
    (R&W 2006 eq. 4.9); ``∂k/∂log ℓ_k = k (Δ_k/ℓ_k)²``.

    >>> import numpy as np
    >>> round(float(RBF(2.0).K(np.array([[0.0]]), np.array([[2.0]]))[0, 0]), 6)  # exp(-1/2)
    0.606531
    """

    _HYPER = ("length_scale",)

    def __init__(self, length_scale=1.0, length_scale_bounds=DEFAULT_BOUNDS, active_dims=None):
        _check_positive("RBF", "length_scale", length_scale)
        _check_bounds("RBF", "length_scale", length_scale_bounds, length_scale)
        self.length_scale = length_scale if np.ndim(length_scale) == 0 else np.asarray(length_scale, dtype=float)
        self.length_scale_bounds = length_scale_bounds
        self.active_dims = _check_active_dims("RBF", active_dims)

    def K(self, X, Y=None, include_noise=True):
        return np.exp(-0.5 * self._sq(X, Y))

    def K_and_gradient(self, X):
        K = self.K(X)
        return K, self._ls_gradient(X, K) if not self.hyperparameters[0].fixed else _no_gradient(X)

    def __repr__(self):
        return f"RBF(length_scale={self._ls_repr()}{self._dims_repr()})"

    def to_sklearn(self):
        from sklearn.gaussian_process import kernels as sk
        self._sk_check()
        return sk.RBF(self.length_scale, self.length_scale_bounds)


class Matern(_Stationary):
    """Matérn correlation with ν ∈ {1/2, 3/2, 5/2} (R&W 2006 eqs. 4.14, 4.17):
    ``exp(−r)``, ``(1 + √3 r) e^{−√3 r}``, ``(1 + √5 r + 5r²/3) e^{−√5 r}``.

    ``∂k/∂log ℓ_k = F(r) (Δ_k/ℓ_k)²`` with ``F = e^{−r}/r``, ``3 e^{−√3 r}`` and
    ``(5/3)(1 + √5 r) e^{−√5 r}`` (F·Δ² → 0 at r = 0 for ν = 1/2).

    >>> import numpy as np
    >>> round(float(Matern(1.0, nu=0.5).K(np.array([[0.0]]), np.array([[1.0]]))[0, 0]), 6)  # e^-1
    0.367879
    """

    _HYPER = ("length_scale",)

    def __init__(self, length_scale=1.0, length_scale_bounds=DEFAULT_BOUNDS, nu=1.5, active_dims=None):
        _check_positive("Matern", "length_scale", length_scale)
        _check_bounds("Matern", "length_scale", length_scale_bounds, length_scale)
        check_option("Matern", "nu", nu, MATERN_NUS)
        self.length_scale = length_scale if np.ndim(length_scale) == 0 else np.asarray(length_scale, dtype=float)
        self.length_scale_bounds = length_scale_bounds
        self.nu = float(nu)
        self.active_dims = _check_active_dims("Matern", active_dims)

    def _k_and_factor(self, r2):
        r = np.sqrt(r2)
        if self.nu == 0.5:
            k = np.exp(-r)
            with np.errstate(divide="ignore", invalid="ignore"):
                f = np.where(r > 0, k / np.where(r > 0, r, 1.0), 0.0)
            return k, f
        if self.nu == 1.5:
            e = np.exp(-_SQRT3 * r)
            return (1.0 + _SQRT3 * r) * e, 3.0 * e
        e = np.exp(-_SQRT5 * r)
        return (1.0 + _SQRT5 * r + (5.0 / 3.0) * r2) * e, (5.0 / 3.0) * (1.0 + _SQRT5 * r) * e

    def K(self, X, Y=None, include_noise=True):
        return self._k_and_factor(self._sq(X, Y))[0]

    def K_and_gradient(self, X):
        K, factor = self._k_and_factor(self._sq(X, None))
        return K, self._ls_gradient(X, factor) if not self.hyperparameters[0].fixed else _no_gradient(X)

    def __repr__(self):
        return f"Matern(length_scale={self._ls_repr()}, nu={self.nu:.3g}{self._dims_repr()})"

    def to_sklearn(self):
        from sklearn.gaussian_process import kernels as sk
        self._sk_check()
        return sk.Matern(self.length_scale, self.length_scale_bounds, nu=self.nu)


class RationalQuadratic(_Stationary):
    """Rational quadratic ``k = (1 + r²/(2α))^{−α}`` (R&W 2006 eq. 4.19): a scale mixture
    of RBFs, α → ∞ gives the RBF.  With ``b = 1 + r²/(2α)``:
    ``∂k/∂log ℓ_k = k (Δ_k/ℓ_k)²/b`` and ``∂k/∂log α = k (r²/(2b) − α log b)``.

    >>> import numpy as np
    >>> round(float(RationalQuadratic(1.0, alpha=1.0).K(np.array([[0.0]]), np.array([[2.0]]))[0, 0]), 6)  # 1/3
    0.333333
    """

    _HYPER = ("alpha", "length_scale")

    def __init__(self, length_scale=1.0, alpha=1.0, length_scale_bounds=DEFAULT_BOUNDS,
                 alpha_bounds=DEFAULT_BOUNDS, active_dims=None):
        _check_positive("RationalQuadratic", "length_scale", length_scale)
        _check_positive("RationalQuadratic", "alpha", alpha, scalar_only=True)
        _check_bounds("RationalQuadratic", "length_scale", length_scale_bounds, length_scale)
        _check_bounds("RationalQuadratic", "alpha", alpha_bounds, alpha)
        self.length_scale = length_scale if np.ndim(length_scale) == 0 else np.asarray(length_scale, dtype=float)
        self.alpha = float(alpha)
        self.length_scale_bounds = length_scale_bounds
        self.alpha_bounds = alpha_bounds
        self.active_dims = _check_active_dims("RationalQuadratic", active_dims)

    def K(self, X, Y=None, include_noise=True):
        return (1.0 + self._sq(X, Y) / (2.0 * self.alpha)) ** -self.alpha

    def K_and_gradient(self, X):
        r2 = self._sq(X, None)
        base = 1.0 + r2 / (2.0 * self.alpha)
        k = base ** -self.alpha
        fixed_a, fixed_l = (h.fixed for h in self.hyperparameters)
        parts = [_no_gradient(X)]
        if not fixed_a:
            parts.append((k * (0.5 * r2 / base - self.alpha * np.log(base)))[..., None])
        if not fixed_l:
            parts.append(self._ls_gradient(X, k / base))
        return k, np.concatenate(parts, axis=2)

    def __repr__(self):
        return f"RationalQuadratic(alpha={self.alpha:.3g}, length_scale={self._ls_repr()}{self._dims_repr()})"

    def to_sklearn(self):
        from sklearn.gaussian_process import kernels as sk
        self._sk_check()
        if np.ndim(self.length_scale):
            raise FabParameterError("scikit-learn's RationalQuadratic is isotropic: it has no ARD length scales")
        return sk.RationalQuadratic(self.length_scale, self.alpha, self.length_scale_bounds, self.alpha_bounds)


class ExpSineSquared(Kernel):
    """Periodic kernel ``k = exp(−2 sin²(π d/p)/ℓ²)`` (MacKay 1998; R&W 2006 eq. 4.31),
    ``d = |x_j − x′_j|`` on one column j (``active_dims=[j]``, or X with one column),
    ``p`` the period.  With
    ``a = π d/p``: ``∂k/∂log ℓ = 4 k sin²a/ℓ²`` and ``∂k/∂log p = 4 k a sin a cos a/ℓ²``.
    ``periodicity_bounds="fixed"`` holds a known period (a shot pitch, a year).

    >>> import numpy as np
    >>> k = ExpSineSquared(1.0, periodicity=5.0)
    >>> round(float(k.K(np.array([[0.0]]), np.array([[10.0]]))[0, 0]), 12)   # two whole periods apart
    1.0
    """

    _HYPER = ("length_scale", "periodicity")

    def __init__(self, length_scale=1.0, periodicity=1.0, length_scale_bounds=DEFAULT_BOUNDS,
                 periodicity_bounds=DEFAULT_BOUNDS, active_dims=None):
        _check_positive("ExpSineSquared", "length_scale", length_scale, scalar_only=True)
        _check_positive("ExpSineSquared", "periodicity", periodicity, scalar_only=True)
        _check_bounds("ExpSineSquared", "length_scale", length_scale_bounds, length_scale)
        _check_bounds("ExpSineSquared", "periodicity", periodicity_bounds, periodicity)
        self.length_scale = float(length_scale)
        self.periodicity = float(periodicity)
        self.length_scale_bounds = length_scale_bounds
        self.periodicity_bounds = periodicity_bounds
        self.active_dims = _check_active_dims("ExpSineSquared", active_dims)

    def _arg(self, X, Y):
        A = self._columns(np.asarray(X, dtype=float))
        if A.shape[1] != 1:
            # exp(−2 sin²(π‖Δ‖/p)/ℓ²) of a distance in 2+ dimensions is not positive
            # definite (a 40-site example has eigenvalue −2.2); per-axis periods multiply
            raise FabDataError(f"{self!r} acts on {A.shape[1]} columns: a periodic kernel is positive definite "
                               "on one column only; give it active_dims=[j] and multiply one per column")
        B = A if Y is None else self._columns(np.asarray(Y, dtype=float))
        return np.pi * np.abs(A - B.T) / self.periodicity

    def K(self, X, Y=None, include_noise=True):
        s = np.sin(self._arg(X, Y))
        return np.exp(-2.0 * (s / self.length_scale) ** 2)

    def K_and_gradient(self, X):
        arg = self._arg(X, None)
        s, c = np.sin(arg), np.cos(arg)
        k = np.exp(-2.0 * (s / self.length_scale) ** 2)
        fixed_l, fixed_p = (h.fixed for h in self.hyperparameters)
        parts = [_no_gradient(X)]
        if not fixed_l:
            parts.append((4.0 * k * (s / self.length_scale) ** 2)[..., None])
        if not fixed_p:
            parts.append((4.0 * k * arg * s * c / self.length_scale**2)[..., None])
        return k, np.concatenate(parts, axis=2)

    def diag(self, X, include_noise=True):
        return np.ones(np.asarray(X).shape[0])

    def __repr__(self):
        dims = "" if self.active_dims is None else f", active_dims={list(self.active_dims)}"
        return f"ExpSineSquared(length_scale={self.length_scale:.3g}, periodicity={self.periodicity:.3g}{dims})"

    def to_sklearn(self):
        from sklearn.gaussian_process import kernels as sk
        self._sk_check()
        return sk.ExpSineSquared(self.length_scale, self.periodicity, self.length_scale_bounds,
                                 self.periodicity_bounds)


class ConstantKernel(Kernel):
    """Constant ``k = c``: alone, a random offset; in a product, an amplitude
    (``c * RBF(ℓ)`` has variance c).  ``∂k/∂log c = c``.

    >>> ConstantKernel(4.0)
    2**2
    """

    _HYPER = ("constant_value",)

    def __init__(self, constant_value=1.0, constant_value_bounds=DEFAULT_BOUNDS):
        _check_positive("ConstantKernel", "constant_value", constant_value, scalar_only=True)
        _check_bounds("ConstantKernel", "constant_value", constant_value_bounds, constant_value)
        self.constant_value = float(constant_value)
        self.constant_value_bounds = constant_value_bounds

    def K(self, X, Y=None, include_noise=True):
        n = len(X)
        return np.full((n, n if Y is None else len(Y)), self.constant_value)

    def K_and_gradient(self, X):
        return _scale_gradient(self, X)

    def diag(self, X, include_noise=True):
        return np.full(len(X), self.constant_value)

    def __repr__(self):
        return f"{math.sqrt(self.constant_value):.3g}**2"

    def to_sklearn(self):
        from sklearn.gaussian_process import kernels as sk
        return sk.ConstantKernel(self.constant_value, self.constant_value_bounds)


class WhiteKernel(Kernel):
    """White noise ``k(x, x′) = σ² 1[x = x′]``: σ² on the diagonal of ``K(X)``, none in a
    cross-covariance ``K(X, Y)`` (scikit-learn's convention; measurement noise, not a
    feature of the field).  ``∂K/∂log σ² = σ² I``.

    >>> import numpy as np
    >>> WhiteKernel(0.5).K(np.zeros((2, 1))).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """

    _HYPER = ("noise_level",)

    def __init__(self, noise_level=1.0, noise_level_bounds=DEFAULT_BOUNDS):
        _check_positive("WhiteKernel", "noise_level", noise_level, scalar_only=True)
        _check_bounds("WhiteKernel", "noise_level", noise_level_bounds, noise_level)
        self.noise_level = float(noise_level)
        self.noise_level_bounds = noise_level_bounds

    def K(self, X, Y=None, include_noise=True):
        n = len(X)
        if Y is not None or not include_noise:
            return np.zeros((n, n if Y is None else len(Y)))
        return self.noise_level * np.eye(n)

    def K_and_gradient(self, X):
        return _scale_gradient(self, X)

    def diag(self, X, include_noise=True):
        return np.full(len(X), self.noise_level if include_noise else 0.0)

    def __repr__(self):
        return f"WhiteKernel(noise_level={self.noise_level:.3g})"

    def to_sklearn(self):
        from sklearn.gaussian_process import kernels as sk
        return sk.WhiteKernel(self.noise_level, self.noise_level_bounds)


class GroupKernel(Kernel):
    """Group (random-effect) kernel ``k(x, x′) = 1[x_j = x′_j]`` on one column j: rows
    that share the column's value (the same wafer in a lot's ``(x, y, t)``) are fully
    correlated, others not, so ``c * GroupKernel(active_dims=[j])`` is an independent
    offset of variance c per group (K = c Z Zᵀ with Z the group indicator: positive
    semi-definite).  No hyperparameters; scikit-learn has no counterpart.

    >>> import numpy as np
    >>> GroupKernel(active_dims=[0]).K(np.array([[0.0], [0.0], [1.0]])).tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """

    def __init__(self, active_dims=None):
        self.active_dims = _check_active_dims("GroupKernel", active_dims)
        if self.active_dims is not None and len(self.active_dims) != 1:
            raise FabParameterError(f"The 'active_dims' parameter of GroupKernel must name one column (the group "
                                    f"label). Got {active_dims!r} instead.")

    def _labels(self, X):
        A = self._columns(np.asarray(X, dtype=float))
        if A.shape[1] != 1:
            raise FabDataError(f"{self!r} needs one label column: give it active_dims=[j] (X has {A.shape[1]})")
        return A[:, 0]

    def K(self, X, Y=None, include_noise=True):
        a = self._labels(X)
        b = a if Y is None else self._labels(Y)
        return (a[:, None] == b[None, :]).astype(float)

    def K_and_gradient(self, X):
        return self.K(X), _no_gradient(X)

    def diag(self, X, include_noise=True):
        return np.ones(len(X))

    def __repr__(self):
        return "GroupKernel()" if self.active_dims is None else f"GroupKernel(active_dims={list(self.active_dims)})"

    def to_sklearn(self):
        raise FabParameterError("scikit-learn has no group (random-effect) kernel")


# ---------------------------------------------------------------------- compositions
class _Binary(Kernel):
    def __init__(self, k1: Kernel, k2: Kernel):
        for k in (k1, k2):
            if not isinstance(k, Kernel):
                raise FabParameterError(f"{type(self).__name__} combines fabnb kernels, got {k!r}")
        self.k1, self.k2 = k1, k2

    @property
    def hyperparameters(self):
        return [h._replace(name=f"{prefix}__{h.name}")
                for prefix, k in (("k1", self.k1), ("k2", self.k2)) for h in k.hyperparameters]

    def _assign(self, theta, start):
        return self.k2._assign(theta, self.k1._assign(theta, start))

    def _structure(self):
        return (type(self).__name__, self.k1._structure(), self.k2._structure())


class Sum(_Binary):
    """``k = k1 + k2`` (independent fields add); ``∂k/∂θ = [∂k1/∂θ1, ∂k2/∂θ2]``."""

    def K(self, X, Y=None, include_noise=True):
        return self.k1.K(X, Y, include_noise) + self.k2.K(X, Y, include_noise)

    def K_and_gradient(self, X):
        (K1, G1), (K2, G2) = self.k1.K_and_gradient(X), self.k2.K_and_gradient(X)
        return K1 + K2, np.concatenate([G1, G2], axis=2)

    def diag(self, X, include_noise=True):
        return self.k1.diag(X, include_noise) + self.k2.diag(X, include_noise)

    def __repr__(self):
        return f"{self.k1!r} + {self.k2!r}"

    def to_sklearn(self):
        return self.k1.to_sklearn() + self.k2.to_sklearn()


class Product(_Binary):
    """``k = k1 · k2``; ``∂k/∂θ = [∂k1/∂θ1 · k2, k1 · ∂k2/∂θ2]``."""

    def K(self, X, Y=None, include_noise=True):
        return self.k1.K(X, Y, include_noise) * self.k2.K(X, Y, include_noise)

    def K_and_gradient(self, X):
        (K1, G1), (K2, G2) = self.k1.K_and_gradient(X), self.k2.K_and_gradient(X)
        return K1 * K2, np.concatenate([G1 * K2[..., None], K1[..., None] * G2], axis=2)

    def diag(self, X, include_noise=True):
        return self.k1.diag(X, include_noise) * self.k2.diag(X, include_noise)

    def __repr__(self):
        return f"{self.k1!r} * {self.k2!r}"

    def to_sklearn(self):
        return self.k1.to_sklearn() * self.k2.to_sklearn()


# ---------------------------------------------------------------------- scikit-learn
def from_sklearn(kernel) -> Kernel:
    """The fabnb kernel equal to a ``sklearn.gaussian_process.kernels`` object (RBF,
    Matern with ν ∈ {0.5, 1.5, 2.5}, RationalQuadratic, ExpSineSquared, ConstantKernel,
    WhiteKernel, Sum, Product), hyperparameters and bounds included.

    >>> from sklearn.gaussian_process import kernels as sk
    >>> from_sklearn(sk.ConstantKernel(4.0) * sk.RBF([1.0, 2.0]))
    2**2 * RBF(length_scale=[1, 2])
    """
    from sklearn.gaussian_process import kernels as sk

    if isinstance(kernel, sk.Sum):
        return Sum(from_sklearn(kernel.k1), from_sklearn(kernel.k2))
    if isinstance(kernel, sk.Product):
        return Product(from_sklearn(kernel.k1), from_sklearn(kernel.k2))
    if isinstance(kernel, sk.Matern):  # before RBF: sklearn's Matern subclasses RBF
        return Matern(kernel.length_scale, kernel.length_scale_bounds, nu=kernel.nu)
    if isinstance(kernel, sk.RBF):
        return RBF(kernel.length_scale, kernel.length_scale_bounds)
    if isinstance(kernel, sk.RationalQuadratic):
        return RationalQuadratic(kernel.length_scale, kernel.alpha, kernel.length_scale_bounds, kernel.alpha_bounds)
    if isinstance(kernel, sk.ExpSineSquared):
        return ExpSineSquared(kernel.length_scale, kernel.periodicity, kernel.length_scale_bounds,
                              kernel.periodicity_bounds)
    if isinstance(kernel, sk.ConstantKernel):
        return ConstantKernel(kernel.constant_value, kernel.constant_value_bounds)
    if isinstance(kernel, sk.WhiteKernel):
        return WhiteKernel(kernel.noise_level, kernel.noise_level_bounds)
    raise FabParameterError(f"from_sklearn: {type(kernel).__name__} has no fabnb counterpart "
                            "(supported: RBF, Matern, RationalQuadratic, ExpSineSquared, ConstantKernel, "
                            "WhiteKernel, Sum, Product)")


# ---------------------------------------------------------------------- wafers
def reticle_kernel(geometry, shot_cols: int, shot_rows: int, variance: float = 1.0) -> Kernel:
    """The wafer-map kernel ``c₁·RBF(ℓ; x, y) + c₂·Per(x; p_x)·Per(y; p_y) + σ²·white``:
    a long-range field (radial bowl, gradients), a reticle-periodic intra-field signature
    repeating every shot, and die noise.

    The shot pitches are fixed: ``p_x = shot_cols × die width`` and ``p_y = shot_rows ×
    die height`` in the units of the dies' x/y (mm from the ``die_width_mm`` /
    ``die_height_mm`` attributes of a contract Dataset or :func:`fabnb.geometry.die_grid`;
    die pitches when ``x`` carries ``units="die pitch"``), the shot the one
    :func:`fabnb.geometry.shot_ids` groups dies by.  Starting values: ℓ a third of the
    die map's span, periodic smoothness ℓ_p = 1, amplitudes 0.6, 0.3 and 0.1 ×
    ``variance`` (the variance of the values to be modelled) with bounds 1e-4…1e2 ×
    ``variance``.

    Example
    -------
    >>> from fabnb.geometry import die_grid
    >>> k = reticle_kernel(die_grid(300, 10, 10), shot_cols=3, shot_rows=2, variance=4.0)
    >>> k.k1.k2.k2.k1.periodicity, k.k1.k2.k2.k2.periodicity    # 3 × 10 mm, 2 × 10 mm
    (30.0, 20.0)
    """
    check_params("reticle_kernel", {"shot_cols": [Interval(Integral, 1, None, closed="left")],
                                    "shot_rows": [Interval(Integral, 1, None, closed="left")],
                                    "variance": [Interval(Real, 0, math.inf, closed="neither")]},
                 {"shot_cols": shot_cols, "shot_rows": shot_rows, "variance": variance})
    attrs = getattr(geometry, "attrs", {})
    try:
        x = np.asarray(geometry["x"], dtype=float)
        y = np.asarray(geometry["y"], dtype=float)
    except (KeyError, TypeError):
        raise FabDataError("reticle_kernel needs a Dataset (or die grid) with x and y die coordinates") from None
    if getattr(geometry["x"], "attrs", {}).get("units") == "die pitch":
        pitch_x, pitch_y = 1.0, 1.0
    else:
        missing = [a for a in ("die_width_mm", "die_height_mm") if a not in attrs]
        if missing:
            raise FabDataError(f"reticle_kernel: the geometry has no {missing} attribute(s), so the shot "
                               "pitch in mm is unknown; set them (fabnb.geometry.die_grid does)")
        pitch_x, pitch_y = float(attrs["die_width_mm"]), float(attrs["die_height_mm"])
    span = max(float(np.ptp(x)), float(np.ptp(y)), pitch_x, pitch_y)
    amp = lambda share: ConstantKernel(share * variance, (1e-4 * variance, 1e2 * variance))  # noqa: E731
    per = lambda col, p: ExpSineSquared(1.0, p, (1e-2, 1e2), "fixed", active_dims=[col])  # noqa: E731
    long = amp(0.6) * RBF(span / 3, (pitch_x / 2, 1e2 * span), active_dims=[0, 1])
    shot = amp(0.3) * (per(0, shot_cols * pitch_x) * per(1, shot_rows * pitch_y))
    return long + shot + WhiteKernel(0.1 * variance, (1e-6 * variance, 1e1 * variance))
