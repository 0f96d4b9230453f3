"""Validation and grouping shared by the Vmin estimators.

Every estimator takes the same tidy inputs: ``X`` (n dies × p features, array or
DataFrame), ``y`` (n Vmin values), ``wafer`` and ``zone`` (n labels each) and optionally
``z``, the class-probe features of the wafers (a DataFrame indexed by wafer, or an
(n, k) array aligned with the dies and constant within a wafer).  Group means use
``np.bincount`` so everything is O(n) with no dense dummy matrices.

>>> import numpy as np
>>> g = Groups.of(np.array(["w1", "w2", "w1"]))
>>> list(g.labels), g.codes.tolist(), g.mean(np.array([1.0, 5.0, 3.0])).tolist()
(['w1', 'w2'], [0, 1, 0], [2.0, 5.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from .._arrays import real_array
from ..errors import FabDataError, FabFitError
from ..geometry import zone_labels

#: singular values below this fraction of the largest (of the column-scaled design) are
#: treated as exact collinearity
RANK_TOL = 1e-10


@dataclass(frozen=True)
class Groups:
    """Integer codes ``0..k-1`` of a label array and its ``k`` labels (in order)."""

    codes: np.ndarray
    labels: pd.Index

    @classmethod
    def of(cls, values, categories=None) -> Groups:
        """Codes of ``values``; ``categories`` fixes the label order (and may be wider).

        Without ``categories``: a Categorical keeps its categories, zone names keep the
        centre-outwards order, anything else is sorted.  Labels not in ``categories``
        get code −1.
        """
        if categories is None and isinstance(getattr(values, "dtype", None), pd.CategoricalDtype):
            categories = values.categories
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        if categories is None:
            known = zone_labels(4)
            present = set(uniques)
            categories = ([z for z in known if z in present] if present <= set(known)
                          else sorted(uniques, key=str))
        labels = pd.Index(list(categories), dtype=object)
        remap = labels.get_indexer(pd.Index(uniques, dtype=object))
        codes = np.where(codes >= 0, remap[codes], -1) if len(remap) else codes
        return cls(codes.astype(np.intp), labels)

    @property
    def size(self) -> int:
        return len(self.labels)

    def counts(self) -> np.ndarray:
        return np.bincount(self.codes, minlength=self.size)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Per-group sums of a 1-D array or of each column of a 2-D array."""
        if values.ndim == 1:
            return np.bincount(self.codes, weights=values, minlength=self.size)
        return np.column_stack([self.sum(values[:, j]) for j in range(values.shape[1])]) \
            if values.shape[1] else np.zeros((self.size, 0))

    def mean(self, values: np.ndarray) -> np.ndarray:
        counts = self.counts()
        total = self.sum(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            return total / (counts if values.ndim == 1 else counts[:, None])

    def demean(self, values: np.ndarray) -> np.ndarray:
        """``values`` minus their group mean (the within-group transformation)."""
        return values - self.mean(values)[self.codes]


def feature_names(X) -> list[str]:
    """Column names of a DataFrame, else ``x0, x1, ...`` (a 1-D array is one feature)."""
    if isinstance(X, pd.DataFrame):
        return [str(c) for c in X.columns]
    shape = np.shape(X)
    return [f"x{j}" for j in range(shape[1] if len(shape) == 2 else 1)]


def check_inputs(X, y, wafer, zone, names=None, owner="the model"):
    """Validated float arrays ``X`` (n, p), ``y`` (n,) or None, and label arrays.

    A 1-D ``X`` is one feature.  ``names`` are the fitted feature names (at predict;
    ``owner`` names the estimator in the error).  Raises ``FabDataError`` naming the
    wafer, zone and feature of the first missing or non-finite value, and for
    inconsistent shapes.
    """
    Xa = real_array(X, "X")
    one_d = Xa.ndim == 1
    if one_d:
        Xa = Xa[:, None]
    if Xa.ndim != 2:
        raise FabDataError(f"X must be 2-D (dies × features), got shape {Xa.shape}")
    n = Xa.shape[0]
    names = feature_names(X) if names is None else names
    if Xa.shape[1] != len(names):
        hint = "; a 1-D X is one feature: Reshape your data with X.reshape(1, -1) for one die" if one_d else ""
        raise FabDataError(f"X has {Xa.shape[1]} features, but {owner} is expecting {len(names)} "
                           f"features as input: {names}{hint}")
    wafer = np.asarray(wafer, dtype=object)
    zone_in = zone
    zone = np.asarray(zone, dtype=object)
    for what, arr in (("wafer", wafer), ("zone", zone)):
        if arr.shape != (n,):
            raise FabDataError(f"{what} has shape {arr.shape}, expected ({n},) like X")
        if pd.isna(arr).any():
            raise FabDataError(f"{what} label missing for die row {int(np.flatnonzero(pd.isna(arr))[0])}")
    bad = ~np.isfinite(Xa)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise FabDataError(f"feature {names[j]!r} is missing or NaN/inf at wafer {wafer[i]!r}, "
                           f"zone {zone[i]!r} (row {i})")
    ya = None
    if y is not None:
        ya = real_array(y, "y").ravel()
        if ya.shape != (n,):
            raise FabDataError(f"y has {ya.size} values, X has {n} rows")
        if not np.isfinite(ya).all():
            i = int(np.flatnonzero(~np.isfinite(ya))[0])
            raise FabDataError(f"Vmin y is missing or NaN/inf at wafer {wafer[i]!r}, zone {zone[i]!r}")
    if isinstance(getattr(zone_in, "dtype", None), pd.CategoricalDtype):
        zone = pd.Categorical(zone, categories=zone_in.categories)
    return Xa, ya, wafer, zone, names


def check_full_rank(A: np.ndarray, names: list[str], context: str):
    """Raise ``FabFitError`` naming the collinear column(s) when ``A`` is rank deficient.

    Columns are scaled to unit norm first so units do not matter; a column that is in the
    span of the earlier ones (relative residual < ``RANK_TOL``·1e3) is reported together
    with the columns that reproduce it.  Returns the thin SVD ``(U, s, Vt)`` of the
    column-scaled design and the column norms, for :func:`solve_ls`.
    """
    n, p = A.shape
    if n < p:
        raise FabFitError(f"{context}: n_samples = {n} dies for {p} parameters (features {names}); "
                          "need at least as many dies as features")
    norms = np.sqrt(np.einsum("ij,ij->j", A, A))
    for j in np.flatnonzero(norms == 0):
        raise FabFitError(f"{context}: feature {names[j]!r} has no variation left "
                          "(constant within every group)")
    scaled = A / norms
    U, s, Vt = np.linalg.svd(scaled, full_matrices=False)
    if s[-1] > RANK_TOL * s[0]:
        return U, s, Vt, norms
    for j in range(1, p):
        coef, *_ = np.linalg.lstsq(scaled[:, :j], scaled[:, j], rcond=None)
        resid = np.linalg.norm(scaled[:, j] - scaled[:, :j] @ coef)
        if resid < 1e3 * RANK_TOL:
            partners = [names[k] for k in np.flatnonzero(np.abs(coef) > 1e-6)]
            raise FabFitError(f"{context}: feature {names[j]!r} is collinear with {partners}")
    raise FabFitError(f"{context}: features {names} are collinear")


def solve_ls(A: np.ndarray, b: np.ndarray, names: list[str], context: str) -> np.ndarray:
    """Least-squares solution of ``A x ≈ b`` (via the SVD of :func:`check_full_rank`)."""
    U, s, Vt, norms = check_full_rank(A, names, context)
    return (Vt.T @ ((U.T @ b) / s)) / norms


def wafer_table(z, wafer: np.ndarray) -> pd.DataFrame:
    """Class-probe features as a DataFrame indexed by wafer (one row per wafer).

    ``z`` is either such a DataFrame already (index named ``wafer``; extra wafers
    allowed) or an (n, k) array/DataFrame aligned with the dies, constant within each
    wafer.
    """
    if isinstance(z, pd.DataFrame) and z.index.name == "wafer":
        table = z.copy()
        table.index = table.index.astype(object)
        if table.index.duplicated().any():
            raise FabDataError(f"class-probe table lists wafer {table.index[table.index.duplicated()][0]!r} twice")
        return table.astype(float)
    za = np.asarray(z, dtype=float)
    if za.ndim == 1:
        za = za[:, None]
    if za.shape[0] != len(wafer):
        raise FabDataError(f"z has {za.shape[0]} rows, expected one per die ({len(wafer)}) or a "
                           "DataFrame indexed by wafer")
    cols = feature_names(z) if np.ndim(z) == 2 else ["z0"]
    frame = pd.DataFrame(za, columns=cols)
    frame["wafer"] = wafer
    by_wafer = frame.groupby("wafer", sort=False)[cols]
    spread = (by_wafer.max() - by_wafer.min()).fillna(0.0)
    varying = spread.gt(1e-12 * (1 + frame[cols].abs().max()))
    if varying.to_numpy().any():
        w, c = varying.stack().loc[lambda s: s].index[0]
        raise FabDataError(f"class-probe feature {c!r} varies within wafer {w!r}; it must be one "
                           "value per wafer")
    return frame.groupby("wafer", sort=False)[cols].first()


def class_probe_rows(table: pd.DataFrame, wafers, columns) -> np.ndarray:
    """The rows of ``table`` for ``wafers`` as a float array; a wafer that is absent or
    has a missing class-probe value raises ``FabDataError`` naming it."""
    missing_cols = [c for c in columns if c not in table.columns]
    if missing_cols:
        raise FabDataError(f"class-probe features {missing_cols} are missing from z "
                           f"(it has {list(table.columns)})")
    wafers = pd.Index(wafers, dtype=object)
    absent = wafers[~wafers.isin(table.index)]
    if len(absent):
        raise FabDataError(f"wafer {absent[0]!r} has no class-probe data (not in z)")
    rows = table.loc[wafers, list(columns)].to_numpy(dtype=float)
    bad = ~np.isfinite(rows)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise FabDataError(f"wafer {wafers[i]!r} has no class-probe value for {columns[j]!r}")
    return rows
