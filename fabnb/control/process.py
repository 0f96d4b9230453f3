"""A linear fab process with the disturbances run-to-run control has to fight.

Wafer ``t`` run with recipe ``u_t`` comes out at::

    y_t = β u_t + d_t
    d_t = a + δ · (t − last reset before t) + Σ shifts up to t + w_t + n_t

with ``β`` the *true* gain (the controller's model gain ``b`` may differ: ξ = β / b),
``δ`` a deterministic drift per wafer (pad glazing, chamber seasoning) that a
maintenance reset sets back to zero, step shifts, white noise ``n_t ~ N(0, σ²)`` and an
IMA(1,1) disturbance ``w_t = w_{t−1} + ε_t − θ ε_{t−1}``, ``ε ~ N(0, σ_ima²)`` — the
disturbance for which EWMA is the minimum-mean-square-error forecast with λ = 1 − θ.

Example
-------
>>> from fabnb.control import LinearProcess
>>> p = LinearProcess(gain=2.0, intercept=1.0, drift=0.1)
>>> p.disturbance(5, seed=0).round(2).tolist()
[1.0, 1.1, 1.2, 1.3, 1.4]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._params import Interval, Real, check_params
from ..errors import FabParameterError

FINITE = [Interval(Real, None, None, closed="neither")]
SPREAD = [Interval(Real, 0, None, closed="left")]  # a standard deviation: finite, >= 0


@dataclass
class LinearProcess:
    """Parameters of the simulated process (see the module docstring)."""

    gain: float = 1.0
    intercept: float = 0.0
    noise_sd: float = 0.0
    ima_theta: float = 0.0
    ima_sd: float = 0.0
    drift: float = 0.0
    shifts: tuple = ()  # ((run, size), ...)
    resets: tuple = ()  # runs at which maintenance resets the drift

    _parameter_constraints: ClassVar[dict] = {
        "gain": FINITE, "intercept": FINITE, "noise_sd": SPREAD, "ima_sd": SPREAD, "drift": FINITE,
        "ima_theta": [Interval(Real, -1, 1, closed="neither")],  # invertible IMA(1,1)
        "shifts": ["array-like"], "resets": ["array-like"],
    }

    def __post_init__(self):
        check_params("LinearProcess", self._parameter_constraints, vars(self))
        if self.gain == 0:
            raise FabParameterError("The 'gain' parameter of LinearProcess must be non-zero (the recipe "
                                    "must move the output). Got 0 instead.")

    def disturbance(self, n_runs: int, seed=0) -> np.ndarray:
        """The disturbance ``d_t`` for ``n_runs`` wafers (recipe-independent)."""
        rng = np.random.default_rng(seed)
        t = np.arange(n_runs)
        since_reset = t.astype(float)
        for r in sorted(self.resets):
            since_reset = np.where(t >= r, t - r, since_reset)
        d = self.intercept + self.drift * since_reset
        for run, size in self.shifts:
            d = d + np.where(t >= run, size, 0.0)
        eps = rng.normal(0.0, self.ima_sd, n_runs + 1)
        d = d + np.cumsum(eps[1:] - self.ima_theta * eps[:-1])
        return d + rng.normal(0.0, self.noise_sd, n_runs)

    def output(self, recipe, disturbance):
        return self.gain * np.asarray(recipe, dtype=float) + disturbance


@dataclass
class VirtualMetrology:
    """A virtual-metrology model standing in for the gauge on unmeasured wafers:
    ``ŷ_t = y_t + bias_drift · t + N(0, noise_sd²)`` — a model that slowly goes stale."""

    noise_sd: float = 0.0
    bias_drift: float = 0.0

    _parameter_constraints: ClassVar[dict] = {"noise_sd": SPREAD, "bias_drift": FINITE}

    def __post_init__(self):
        check_params("VirtualMetrology", self._parameter_constraints, vars(self))

    def predict(self, output, run, rng):
        return output + self.bias_drift * run + rng.normal(0.0, self.noise_sd)
