"""What the three Vmin estimators share: input checks at fit/predict, the fitted feature
names, and the shift tables of the bias models.

>>> import numpy as np
>>> from fabnb.vmin import RestrictedBiasAlignment
>>> rng = np.random.default_rng(0)
>>> wafer = np.repeat(["w1", "w2", "w3"], 8); zone = np.tile(["center", "edge"], 12)
>>> X = rng.normal(size=(24, 1))
>>> y = 0.1 * X[:, 0] + np.where(wafer == "w2", 0.02, 0) + np.where(zone == "edge", 0.01, 0)
>>> m = RestrictedBiasAlignment(solver="exact").fit(X, y, wafer, zone)
>>> [(t["shift"].round(6) + 0.0).tolist() for t in (m.intra_shift(), m.inter_shift())]
[[0.0, 0.01], [0.0, 0.02, 0.0]]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import CheckedParams, check_option
from ..errors import FabFitError
from ._inputs import Groups, check_inputs


class VminEstimator(CheckedParams, BaseEstimator):
    """Base of the Vmin estimators: ``fit(X, y, wafer, zone, z=None)`` and
    ``predict(X, wafer, zone, z=None)`` on tidy per-die inputs.  Subclasses declare
    their parameter rules in ``_parameter_constraints``; every ``fit`` starts with
    :meth:`_fit_inputs`, which checks them."""

    def _fit_inputs(self, X, y, wafer, zone):
        self._validate_params()
        X, y, wafer, zone, names = check_inputs(X, y, wafer, zone)
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        wafers, zones = Groups.of(wafer), Groups.of(zone)
        empty = zones.labels[zones.counts() == 0]
        if len(empty):
            raise FabFitError(f"zone {empty[0]!r} has no training dies; every zone needs some")
        return X, y, wafers, zones

    def _predict_inputs(self, X, wafer, zone):
        check_is_fitted(self)
        X, _, wafer, zone, _ = check_inputs(X, None, wafer, zone, names=list(self.feature_names_in_),
                                            owner=type(self).__name__)
        return X, wafer, np.asarray(zone, dtype=object)


class ShiftTables:
    """Tidy tables of the learned shifts (the paper's Tables V and VI); needs fitted
    ``inter_bias_`` (Series by wafer) and ``intra_bias_`` (Series by zone)."""

    def inter_shift(self, base_wafer=None) -> pd.DataFrame:
        """Inter-wafer shift of each training wafer relative to ``base_wafer`` (default:
        the first wafer), columns ``wafer``, ``shift`` (units of y).

        Example: see :mod:`fabnb.vmin._base`.
        """
        check_is_fitted(self)
        return _relative(self.inter_bias_, base_wafer, "wafer", f"{type(self).__name__}.inter_shift")

    def intra_shift(self, base_zone=None) -> pd.DataFrame:
        """Intra-wafer shift of each zone relative to ``base_zone`` (default: ``"center"``
        if present, else the first zone), columns ``zone``, ``shift``."""
        check_is_fitted(self)
        if base_zone is None and "center" in self.intra_bias_.index:
            base_zone = "center"
        return _relative(self.intra_bias_, base_zone, "zone", f"{type(self).__name__}.intra_shift")


def _relative(bias: pd.Series, base, what: str, owner: str) -> pd.DataFrame:
    base = bias.index[0] if base is None else base
    check_option(owner, f"base_{what}", base, bias.index)
    shift = bias - bias[base]
    return pd.DataFrame({what: bias.index.to_numpy(), "shift": shift.to_numpy()})


def unknown_label(labels: pd.Index, values: np.ndarray):
    """The first value not in ``labels`` (or None)."""
    missing = ~pd.Index(values).isin(labels)
    return values[np.flatnonzero(missing)[0]] if missing.any() else None
