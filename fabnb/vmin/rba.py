r"""Restricted bias alignment (RBA): additive inter- and intra-wafer biases.

Model (the paper's eqs. 16-24)::

    y_i = x_i·w + b_inter[wafer(i)] + b_intra[zone(i)] + ε_i,    Σ_z b_intra[z] = 0

(``b_inter`` absorbs the intercept; the zero-sum constraint makes it identifiable, and
the shift tables report both relative to a base wafer / the center zone.)

Two solvers of the same least-squares loss ``L = mean(r²)``:

``solver="exact"``
    Frisch-Waugh-Lovell: demean X, y and the zone dummies within each wafer (O(n) with
    ``np.bincount``), solve the small (p + Z − 1) least-squares problem for ``w`` and the
    zone effects, then ``b_inter[w] = mean over the wafer of (y − Xw − b_intra)``.
    Identical to OLS with ``C(wafer) + C(zone)`` fixed effects.
``solver="paper"``
    The paper's iteration.  Start from BA: ``b_inter`` = row means, ``b_intra`` = column
    means of the BA cell biases (from LR when BA is not identifiable, e.g. a single
    training die per cell).  Repeat: ``w ← X⁺ (y − b_inter − b_intra)`` (least
    squares given the biases); residual ``r``; gradient step on the biases
    ``b_inter[w] += η · mean_{i∈w} r_i``, ``b_intra[z] += η · mean_{i∈z} r_i`` (the
    gradient of each group's mean ½r²); stop when the relative loss improvement
    ``(L_prev − L) / L_prev < tol``.  With a small ``tol`` it converges to the exact
    solution; with the paper's ``tol = 1e-3`` it stops close to it.

New wafers (eqs. 25-27): when ``z`` (class-probe features per wafer) is given to
``fit``, ``b_inter`` of the training wafers is regressed on ``z`` by OLS,
``b_inter ≈ a + z·γ``, so a wafer never seen in training is predicted from its ``z``
alone: ``ŷ = x·w + a + z·γ + b_intra[zone]``.

>>> import numpy as np
>>> from fabnb.vmin import RestrictedBiasAlignment
>>> rng = np.random.default_rng(0)
>>> wafer = np.repeat([f"w{k}" for k in range(6)], 12); zone = np.tile(["center", "edge"], 36)
>>> probe = rng.normal(size=6); X = rng.normal(size=(72, 1))
>>> y = 0.1 * X[:, 0] + 0.02 * probe[np.repeat(np.arange(6), 12)] + (zone == "edge") * 0.01
>>> z = probe[np.repeat(np.arange(6), 12)][:, None]
>>> m = RestrictedBiasAlignment(solver="exact").fit(X, y, wafer, zone, z=z)
>>> new = m.predict([[0.0], [0.0]], ["new", "new"], ["center", "edge"], z=[[1.0], [1.0]])
>>> np.round(new - new[0], 6).tolist(), round(float(m.class_probe_coef_.iloc[0]), 6)
([0.0, 0.01], 0.02)
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted

from .._params import Integral, Interval, Real, StrOptions
from ..errors import FabDataError, FabFitError
from ._base import ShiftTables, VminEstimator, unknown_label
from ._inputs import Groups, check_full_rank, class_probe_rows, solve_ls, wafer_table
from .bias import BiasAlignment
from .linear import LinearVmin
from .._warn import user_stacklevel

SOLVERS = ("paper", "exact")


class RestrictedBiasAlignment(ShiftTables, VminEstimator):
    """RBA: shared weights + inter-wafer bias per wafer + intra-wafer bias per zone.

    Parameters
    ----------
    solver
        ``"paper"`` (BA start, alternating updates) or ``"exact"`` (closed form).
    eta
        Step of the bias gradient updates (``"paper"`` only).
    tol
        Stop when the relative loss improvement falls below ``tol`` (``"paper"``).
    max_iter
        Iteration cap (``"paper"``); reaching it warns ``ConvergenceWarning``.
    class_probe
        Columns of ``z`` used by the new-wafer model (default: all of them).

    Attributes
    ----------
    coef_ : (p,) weights;  inter_bias_ : Series by wafer (includes the intercept);
    intra_bias_ : Series by zone (sums to zero);  n_iter_, loss_history_ (``"paper"``:
    loss after each iteration, entry 0 = the start);  init_ : ``"BA"`` or ``"LR"`` (the
    start used by ``"paper"``);  loss_ : final mean squared residual;
    class_probe_features_, class_probe_coef_ (Series), class_probe_intercept_,
    class_probe_r2_ (in-sample R² of the b_inter regression) when ``z`` was given.
    """

    _parameter_constraints = {
        "solver": [StrOptions(set(SOLVERS))],
        "eta": [Interval(Real, 0, 1, closed="right")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "class_probe": [None, "array-like"],  # column names of z, never one bare string
    }

    def __init__(self, solver="paper", eta=0.1, tol=1e-3, max_iter=10_000, class_probe=None):
        self.solver = solver
        self.eta = eta
        self.tol = tol
        self.max_iter = max_iter
        self.class_probe = class_probe

    def fit(self, X, y, wafer, zone, z=None):
        """Fit w, b_inter, b_intra; with ``z``, also the class-probe model of b_inter."""
        X, y, wafers, zones = self._fit_inputs(X, y, wafer, zone)
        n_params = X.shape[1] + wafers.size + zones.size - 1
        if len(y) < n_params:
            raise FabFitError(f"RestrictedBiasAlignment: n_samples = {len(y)} dies for {n_params} parameters "
                              f"({X.shape[1]} features, {wafers.size} wafers, {zones.size} zones); "
                              "fewer dies than parameters")
        if self.solver == "exact":
            w, inter, intra = _exact(X, y, wafers, zones, list(self.feature_names_in_))
            self.n_iter_, self.loss_history_, self.init_ = 0, np.array([]), None
        else:
            w, inter, intra, self.loss_history_ = self._paper(X, y, wafer, zone, wafers, zones)
            self.n_iter_ = len(self.loss_history_) - 1
        shift = intra.mean()  # identifiability: zone effects sum to zero
        self.coef_ = w
        self.inter_bias_ = pd.Series(inter + shift, index=wafers.labels.rename("wafer"),
                                     name="inter_bias")
        self.intra_bias_ = pd.Series(intra - shift, index=zones.labels.rename("zone"),
                                     name="intra_bias")
        resid = y - X @ w - inter[wafers.codes] - intra[zones.codes]
        self.loss_ = float(np.mean(resid**2))
        if z is not None:
            self._fit_class_probe(wafer_table(z, np.asarray(wafer, dtype=object)))
        return self

    def _start(self, X, y, wafer, zone, wafers, zones):
        """BA start (the paper's); when BA is not identifiable (e.g. one training die per
        wafer × zone cell, as with 5 % training) start from LR instead: ``w`` = LR
        weights, biases = wafer / zone means of the LR residual."""
        frame = pd.DataFrame(X, columns=self.feature_names_in_)
        try:
            ba = BiasAlignment().fit(frame, y, wafer, zone)
        except FabFitError:
            lr = LinearVmin().fit(frame, y, wafer, zone)
            resid = y - lr.predict(frame, wafer, zone)
            inter = lr.intercept_ + wafers.mean(resid)
            intra = zones.mean(resid - wafers.mean(resid)[wafers.codes])
            return "LR", lr.coef_, inter, intra
        inter = ba.inter_bias_.reindex(wafers.labels).to_numpy(dtype=float)
        intra = ba.intra_bias_.reindex(zones.labels).to_numpy(dtype=float)
        return "BA", ba.coef_, inter, intra

    def _paper(self, X, y, wafer, zone, wafers, zones):
        self.init_, w, inter, intra = self._start(X, y, wafer, zone, wafers, zones)
        check_full_rank(X, list(self.feature_names_in_), "RestrictedBiasAlignment (w step)")
        pinv = np.linalg.pinv(X)

        def loss(w, inter, intra):
            return float(np.mean((y - X @ w - inter[wafers.codes] - intra[zones.codes]) ** 2))

        history = [loss(w, inter, intra)]
        for _ in range(int(self.max_iter)):
            w = pinv @ (y - inter[wafers.codes] - intra[zones.codes])
            r = y - X @ w - inter[wafers.codes] - intra[zones.codes]
            inter = inter + self.eta * wafers.mean(r)
            intra = intra + self.eta * zones.mean(r)
            history.append(loss(w, inter, intra))
            if (history[-2] - history[-1]) < self.tol * history[-2]:
                break
        else:
            warnings.warn(f"RBA paper solver did not reach tol={self.tol} in {self.max_iter} "
                          "iterations", ConvergenceWarning, stacklevel=user_stacklevel())
        return w, inter, intra, np.array(history)

    def _fit_class_probe(self, table: pd.DataFrame):
        cols = list(table.columns if self.class_probe is None else self.class_probe)
        Z = class_probe_rows(table, self.inter_bias_.index, cols)
        n_wafers = len(Z)
        if n_wafers <= len(cols) + 1:
            raise FabFitError(f"class-probe model: {n_wafers} training wafers for {len(cols) + 1} "
                              f"parameters (intercept + {cols}); need more wafers than that")
        A = np.column_stack([np.ones(n_wafers), Z])
        theta = solve_ls(A, self.inter_bias_.to_numpy(), ["intercept", *cols], "class-probe model")
        fitted = A @ theta
        b = self.inter_bias_.to_numpy()
        self.class_probe_features_ = cols
        self.class_probe_intercept_ = float(theta[0])
        self.class_probe_coef_ = pd.Series(theta[1:], index=pd.Index(cols, name="etest"),
                                           name="class_probe_coef")
        self.class_probe_r2_ = float(1 - np.sum((b - fitted) ** 2) / np.sum((b - b.mean()) ** 2))

    def predict_inter_bias(self, z) -> pd.Series:
        """Inter-wafer bias predicted from class probe alone (eq. 26), Series by wafer.

        ``z``: DataFrame indexed by wafer (index name ``wafer``) with the class-probe
        columns.  Example: see the module docstring.
        """
        check_is_fitted(self)
        if not hasattr(self, "class_probe_coef_"):
            raise FabFitError("RestrictedBiasAlignment was fitted without z; fit with class-probe "
                              "features to predict new wafers")
        Z = class_probe_rows(z, z.index, self.class_probe_features_)
        return pd.Series(self.class_probe_intercept_ + Z @ self.class_probe_coef_.to_numpy(),
                         index=z.index, name="inter_bias")

    def predict(self, X, wafer, zone, z=None):
        """Predicted Vmin per die.  Training wafers use their learned ``b_inter``; a
        wafer not seen in training needs the class-probe model and its ``z``."""
        X, wafer, zone = self._predict_inputs(X, wafer, zone)
        bad_zone = unknown_label(self.intra_bias_.index, zone)
        if bad_zone is not None:
            raise FabDataError(f"zone {bad_zone!r} had no training dies; no intra-wafer shift for it")
        inter = self.inter_bias_.reindex(pd.Index(wafer, dtype=object)).to_numpy(dtype=float, copy=True)
        new = np.isnan(inter)
        if new.any():
            first = wafer[np.flatnonzero(new)[0]]
            if not hasattr(self, "class_probe_coef_"):
                raise FabDataError(f"wafer {first!r} was not in training and the model has no "
                                   "class-probe regression (fit with z=...)")
            if z is None:
                raise FabDataError(f"wafer {first!r} was not in training: pass its class-probe "
                                   "features z to predict it")
            table = wafer_table(z, wafer)
            new_wafers = pd.unique(wafer[new])
            predicted = self.predict_inter_bias(table.reindex(pd.Index(new_wafers, name="wafer")))
            inter[new] = predicted.reindex(wafer[new]).to_numpy()
        intra = self.intra_bias_.reindex(pd.Index(zone, dtype=object)).to_numpy(dtype=float)
        return X @ self.coef_ + inter + intra


def _exact(X, y, wafers: Groups, zones: Groups, names):
    """Closed-form least squares of the RBA model (see module docstring)."""
    dummies = (zones.codes[:, None] == np.arange(1, zones.size)).astype(float)
    A = wafers.demean(np.column_stack([X, dummies]))
    theta = solve_ls(A, wafers.demean(y), [*names, *(f"zone {z!r}" for z in zones.labels[1:])],
                     "RestrictedBiasAlignment (within wafer)")
    p = X.shape[1]
    w, intra = theta[:p], np.concatenate([[0.0], theta[p:]])
    inter = wafers.mean(y - X @ w - intra[zones.codes])
    return w, inter, intra
