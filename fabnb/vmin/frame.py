"""The xarray front door: a contract Dataset → tidy Vmin model inputs.

``vmin_frame(ds, vmin_test, features)`` gathers, for every die tested for ``vmin_test``
(``vmin`` not NaN), the feature tests' ``value`` at that die (``X``), the Vmin (``y``),
its ``wafer``, ``die`` and ``zone``, and the wafers' class-probe table ``z``
(``etest_value``, index named ``wafer``): exactly what the estimators'
``fit(X, y, wafer, zone, z)`` take.

>>> import fabnb
>>> from fabnb.vmin import vmin_frame
>>> f = vmin_frame(fabnb.synth.fab("small"), "ac_m45", ["T03", "T05"], etests=["E05", "E06"])
>>> list(f.X.columns), list(f.z.columns), len(f.y) == len(f.wafer) == len(f.zone)
(['T03', 'T05'], ['E05', 'E06'], True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import xarray as xr

from .._params import Interval, Real, check_option, check_params
from ..errors import FabDataError
from ..summary import resolve_tests
from ._inputs import Groups


@dataclass(frozen=True)
class VminFrame:
    """Tidy Vmin inputs, one row per Vmin-tested die.

    ``X`` DataFrame (dies × features), ``y`` ndarray, ``wafer`` object ndarray,
    ``zone`` pandas Categorical (centre outwards), ``die`` int ndarray (positions on the
    ``die`` dim), ``z`` class-probe DataFrame indexed by ``wafer`` (or None),
    ``vmin_test`` name.
    """

    X: pd.DataFrame
    y: np.ndarray
    wafer: np.ndarray
    zone: pd.Categorical
    die: np.ndarray
    z: pd.DataFrame | None
    vmin_test: str

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask) -> VminFrame:
        """The rows where ``mask`` is True (boolean array) or at the given positions."""
        idx = np.flatnonzero(mask) if np.asarray(mask).dtype == bool else np.asarray(mask)
        return replace(self, X=self.X.iloc[idx].reset_index(drop=True), y=self.y[idx],
                       wafer=self.wafer[idx], zone=self.zone[idx], die=self.die[idx])

    def of_wafers(self, wafers) -> VminFrame:
        """The rows of the given wafers."""
        return self.subset(np.isin(self.wafer, list(wafers)))

    def split(self, train_fraction=0.75, seed=0) -> tuple[VminFrame, VminFrame]:
        """Random (train, test) split within each wafer × zone cell: ``round(fraction·m)``
        of a cell's ``m`` dies train, at least one, and at least one is left to test when
        ``m ≥ 2``.

        >>> import fabnb
        >>> f = vmin_frame(fabnb.synth.fab("small"), "dc_25", ["T03"])
        >>> train, test = f.split(0.75, seed=0)
        >>> len(train) + len(test) == len(f)
        True
        """
        check_params("VminFrame.split", {"train_fraction": [Interval(Real, 0, 1, closed="neither")]},
                     {"train_fraction": train_fraction})
        rng = np.random.default_rng(seed)
        cells = Groups.of(pd.MultiIndex.from_arrays([self.wafer, np.asarray(self.zone, dtype=object)]))
        train = np.zeros(len(self), dtype=bool)
        order = rng.permutation(len(self))
        sorted_rows = order[np.argsort(cells.codes[order], kind="stable")]
        counts = cells.counts()
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        for start, m in zip(starts, counts):
            k = min(max(1, round(train_fraction * m)), m - 1 if m >= 2 else 1)
            train[sorted_rows[start:start + k]] = True
        return self.subset(train), self.subset(~train)

    def fit_args(self) -> tuple:
        """``(X, y, wafer, zone)`` for ``estimator.fit(*frame.fit_args(), z=frame.z)``."""
        return self.X, self.y, self.wafer, self.zone

    def to_frame(self) -> pd.DataFrame:
        """Long table: ``wafer``, ``die``, ``zone``, the features and ``vmin``."""
        head = pd.DataFrame({"wafer": self.wafer, "die": self.die, "zone": self.zone})
        return pd.concat([head, self.X, pd.DataFrame({"vmin": self.y})], axis=1)


def vmin_frame(ds: xr.Dataset, vmin_test: str, features=None, etests=None,
               missing="raise") -> VminFrame:
    """Tidy Vmin inputs of one Vmin test from a contract Dataset.

    Parameters
    ----------
    ds
        Contract Dataset with ``vmin`` (wafer, die, vmin_test) and ``value``.
    vmin_test
        The Vmin test (pattern × temperature), e.g. ``"dc_25"``.
    features
        Parametric tests used as die features (default: all tests).
    etests
        Class-probe parameters for ``z`` (default: all of ``etest``; none if the Dataset
        has no ``etest_value``).
    missing
        ``"raise"`` (default): a Vmin-tested die without a feature value raises
        ``FabDataError`` naming wafer, die and test; ``"drop"``: such dies are left out.

    Example: see the module docstring.
    """
    check_option("vmin_frame", "missing", missing, ("raise", "drop"))
    for var in ("vmin", "value"):
        if var not in ds:
            raise FabDataError(f"dataset has no {var!r} variable")
    if vmin_test not in ds["vmin_test"].values:
        raise FabDataError(f"vmin_test {vmin_test!r} is not in the dataset "
                           f"(has {list(ds['vmin_test'].values)})")
    features = resolve_tests(ds, features)  # numbers, clean names and unique substrings too
    vmin = ds["vmin"].sel(vmin_test=vmin_test).transpose("wafer", "die").values
    values = ds["value"].sel(test=features).transpose("wafer", "die", "test").values
    w_idx, d_idx = np.nonzero(np.isfinite(vmin))
    X = values[w_idx, d_idx]
    bad = ~np.isfinite(X)
    wafers = ds["wafer"].values.astype(object)
    if bad.any():
        if missing == "raise":
            i, j = np.argwhere(bad)[0]
            raise FabDataError(f"wafer {wafers[w_idx[i]]!r}, die {int(d_idx[i])}: feature test "
                               f"{features[j]!r} is missing where {vmin_test!r} was measured")
        keep = ~bad.any(axis=1)
        w_idx, d_idx, X = w_idx[keep], d_idx[keep], X[keep]
    if not len(w_idx):
        raise FabDataError(f"no die has a {vmin_test!r} Vmin measurement")
    zone_all = Groups.of(ds["zone"].values)
    zone = pd.Categorical.from_codes(zone_all.codes[d_idx], categories=list(zone_all.labels))
    return VminFrame(X=pd.DataFrame(X, columns=features), y=vmin[w_idx, d_idx],
                     wafer=wafers[w_idx], zone=zone, die=d_idx,
                     z=_class_probe_table(ds, etests), vmin_test=str(vmin_test))


def _class_probe_table(ds, etests):
    if "etest_value" not in ds:
        if etests:
            raise FabDataError("dataset has no 'etest_value' for the requested class-probe features")
        return None
    table = ds["etest_value"].transpose("wafer", "etest").to_pandas()
    table.index = pd.Index(table.index.astype(object), name="wafer")
    table.columns = [str(c) for c in table.columns]
    if etests is not None:
        unknown = [e for e in etests if e not in table.columns]
        if unknown:
            raise FabDataError(f"class-probe parameter {unknown[0]!r} is not in the dataset's etests")
        table = table[list(etests)]
    return table


def fit_vmin(ds: xr.Dataset, vmin_test: str, features=None, etests=None, model="rba", **params):
    """Fit a Vmin model on all measured dies of ``vmin_test``; returns the estimator.

    ``model``: ``"lr"``, ``"ba"`` or ``"rba"`` (``params`` go to its constructor).

    >>> import fabnb
    >>> m = fit_vmin(fabnb.synth.fab("small"), "dc_25", ["T03", "T05", "T14", "T11"],
    ...              etests=["E05", "E06"], solver="exact")
    >>> list(m.class_probe_coef_.index)
    ['E05', 'E06']
    """
    from . import BiasAlignment, LinearVmin, RestrictedBiasAlignment

    models = {"lr": LinearVmin, "ba": BiasAlignment, "rba": RestrictedBiasAlignment}
    check_option("fit_vmin", "model", model, models)
    frame = vmin_frame(ds, vmin_test, features, etests)
    return models[model](**params).fit(*frame.fit_args(), z=frame.z)
