"""Die neighbourhoods on the product map, as index tables.

A die's ring-``r`` neighbourhood is every die site at Chebyshev distance 1..r on the
(col, row) grid.  The table has one row per die and one column per offset
(``(2r+1)² − 1`` of them), holding the neighbour's die index or ``-1`` where the offset
falls off the map (edge dies simply have fewer neighbours).  Rules then gather with
``values[..., table]`` in one NumPy pass, never a Python loop over dies.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import FabDataError


def die_grid_index(ds: xr.Dataset, rule: str) -> tuple[np.ndarray, np.ndarray]:
    """The (col, row) integer indices of the dies, or a FabDataError naming ``rule``."""
    missing = [c for c in ("col", "row") if c not in ds.coords]
    if missing:
        raise FabDataError(f"{rule} needs the die coordinates {missing} (integer die indices on the map); "
                           "the dataset has none, so neighbourhoods cannot be formed")
    col = np.asarray(ds["col"].values)
    row = np.asarray(ds["row"].values)
    if not (np.issubdtype(col.dtype, np.integer) and np.issubdtype(row.dtype, np.integer)):
        raise FabDataError(f"{rule} needs integer col/row die indices, got {col.dtype}/{row.dtype}")
    return col.astype(np.int64), row.astype(np.int64)


def ring_offsets(rings: int) -> np.ndarray:
    """The (dc, dr, ring) offsets of rings 1..``rings`` around a die, ring by ring."""
    d = np.arange(-rings, rings + 1)
    dc, dr = (a.ravel() for a in np.meshgrid(d, d, indexing="xy"))
    ring = np.maximum(np.abs(dc), np.abs(dr))
    keep = ring > 0
    order = np.argsort(ring[keep], kind="stable")
    return np.c_[dc[keep], dr[keep], ring[keep]][order]


def neighbour_table(col: np.ndarray, row: np.ndarray, rings: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(table, ring)``: neighbour die indices (n_die, n_offsets), -1 off the map, and
    the ring of each offset column.

    >>> t, ring = neighbour_table(np.array([0, 1, 0]), np.array([0, 0, 1]))
    >>> sorted(t[0][t[0] >= 0].tolist()), ring.tolist()[:8]
    ([1, 2], [1, 1, 1, 1, 1, 1, 1, 1])
    """
    offsets = ring_offsets(rings)
    c0, r0 = col.min() - rings, row.min() - rings
    grid = np.full((row.max() - r0 + rings + 1, col.max() - c0 + rings + 1), -1, dtype=np.int64)
    if np.unique(np.c_[col, row], axis=0).shape[0] != col.size:
        raise FabDataError("die sites repeat a (col, row) pair: neighbourhoods are ambiguous")
    grid[row - r0, col - c0] = np.arange(col.size)
    table = grid[(row - r0)[:, None] + offsets[:, 1], (col - c0)[:, None] + offsets[:, 0]]
    return table, offsets[:, 2]


def gather(values: np.ndarray, table: np.ndarray, fill) -> np.ndarray:
    """``values[..., table]`` along the last (die) axis, with ``fill`` where the table is -1."""
    padded = np.concatenate([values, np.full(values.shape[:-1] + (1,), fill, dtype=values.dtype)], axis=-1)
    return padded[..., table]
