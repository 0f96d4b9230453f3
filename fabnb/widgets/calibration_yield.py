"""``YieldCalibration``: KDE bandwidth and adaptivity α against the yield they imply.

Every change of the kernel, bandwidth ``h``, adaptive switch or sensitivity α runs
:func:`fabnb.density.estimate_yield` (method ``"kde"``, those KDE options, fixed seed)
on the measured values and draws the density over the measurement histogram and the
empirical CDF (:func:`fabnb.plot.density.pdf_cdf_plot`) next to the synthetic
population drawn from it.  The readout gives the KDE yield with its bootstrap interval
and the empirical yield of the measured dies.

The bandwidth slider is in data units, from 0.1× to 3× the Silverman rule
(:func:`fabnb.density.rule_bandwidth`), starting at the rule; a ``bandwidth`` given
outside that range widens it (a slider would clamp it silently).

Example
-------
>>> import numpy as np
>>> from fabnb.widgets import YieldCalibration
>>> x = np.random.default_rng(0).normal(10.0, 1.0, 300)
>>> panel = YieldCalibration(x, 8.0, 12.0, n_synthetic=20_000, n_bootstrap=0)
>>> bool(0.9 < panel.result.estimate < 0.99)
True
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from fabnb import density
from fabnb._params import Interval, Real, StrOptions, check_params
from fabnb.errors import FabDataError

from .calibration import CalibrationPanel, within

KERNELS = ("epanechnikov", "gaussian")


class YieldCalibration(CalibrationPanel):
    """KDE yield calibration for one test's measured values.

    Parameters
    ----------
    values : array-like (n,)
        Measured dies of one test (NaN = not measured, left out).
    lsl, usl : float
        Spec limits (NaN = no limit).
    kernel : {"epanechnikov", "gaussian"}
    bandwidth : float, optional
        Initial ``h`` in data units (default: the Silverman rule).
    adaptive : bool;  alpha : float in [0, 1]
    n_synthetic, n_bootstrap, confidence, seed
        Passed to :func:`fabnb.density.estimate_yield`.

    ``result`` is the :class:`fabnb.density.YieldEstimate` (with ``.synthetic``).
    """

    figsize = (13.0, 3.6)
    _parameter_constraints = {
        "kernel": [StrOptions(set(KERNELS))],
        "bandwidth": [Interval(Real, 0, np.inf, closed="neither"), None],
        "adaptive": ["boolean"],
        "alpha": within(0.0, 1.0),
    }

    def __init__(self, values, lsl, usl, kernel="epanechnikov", bandwidth=None, adaptive=True,
                 alpha=0.5, n_synthetic=100_000, n_bootstrap=30, confidence=0.95, seed=0):
        check_params("YieldCalibration", self._parameter_constraints,
                     {"kernel": kernel, "bandwidth": bandwidth, "adaptive": adaptive, "alpha": alpha})
        self.lsl, self.usl = lsl, usl
        self.options = {"n_synthetic": n_synthetic, "n_bootstrap": n_bootstrap,
                        "confidence": confidence, "seed": seed}
        try:
            self.values = self._measured(values)
            rule = float(density.rule_bandwidth(self.values[:, None], "scipy_silverman")[0])
            if not rule > 0:
                raise FabDataError(f"all {self.values.size} values are equal ({self.values[0]:g}): "
                                   "no spread to estimate a density from")
            problem = None
        except ValueError as err:
            rule, problem = 1.0, str(err)
        self.kernel_pick = W.Dropdown(options=KERNELS, description="kernel", value=kernel)
        h = rule if bandwidth is None else float(bandwidth)
        # log slider over [0.1, 3] x the rule, widened to hold the bandwidth asked for
        lo, hi = np.log10(min(0.1 * rule, h)), np.log10(max(3 * rule, h))
        self.bandwidth_slider = W.FloatLogSlider(
            value=h, base=10, min=lo, max=hi,
            step=(hi - lo) / 100, description="bandwidth h", continuous_update=False,
            readout_format=".3g")
        self.adaptive_box = W.Checkbox(value=bool(adaptive), description="adaptive")
        self.alpha_slider = W.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05,
                                          description="α", continuous_update=False)
        self._layout([W.HBox([self.kernel_pick, self.bandwidth_slider]),
                      W.HBox([self.adaptive_box, self.alpha_slider])])
        if problem:
            self._fail(problem)
            return
        self._watch(self.kernel_pick, self.bandwidth_slider, self.adaptive_box, self.alpha_slider)
        self.adaptive_box.observe(lambda _c: self._show_alpha(), "value")
        self._show_alpha()
        self._start()

    @staticmethod
    def _measured(values) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        if x.ndim != 1:
            raise FabDataError(f"YieldCalibration needs the values of one test (1-D), got shape {x.shape}")
        x = x[np.isfinite(x)]
        if x.size < 2:
            raise FabDataError(f"YieldCalibration needs at least 2 measured values, got {x.size}")
        return x

    def kde_options(self) -> dict:
        """The KDE parameters the controls describe (``kde_options`` of estimate_yield)."""
        return {"kernel": self.kernel_pick.value, "bandwidth": float(self.bandwidth_slider.value),
                "adaptive": bool(self.adaptive_box.value), "alpha": float(self.alpha_slider.value)}

    def _compute(self):
        return density.estimate_yield(self.values, self.lsl, self.usl, method="kde",
                                      kde_options=self.kde_options(), keep_synthetic=True,
                                      progress=False, **self.options)

    def empirical_yield(self) -> float:
        """Share of the measured dies inside the limits (method ``"empirical"``)."""
        return density.estimate_yield(self.values, self.lsl, self.usl, method="empirical",
                                      n_bootstrap=0, progress=False).estimate

    def _show_alpha(self):
        self.alpha_slider.layout.display = None if self.adaptive_box.value else "none"

    def _draw(self, fig):
        from fabnb.plot.density import pdf_cdf_plot

        est = self.result
        ax_pdf, ax_cdf, ax_syn = fig.subplots(1, 3)
        pdf_cdf_plot(self.values, {"KDE": est.model}, lsl=self.lsl, usl=self.usl, axes=(ax_pdf, ax_cdf))
        ax_pdf.legend(fontsize=8)
        for ax in (ax_pdf, ax_cdf):  # the plot helper calls the data "actual (HVM)"
            ax.get_legend().get_texts()[0].set_text("measured")
        ax_syn.hist(est.synthetic, bins=80, range=ax_pdf.get_xlim(), color="C0", alpha=0.7)
        for limit in (self.lsl, self.usl):
            if limit is not None and np.isfinite(limit):
                ax_syn.axvline(limit, color="k", ls="--", lw=0.8)
        ax_syn.set_title(f"{est.n_synthetic:,} synthetic dies", fontsize=9)
        ax_syn.set_xlabel("value")

    def _readout(self):
        est = self.result
        ci = ("" if not np.isfinite(est.ci_low) else
              f" ({100 * est.confidence:.0f} % CI {100 * est.ci_low:.2f}–{100 * est.ci_high:.2f} %)")
        return (f"KDE yield <b class='fabnb-yield'>{100 * est.estimate:.2f} %</b>{ci} · "
                f"empirical {100 * self.empirical_yield():.2f} % of {est.n_dies} dies · "
                f"h = {self.bandwidth_slider.value:.3g}")
