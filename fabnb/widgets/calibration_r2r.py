"""``R2RTuning``: tune a run-to-run controller on a simulated process.

Sliders set λ (EWMA), λ₁ and λ₂ (double EWMA) or the PID gains; every change runs
:func:`fabnb.control.simulate` on the same disturbance (fixed ``seed``) and draws the
output and recipe (:func:`fabnb.plot.control.r2r_run_chart`) next to the EWMA MSE-vs-λ
curve of :func:`fabnb.control.mse_vs_lambda` with the current λ marked.  The readout
gives the MSE about target, ``λξ`` against the stability bound ``0 < λξ < 2`` and the
predicted drift offset ``δ/(λξ)`` (:func:`fabnb.control.ewma_drift_offset`).

Example
-------
>>> from fabnb.widgets import R2RTuning
>>> panel = R2RTuning(n_runs=60)
>>> panel.lam_slider.value = 0.5
>>> panel.result.attrs["controller"]
'EWMAController'
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from fabnb import control
from fabnb._params import Integral, Interval, Real, StrOptions, check_params
from fabnb.errors import FabDataError

from .calibration import CalibrationPanel, within

CONTROLLERS = ("ewma", "double-ewma", "pid")
#: slider ranges: an EWMA weight in [0.01, 1], PID gains in [0, 2] (kd in [0, 1])
LAM_RANGE, GAIN_RANGE, KD_RANGE = (0.01, 1.0), (0.0, 2.0), (0.0, 1.0)
#: the λ grid of the MSE-vs-λ curve (computed once per panel: it does not depend on λ)
LAMBDA_GRID = np.round(np.linspace(0.05, 1.0, 20), 2)


def default_process() -> control.LinearProcess:
    """A drifting, noisy process on which the controllers differ visibly."""
    return control.LinearProcess(gain=1.0, intercept=2.0, noise_sd=0.05, ima_theta=0.6,
                                 ima_sd=0.05, drift=0.01)


def _slider(value, lo, hi, step, name):
    return W.FloatSlider(value=value, min=lo, max=hi, step=step, description=name,
                         continuous_update=False, readout_format=".3g")


class R2RTuning(CalibrationPanel):
    """Interactive tuning of an R2R controller on a :class:`fabnb.control.LinearProcess`.

    Parameters
    ----------
    process : LinearProcess, optional
        The plant (default :func:`default_process`: drift + IMA(1,1) + noise).
    controller : {"ewma", "double-ewma", "pid"}
    lam, lam2 : float
        Initial EWMA weights (λ, or λ₁ and λ₂ for the double EWMA).
    kp, ki, kd : float
        Initial PID gains.
    target : float
    model_gain : float, optional
        The controller's model gain ``b`` (default: the true gain, ξ = 1).
    n_runs, seed, metrology_every, metrology_delay
        Passed to :func:`fabnb.control.simulate`.

    ``result`` is the simulation Dataset (``result.attrs["mse"]`` the MSE).
    """

    figsize = (11.0, 4.2)
    _parameter_constraints = {
        "controller": [StrOptions(set(CONTROLLERS))],
        "lam": within(*LAM_RANGE), "lam2": within(*LAM_RANGE),
        "kp": within(*GAIN_RANGE), "ki": within(*GAIN_RANGE), "kd": within(*KD_RANGE),
        "target": [Interval(Real, -np.inf, np.inf, closed="neither")],
        # ξ = gain / model gain: any finite gain but 0
        "model_gain": [Interval(Real, -np.inf, 0, closed="neither"),
                       Interval(Real, 0, np.inf, closed="neither"), None],
        "n_runs": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, process=None, controller="ewma", lam=0.3, lam2=0.1, kp=0.1, ki=0.3, kd=0.0,
                 target=0.0, model_gain=None, n_runs=200, seed=0, metrology_every=1,
                 metrology_delay=0):
        check_params("R2RTuning", self._parameter_constraints, {
            "controller": controller, "lam": lam, "lam2": lam2, "kp": kp, "ki": ki, "kd": kd,
            "target": target, "model_gain": model_gain, "n_runs": n_runs})
        self.process = default_process() if process is None else process
        self.target, self.n_runs, self.seed = float(target), int(n_runs), seed
        self.metrology = {"metrology_every": metrology_every, "metrology_delay": metrology_delay}
        self.model_gain = model_gain
        self._mse_curve = None
        self.controller_pick = W.Dropdown(options=CONTROLLERS, description="controller",
                                          value=controller)
        self.lam_slider = _slider(lam, *LAM_RANGE, 0.01, "λ / λ₁")
        self.lam2_slider = _slider(lam2, *LAM_RANGE, 0.01, "λ₂")
        self.kp_slider = _slider(kp, *GAIN_RANGE, 0.01, "kp")
        self.ki_slider = _slider(ki, *GAIN_RANGE, 0.01, "ki")
        self.kd_slider = _slider(kd, *KD_RANGE, 0.01, "kd")
        self._layout([W.HBox([self.controller_pick]),
                      W.HBox([self.lam_slider, self.lam2_slider]),
                      W.HBox([self.kp_slider, self.ki_slider, self.kd_slider])])
        self._watch(self.controller_pick, self.lam_slider, self.lam2_slider, self.kp_slider,
                    self.ki_slider, self.kd_slider)
        self.controller_pick.observe(lambda _c: self._show_relevant(), "value")
        self._show_relevant()
        self._start()

    # ------------------------------------------------------------------ model
    def _gain(self):
        if not isinstance(self.process, control.LinearProcess):
            raise FabDataError(f"process must be a fabnb.control.LinearProcess, got "
                               f"{type(self.process).__name__}")
        return self.process.gain if self.model_gain is None else self.model_gain

    def make_controller(self):
        """The controller the sliders describe (what ``refresh`` simulates)."""
        kind, b = self.controller_pick.value, self._gain()
        if kind == "ewma":
            return control.EWMAController(b, self.target, lam=self.lam_slider.value)
        if kind == "double-ewma":
            return control.DoubleEWMAController(b, self.target, lam1=self.lam_slider.value,
                                                lam2=self.lam2_slider.value)
        return control.PIDController(self.kp_slider.value, self.ki_slider.value,
                                     self.kd_slider.value, self.target)

    def _compute(self):
        return control.simulate(self.process, self.make_controller(), self.n_runs, seed=self.seed,
                                **self.metrology)

    def mse_curve(self):
        """EWMA MSE against λ on this process (:func:`fabnb.control.mse_vs_lambda`,
        this panel's seed), computed once."""
        if self._mse_curve is None:
            self._mse_curve = control.mse_vs_lambda(self.process, LAMBDA_GRID, n_runs=self.n_runs,
                                                    seeds=[self.seed], model_gain=self._gain(),
                                                    target=self.target)
        return self._mse_curve

    @property
    def xi(self) -> float:
        """Gain ratio ξ = true gain / model gain."""
        return self.process.gain / self._gain()

    # ------------------------------------------------------------------ view
    def _show_relevant(self):
        kind = self.controller_pick.value
        visible = {"ewma": {self.lam_slider}, "double-ewma": {self.lam_slider, self.lam2_slider},
                   "pid": {self.kp_slider, self.ki_slider, self.kd_slider}}[kind]
        for s in (self.lam_slider, self.lam2_slider, self.kp_slider, self.ki_slider, self.kd_slider):
            s.layout.display = None if s in visible else "none"

    def _draw(self, fig):
        from fabnb.plot.control import mse_vs_lambda_plot, r2r_run_chart

        grid = fig.add_gridspec(2, 3)
        ax_out = fig.add_subplot(grid[0, :2])
        ax_rec = fig.add_subplot(grid[1, :2], sharex=ax_out)
        r2r_run_chart({self.controller_pick.value: self.result}, target=self.target,
                      axes=(ax_out, ax_rec))
        ax_mse = fig.add_subplot(grid[:, 2])
        mse_vs_lambda_plot(self.mse_curve(), ax=ax_mse)
        if self.controller_pick.value == "ewma":
            ax_mse.plot([self.lam_slider.value], [self.result.attrs["mse"]], "*", ms=14,
                        color="C3", label="current λ")
            ax_mse.legend(fontsize=8)
        ax_mse.set_title("EWMA on this process", fontsize=9)

    def _readout(self):
        sim, kind = self.result, self.controller_pick.value
        parts = [f"MSE about target <b class='fabnb-mse'>{sim.attrs['mse']:.4g}</b>"]
        if kind != "pid":
            lam_xi = self.lam_slider.value * self.xi
            stable = "stable" if 0 < lam_xi < 2 else "<b style='color:firebrick'>UNSTABLE</b>"
            parts.append(f"λξ = {lam_xi:.3g} ({stable}: needs 0 &lt; λξ &lt; 2)")
        if kind == "ewma" and self.process.drift and 0 < lam_xi < 2:  # no offset: the loop diverges
            offset = control.ewma_drift_offset(self.process.drift, self.lam_slider.value, self.xi)
            parts.append(f"predicted drift offset δ/(λξ) = {offset:.3g}")
        return " · ".join(parts)
