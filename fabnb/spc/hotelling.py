"""Hotelling T² control chart on the raw variables, for subgroups and for individuals,
with Phase I (retrospective) and Phase II (monitoring) limits.

Data are ``m`` subgroups of ``n`` observations of ``p`` variables (``X`` of shape
``(m, n, p)``) or ``m`` individual observations (``X`` of shape ``(m, p)``).

Subgroups (Montgomery, *Introduction to Statistical Quality Control*, 6th ed., §11.3.1;
R qcc ``stats.T2``/``limits.T2``): with the subgroup means ``x̄ᵢ``,
the grand mean ``x̿`` and the pooled within-subgroup covariance ``S̄ = (1/m) Σ Sᵢ``::

    T²ᵢ = n (x̄ᵢ − x̿)ᵀ S̄⁻¹ (x̄ᵢ − x̿)
    Phase I   UCL = p (m − 1)(n − 1) / (mn − m − p + 1) · F_{1−α}(p, mn − m − p + 1)
    Phase II  UCL = p (m + 1)(n − 1) / (mn − m − p + 1) · F_{1−α}(p, mn − m − p + 1)

Individuals (Tracy, Young & Mason 1992; Montgomery §11.3.2; qcc ``limits.T2.single``),
``T²ᵢ = (xᵢ − x̄)ᵀ S⁻¹ (xᵢ − x̄)`` with ``S`` the sample covariance (``f = m − 1``
degrees of freedom)::

    Phase I   UCL = (m − 1)² / m · Beta_{1−α}(p/2, (m − p − 1)/2)
    Phase II  UCL = p (m + 1) f / (m (f − p + 1)) · F_{1−α}(p, f − p + 1)

``covariance="successive"`` estimates ``S`` from successive differences
``vᵢ = xᵢ₊₁ − xᵢ`` as ``S₂ = VᵀV / (2 (m − 1))`` (Sullivan & Woodall 1996, JQT 28(3)),
which a step shift or drift in Phase I does not inflate, so the T² chart finds it. Its
limits are approximations: Phase II uses the F formula above with the effective degrees
of freedom ``f = 2 (m − 1)² / (3m − 4)`` of S₂ (Scholz & Tosch 1994); Phase I uses
``χ²_{1−α}(p)``, as the beta formula with ``f`` is far too wide (it bounds T² by
``(m − 1)²/m``, which a T² on S₂ is not). Checked by simulation: the Phase II
false-alarm rate is within 10 % of α for m = 20–100, p = 2–5; the Phase I quantile is
within 2 % of the simulated one for m ≥ 30, p ≤ 5, while at m = 20, p = 4 the Phase I
false-alarm rate reaches 1.5 α (use more Phase I samples, or a smaller ``alpha``).

Known parameters (``mean`` and ``cov`` given): ``T²`` is χ²(p) in both phases
(scaled by ``n`` for subgroups), ``UCL = χ²_{1−α}(p)``.

The lower limit is 0. A Phase II row with a missing value is reported ``missing`` with
no T² (and counted in ``n_skipped_`` by ``update``); Phase I data must be complete.

Example
-------
Montgomery's Example 11.1 (m = 20 subgroups of n = 10, p = 2, α = 0.001): Phase I UCL
13.72, Phase II UCL 15.16 (the book rounds F₀.₀₀₁(2, 179) to 7.18; unrounded 15.165).

>>> import numpy as np
>>> from fabnb.spc import HotellingT2Chart
>>> X = np.random.default_rng(0).normal(size=(20, 10, 2))
>>> chart = HotellingT2Chart(alpha=0.001).fit(X)
>>> round(chart.ucl_phase1_, 2), round(chart.ucl_, 2)
(13.72, 15.17)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import CheckedParams, Interval, Real, StrOptions
from ..errors import FabDataError, FabFitError, FabParameterError


def _t2(diff, inv):
    """Row-wise quadratic form ``dᵀ S⁻¹ d``."""
    return np.einsum("ij,jk,ik->i", diff, inv, diff)


def _refuse_nonfinite(X, what):
    bad = np.argwhere(~np.isfinite(X))
    if bad.size:
        raise FabDataError(f"{what} holds {len(bad)} missing or infinite value(s), first at index "
                           f"{tuple(int(i) for i in bad[0])}: Phase I data must be complete "
                           "(drop or correct those observations before fitting)")


class HotellingT2Chart(CheckedParams, BaseEstimator):
    """Hotelling T² chart for subgroups (``fit`` on an ``(m, n, p)`` array) or
    individuals (an ``(m, p)`` array or DataFrame).

    Parameters
    ----------
    alpha : false-alarm probability per point of both limits (default 0.0027, the
        3σ rate of a Shewhart chart).
    covariance : ``"auto"`` (pooled within-subgroup for subgroups, the sample
        covariance for individuals), ``"sample"`` or ``"successive"`` (individuals only:
        Sullivan–Woodall successive differences).
    mean, cov : known in-control mean vector and covariance matrix (give both); the
        limits are then χ²(p).

    Fitted attributes: ``center_``, ``cov_``, ``n_`` (subgroup size, 1 for
    individuals), ``n_groups_`` (m), ``dof_`` (covariance degrees of freedom),
    ``ucl_phase1_`` and ``phase1_`` (the Phase I T² with its limit), ``ucl_`` (Phase II
    limit used by ``apply``/``update``).
    """

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "covariance": [StrOptions({"auto", "sample", "successive"})],
        "mean": ["array-like", None],
        "cov": ["array-like", None],
    }

    def __init__(self, alpha=0.0027, covariance="auto", mean=None, cov=None):
        self.alpha = alpha
        self.covariance = covariance
        self.mean = mean
        self.cov = cov

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def _as_array(X, what, names=None):
        """``X`` as a float array; a DataFrame is put in the Phase I column order ``names``."""
        if isinstance(X, pd.DataFrame) and names is not None:
            missing = sorted(set(names) - set(X.columns))
            extra = sorted(set(X.columns) - set(names))
            if missing or extra:
                raise FabDataError(f"{what}: variables differ from Phase I: missing {missing}, unexpected {extra}")
            X = X[list(names)]
        X = np.asarray(X, dtype=float)
        if X.ndim not in (2, 3):
            raise FabDataError(f"{what} must be (samples, variables) or (subgroups, size, variables), "
                               f"got shape {X.shape}")
        return X

    def _known(self, p):
        if (self.mean is None) != (self.cov is None):
            raise FabParameterError("The 'mean' and 'cov' parameters of HotellingT2Chart go together: give "
                                    "both (known parameters, χ² limits) or neither (estimated from Phase I).")
        if self.mean is None:
            return None
        mean = np.asarray(self.mean, dtype=float)
        cov = np.asarray(self.cov, dtype=float)
        if mean.shape != (p,) or cov.shape != (p, p):
            raise FabParameterError(f"The 'mean'/'cov' parameters of HotellingT2Chart must have shapes ({p},) "
                                    f"and ({p}, {p}) for {p} variables. Got {mean.shape} and {cov.shape} instead.")
        if not (np.isfinite(mean).all() and np.isfinite(cov).all()):
            raise FabParameterError("The 'mean'/'cov' parameters of HotellingT2Chart must be finite.")
        return mean, cov

    def _inverse(self, cov):
        cov = 0.5 * (cov + cov.T)
        eig = np.linalg.eigvalsh(cov)
        # a (near-)singular S means a variable is constant or a linear combination of others
        if not eig[0] > 1e-12 * max(eig[-1], np.finfo(float).tiny):
            raise FabFitError(f"the covariance matrix is singular (eigenvalues {eig[0]:.3g} .. {eig[-1]:.3g}): "
                              "drop constant or linearly dependent variables")
        return np.linalg.inv(cov)

    # -- Phase I -------------------------------------------------------------------
    def fit(self, X):
        """Phase I: estimate (or take) the mean and covariance, compute the Phase I T²
        of ``X`` and both limits."""
        self._validate_params()
        names = list(X.columns) if isinstance(X, pd.DataFrame) else None
        X = self._as_array(X, "Phase I data")
        _refuse_nonfinite(X, "Phase I data")
        subgroups = X.ndim == 3
        m, p = X.shape[0], X.shape[-1]
        n = X.shape[1] if subgroups else 1
        if subgroups and self.covariance == "successive":
            raise FabParameterError("The 'covariance' parameter of HotellingT2Chart can be 'successive' only "
                                    "for individual observations; subgroups use the pooled covariance. "
                                    "Got 'successive' with subgroups instead.")
        if subgroups and n < 2:
            raise FabFitError("subgroups of size 1 have no within-subgroup covariance: pass an (m, p) array "
                              "of individual observations instead")
        known = self._known(p)
        means = X.mean(axis=1) if subgroups else X
        if known is not None:
            center, cov = known
            dof = np.inf
        elif subgroups:
            center = means.mean(axis=0)
            dev = X - means[:, None, :]
            cov = np.einsum("gip,giq->pq", dev, dev) / (m * (n - 1))  # mean of the Sᵢ
            dof = m * (n - 1)
        else:
            center = X.mean(axis=0)
            if self.covariance == "successive":
                v = np.diff(X, axis=0)
                cov = v.T @ v / (2 * (m - 1))
                dof = 2 * (m - 1) ** 2 / (3 * m - 4)
            else:
                cov = np.cov(X, rowvar=False, ddof=1).reshape(p, p)
                dof = m - 1
        least = p - 1 if subgroups else p  # the F/beta degrees of freedom must be positive
        if known is None and not dof > least:
            raise FabFitError(f"Phase I data has {m} {'subgroups' if subgroups else 'observations'} of {p} "
                              f"variables: too few to estimate the covariance ({dof:.3g} degrees of freedom, "
                              f"more than {least} needed)")
        inv = self._inverse(cov)
        self.feature_names_in_ = np.array(names if names else [f"x{j}" for j in range(p)], dtype=object)
        self.center_ = center
        self.cov_ = cov
        self.cov_inv_ = inv
        self.n_, self.n_groups_, self.n_features_in_, self.dof_ = n, m, p, float(dof)
        self.ucl_phase1_, self.ucl_ = self._limits(m, n, p, dof)
        t2 = n * _t2(means - center, inv)
        self.phase1_ = pd.DataFrame({"t2": t2, "ucl": self.ucl_phase1_, "alarm": t2 > self.ucl_phase1_})
        self.n_skipped_ = 0
        return self

    def _limits(self, m, n, p, dof):
        q = 1 - self.alpha
        if np.isinf(dof):
            chi = float(stats.chi2.ppf(q, p))
            return chi, chi
        if n > 1:
            d2 = m * n - m - p + 1
            f = stats.f.ppf(q, p, d2)
            return (float(p * (m - 1) * (n - 1) / d2 * f), float(p * (m + 1) * (n - 1) / d2 * f))
        if self.covariance == "successive":
            phase1 = stats.chi2.ppf(q, p)
        else:
            phase1 = (m - 1) ** 2 / m * stats.beta.ppf(q, p / 2, (dof - p) / 2)  # f = m − 1
        phase2 = p * (m + 1) * dof / (m * (dof - p + 1)) * stats.f.ppf(q, p, dof - p + 1)
        return float(phase1), float(phase2)

    # -- Phase II ------------------------------------------------------------------
    def _score(self, X):
        X = self._as_array(X, "Phase II data", list(self.feature_names_in_))
        if X.shape[-1] != self.n_features_in_:
            raise FabDataError(f"Phase II data has {X.shape[-1]} variables, the chart was fitted on "
                               f"{self.n_features_in_}")
        if (X.ndim == 3) != (self.n_ > 1) or (X.ndim == 3 and X.shape[1] != self.n_):
            want = f"(subgroups, {self.n_}, {self.n_features_in_})" if self.n_ > 1 else \
                f"(observations, {self.n_features_in_})"
            raise FabDataError(f"Phase II data has shape {X.shape}; the limits were set for {want}")
        rows = X.reshape(X.shape[0], -1)
        bad = ~np.isfinite(rows).all(axis=1)
        means = X.mean(axis=1) if X.ndim == 3 else X
        t2 = self.n_ * _t2(np.where(bad[:, None], self.center_, means) - self.center_, self.cov_inv_)
        t2[bad] = np.nan
        return t2, bad

    def apply(self, X) -> pd.DataFrame:
        """Phase II: T² of new subgroups/observations against the Phase II limit."""
        check_is_fitted(self)
        t2, bad = self._score(X)
        return pd.DataFrame({"t2": t2, "ucl": self.ucl_, "alarm": t2 > self.ucl_, "missing": bad})

    def update(self, x) -> dict:
        """One new observation (``p`` values) or subgroup (``n × p``)."""
        check_is_fitted(self)
        t2, bad = self._score(np.asarray(x, dtype=float)[None, ...])
        self.n_skipped_ += int(bad[0])
        return {"t2": float(t2[0]), "ucl": self.ucl_, "alarm": bool(t2[0] > self.ucl_), "missing": bool(bad[0])}
