"""Defect kills and binning: spec failures, clustered defects and the killer chamber.

Model
-----
A die is *defect-killed* (a functional fail: scan or MBIST, soft bins 21/22, hard bin 5)
when any of these hit it; ``κ_w = route factor (R1 0.6, R2 1.0, R3 1.8) × lot factor
(Gamma(4, 1/4))`` scales the wafer's defectivity:

- isolated kills, Bernoulli(0.012 κ_w) per die;
- blobs, Poisson(1.0 κ_w) per wafer, centre uniform on the wafer, size ``s ~ U(4, 12)``
  mm, kill probability ``0.85·exp(−d²/2s²)``;
- scratches, with probability ``min(0.1 κ_w, 0.9)``: a segment of ``U(40, 140)`` mm at a
  random angle, killing (p = 0.9) dies whose centre lies within ``U(1.5, 3)`` mm plus half
  a die of it;
- edge clusters, with probability ``min(0.15 κ_w, 0.9)``: an arc of half-width
  ``U(10, 35)°`` and depth ``U(6, 18)`` mm at the rim, kill probability 0.6.

The **killer chamber** adds its signature to the wafers it processed: an edge arc
centred at 45° (± N(0, 8°)), half-width ``U(25, 50)°``, depth ``U(0.12, 0.25)·R``, kill
probability 0.75, plus Poisson(1) blobs inside that sector.  The signature is drawn
for *every* wafer from its own stream and applied only to killer wafers, so the
counterfactual "same wafer without the killer" uses the same draws.

Binning (test-flow order): a defect-killed die gets its functional soft bin; otherwise
the first test (T01..T39) outside ``[lsl, usl]`` gives the soft bin of its group and
that group's hard bin; otherwise bin 1.  Parametric values are not altered by defects.

Example
-------
>>> import numpy as np
>>> from fabnb.synth._bins import first_failing_test
>>> v = np.array([[[0.0, 5.0], [0.0, 0.0]]])
>>> first_failing_test(v, np.array([-1.0, np.nan]), np.array([1.0, 1.0]))
array([[ 1, -1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._catalog import FUNCTIONAL, GROUPS, TESTS

ROUTE_DEFECT_FACTOR = {"R1": 0.6, "R2": 1.0, "R3": 1.8}
KILLER_ANGLE_DEG = 45.0
_CHUNK = 16  # wafers per vectorised block (bounds temporaries)


def first_failing_test(value, lsl, usl) -> np.ndarray:
    """Index of the first test outside its limits per (wafer, die), -1 if none.

    NaN limits never fail (comparisons with NaN are false).
    """
    out = np.empty(value.shape[:2], dtype=np.int64)
    for w0 in range(0, value.shape[0], _CHUNK):
        block = value[w0:w0 + _CHUNK]
        fail = (block < lsl) | (block > usl)
        first = fail.argmax(axis=2)
        out[w0:w0 + _CHUNK] = np.where(fail.any(axis=2), first, -1)
    return out


def _angle_diff(a, b):
    return np.abs(np.angle(np.exp(1j * (a - b))))


def _blobs(rng, x, y, centres, sizes, p0=0.85):
    d2 = (x[:, None] - centres[:, 0]) ** 2 + (y[:, None] - centres[:, 1]) ** 2
    p = p0 * np.exp(-d2 / (2 * sizes**2))
    return (rng.random(p.shape) < p).any(axis=1) if sizes.size else np.zeros(x.size, bool)


def _scratch(rng, x, y, radius, half_die):
    start = _uniform_disk(rng, radius, 1)[0]
    ang, length = rng.uniform(0, 2 * np.pi), rng.uniform(40, 140)
    direction = np.array([np.cos(ang), np.sin(ang)])
    rel = np.stack([x - start[0], y - start[1]], axis=1)
    along = np.clip(rel @ direction, 0, length)
    dist = np.hypot(*(rel - along[:, None] * direction).T)
    return (dist < rng.uniform(1.5, 3.0) + half_die) & (rng.random(x.size) < 0.9)


def _edge_arc(rng, r, theta, radius, centre, half_width, depth, p_kill):
    near = (r > radius - depth) & (_angle_diff(theta, centre) < half_width)
    return near & (rng.random(r.size) < p_kill)


def _uniform_disk(rng, radius, n):
    rr, aa = radius * np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
    return np.stack([rr * np.cos(aa), rr * np.sin(aa)], axis=1)


def defect_kills(rng, x, y, radius, half_die, intensity) -> np.ndarray:
    """Random clustered defect kills ``(wafer, die)`` (see module docstring)."""
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    kill = np.zeros((intensity.size, x.size), dtype=bool)
    for w, k in enumerate(intensity):
        n_blobs = rng.poisson(1.0 * k)
        hit = rng.random(x.size) < 0.012 * k
        hit |= _blobs(rng, x, y, _uniform_disk(rng, radius, n_blobs), rng.uniform(4, 12, n_blobs))
        if rng.random() < min(0.1 * k, 0.9):
            hit |= _scratch(rng, x, y, radius, half_die)
        if rng.random() < min(0.15 * k, 0.9):
            hit |= _edge_arc(rng, r, theta, radius, rng.uniform(0, 2 * np.pi),
                             np.deg2rad(rng.uniform(10, 35)), rng.uniform(6, 18), 0.6)
        kill[w] = hit
    return kill


def killer_kills(rng, x, y, radius, n_wafers) -> np.ndarray:
    """The killer chamber's signature on every wafer ``(wafer, die)``, applied later
    only where the wafer ran on the killer."""
    r, theta = np.hypot(x, y), np.arctan2(y, x)
    kill = np.zeros((n_wafers, x.size), dtype=bool)
    for w in range(n_wafers):
        centre = np.deg2rad(KILLER_ANGLE_DEG + rng.normal(0, 8))
        half_width = np.deg2rad(rng.uniform(25, 50))
        depth = rng.uniform(0.12, 0.25) * radius
        hit = _edge_arc(rng, r, theta, radius, centre, half_width, depth, 0.75)
        n_blobs = rng.poisson(1.0)
        ang = centre + rng.uniform(-half_width, half_width, n_blobs)
        rad = radius * np.sqrt(rng.uniform(0.3, 1.0, n_blobs))
        centres = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
        hit |= _blobs(rng, x, y, centres, rng.uniform(6, 14, n_blobs))
        kill[w] = hit
    return kill


@dataclass(frozen=True)
class Binning:
    hbin: np.ndarray  # (W, D) int64
    sbin: np.ndarray  # (W, D) int64
    defect: np.ndarray  # (W, D) random defect kills
    killer_defect: np.ndarray  # (W, D) kills by the killer's signature (killer wafers only)
    wafer_yield: np.ndarray  # (W,)
    yield_without_killer: np.ndarray  # (W,) counterfactual
    killer_effect: float  # mean over killer wafers of (yield - yield_without_killer)


def assign_bins(rng, value, lsl, usl, defect, killer_signature, used_killer) -> Binning:
    """Soft/hard bins from spec failures and defect kills, and the killer's effect."""
    first = first_failing_test(value, lsl, usl)
    group_sbin = np.array([GROUPS[s.group][0] for s in TESTS.values()])
    group_hbin = np.array([GROUPS[s.group][1] for s in TESTS.values()])
    killer_defect = killer_signature & used_killer[:, None]
    functional = defect | killer_defect
    scan, mbist = FUNCTIONAL
    scan_or_mbist = np.where(rng.random(defect.shape) < 0.6, scan, mbist)
    parametric = first >= 0
    sbin = np.where(functional, scan_or_mbist, np.where(parametric, group_sbin[first], 1))
    hbin = np.where(functional, 5, np.where(parametric, group_hbin[first], 1))
    pass_without = ~parametric & ~defect
    yield_without = pass_without.mean(axis=1)
    wafer_yield = (hbin == 1).mean(axis=1)
    effect = float(np.mean((wafer_yield - yield_without)[used_killer])) if used_killer.any() \
        else float("nan")
    return Binning(hbin.astype(np.int64), sbin.astype(np.int64), defect, killer_defect,
                   wafer_yield, yield_without, effect)
