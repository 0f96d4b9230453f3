"""Multivariate fault detection: Hotelling T² and Q (SPE) on a PCA model.

Phase I data ``X`` (n samples × p sensors) is standardised and decomposed by
scikit-learn's PCA; ``A`` components are kept (enough to explain
``explained_variance`` of the variance, or ``n_components``).

- ``T² = Σ_a t_a² / λ_a``; its limit for a *new* observation (Tracy, Young & Mason 1992)::

      T²_α = A (n − 1)(n + 1) / (n (n − A)) · F_α(A, n − A)

- ``Q = ‖x_s − P Pᵀ x_s‖²``; Jackson–Mudholkar (1979) limit with
  ``θ_i = Σ_{j>A} λ_j^i`` and ``h₀ = 1 − 2θ₁θ₃ / (3θ₂²)``::

      Q_α = θ₁ [ z_α √(2 θ₂ h₀²) / θ₁ + 1 + θ₂ h₀ (h₀ − 1) / θ₁² ]^{1/h₀}

- Contributions: T² of variable j ``x_sj Σ_a p_ja t_a / λ_a`` (they sum to T²), Q of
  variable j ``e_j²`` — the variable with the largest contribution is where to look.

Example
-------
>>> import numpy as np
>>> from fabnb.spc import PCAMonitor
>>> rng = np.random.default_rng(0)
>>> latent = rng.normal(size=(500, 2))
>>> X = latent @ rng.normal(size=(2, 6)) + 0.1 * rng.normal(size=(500, 6))
>>> mon = PCAMonitor(alpha=0.01).fit(X)
>>> mon.n_components_
2
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.decomposition import PCA

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import CheckedParams
from ..errors import FabDataError, FabFitError, FabParameterError
from . import _kernels
from . import _params as rules_of


class PCAMonitor(CheckedParams, BaseEstimator):
    """PCA-based T²/Q monitor; ``fit`` on in-control data, ``score`` or ``update`` new data.

    ``n_components`` must leave at least one residual component (``< p`` sensors): Q and
    its limit live in the residual space.
    """

    _parameter_constraints = rules_of.PCA

    def __init__(self, n_components=None, explained_variance=0.9, alpha=0.01):
        self.n_components = n_components
        self.explained_variance = explained_variance
        self.alpha = alpha

    def fit(self, X):
        self._validate_params()
        names = list(X.columns) if isinstance(X, pd.DataFrame) else None
        X = np.asarray(X, dtype=float)
        if X.ndim != 2:
            raise FabFitError(f"Phase I data must be 2-D (samples x sensors), got shape {X.shape}")
        n, p = X.shape
        if not np.isfinite(X).all():
            raise FabFitError("Phase I data contains NaN/inf; drop or impute those samples first")
        if p < 2:
            raise FabFitError(f"Phase I data has {p} sensor; T²/Q monitoring needs at least 2")
        if self.n_components is not None and self.n_components >= p:
            raise FabParameterError(
                f"The 'n_components' parameter of PCAMonitor must be below the number of sensors ({p}) so "
                f"that Q has a residual space. Got {self.n_components} instead.")
        if n < max(10, p + 2):
            raise FabFitError(f"Phase I data has {n} samples for {p} sensors; at least {max(10, p + 2)} are needed")
        scale = X.std(axis=0, ddof=1)
        flat = np.flatnonzero(scale == 0)
        if flat.size:
            which = [names[i] for i in flat] if names else flat.tolist()
            raise FabFitError(f"sensors with zero variance in Phase I: {which}")
        self.feature_names_in_ = np.array(names if names else [f"x{j}" for j in range(p)], dtype=object)
        self.mean_ = X.mean(axis=0)
        self.scale_ = scale
        pca = PCA().fit((X - self.mean_) / self.scale_)
        eig = pca.explained_variance_
        if self.n_components is None:
            A = int(np.searchsorted(np.cumsum(pca.explained_variance_ratio_), self.explained_variance) + 1)
        else:
            A = int(self.n_components)
        A = min(A, p - 1)  # the variance target alone may ask for every component
        self.n_components_ = A
        self.loadings_ = np.ascontiguousarray(pca.components_[:A].T)
        self.eigenvalues_ = eig[:A].copy()
        self.n_samples_ = n
        self.t2_limit_ = float(A * (n - 1) * (n + 1) / (n * (n - A)) * stats.f.ppf(1 - self.alpha, A, n - A))
        rest = eig[A:]
        theta = [np.sum(rest**i) for i in (1, 2, 3)]
        h0 = 1 - 2 * theta[0] * theta[2] / (3 * theta[1] ** 2)
        z = stats.norm.ppf(1 - self.alpha)
        self.q_limit_ = float(theta[0] * (z * np.sqrt(2 * theta[1] * h0**2) / theta[0] + 1
                                          + theta[1] * h0 * (h0 - 1) / theta[0] ** 2) ** (1 / h0))
        self.n_skipped_ = 0
        return self

    def _check(self, X):
        if isinstance(X, pd.DataFrame):
            missing = set(self.feature_names_in_) - set(X.columns)
            extra = set(X.columns) - set(self.feature_names_in_)
            if missing or extra:
                raise FabDataError(f"sensors differ from Phase I: missing {sorted(missing)}, unexpected {sorted(extra)}")
            X = X[list(self.feature_names_in_)]
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if X.shape[1] != len(self.feature_names_in_):
            raise FabDataError(f"got {X.shape[1]} sensors, the monitor was fitted on {len(self.feature_names_in_)}")
        return np.ascontiguousarray(X)

    def score(self, X) -> pd.DataFrame:
        """T², Q and their alarms for each row; rows with NaN are flagged ``missing``."""
        check_is_fitted(self)
        X = self._check(X)
        bad = ~np.isfinite(X).all(axis=1)
        t2, q = _kernels.t2q_batch(np.where(bad[:, None], self.mean_, X), self.mean_, self.scale_,
                                   self.loadings_, self.eigenvalues_)
        t2[bad] = np.nan
        q[bad] = np.nan
        return pd.DataFrame({"t2": t2, "q": q, "t2_alarm": t2 > self.t2_limit_,
                             "q_alarm": q > self.q_limit_, "missing": bad})

    def contributions(self, x) -> pd.DataFrame:
        """Per-sensor T² and Q contributions of one sample."""
        check_is_fitted(self)
        x = self._check(x)[0]
        c_t2, c_q = np.empty(x.size), np.empty(x.size)
        _kernels.t2q_step(x, self.mean_, self.scale_, self.loadings_, self.eigenvalues_, c_t2, c_q)
        return pd.DataFrame({"t2": c_t2, "q": c_q}, index=pd.Index(self.feature_names_in_, name="sensor"))

    def update(self, x) -> dict:
        """Stream one sample (a 1-D array in the Phase I sensor order)."""
        check_is_fitted(self)
        x = np.asarray(x, dtype=float)
        if x.shape != self.mean_.shape:
            raise FabDataError(f"sample has shape {x.shape}, expected {self.mean_.shape}")
        if not np.isfinite(x).all():
            self.n_skipped_ += 1
            return {"t2": np.nan, "q": np.nan, "t2_alarm": False, "q_alarm": False, "missing": True}
        t2, q = _kernels.t2q_batch(x[None, :], self.mean_, self.scale_, self.loadings_, self.eigenvalues_)
        t2, q = float(t2[0]), float(q[0])
        return {"t2": t2, "q": q, "t2_alarm": t2 > self.t2_limit_, "q_alarm": q > self.q_limit_,
                "missing": False}
