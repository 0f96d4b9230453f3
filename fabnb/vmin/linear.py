r"""Ordinary least squares baseline (the paper's eqs. 1-5).

.. math::  \hat y = b + X w,\qquad (b, w) = \arg\min \lVert y - b - Xw \rVert^2

Wafer and zone are accepted (same interface as the bias models) and ignored.

>>> import numpy as np
>>> from fabnb.vmin import LinearVmin
>>> X = np.arange(10.0)[:, None]; y = 0.5 + 0.1 * X[:, 0]
>>> m = LinearVmin().fit(X, y, ["w"] * 10, ["center"] * 10)
>>> round(float(m.intercept_), 6), m.coef_.round(6).tolist()
(0.5, [0.1])
"""

from __future__ import annotations

import numpy as np

from ._base import VminEstimator
from ._inputs import solve_ls


class LinearVmin(VminEstimator):
    """Linear regression of Vmin on the die features, one intercept for all wafers.

    Attributes: ``coef_`` (p,), ``intercept_``, ``feature_names_in_``.
    """

    def fit(self, X, y, wafer, zone, z=None):
        """Fit by least squares; ``z`` is ignored. Returns self."""
        X, y, _, _ = self._fit_inputs(X, y, wafer, zone)
        A = np.column_stack([np.ones(len(y)), X])
        theta = solve_ls(A, y, ["intercept", *self.feature_names_in_], "LinearVmin")
        self.intercept_, self.coef_ = float(theta[0]), theta[1:]
        return self

    def predict(self, X, wafer, zone, z=None):
        """Predicted Vmin per die (works for any wafer and zone)."""
        X, _, _ = self._predict_inputs(X, wafer, zone)
        return self.intercept_ + X @ self.coef_
