"""Response-surface designs and canonical analysis of a fitted quadratic.

Central composite design (Box & Wilson): a two-level factorial (a resolution V fraction
for k >= 5), 2k axial runs at ``±alpha`` on each axis and centre runs. Rotatable
``alpha = n_F^(1/4)`` (``n_F`` factorial runs), face-centred ``alpha = 1``.

Box-Behnken: every pair of factors (k = 3, 4, 5) or every block of the balanced
incomplete block design of triples (k = 6, 7) at a 2^2 / 2^3 factorial, the other factors
at 0, plus centre runs; no run sits at a corner of the cube.

Canonical analysis: for ``ŷ = b0 + x'b + x'Bx`` (``B`` symmetric, ``B_ii`` the square
coefficients, ``B_ij`` half the interaction coefficients), the stationary point is
``x_s = -B⁻¹ b / 2`` with ``ŷ_s = b0 + x_s'b / 2``; it is a maximum when every
eigenvalue of ``B`` is negative, a minimum when all are positive, a saddle otherwise.
"""

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._params import Interval, Real, StrOptions, check_params
from ..errors import FabFitError, FabParameterError
from ._layout import RULES, Factor, assemble, natural_values, parse_factors
from ._words import factor_labels, signed_str
from .factorial import base_matrix, fraction_matrix
from .fractional import catalogue_generators

#: Box-Behnken blocks of factor indices for k = 6 and 7 (Box & Behnken 1960).
BBD_BLOCKS = {
    6: [(0, 1, 3), (1, 2, 4), (2, 3, 5), (0, 3, 4), (1, 4, 5), (0, 2, 5)],
    7: [(0, 1, 3), (1, 2, 4), (2, 3, 5), (3, 4, 6), (0, 4, 5), (1, 5, 6), (0, 2, 6)],
}


@dataclass
class StationaryPoint:
    """Stationary point of a fitted quadratic, its type and the canonical eigenvalues."""

    coded: pd.Series
    natural: pd.Series | None
    response: float
    kind: str
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray

    def __str__(self):
        where = ", ".join(f"{k} = {v:.4g}" for k, v in self.coded.items())
        return (f"stationary point ({self.kind}) at coded {where}; predicted response "
                f"{self.response:.5g}; eigenvalues {np.round(self.eigenvalues, 4).tolist()}")


def stationary_point(coefficients, factors, levels=None):
    """Canonical analysis of a quadratic given by its coefficients in coded units
    (index ``Intercept``, ``A``, ``A:B``, ``A^2``...).

    >>> c = pd.Series({"Intercept": 10.0, "A": 2.0, "B": 0.0, "A:B": 0.0, "A^2": -1.0, "B^2": -1.0})
    >>> sp = stationary_point(c, ["A", "B"])
    >>> sp.kind, sp.coded.round(3).tolist(), round(sp.response, 3)
    ('maximum', [1.0, 0.0], 11.0)
    """
    k = len(factors)
    b = np.array([coefficients.get(f, 0.0) for f in factors], dtype=float)
    B = np.zeros((k, k))
    for i, a in enumerate(factors):
        B[i, i] = coefficients.get(f"{a}^2", 0.0)
        for j in range(i + 1, k):
            B[i, j] = B[j, i] = coefficients.get(f"{a}:{factors[j]}", 0.0) / 2
    values, vectors = np.linalg.eigh(B)
    scale = max(np.abs(values).max(), 1e-300)
    if np.any(np.abs(values) < 1e-9 * scale) or not np.any(values):
        raise FabFitError(
            "the fitted quadratic has a zero eigenvalue (a ridge): its stationary point is "
            "not unique; inspect the canonical eigenvalues or refit with more axial runs"
        )
    xs = -0.5 * np.linalg.solve(B, b)
    kind = "maximum" if np.all(values < 0) else "minimum" if np.all(values > 0) else "saddle"
    natural = None
    if levels and all(levels.get(f) is not None and len(levels[f]) == 2 for f in factors):
        natural = pd.Series({f: float(natural_values(Factor(f, tuple(levels[f])), np.array([x]))[0])
                             for f, x in zip(factors, xs)}, name="natural")
    response = float(coefficients.get("Intercept", 0.0) + xs @ b / 2)
    return StationaryPoint(pd.Series(xs, index=factors, name="coded"), natural, response,
                           kind, values, vectors)


