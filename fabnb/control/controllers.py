"""Run-to-run controllers: EWMA, double EWMA (predictor-corrector) and PID.

All share one interface, as in a fab's R2R service between two wafers::

    recipe = controller.recommend()          # the recipe for the next wafer
    controller.update(measurement, recipe)   # the metrology of a wafer run with `recipe`

The process model is linear, ``y = a + B u`` with ``B`` the *model* gain (a scalar or an
``(n_out, n_in)`` matrix). The controllers estimate the intercept ``a`` (and, for the
double EWMA, a drift rate ``p``) and choose the recipe that puts the prediction on
target: ``u = B⁺ (T − a − p)`` (minimum-norm least squares when ``B`` is not square).

EWMA (Sachs, Hu & Ingolfsson)::

    a_t = λ (y_t − B u_t) + (1 − λ) a_{t−1}

With the true gain ``β = ξ B`` the closed loop is stable iff ``0 < λ ξ < 2``; under a
linear drift ``δ`` per run the output settles at ``T + δ / (λ ξ)`` (see
:func:`fabnb.control.tuning.ewma_drift_offset`).

Double EWMA in two forms (``DoubleEWMAController(form=...)``), both with
``u_{t+1} = B⁺ (T − a_t − p_t)``:

* ``form="butler_stefani"`` — the predictor-corrector controller as Butler & Stefani
  (1994, "Supervisory run-to-run control of polysilicon gate etch using in situ
  ellipsometry", IEEE Trans. Semicond. Manuf. 7(2), 193–201) wrote it and the R2R
  literature analyses it (Del Castillo 1999, "Long run and transient analysis of a double
  EWMA feedback controller", IIE Trans. 31, 1157–1169; Del Castillo 2002, *Statistical
  Process Adjustment for Quality Control*, Wiley)::

      a_t = λ₁ (y_t − B u_t) + (1 − λ₁) a_{t−1}
      p_t = λ₂ (y_t − B u_t − a_{t−1}) + (1 − λ₂) p_{t−1}

  two EWMAs of the observed intercept: of its level, and of its excess over the
  previous level estimate (the drift).
* ``form="holt"`` (the default) — the explicit level-and-drift form of Holt's linear
  exponential smoothing::

      a_t = λ₁ (y_t − B u_t) + (1 − λ₁) (a_{t−1} + p_{t−1})
      p_t = λ₂ (a_t − a_{t−1}) + (1 − λ₂) p_{t−1}

Both remove the drift offset: under ``c_t = c₀ + δ t`` the output converges to ``T``
(for gain ratio ξ inside the stability region); the drift filter settles at ``δ/ξ``
(Holt) or ``δ/(ξ λ₁)`` (Butler–Stefani); see :mod:`fabnb.control.tuning` for the
closed-loop polynomials, stability regions and these limits.

Example
-------
>>> from fabnb.control import EWMAController
>>> c = EWMAController(gain=2.0, target=10.0, lam=0.3)
>>> u = c.recommend()
>>> c.update(measurement=11.0, recipe=u)
>>> float(round(c.intercept_[0], 3))
0.3
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from .._params import Interval, StrOptions, check_params
from ..errors import FabDataError, FabParameterError

#: an EWMA weight of the newest observation
LAMBDA = [Interval(Real, 0, 1, closed="right")]
#: a finite number
FINITE = [Interval(Real, None, None, closed="neither")]
#: the two double-EWMA forms (see the module docstring)
FORMS = ("holt", "butler_stefani")
#: a number or one per output (the values are checked by ``_per_output``)
PER_OUTPUT = ["array-like", Real]


def _as_gain(owner: str, gain) -> np.ndarray:
    b = np.atleast_2d(np.asarray(gain, dtype=float))
    if b.ndim != 2 or not np.isfinite(b).all() or np.linalg.matrix_rank(b) < min(b.shape):
        raise FabParameterError(f"The 'gain' parameter of {owner} must be a finite, non-zero number or a "
                                f"full-rank (n_out, n_in) matrix; a zero or singular gain means the recipe "
                                f"cannot move the output. Got {gain!r} instead.")
    return b


def _per_output(owner: str, name: str, value, n_out: int) -> np.ndarray:
    """``value`` (one number, or one per output) as a finite array of length ``n_out``."""
    try:
        v = np.asarray(value, dtype=float)
        ok = v.ndim <= 1 and v.size in (1, n_out) and bool(np.isfinite(v).all())
    except (TypeError, ValueError):  # not numbers at all
        ok = False
    if not ok:
        raise FabParameterError(f"The {name!r} parameter of {owner} must be a finite number or {n_out} of "
                                f"them (one per output). Got {value!r} instead.")
    return np.broadcast_to(v, (n_out,)).copy()


class _R2RController:
    """Shared bookkeeping: gain, target, the recipe solve and skipped updates.

    Controllers are online objects with no ``fit``: each declares its parameter rules
    in ``_parameter_constraints`` and checks them when it is built.
    """

    _parameter_constraints = {"target": PER_OUTPUT, "feedforward": [None, *FINITE]}

    def __init__(self, gain, target, feedforward=None, **params):
        owner = type(self).__name__
        check_params(owner, self._parameter_constraints, {"target": target, "feedforward": feedforward, **params})
        self.gain = gain
        self.target = target
        self.feedforward = feedforward
        self._B = _as_gain(owner, gain)
        self._target = _per_output(owner, "target", target, self._B.shape[0])
        self._pinv = np.linalg.pinv(self._B)
        self.n_skipped_ = 0
        self.n_updates_ = 0

    def _solve(self, offset: np.ndarray, vm_prediction=None) -> np.ndarray:
        """Recipe putting the model's prediction on target, with optional feed-forward of
        a virtual-metrology prediction of the incoming wafer's deviation."""
        goal = self._target - offset
        if vm_prediction is not None and self.feedforward:
            goal = goal - self.feedforward * np.atleast_1d(np.asarray(vm_prediction, dtype=float))
        return self._pinv @ goal

    def _residual(self, measurement, recipe, vm_prediction=None):
        """Observed intercept ``y − B u`` (less the fed-forward part the VM explained);
        None (and counted) when the measurement is NaN."""
        y = np.atleast_1d(np.asarray(measurement, dtype=float))
        u = np.atleast_1d(np.asarray(recipe, dtype=float))
        if y.shape != self._target.shape or u.shape != (self._B.shape[1],):
            raise FabDataError(
                f"measurement shape {y.shape} / recipe shape {u.shape} do not match the gain "
                f"matrix {self._B.shape}"
            )
        if not np.isfinite(y).all():
            self.n_skipped_ += 1
            return None
        self.n_updates_ += 1
        z = y - self._B @ u
        if vm_prediction is not None and self.feedforward:
            z = z - self.feedforward * np.atleast_1d(np.asarray(vm_prediction, dtype=float))
        return z

    @staticmethod
    def _out(u: np.ndarray):
        return float(u[0]) if u.size == 1 else u


