"""Good die in a bad neighbourhood (GDBN).

A die the tester passed is suspect when the dies around it failed: defects cluster, and
a good die inside a cluster is more likely to carry a latent defect.  Two forms:

- **count / weighted score**: ``score = Σ_j w_ring(j) · bad_j`` over the die's rings 1..R
  (ring 1 = the 8-neighbourhood); flag when ``score ≥ threshold``.  With the default
  one ring and unit weight this is "at least ``min_bad`` of the 8 neighbours failed".
  Off-map sites and untested neighbours count as not bad, so an edge die needs the
  same number of failing neighbours as any other (it is not penalised for the edge).
- **cluster**: flag a passing die that touches (8-neighbourhood) a connected cluster of
  at least ``min_cluster`` failing dies (clusters by 8-connectivity, per wafer).

Example
-------
>>> import fabnb
>>> from fabnb.screen import gdbn
>>> ds = fabnb.synth.fab("small", seed=0)
>>> flags = gdbn(ds, min_bad=5)
>>> flags.dims
('wafer', 'die')
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from .._params import Integral, Interval, Real, check_params
from ..errors import FabParameterError
from . import _grid, _select

RULES = {"min_bad": [Interval(Real, 0, None, closed="neither")], "rings": [Interval(Integral, 1, 5, closed="both")],
         "min_cluster": [Interval(Integral, 2, None, closed="left")]}


def _as_array(ds, data, name, attrs):
    return xr.DataArray(data, dims=("wafer", "die"), coords={"wafer": ds["wafer"].values}, name=name, attrs=attrs)


def bad_neighbours(ds: xr.Dataset, rings: int = 1, weights=None, kind: str = "hbin") -> xr.DataArray:
    """Weighted count of failing dies around every die (wafer, die).

    ``weights``: one weight per ring (default 1 for each), e.g. ``(1.0, 0.5)`` for two
    rings with the outer ring counting half.
    """
    check_params("bad_neighbours", RULES, {"rings": rings})
    w = np.ones(rings) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (rings,) or not np.all(np.isfinite(w)) or (w < 0).any():
        raise FabParameterError(f"weights must be {rings} finite non-negative numbers (one per ring), got {weights!r}")
    table, ring = _grid.neighbour_table(*_grid.die_grid_index(ds, "GDBN"), rings=rings)
    bad = _grid.gather(_select.failing(ds, kind), table, False)  # (wafer, die, offset)
    score = bad.astype(float) @ w[ring - 1]
    return _as_array(ds, score, "bad_neighbours", {"rings": rings, "weights": w.tolist()})


def gdbn(ds: xr.Dataset, min_bad: float = 5, rings: int = 1, weights=None, kind: str = "hbin") -> xr.DataArray:
    """Passing dies (wafer, die) whose failing-neighbour score reaches ``min_bad``."""
    check_params("gdbn", RULES, {"min_bad": min_bad, "rings": rings})
    score = bad_neighbours(ds, rings, weights, kind)
    flags = _select.passing(ds, kind) & (score.values >= min_bad)
    return _as_array(ds, flags, "gdbn", {"min_bad": float(min_bad), **score.attrs})


def gdbn_cluster(ds: xr.Dataset, min_cluster: int = 10, kind: str = "hbin") -> xr.DataArray:
    """Passing dies (wafer, die) touching a cluster of ≥ ``min_cluster`` failing dies."""
    check_params("gdbn_cluster", RULES, {"min_cluster": min_cluster})
    col, row = _grid.die_grid_index(ds, "GDBN (cluster)")
    bad = _select.failing(ds, kind)
    image = np.zeros((bad.shape[0], row.max() - row.min() + 3, col.max() - col.min() + 3), dtype=bool)
    r, c = row - row.min() + 1, col - col.min() + 1  # one empty site of margin all round
    image[:, r, c] = bad
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connected within a wafer, never across wafers
    labels, _ = ndimage.label(image, structure=structure)
    sizes = np.bincount(labels.ravel())
    big = sizes >= min_cluster
    big[0] = False
    in_big = big[labels]
    near = ndimage.binary_dilation(in_big, structure=structure)
    flags = _select.passing(ds, kind) & near[:, r, c]
    return _as_array(ds, flags, "gdbn_cluster", {"min_cluster": int(min_cluster)})