def central_composite(factors, alpha="rotatable", center_points=4, replicates=1, seed=None):
    """Central composite design.

    Parameters
    ----------
    factors : list of str or dict name -> (low, high)
        Natural low/high are the factorial (±1) levels; axial runs extrapolate.
    alpha : "rotatable", "face" or float
    center_points : int

    >>> d = central_composite(["A", "B"])
    >>> len(d), round(d.attrs["doe"]["alpha"], 4)
    (12, 1.4142)
    >>> d["point_type"].value_counts().to_dict()
    {'factorial': 4, 'axial': 4, 'center': 4}
    """
    check_params("central_composite", {
        **RULES,
        "alpha": [StrOptions({"rotatable", "face", "face-centred", "face-centered"}),
                  Interval(Real, 0, None, closed="neither")],
    }, {"factors": factors, "alpha": alpha, "center_points": center_points,
        "replicates": replicates, "seed": seed})
    parsed = parse_factors(factors)
    k = len(parsed)
    if k < 2:
        raise FabParameterError("factors: a central composite design needs at least 2 factors")
    generators = []
    if k >= 5:
        generators = catalogue_generators(k, resolution=5)
    labels = factor_labels([f.name for f in parsed])
    cube = fraction_matrix(k, generators, labels)
    if alpha == "rotatable":
        alpha_value = len(cube) ** 0.25
    elif isinstance(alpha, str):  # "face" and its spellings
        alpha_value = 1.0
    else:
        alpha_value = float(alpha)
    axial = np.vstack([sign * alpha_value * np.eye(k)[j] for j in range(k) for sign in (-1, 1)])
    one = np.vstack([cube, axial, np.zeros((int(center_points), k))])
    kinds = ["factorial"] * len(cube) + ["axial"] * len(axial) + ["center"] * int(center_points)
    coded = np.vstack([one] * int(replicates))
    replicate = np.repeat(np.arange(1, int(replicates) + 1), len(one))
    meta = {"kind": "central_composite", "alpha": alpha_value, "center_points": int(center_points),
            "replicates": int(replicates),
            "factorial_generators": [f"{labels[t]}={signed_str(s, w ^ (1 << t), labels)}"
                                     for t, s, w in generators]}
    return assemble(coded, parsed, meta, None, replicate, seed, {"point_type": kinds * int(replicates)})


def box_behnken(factors, center_points=3, replicates=1, seed=None):
    """Box-Behnken design for 3-7 factors.

    >>> d = box_behnken(["A", "B", "C"])
    >>> len(d), float(d[["A", "B", "C"]].abs().sum(axis=1).max())
    (15, 2.0)
    """
    check_params("box_behnken", RULES, {"factors": factors, "center_points": center_points,
                                        "replicates": replicates, "seed": seed})
    parsed = parse_factors(factors)
    k = len(parsed)
    blocks = BBD_BLOCKS.get(k) or (list(itertools.combinations(range(k), 2)) if 3 <= k <= 5 else None)
    if blocks is None:
        raise FabParameterError(f"factors: Box-Behnken designs are tabulated for 3-7 factors, got {k}")
    rows = []
    for block in blocks:
        square = base_matrix(len(block))
        part = np.zeros((len(square), k))
        part[:, list(block)] = square
        rows.append(part)
    one = np.vstack(rows + [np.zeros((int(center_points), k))])
    kinds = ["edge"] * (len(one) - int(center_points)) + ["center"] * int(center_points)
    coded = np.vstack([one] * int(replicates))
    replicate = np.repeat(np.arange(1, int(replicates) + 1), len(one))
    meta = {"kind": "box_behnken", "center_points": int(center_points), "replicates": int(replicates)}
    return assemble(coded, parsed, meta, None, replicate, seed, {"point_type": kinds * int(replicates)})
