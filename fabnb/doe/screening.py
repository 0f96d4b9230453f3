"""Screening designs: Plackett-Burman, and one-factor-at-a-time (for teaching).

Plackett & Burman (1946) give two-level orthogonal designs in N = 4m runs for up to
N - 1 factors. For N = 12, 20, 24 the rows are the cyclic shifts of a published
generating row plus a row of minus signs; for N a power of two the design is a
Sylvester Hadamard matrix (a saturated 2^(k-p) fraction). Main effects are estimated
independently of each other, but two-factor interactions are *partially* aliased with
them (in fractions of ±1/3 for N = 12), so the design has no alias chains.

OFAT varies one factor at a time from a baseline. With ``k`` factors it needs ``k + 1``
runs (baseline "low") or ``2k + 1`` (baseline "center"); each factor's effect is measured
with every other factor at its baseline, so an interaction turns into a wrong main
effect and the best combination is never run.
"""

import numpy as np
from scipy.linalg import hadamard

from .._params import Integral, Interval, check_option, check_params
from ..errors import FabParameterError
from ._layout import RULES, assemble, expand, parse_factors

#: Generating rows of Plackett & Burman (1946), Biometrika 33, 305-325.
PB_ROWS = {
    12: "++-+++---+-",
    20: "++--++++-+-+----++-",
    24: "+++++-+-++--++--+-+----",
}


def plackett_burman(factors, runs=None, replicates=1, center_points=0, seed=None):
    """Plackett-Burman screening design (orthogonal main effects).

    ``runs`` defaults to the smallest supported N (8, 12, 16, 20, 24, 32, 64) with
    ``N > k``.

    >>> d = plackett_burman([f"F{i}" for i in range(11)])
    >>> len(d), d.attrs["doe"]["resolution"]
    (12, 3)
    """
    check_params("plackett_burman", {**RULES, "runs": [None, Interval(Integral, 1, None, closed="left")]},
                 {"factors": factors, "runs": runs, "replicates": replicates,
                  "center_points": center_points, "seed": seed})
    parsed = parse_factors(factors)
    k = len(parsed)
    sizes = sorted({8, 16, 32, 64, *PB_ROWS})
    if runs is None:
        runs = next((n for n in sizes if n > k), None)
        if runs is None:
            raise FabParameterError(f"factors: {k} factors need more than 64 runs; screen in stages")
    check_option("plackett_burman", "runs", runs, sizes)
    if runs <= k:
        raise FabParameterError(f"runs={runs} screen at most {runs - 1} factors, got {k}; use more runs")
    matrix = pb_matrix(runs)[:, :k]
    coded, block, rep = expand(matrix, np.ones(runs, dtype=int), replicates, center_points)
    meta = {"kind": "plackett_burman", "resolution": 3, "replicates": int(replicates),
            "center_points": int(center_points), "runs_per_replicate": runs}
    return assemble(coded, parsed, meta, block, rep, seed)


def pb_matrix(runs):
    """The ``runs x (runs - 1)`` ±1 Plackett-Burman matrix."""
    if runs in PB_ROWS:
        row = np.array([1.0 if c == "+" else -1.0 for c in PB_ROWS[runs]])
        shifts = np.array([np.roll(row, i) for i in range(runs - 1)])
        return np.vstack([shifts, -np.ones(runs - 1)])
    return hadamard(runs).astype(float)[:, 1:]


def ofat(factors, baseline="low", replicates=1, seed=None):
    """One-factor-at-a-time runs: the baseline, then each factor moved alone.

    ``baseline="low"``: all factors low, then each factor high (k + 1 runs).
    ``baseline="center"``: all at 0, then each factor low and high (2k + 1 runs).

    >>> d = ofat(["power", "pressure", "gas"])
    >>> d[["power", "pressure", "gas"]].to_numpy().tolist()[:2]
    [[-1.0, -1.0, -1.0], [1.0, -1.0, -1.0]]
    """
    check_params("ofat", RULES, {"factors": factors, "replicates": replicates, "seed": seed})
    check_option("ofat", "baseline", baseline, ("low", "center"))
    parsed = parse_factors(factors)
    k = len(parsed)
    if baseline == "low":
        base = -np.ones((1, k))
        moves = -np.ones((k, k)) + 2 * np.eye(k)
    else:
        base = np.zeros((1, k))
        moves = np.vstack([sign * np.eye(k)[j] for j in range(k) for sign in (-1, 1)])
    one = np.vstack([base, moves])
    coded, block, rep = expand(one, np.ones(len(one), dtype=int), replicates, 0)
    meta = {"kind": "ofat", "baseline": baseline, "replicates": int(replicates), "center_points": 0}
    return assemble(coded, parsed, meta, block, rep, seed)
