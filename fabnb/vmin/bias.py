r"""Bias alignment (BA): one bias per (wafer, zone) cell with shared weights.

Model (the paper's eqs. 13-15)::

    y_i = x_i·w + b[wafer(i), zone(i)] + ε_i

Closed form: centre X and y within each cell (the within transformation), then

.. math::  w = (\tilde X^\top \tilde X)^{-1} \tilde X^\top \tilde y,\qquad
           b_c = \bar y_c - \bar x_c \cdot w ,

which is exactly OLS with ``C(wafer):C(zone)`` fixed effects.  The cell biases are
summarised as an inter-wafer part (row means over zones) and an intra-wafer part
(column means of what is left), the starting point of RBA.

>>> import numpy as np
>>> from fabnb.vmin import BiasAlignment
>>> rng = np.random.default_rng(1)
>>> wafer = np.repeat(["a", "b"], 20); zone = np.tile(["center", "edge"], 20)
>>> X = rng.normal(size=(40, 2))
>>> y = X @ [0.2, -0.1] + np.where(zone == "edge", 0.03, 0.0) + np.where(wafer == "b", 0.01, 0.0)
>>> m = BiasAlignment().fit(X, y, wafer, zone)
>>> m.coef_.round(6).tolist(), round(float(m.bias_["b", "edge"] - m.bias_["a", "center"]), 6)
([0.2, -0.1], 0.04)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import FabDataError, FabFitError
from ._base import ShiftTables, VminEstimator
from ._inputs import Groups, solve_ls


def cell_groups(wafers: Groups, zones: Groups) -> Groups:
    """The occupied (wafer, zone) cells as groups labelled by ``(wafer, zone)`` tuples."""
    flat = wafers.codes * zones.size + zones.codes
    occupied, codes = np.unique(flat, return_inverse=True)
    labels = pd.MultiIndex.from_arrays(
        [wafers.labels[occupied // zones.size], zones.labels[occupied % zones.size]],
        names=["wafer", "zone"])
    return Groups(codes.astype(np.intp), labels)


def bias_matrix(bias: pd.Series, wafers: pd.Index, zones: pd.Index) -> np.ndarray:
    """Cell biases as a (wafer, zone) matrix, NaN where a cell had no dies."""
    return bias.unstack("zone").reindex(index=wafers, columns=zones).to_numpy(dtype=float)


def split_bias(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row/column decomposition of a cell-bias matrix: ``inter[w]`` = mean over the
    wafer's zones, ``intra[z]`` = mean over wafers of ``B[w, z] − inter[w]``."""
    inter = np.nanmean(matrix, axis=1)
    intra = np.nanmean(matrix - inter[:, None], axis=0)
    return inter, intra


class BiasAlignment(ShiftTables, VminEstimator):
    """BA: shared weights, one bias per (wafer, zone) cell (closed form).

    Attributes: ``coef_`` (p,), ``bias_`` (Series indexed by ``(wafer, zone)``),
    ``inter_bias_`` (Series by wafer: mean cell bias over zones), ``intra_bias_``
    (Series by zone: mean over wafers of the cell bias minus the wafer's mean; sums to
    ~zero), ``feature_names_in_``.
    """

    def fit(self, X, y, wafer, zone, z=None):
        """Fit the closed form; ``z`` is ignored. Returns self."""
        X, y, wafers, zones = self._fit_inputs(X, y, wafer, zone)
        cells = cell_groups(wafers, zones)
        dof = len(y) - cells.size
        if dof < X.shape[1]:
            raise FabFitError(f"BiasAlignment: n_samples = {len(y)} dies in {cells.size} wafer×zone cells leave "
                              f"{dof} for {X.shape[1]} features {list(self.feature_names_in_)}; "
                              "fewer dies than features")
        self.coef_ = solve_ls(cells.demean(X), cells.demean(y), list(self.feature_names_in_),
                              "BiasAlignment (within wafer×zone)")
        self.bias_ = pd.Series(cells.mean(y - X @ self.coef_), index=cells.labels, name="bias")
        inter, intra = split_bias(bias_matrix(self.bias_, wafers.labels, zones.labels))
        self.inter_bias_ = pd.Series(inter, index=wafers.labels.rename("wafer"), name="inter_bias")
        self.intra_bias_ = pd.Series(intra, index=zones.labels.rename("zone"), name="intra_bias")
        return self

    def predict(self, X, wafer, zone, z=None):
        """Predicted Vmin per die; every (wafer, zone) must have had training dies."""
        X, wafer, zone = self._predict_inputs(X, wafer, zone)
        keys = pd.MultiIndex.from_arrays([wafer, zone])
        pos = self.bias_.index.get_indexer(keys)
        if (pos < 0).any():
            i = int(np.flatnonzero(pos < 0)[0])
            raise FabDataError(f"wafer {wafer[i]!r}, zone {zone[i]!r} had no training dies; "
                               "BiasAlignment has no bias for it (RestrictedBiasAlignment "
                               "predicts unseen cells and, with class probe, new wafers)")
        return X @ self.coef_ + self.bias_.to_numpy()[pos]
