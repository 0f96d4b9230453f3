"""Calibration panels in a real JupyterLab + headless Chromium: dragging a slider with the
mouse reaches the kernel, which recomputes through the public API (the kernel's result
equals a direct call with the slider's new value) and the readout in the page follows;
a panel given bad input shows its message in place; no error in the browser console.

Screenshots of every step: tests/_artifacts/browser/<test name>/.
"""

from __future__ import annotations

import json

import pytest

from .harness import Lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

SETUP = """\
import json
import numpy as np
from fabnb import control, density
from fabnb.widgets import R2RTuning, YieldCalibration
dies = np.random.default_rng(0).normal(10.0, 1.0, 400)
"""
R2R = "r2r = R2RTuning(n_runs=80, lam=0.3, seed=1)\nr2r"
R2R_STATE = """\
lam = r2r.lam_slider.value
direct = control.simulate(r2r.process, control.EWMAController(r2r.process.gain, 0.0, lam=lam), 80, seed=1)
print("STATE", json.dumps({"lam": lam, "mse": r2r.result.attrs["mse"], "direct": direct.attrs["mse"]}))
"""
YIELD = "yc = YieldCalibration(dies, 8.0, 12.5, n_synthetic=20_000, n_bootstrap=0)\nyc"
YIELD_STATE = """\
h = yc.bandwidth_slider.value
direct = density.estimate_yield(dies, 8.0, 12.5, method="kde", n_synthetic=20_000, n_bootstrap=0,
                                kde_options=yc.kde_options(), seed=0, progress=False)
print("STATE", json.dumps({"h": h, "bandwidth": float(yc.result.model.bandwidth_[0]),
                           "estimate": yc.result.estimate, "direct": direct.estimate}))
"""
BAD = "YieldCalibration([np.nan, 1.0], 8.0, 12.5)"
CELLS = [SETUP, R2R, R2R_STATE, YIELD, YIELD_STATE, BAD]


def _state(lab: Lab, cell: int) -> dict:
    lab.run_cell(cell)
    text = lab.output_text(cell)
    return json.loads(text.split("STATE", 1)[1])


def _slider(panel, label: str):
    """The ipywidgets slider whose description is ``label``."""
    return panel.locator(".widget-slider").filter(
        has=panel.page.locator(".widget-label", has_text=label)).first


def _drag_slider(page, slider, fraction: float) -> None:
    """Press on the slider's handle and drag it to ``fraction`` of the track's length."""
    handle = slider.locator(".noUi-handle").first
    track = slider.locator(".noUi-base").first.bounding_box()
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    target = track["x"] + fraction * track["width"]
    page.mouse.move(target, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()


def _readout(slider) -> float:
    return float(slider.locator(".widget-readout").inner_text())


def _img_src(panel) -> str:
    return panel.locator(".jp-OutputArea-output img").first.get_attribute("src")


def test_calibration_sliders_drive_the_kernel(page, jupyter_server, artifacts):
    write_notebook(jupyter_server.root / "calibration_e2e.ipynb", CELLS)
    lab = Lab(page, jupyter_server, artifacts)
    lab.open("calibration_e2e.ipynb")
    lab.run_all()

    # run-to-run: drag λ from 0.3 to ~0.75 -> the kernel simulates with the new λ
    r2r = lab.cell(1).locator(".fabnb-calibration")
    r2r.scroll_into_view_if_needed()
    lam = _slider(r2r, "λ / λ₁")
    before = _state(lab, 2)
    assert before["lam"] == pytest.approx(0.3) and before["mse"] == before["direct"]
    old_plot = _img_src(r2r)
    lab.shot("r2r-start", r2r)
    _drag_slider(page, lam, 0.75)
    page.wait_for_function("([el, v]) => +el.querySelector('.widget-readout').textContent !== v",
                           arg=[lam.element_handle(), 0.3])
    shown = _readout(lam)
    assert 0.6 < shown < 0.9
    after = _state(lab, 2)
    assert after["lam"] == pytest.approx(shown, abs=5e-3)  # readout has 3 significant digits
    assert after["mse"] == after["direct"] and after["mse"] != before["mse"]
    r2r.locator(".fabnb-mse", has_text=f"{after['mse']:.4g}").wait_for()
    assert _img_src(r2r) != old_plot  # the plot was redrawn
    lab.shot("r2r-dragged", r2r)

    # yield: drag the bandwidth to the wide end -> new KDE, new yield in the readout
    yc = lab.cell(3).locator(".fabnb-calibration")
    yc.scroll_into_view_if_needed()
    bandwidth = _slider(yc, "bandwidth h")
    before = _state(lab, 4)
    assert before["estimate"] == before["direct"]
    lab.shot("yield-start", yc)
    old_readout = _readout(bandwidth)
    _drag_slider(page, bandwidth, 0.95)
    page.wait_for_function("([el, v]) => +el.querySelector('.widget-readout').textContent !== v",
                           arg=[bandwidth.element_handle(), old_readout])
    after = _state(lab, 4)
    assert after["h"] > 2 * before["h"]
    assert after["h"] == pytest.approx(_readout(bandwidth), rel=5e-3)
    assert after["bandwidth"] == pytest.approx(after["h"])  # the fitted KDE uses it
    assert after["estimate"] == after["direct"] and after["estimate"] != before["estimate"]
    yc.locator(".fabnb-yield", has_text=f"{100 * after['estimate']:.2f} %").wait_for()
    lab.shot("yield-dragged", yc)

    # bad input: the message in place of the plot
    bad = lab.cell(5).locator(".fabnb-calibration")
    bad.scroll_into_view_if_needed()
    message = bad.locator(".fabnb-error")
    message.wait_for()
    assert "at least 2 measured values" in message.inner_text()
    assert bad.locator(".jp-OutputArea-output img").count() == 0
    lab.shot("yield-bad-input", bad)
    assert page.fabnb_errors == []
