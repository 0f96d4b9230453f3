"""Turn a coded run matrix into a design table, and read a design table back.

Every design is a :class:`pandas.DataFrame`, one row per run, in *standard order*:

==================  =====================================================================
column              meaning
==================  =====================================================================
``<factor>``        coded level (-1/+1 for two levels, 0 at centre points, ±alpha on axes)
``<factor>_natural``  level in natural units (only for factors given with low/high or levels)
``std_order``       1..N, the textbook (Yates) order
``run_order``       1..N, the order to run them in: random within each block with ``seed``,
                    equal to ``std_order`` when ``seed is None`` (not randomized)
``replicate``       1..r
``block``           1..b (or the block labels given)
``center_point``    True for centre runs
==================  =====================================================================

The design's metadata (factors, letter labels, natural ranges, generators, defining
relation, resolution, ...) lives in ``design.attrs["doe"]``, a plain dict. pandas keeps
``attrs`` through ``copy``, column assignment, ``assign``, ``sort_values`` and row
selection; ``merge`` drops it. :func:`design_meta` raises a :class:`FabFitError`
explaining how to re-attach it (:func:`fabnb.doe.as_design`) when it is missing.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._params import Integral, Interval
from ..errors import FabDataError, FabFitError, FabParameterError
from ._words import factor_labels

RESERVED = ("std_order", "run_order", "replicate", "block", "center_point", "point_type")

#: Rules for the arguments the design builders share; each builder passes them, with its
#: own, to :func:`fabnb._params.check_params` (which checks only the names it is given).
RULES = {
    "replicates": [Interval(Integral, 1, None, closed="left")],
    "center_points": [Interval(Integral, 0, None, closed="left")],
    "seed": [None, Interval(Integral, 0, None, closed="left"), np.random.Generator],
    "factors": [dict, "array-like"],
}


@dataclass(frozen=True)
class Factor:
    """A factor: ``levels`` are natural levels (``None`` = coded only)."""

    name: str
    levels: tuple | None = None

    @property
    def n_levels(self):
        return 2 if self.levels is None else len(self.levels)

    @property
    def numeric(self):
        return self.levels is None or all(isinstance(v, (int, float, np.number)) for v in self.levels)


def parse_factors(factors, levels=2):
    """Normalise ``factors`` (list of names, or dict name -> (low, high) / level list /
    number of levels) to a list of :class:`Factor`, checking the names. With
    ``levels > 2`` a numeric (low, high) range is split into ``levels`` equal steps."""
    if isinstance(factors, (int, str)):
        raise FabParameterError(
            f"factors={factors!r} is not a list of factors; give factor names, e.g. ['A', 'B', 'C'] "
            "or {'power': (300, 700)}"
        )
    items = list(factors.items()) if isinstance(factors, dict) else [(n, None) for n in factors]
    if not items:
        raise FabParameterError("no factors given; pass a list of names or a dict name -> (low, high)")
    names = [n for n, _ in items]
    seen = set()
    for name in names:
        if not isinstance(name, str) or not name or name in RESERVED or name.endswith("_natural"):
            raise FabParameterError(
                f"factor name {name!r} is not allowed: use a non-empty string other than "
                f"{', '.join(RESERVED)} and not ending in '_natural'"
            )
        if name in seen:
            raise FabParameterError(
                f"duplicate factor name {name!r} in {names}; give every factor a distinct name"
            )
        seen.add(name)
    out = []
    for name, spec in items:
        if spec is None:
            out.append(Factor(name, None if levels == 2 else tuple(np.linspace(-1, 1, levels))))
        elif isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
            if spec < 2:
                raise FabParameterError(f"factor {name!r} needs at least 2 levels, got {spec}")
            out.append(Factor(name, tuple(np.linspace(-1, 1, spec)) if spec > 2 else None))
        else:
            spec = tuple(spec) if np.iterable(spec) and not isinstance(spec, str) else (spec,)
            if levels > 2 and len(spec) == 2 and all(isinstance(v, (int, float)) for v in spec):
                spec = tuple(float(v) for v in np.linspace(spec[0], spec[1], levels))
            numbers = [v for v in spec if isinstance(v, (int, float, np.number))]
            if len(spec) < 2 or len(set(spec)) != len(spec) or not np.all(np.isfinite(numbers)):
                raise FabParameterError(
                    f"factor {name!r} levels {spec} must be at least two distinct finite values "
                    "(low, high), a list of levels, or a number of levels"
                )
            out.append(Factor(name, spec))
    return out


def coded_levels(factor):
    """Coded values of the factor's levels: equally spaced in [-1, 1]."""
    return np.linspace(-1.0, 1.0, factor.n_levels)


def natural_values(factor, coded):
    """Natural units of coded values: linear in the coded value for numeric low/high
    factors (so axial points extrapolate), level lookup for multi-level factors."""
    if factor.levels is None:
        return None
    if len(factor.levels) == 2 and factor.numeric:
        low, high = (float(v) for v in factor.levels)
        return (low + high) / 2 + coded * (high - low) / 2
    index = np.rint((coded + 1) / 2 * (factor.n_levels - 1)).astype(int)
    if not factor.numeric:
        return np.asarray(factor.levels, dtype=object)[index]
    return np.asarray(factor.levels, dtype=float)[index]


