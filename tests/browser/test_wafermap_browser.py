"""WaferMap in a real JupyterLab + headless Chromium: render, hover, click and box
selection seen by the kernel, linked views, wafer switching speed, bad-input messages.

Screenshots of every step: tests/_artifacts/browser/<test name>/.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

import numpy as np
import pytest

from .conftest import Lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TESTS_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS_DIR))
from conftest import make_dataset

SETUP = f"""\
import sys
sys.path.insert(0, {str(TESTS_DIR)!r})
import numpy as np
from conftest import make_dataset
from fabnb.widgets import WaferMap
ds = make_dataset(n_wafers=4, n_tests=2, seed=0)
big = make_dataset(n_wafers=25, n_tests=1, seed=1, die_mm=2.28)  # 5,520 dies x 25 wafers
"""
BIG_SWITCHES = 6


def _root(lab: Lab, cell: int):
    """The WaferMap element in a cell's output, once it has drawn at least once."""
    root = lab.cell(cell).locator(".fabnb-wafermap[data-renders]")
    root.wait_for()
    root.scroll_into_view_if_needed()
    return root


def _die_xy(root, die: int) -> tuple[float, float]:
    pos = root.evaluate("(el, i) => el.fabnbDieClientXY(i)", die)
    return pos["x"], pos["y"]


def _widget_errors(page) -> list[str]:
    words = ("fabnb", "wafermap", "anywidget", "widget")
    return [e for e in page.fabnb_errors if any(w in e.lower() for w in words)]


def test_wafermap_select_hover_link_and_switch(page, jupyter_server, artifacts):
    ds = make_dataset(n_wafers=4, n_tests=2, seed=0)
    big = make_dataset(n_wafers=25, n_tests=1, seed=1, die_mm=2.28)
    write_notebook(jupyter_server.root / "wafermap_e2e.ipynb", [
        SETUP,
        'm = WaferMap(ds, test="T01", size=360)\nm',
        'print("SELECTED", m.selected)',
        'm2 = WaferMap(ds, var="hbin", size=260)\nlink = m.link_selection(m2)\nm2',
        'bm = WaferMap(big, test="T01", size=480)\nbm',
        "bm.wafer = bm.wafers[20]",
        'print("READY")',
    ])
    lab = Lab(page, jupyter_server, artifacts)
    lab.open("wafermap_e2e.ipynb")
    lab.run_all()
    root = _root(lab, 1)
    assert "READY" in lab.output_text(6)
    lab.shot("rendered")

    # hover: the tooltip names the die under the pointer
    x, y = ds["x"].values, ds["y"].values
    hovered = int(np.argmin(np.hypot(x + 40, y - 40)))
    page.mouse.move(*_die_xy(root, hovered))
    tooltip = root.locator(".fabnb-wm-tooltip")
    tooltip.wait_for(state="visible")
    tip = tooltip.inner_text()
    assert f"die {hovered}" in tip
    assert f"col {int(ds['col'][hovered])}, row {int(ds['row'][hovered])}" in tip
    expected = float(ds["value"].isel(wafer=0, die=hovered).sel(test="T01"))
    shown = float(re.search(r"T01: (\S+) V", tip).group(1))  # 4 significant digits
    assert shown == pytest.approx(expected, rel=1e-3, abs=1e-4)
    lab.shot("hover")

    # click one die -> the kernel sees it
    clicked = int(np.argmin(np.hypot(x - 40, y - 20)))
    page.mouse.click(*_die_xy(root, clicked))
    root.locator(".fabnb-wm-status", has_text=f"1 die selected: {clicked}").wait_for()
    lab.shot("clicked")
    lab.run_cell(2)
    assert f"SELECTED [{clicked}]" in lab.output_text(2)
    lab.shot("kernel-sees-click")

    # linked view: the bin map highlights the same die
    linked = _root(lab, 3)
    linked.locator(".fabnb-wm-status", has_text=f"selected: {clicked}").wait_for()
    lab.shot("linked", linked)

    # box selection from die a (upper left) to die b (lower right)
    a = int(np.argmin(np.hypot(x + 30, y - 30)))
    b = int(np.argmin(np.hypot(x - 30, y + 10)))
    root.scroll_into_view_if_needed()
    (ax_, ay_), (bx_, by_) = _die_xy(root, a), _die_xy(root, b)
    page.mouse.move(ax_ - 3, ay_ - 3)
    page.mouse.down()
    page.mouse.move((ax_ + bx_) / 2, (ay_ + by_) / 2, steps=4)
    page.mouse.move(bx_ + 3, by_ + 3, steps=4)
    lab.shot("box-dragging")
    page.mouse.up()
    inside = np.flatnonzero((x >= x[a]) & (x <= x[b]) & (y <= y[a]) & (y >= y[b])).tolist()
    assert len(inside) > 1
    root.locator(".fabnb-wm-status", has_text=f"{len(inside)} dies selected").wait_for()
    lab.run_cell(2)
    assert f"SELECTED {inside}" in lab.output_text(2)
    lab.shot("kernel-sees-box")

    # wafer switching on ~5,500 dies: picker -> kernel -> new buffers -> drawn
    bigroot = _root(lab, 4)
    assert bigroot.get_attribute("data-wafer") == str(big.wafer.values[20])  # Python-side switch
    python_switch_ms = float(bigroot.get_attribute("data-render-ms"))
    wafers = [str(w) for w in big.wafer.values]
    render_ms, switch_ms = [], []
    for wafer in wafers[1:1 + BIG_SWITCHES]:
        bigroot.locator("select.fabnb-wm-wafer").select_option(wafer)
        page.wait_for_function(
            "([el, w]) => el.dataset.wafer === w && el.dataset.switchMs !== undefined"
            " && el.querySelector('select.fabnb-wm-wafer').value === w",
            arg=[bigroot.element_handle(), wafer])
        render_ms.append(float(bigroot.get_attribute("data-render-ms")))
        switch_ms.append(float(bigroot.get_attribute("data-switch-ms")))
        bigroot.evaluate("el => { delete el.dataset.switchMs; }")
    lab.shot("big-switched", bigroot)
    n_die = big.sizes["die"]
    timings = {
        "n_die": n_die, "n_wafer": big.sizes["wafer"],
        "render_ms": render_ms, "render_ms_median": statistics.median(render_ms),
        "switch_roundtrip_ms": switch_ms, "switch_ms_median": statistics.median(switch_ms),
        "python_side_switch_render_ms": python_switch_ms,
    }
    (artifacts / "timings.json").write_text(json.dumps(timings, indent=2))
    print(f"\nWaferMap {n_die} dies: re-render ms {render_ms} (median "
          f"{timings['render_ms_median']:.1f}); picker->kernel->drawn ms {switch_ms} "
          f"(median {timings['switch_ms_median']:.1f})")
    assert _widget_errors(page) == []