class EWMAController(_R2RController):
    """EWMA run-to-run controller (the industry standard).

    Parameters
    ----------
    gain : float or (n_out, n_in) array
        Model gain ``B``.
    target : float or array
        Output target ``T``.
    lam : float in (0, 1]
        EWMA weight of the newest observation.
    intercept : float or array, optional
        Initial intercept estimate ``a_0`` (default 0).
    feedforward : float, optional
        Weight of a virtual-metrology prediction passed to :meth:`recommend`.
    """

    _parameter_constraints = {**_R2RController._parameter_constraints, "lam": LAMBDA, "intercept": PER_OUTPUT}

    def __init__(self, gain, target, lam=0.3, intercept=0.0, feedforward=None):
        super().__init__(gain, target, feedforward, lam=lam, intercept=intercept)
        self.lam = float(lam)
        self.intercept = intercept
        self.intercept_ = _per_output(type(self).__name__, "intercept", intercept, self._target.size)

    def recommend(self, vm_prediction=None):
        """Recipe for the next wafer."""
        return self._out(self._solve(self.intercept_, vm_prediction))

    def update(self, measurement, recipe, vm_prediction=None):
        """Fold in the measurement of a wafer run with ``recipe`` (NaN: skipped, counted);
        pass the same ``vm_prediction`` that went to :meth:`recommend` for that wafer."""
        z = self._residual(measurement, recipe, vm_prediction)
        if z is not None:
            self.intercept_ = self.lam * z + (1 - self.lam) * self.intercept_

    def state(self) -> dict:
        return {"intercept": self.intercept_.copy()}