def coded_values(factor, values):
    """Coded values of a factor column given either in coded units or as the factor's
    natural levels (the inverse of :func:`natural_values`).

    A column whose values are all natural levels (for a numeric low/high factor: low,
    high or their midpoint) is coded; any other column is taken as coded already, which
    for a multi-level factor means every value is one of its coded levels. A value that
    is neither raises a :class:`FabDataError` naming the factor and the value.
    """
    values = pd.Series(values).reset_index(drop=True)
    natural = None if factor.levels is None else list(factor.levels)
    if natural is not None and len(natural) == 2 and factor.numeric:
        low, high = (float(v) for v in natural)
        natural.append((low + high) / 2)
        if values.isin(natural).all():
            return (values.to_numpy(dtype=float) - (low + high) / 2) / ((high - low) / 2)
    elif natural is not None and values.isin(natural).all():
        index = {level: i for i, level in enumerate(natural)}
        return coded_levels(factor)[[index[v] for v in values]]
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    multi_level = factor.levels is not None and (len(factor.levels) > 2 or not factor.numeric)
    allowed = coded_levels(factor) if multi_level else None
    bad = ~np.isfinite(numbers)
    if allowed is not None:
        bad |= ~np.isclose(numbers[:, None], allowed[None, :], rtol=0, atol=1e-9).any(axis=1)
    if bad.any():
        neither = bad & ~values.isin(natural or []).to_numpy()
        if not neither.any():
            raise FabDataError(
                f"factor {factor.name!r} mixes natural levels {list(factor.levels)} and coded values "
                f"(row {int(np.flatnonzero(bad)[0])}); give one or the other"
            )
        row = int(np.flatnonzero(neither)[0])
        coded = ("a finite coded number" if allowed is None
                 else f"a coded level {np.round(allowed, 6).tolist()}")
        what = coded if factor.levels is None else f"one of its levels {list(factor.levels)} nor {coded}"
        raise FabDataError(
            f"factor {factor.name!r} holds {values.tolist()[row]!r} in row {row} ({int(neither.sum())} "
            f"row(s) in all), which is not {what}; give coded values, or the natural levels "
            f"declared in factors (e.g. {{{factor.name!r}: [low, high]}})"
        )
    if allowed is not None:  # snap typed decimals (-0.3333) onto the exact coded levels
        numbers = allowed[np.abs(numbers[:, None] - allowed[None, :]).argmin(axis=1)]
    return numbers


def expand(coded, block, replicates, center_points):
    """Replicate a base matrix and add ``center_points`` centre runs to every block
    (both already checked against :data:`RULES` by the public builder).

    Returns ``coded, block, replicate`` arrays for the full design in standard order:
    replicate 1 (its blocks in order, centre points at the end of each block), then 2...
    """
    n_blocks = int(block.max())
    rows, blk, rep = [], [], []
    for r in range(1, int(replicates) + 1):
        for b in range(1, n_blocks + 1):
            part = coded[block == b]
            rows += [part, np.zeros((int(center_points), coded.shape[1]))]
            label = b if n_blocks == 1 or replicates == 1 else (r - 1) * n_blocks + b
            blk += [label] * (len(part) + int(center_points))
            rep += [r] * (len(part) + int(center_points))
    return np.vstack(rows), np.asarray(blk), np.asarray(rep)


def assemble(coded, factors, meta, block=None, replicate=None, seed=None, extra=None):
    """Build the design table from a coded matrix (rows in standard order)."""
    coded = np.asarray(coded, dtype=float)
    n = len(coded)
    block = np.ones(n, dtype=int) if block is None else np.asarray(block)
    replicate = np.ones(n, dtype=int) if replicate is None else np.asarray(replicate)
    frame = pd.DataFrame({f.name: coded[:, j] for j, f in enumerate(factors)})
    for j, f in enumerate(factors):
        nat = natural_values(f, coded[:, j])
        if nat is not None:
            frame[f"{f.name}_natural"] = nat
    frame["std_order"] = np.arange(1, n + 1)
    frame["run_order"] = run_order(block, seed)
    frame["replicate"] = replicate
    labels = meta.get("block_labels")
    frame["block"] = [labels[b - 1] for b in block] if labels else block
    frame["center_point"] = np.all(coded == 0, axis=1)
    for name, values in (extra or {}).items():
        frame[name] = values
    meta = {
        "factors": [f.name for f in factors],
        "labels": factor_labels([f.name for f in factors]),
        "factor_map": dict(zip(factor_labels([f.name for f in factors]), (f.name for f in factors))),
        "levels": {f.name: f.levels for f in factors},
        "seed": seed,
        "randomized": seed is not None,
        **meta,
    }
    frame.attrs["doe"] = meta
    return frame


def run_order(block, seed):
    """1..N: blocks run one after the other, runs shuffled inside each block."""
    n = len(block)
    if seed is None:
        return np.arange(1, n + 1)
    rng = np.random.default_rng(seed)
    order = np.empty(n, dtype=int)
    next_slot = 1
    _, first = np.unique(block, return_index=True)
    for b in block[np.sort(first)]:
        idx = np.flatnonzero(block == b)
        order[rng.permutation(idx)] = np.arange(next_slot, next_slot + len(idx))
        next_slot += len(idx)
    return order


def design_meta(design):
    """The ``attrs["doe"]`` dict of a design, or a :class:`FabFitError` saying how to
    restore it."""
    if not isinstance(design, pd.DataFrame):
        raise FabParameterError(f"design: expected a design DataFrame, got {type(design).__name__}")
    meta = design.attrs.get("doe")
    if not meta:
        raise FabFitError(
            "this DataFrame has no design metadata (attrs['doe']); an operation such as "
            "pd.merge dropped it: re-attach it with fabnb.doe.as_design(frame, factors=[...])"
        )
    missing = [f for f in meta["factors"] if f not in design.columns]
    if missing:
        raise FabFitError(f"design is missing the coded factor column(s) {missing}")
    return meta