def test_wafermap_bad_input_messages(page, jupyter_server, artifacts):
    write_notebook(jupyter_server.root / "wafermap_bad.ipynb", [
        SETUP,
        'WaferMap(ds, test="NOPE")',
        'WaferMap(ds.drop_vars(["x", "y"]))',
        'holes = ds.copy(deep=True)\nholes["value"][1] = np.nan\nWaferMap(holes, wafer=1)',
        "WaferMap(ds)",
    ])
    lab = Lab(page, jupyter_server, artifacts)
    lab.open("wafermap_bad.ipynb")
    lab.run_all()
    expected = {
        1: "Test 'NOPE' is not in the dataset",
        2: "no die coordinate(s) 'x', 'y'",
        3: "has no measured 'T01' values (all NaN)",
    }
    for cell, text in expected.items():
        root = _root(lab, cell)
        message = root.locator(".fabnb-wm-message")
        message.wait_for(state="visible")
        assert text in message.inner_text()
        lab.shot(f"bad-input-cell{cell}", root)
    # no die coordinates: the message takes the map's place (not a blank canvas)
    nodata = _root(lab, 2)
    assert nodata.locator("canvas.fabnb-wm-canvas").is_hidden()
    assert nodata.locator(".fabnb-wm-message").bounding_box()["height"] > 20
    # an empty selection says what to do, and no message is raised
    ok = _root(lab, 4)
    assert ok.locator(".fabnb-wm-message").is_hidden()
    assert "No dies selected" in ok.locator(".fabnb-wm-status").inner_text()
    lab.shot("empty-selection", ok)
    assert _widget_errors(page) == []
