"""Parametric test values: smooth spatial fields, lot trends, drift, class-probe shifts,
die noise and outliers.

Model (dimensionless ``z``; ``value = center_t + scale_t · z``)
---------------------------------------------------------------
With normalised die coordinates ``u = x/R``, ``v = y/R``, ``ρ = r/R`` (``R`` the usable
radius) and the test's static spatial field ``S_t(d)`` (mean 0, sd 1 over the dies)::

    z[w,d,t] = a[w,t] + m[w,t]·S_t(d) + gx[w,t]·u_d + gy[w,t]·v_d + b[w,t]·(ρ_d² − mean ρ²)
               + σ_t·ε[w,d,t]                     (ε ~ N(0, 1): die noise)

``S_t = (0.6·G_g + 0.8·O_t)/sd`` mixes a field ``G_g`` shared by the test's group with
the test's own ``O_t``; each is a sum of a radial bowl ``ρ²``, a linear gradient
``u cos φ + v sin φ``, an edge ring ``exp(−(1−ρ)/λ)``, an azimuthal sector
``ρ·exp(κ(cos(θ−θ₀)−1))`` and Gaussian bumps ``A·exp(−|p−c|²/2ℓ²)``.  Smooth tests have
0-2 wide bumps (``ℓ`` 0.25-0.5 R) and ``σ_t ~ U(0.22, 0.40)``; rough tests have 10-20
narrow bumps (``ℓ`` 0.05-0.12 R) and ``σ_t ~ U(0.45, 0.70)``.

Wafer-level coefficients (``L`` = the wafer's lot, ``u_w ∈ [0, 1]`` its time in the span,
``τ_w = order_in_lot / (max wafers per lot − 1)``)::

    a[w,t]  = α[L,t] + δ_t·h_{k(t)}(u_w) + Σ_e Γ[t,e]·E[w,e] + η[w,t]
    m[w,t]  = 1 + μ[L,t] + μ'[w,t]
    gx, gy  = γx[w,t] + τ_w·β[L,t]·cos φ[L,t],   γy[w,t] + τ_w·β[L,t]·sin φ[L,t]
    b[w,t]  = ζ[L,t] + ζ'[w,t]

``α ~ N(0, 0.35)`` lot offsets; ``h_k`` three smooth drift curves over the six months
(``δ_t ~ N(0, 0.35)``); ``E[w,e]`` the standardised class-probe parameters
(``E = lot N(0, 0.55) + drift + wafer N(0, 0.7)``; ``etest_value = center_e +
scale_e·E``) with loadings ``Γ`` (each test on its catalog parameter, ±U(0.4, 0.7), plus
one random secondary N(0, 0.15)); ``η ~ N(0, 0.2)``.  The **within-lot temporal trend**
is the gradient ``τ_w·β[L,t]`` (``β ~ |N(0.9, 0.25)|``, direction ``φ`` = a lot angle
+ N(0, 0.3) per test): it grows with the wafer's order in its lot, which a
spatio-temporal GP over ``(x, y, t)`` can exploit.

The noise-free ``field`` is everything but ``σ_t ε``.  A fraction ``outlier_rate`` of the
``(wafer, die, test)`` values are outliers: ``field ± U(6, 14)·scale_t`` instead of
``field + noise``.

Example
-------
>>> import numpy as np
>>> from fabnb.synth._fields import spatial_fields
>>> S = spatial_fields(np.random.default_rng(0), np.zeros(3), np.array([0., .5, .9]))
>>> S.shape
(3, 39)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._catalog import ETESTS, TESTS

GROUP_WEIGHT, OWN_WEIGHT = 0.6, 0.8
N_DRIFT_CURVES = 3


def _shape(rng, u, v, rough: bool) -> np.ndarray:
    """One random mixture of the spatial basis patterns at points (u, v)."""
    rho2 = u**2 + v**2
    rho = np.sqrt(rho2)
    theta = np.arctan2(v, u)
    phi, theta0 = rng.uniform(0, 2 * np.pi, size=2)
    lam, kappa = rng.uniform(0.04, 0.10), rng.uniform(1.0, 4.0)
    large = (
        rng.normal(0, 1.0) * rho2
        + rng.normal(0, 0.6) * (u * np.cos(phi) + v * np.sin(phi))
        + rng.normal(0, 0.8) * np.exp(-(1 - rho) / lam)
        + rng.normal(0, 0.5) * rho * np.exp(kappa * (np.cos(theta - theta0) - 1))
    )
    n_bumps, scale_lo, scale_hi = (rng.integers(10, 21), 0.05, 0.12) if rough else (
        rng.integers(0, 3), 0.25, 0.5)
    r_c = np.sqrt(rng.random(n_bumps))
    a_c = rng.uniform(0, 2 * np.pi, n_bumps)
    ell = rng.uniform(scale_lo, scale_hi, n_bumps)
    amp = rng.normal(0, 1.0, n_bumps)
    d2 = (u[:, None] - r_c * np.cos(a_c)) ** 2 + (v[:, None] - r_c * np.sin(a_c)) ** 2
    bumps = (amp * np.exp(-d2 / (2 * ell**2))).sum(axis=1)
    return _standardise((0.6 if rough else 1.0) * _standardise(large) + bumps)


def _standardise(f: np.ndarray) -> np.ndarray:
    sd = f.std()
    return (f - f.mean()) / sd if sd > 0 else f - f.mean()


def spatial_fields(rng, u, v) -> np.ndarray:
    """``S[d, t]``: each test's static spatial field, mean 0 and sd 1 over the dies."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    groups = sorted({spec.group for spec in TESTS.values()})
    shared = {g: _shape(rng, u, v, rough=False) for g in groups}
    cols = [
        _standardise(GROUP_WEIGHT * shared[spec.group] + OWN_WEIGHT * _shape(rng, u, v, spec.rough))
        for spec in TESTS.values()
    ]
    return np.stack(cols, axis=1)