class DoubleEWMAController(_R2RController):
    """Double-EWMA (predictor-corrector) controller with a drift-rate filter.

    ``lam1`` weights the intercept filter, ``lam2`` the drift filter; ``form`` picks the
    recursions, Holt's (``"holt"``) or Butler & Stefani's (``"butler_stefani"``), see the
    module docstring.

    Example
    -------
    >>> c = DoubleEWMAController(gain=1.0, target=0.0, lam1=0.5, lam2=0.5, form="butler_stefani")
    >>> c.update(measurement=1.0, recipe=0.0)  # a_1 = 0.5·1, p_1 = 0.5·(1 − 0)
    >>> float(c.intercept_[0]), float(c.drift_[0]), c.recommend()
    (0.5, 0.5, -1.0)
    """

    _parameter_constraints = {**_R2RController._parameter_constraints, "lam1": LAMBDA, "lam2": LAMBDA,
                              "intercept": PER_OUTPUT, "drift": PER_OUTPUT, "form": [StrOptions(set(FORMS))]}

    def __init__(self, gain, target, lam1=0.3, lam2=0.1, intercept=0.0, drift=0.0, feedforward=None,
                 form="holt"):
        super().__init__(gain, target, feedforward, lam1=lam1, lam2=lam2, intercept=intercept, drift=drift,
                         form=form)
        self.lam1 = float(lam1)
        self.lam2 = float(lam2)
        self.intercept = intercept
        self.drift = drift
        self.form = form
        self.intercept_ = _per_output(type(self).__name__, "intercept", intercept, self._target.size)
        self.drift_ = _per_output(type(self).__name__, "drift", drift, self._target.size)

    def recommend(self, vm_prediction=None):
        return self._out(self._solve(self.intercept_ + self.drift_, vm_prediction))

    def update(self, measurement, recipe, vm_prediction=None):
        z = self._residual(measurement, recipe, vm_prediction)
        if z is not None:
            previous = self.intercept_
            if self.form == "butler_stefani":
                self.intercept_ = self.lam1 * z + (1 - self.lam1) * previous
                self.drift_ = self.lam2 * (z - previous) + (1 - self.lam2) * self.drift_
            else:
                self.intercept_ = self.lam1 * z + (1 - self.lam1) * (previous + self.drift_)
                self.drift_ = self.lam2 * (self.intercept_ - previous) + (1 - self.lam2) * self.drift_

    def state(self) -> dict:
        return {"intercept": self.intercept_.copy(), "drift": self.drift_.copy()}


class PIDController:
    """Discrete PID on the recipe with integral anti-windup and output saturation.

    ``e_t = T − y_t``; ``I_t = clip(I_{t−1} + e_t, integral_limits)`` — and not
    integrated at all while the output is saturated in the direction ``e`` pushes
    (conditional integration); ``u_{t+1} = clip(u₀ + kp e_t + ki I_t + kd (e_t − e_{t−1}),
    limits)``. An optional feed-forward term subtracts ``feedforward × vm_prediction``.

    Example
    -------
    >>> c = PIDController(kp=0.2, ki=0.1, kd=0.0, target=1.0, limits=(-1, 1))
    >>> c.update(measurement=0.0, recipe=c.recommend())
    >>> round(c.recommend(), 6)
    0.3
    """

    _parameter_constraints = {
        "kp": FINITE, "ki": FINITE, "kd": FINITE, "target": FINITE, "recipe0": FINITE,
        "limits": ["array-like"], "integral_limits": [None, "array-like"], "feedforward": [None, *FINITE],
    }

    def __init__(self, kp, ki, kd, target, limits=(-np.inf, np.inf), recipe0=0.0,
                 integral_limits=None, feedforward=None):
        check_params("PIDController", self._parameter_constraints, locals())
        for name, bounds in (("limits", limits), ("integral_limits", integral_limits)):
            if bounds is not None and not (len(bounds) == 2 and all(isinstance(b, Real) for b in bounds)
                                           and bounds[0] <= bounds[1]):
                raise FabParameterError(f"The {name!r} parameter of PIDController must be a pair "
                                        f"(low, high) with low <= high. Got {bounds!r} instead.")
        lo, hi = limits
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.target = float(target)
        self.limits = (float(lo), float(hi))
        self.recipe0 = float(recipe0)
        self.integral_limits = integral_limits
        self.feedforward = feedforward
        self.integral_ = 0.0
        self.error_ = None
        self.previous_error_ = None
        self.n_skipped_ = 0
        self.n_updates_ = 0
        self.saturated_ = False

    def _raw(self, error, integral, previous):
        d = 0.0 if error is None or previous is None else error - previous
        p = 0.0 if error is None else error
        return self.recipe0 + self.kp * p + self.ki * integral + self.kd * d

    def recommend(self, vm_prediction=None):
        """Recipe for the next wafer, saturated to ``limits``."""
        u = self._raw(self.error_, self.integral_, self.previous_error_)
        if vm_prediction is not None and self.feedforward:
            u -= self.feedforward * float(vm_prediction)
        clipped = float(np.clip(u, *self.limits))
        self.saturated_ = clipped != u
        return clipped

    def update(self, measurement, recipe, vm_prediction=None):
        """Fold in a measurement (NaN: skipped, counted); conditional integration. The
        error is the output's, so a fed-forward ``vm_prediction`` needs no correction."""
        y = float(measurement)
        if not np.isfinite(y):
            self.n_skipped_ += 1
            return
        self.n_updates_ += 1
        e = self.target - y
        candidate = self.integral_ + e
        u_try = self._raw(e, candidate, self.error_)
        winding_up = (u_try > self.limits[1] and e * self.ki > 0) or (
            u_try < self.limits[0] and e * self.ki < 0
        )
        if not winding_up:
            self.integral_ = candidate
        if self.integral_limits is not None:
            self.integral_ = float(np.clip(self.integral_, *self.integral_limits))
        self.previous_error_, self.error_ = self.error_, e

    def state(self) -> dict:
        return {"integral": self.integral_, "error": self.error_}
