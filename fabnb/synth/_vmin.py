"""Vmin on a sparse die subset, with inter- and intra-wafer biases.

Model (the RBA model of Yin et al., exactly)
--------------------------------------------
For Vmin test ``v`` (pattern × temperature), wafer ``w`` and a sampled die ``d`` in zone
``z(d)``::

    vmin[w,d,v] = c_v + Σ_j W[v,j]·X[w,d,j] + b_inter[w,v] + b_intra[z(d),v] + ε,
    b_inter[w,v] = c'_v + Σ_k Γ[v,k]·E[w,k] + ξ[w,v]

``X`` are the *measured* values of the four feature tests (``T03`` Vtn sat, ``T05``
Idsat n, ``T14`` fast RO, ``T11`` IDDQ core) at that die, ``E`` the measured class-probe
parameters ``E05`` (oxide thickness) and ``E06`` (gate length) of the wafer,
``ξ ~ N(0, 3 mV)``, ``ε ~ N(0, σ_v)`` with ``σ_v ~ U(5, 9)`` mV.  Weights are
physical (Vt up → Vmin up; drive, speed and leakage up → Vmin down) and scale with
temperature and pattern; ``b_intra`` follows the edge-high shape
``(−12, −6, +3, +15)`` mV × U(0.7, 1.5), centred to sum to zero over the zones;
``c'_v = −Γ[v]·E_nominal`` keeps ``b_inter`` near zero and ``c_v`` puts Vmin at
0.62 (DC) / 0.70 (AC) / 0.74 V (MBIST) at 25 °C, +35 mV at −45 °C, +15 mV at 125 °C.

Each die is Vmin-tested with probability ``vmin_fraction`` (same dies for all nine
tests); defect-killed dies have no Vmin (NaN).

Example
-------
>>> import numpy as np
>>> from fabnb.synth._vmin import simulate_vmin
>>> m = simulate_vmin(np.random.default_rng(0), np.zeros((2, 8, 39)), [2, 4, 13, 10],
...                   np.array([[1.8, 28.0], [1.82, 28.3]]), np.arange(8) % 4, 4, 0.5,
...                   np.zeros((2, 8), bool))
>>> m.vmin.shape, bool(abs(m.intra_bias.sum(axis=0)).max() < 1e-12)
((2, 8, 9), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._catalog import (
    ETESTS,
    TESTS,
    VMIN_BASE_WEIGHTS,
    VMIN_ETEST_BASE_COEF,
    VMIN_ETESTS,
    VMIN_FEATURES,
    VMIN_PATTERNS,
    VMIN_TEMPS,
)

INTRA_SHAPE_V = np.array([-0.012, -0.006, 0.003, 0.015])  # centre .. edge
TEMP_VT_FACTOR = {"m45": 1.3, "25": 1.0, "125": 0.8}  # Vt matters more when cold
PATTERN_RO_FACTOR = {"dc": 1.0, "ac": 1.4, "mbist": 0.9}  # speed matters more for AC


@dataclass(frozen=True)
class VminModel:
    vmin: np.ndarray  # (W, D, V), NaN off the sample
    intercept: np.ndarray  # c (V,)
    weights: np.ndarray  # W (V, F)
    etest_intercept: np.ndarray  # c' (V,)
    etest_coef: np.ndarray  # Γ (V, 2)
    inter_bias: np.ndarray  # (W, V)
    intra_bias: np.ndarray  # (Z, V)
    noise_sd: np.ndarray  # (V,)


def _weights(rng) -> np.ndarray:
    rows = []
    for pattern in VMIN_PATTERNS:
        for temp in VMIN_TEMPS:
            factor = np.array([TEMP_VT_FACTOR[temp], 1.0, PATTERN_RO_FACTOR[pattern], 1.0])
            rows.append(np.asarray(VMIN_BASE_WEIGHTS) * factor * rng.uniform(0.85, 1.15, 4))
    return np.array(rows)


def simulate_vmin(rng, value, feature_index, etest_values, zone_index, n_zones, fraction, killed):
    """Draw the Vmin model and its measurements (see module docstring).

    ``value`` (W, D, T) measured tests, ``feature_index`` the positions of the feature
    tests, ``etest_values`` (W, 2) the two class-probe parameters, ``zone_index`` (D,)
    0..n_zones-1, ``killed`` (W, D) dies without Vmin.
    """
    n_v = len(VMIN_PATTERNS) * len(VMIN_TEMPS)
    weights = _weights(rng)
    feature_center = np.array([TESTS[f].center for f in VMIN_FEATURES])
    base = np.array([VMIN_PATTERNS[p] + VMIN_TEMPS[t] for p in VMIN_PATTERNS for t in VMIN_TEMPS])
    intercept = base - weights @ feature_center
    coef = np.asarray(VMIN_ETEST_BASE_COEF) * rng.uniform(0.8, 1.2, (n_v, len(VMIN_ETESTS)))
    etest_center = np.array([ETESTS[e][2] for e in VMIN_ETESTS])
    etest_intercept = -coef @ etest_center
    inter = etest_intercept + etest_values @ coef.T + rng.normal(0, 0.003, (len(etest_values), n_v))
    shape = np.interp(np.linspace(0, 3, n_zones), np.arange(4), INTRA_SHAPE_V)
    intra = shape[:, None] * rng.uniform(0.7, 1.5, n_v) + rng.normal(0, 0.002, (n_zones, n_v))
    intra -= intra.mean(axis=0)
    noise_sd = rng.uniform(0.005, 0.009, n_v)
    w, d = np.nonzero((rng.random(killed.shape) < fraction) & ~killed)
    features = value[w, d][:, feature_index]
    vmin = np.full(killed.shape + (n_v,), np.nan)
    vmin[w, d] = (intercept + features @ weights.T + inter[w] + intra[zone_index[d]]
                  + rng.normal(0, 1, (w.size, n_v)) * noise_sd)
    return VminModel(vmin, intercept, weights, etest_intercept, coef, inter, intra, noise_sd)