def _drift_curves(rng, time_frac) -> np.ndarray:
    """``h[k, w]``: smooth curves over the span, sd about 1."""
    slope = rng.normal(0, 1.5, size=(N_DRIFT_CURVES, 1))
    freq = rng.uniform(0.5, 1.5, size=(N_DRIFT_CURVES, 1))
    phase = rng.uniform(0, 1, size=(N_DRIFT_CURVES, 1))
    h = slope * (time_frac - 0.5) + np.sin(2 * np.pi * (freq * time_frac + phase))
    return h / np.maximum(h.std(axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class WaferEffects:
    """Per-wafer coefficients of the field model (all (W, T) in z units unless noted)."""

    offset: np.ndarray  # a
    multiplier: np.ndarray  # m
    grad_x: np.ndarray  # gx (includes the lot trend)
    grad_y: np.ndarray  # gy
    bowl: np.ndarray  # b
    etest_z: np.ndarray  # E (W, n_etest)
    loadings: np.ndarray  # Γ (T, n_etest)
    tau: np.ndarray  # (W,)
    trend_amplitude: np.ndarray  # β (n_lots, T)
    trend_angle: np.ndarray  # φ (n_lots, T)


def class_probe(rng, lot_index, time_frac) -> np.ndarray:
    """Standardised class-probe parameters ``E[w, e]``: lot + drift + wafer parts."""
    n_lots, n_e = lot_index.max() + 1, len(ETESTS)
    lot = rng.normal(0, 0.55, size=(n_lots, n_e))[lot_index]
    drift = 0.4 * _drift_curves(rng, time_frac)[rng.integers(0, N_DRIFT_CURVES, n_e)].T
    return lot + drift + rng.normal(0, 0.7, size=(lot_index.size, n_e))


def _loadings(rng) -> np.ndarray:
    names = list(ETESTS)
    gamma = np.zeros((len(TESTS), len(names)))
    for t, spec in enumerate(TESTS.values()):
        gamma[t, names.index(spec.etest)] = rng.choice([-1, 1]) * rng.uniform(0.4, 0.7)
        gamma[t, rng.integers(0, len(names))] += rng.normal(0, 0.15)
    return gamma


def wafer_effects(rng, lot_index, order, max_per_lot, time_frac, etest_z) -> WaferEffects:
    """Draw the wafer-level coefficients of the field model (see module docstring)."""
    n_w, n_t = lot_index.size, len(TESTS)
    n_lots = lot_index.max() + 1

    def lot_wafer(sd_lot, sd_wafer):
        return (rng.normal(0, sd_lot, (n_lots, n_t))[lot_index]
                + rng.normal(0, sd_wafer, (n_w, n_t)))

    gamma = _loadings(rng)
    drift = _drift_curves(rng, time_frac)[rng.integers(0, N_DRIFT_CURVES, n_t)].T
    offset = lot_wafer(0.35, 0.2) + rng.normal(0, 0.35, n_t) * drift + etest_z @ gamma.T
    tau = order / max(max_per_lot - 1, 1)
    beta = np.abs(rng.normal(0.9, 0.25, (n_lots, n_t)))
    phi = rng.uniform(0, 2 * np.pi, (n_lots, 1)) + rng.normal(0, 0.3, (n_lots, n_t))
    trend = tau[:, None] * beta[lot_index]
    return WaferEffects(
        offset=offset,
        multiplier=1 + lot_wafer(0.08, 0.06),
        grad_x=rng.normal(0, 0.12, (n_w, n_t)) + trend * np.cos(phi[lot_index]),
        grad_y=rng.normal(0, 0.12, (n_w, n_t)) + trend * np.sin(phi[lot_index]),
        bowl=lot_wafer(0.15, 0.1),
        etest_z=etest_z, loadings=gamma, tau=tau, trend_amplitude=beta, trend_angle=phi,
    )


def noise_levels(rng) -> np.ndarray:
    """Die-noise sd of each test in z units."""
    return np.array([rng.uniform(0.45, 0.70) if s.rough else rng.uniform(0.22, 0.40)
                     for s in TESTS.values()])


class FieldModel:
    """The noise-free field in physical units, evaluated one wafer at a time.

    ``field[w] = const[w] + mult[w]·S + P @ G[w]`` with ``P = [u, v, ρ² − mean ρ²]``
    (D, 3) and ``G[w]`` (3, T), evaluated per wafer so the work stays in cache.
    """

    def __init__(self, effects: WaferEffects, S, u, v):
        center = np.array([s.center for s in TESTS.values()])
        self.scale = np.array([s.scale for s in TESTS.values()])
        rho2 = u**2 + v**2
        self.S = np.ascontiguousarray(S)
        self.P = np.stack([u, v, rho2 - rho2.mean()], axis=1)
        self.const = center + self.scale * effects.offset
        self.mult = self.scale * effects.multiplier
        self.G = np.stack([effects.grad_x, effects.grad_y, effects.bowl], axis=1) * self.scale
        self.shape = (self.const.shape[0], self.S.shape[0], self.S.shape[1])

    def wafer(self, w: int) -> np.ndarray:
        """Noise-free values of wafer ``w``, (die, test)."""
        out = self.mult[w] * self.S
        for k in range(self.P.shape[1]):  # a 3-term product: cheaper than a BLAS call
            out += self.P[:, k, None] * self.G[w, k]
        out += self.const[w]
        return out

    def full(self) -> np.ndarray:
        """Noise-free values of every wafer, (wafer, die, test)."""
        out = np.empty(self.shape)
        for w in range(self.shape[0]):
            out[w] = self.wafer(w)
        return out


def measure(rng_noise, rng_outlier, model: FieldModel, noise_sd_z, outlier_rate):
    """Field plus die noise plus outliers, wafer by wafer.

    Returns
    -------
    value : ndarray (W, D, T), C-contiguous float64
    outliers : tuple of int arrays ``(wafer, die, test)``
    """
    n_w, n_d, n_t = model.shape
    size = n_w * n_d * n_t
    n_out = rng_outlier.binomial(size, outlier_rate) if outlier_rate > 0 else 0
    flat = np.unique(rng_outlier.integers(0, size, size=n_out))
    jump = rng_outlier.choice([-1.0, 1.0], size=flat.size) * rng_outlier.uniform(6, 14, flat.size)
    w_out, d_out, t_out = np.unravel_index(flat, model.shape)
    bounds = np.searchsorted(w_out, np.arange(n_w + 1))
    sd = (noise_sd_z * model.scale).astype(np.float32)
    value = np.empty(model.shape)
    noise = np.empty((n_d, n_t), dtype=np.float32)
    for w in range(n_w):
        f = model.wafer(w)
        rng_noise.standard_normal(dtype=np.float32, out=noise)
        noise *= sd
        np.add(f, noise, out=value[w])
        k = slice(bounds[w], bounds[w + 1])
        value[w, d_out[k], t_out[k]] = f[d_out[k], t_out[k]] + jump[k] * model.scale[t_out[k]]
    return value, (w_out, d_out, t_out)
