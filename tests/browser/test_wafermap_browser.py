"""WaferMap in a real JupyterLab + headless Chromium: render, hover, click, box and lasso
selection seen by the kernel, linked views, wafer switching speed, bad-input messages,
a die outside the wafer on the canvas, the real STDF folder (bin colours against
``fabnb.plot.bin_palette``, test picked by number, die-pitch units), the outlier screen
as a layer (rule colours, legend counts, tooltip reasons, header yields), test hooks
only behind the debug flag, and no error in the browser console.

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
from matplotlib.path import Path as PolygonPath

from .harness import Lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

TESTS_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS_DIR))
from conftest import SHARED_DATA, make_dataset

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
#: a concave free-hand shape (mm from the wafer centre) for the lasso; its vertices sit
#: off the 20 mm die grid so no die centre is near an edge
LASSO_MM = [(-63, 59), (-7, 60), (7, 19), (50, 60), (78, 6), (36, -6), (43, -61),
            (-19, -32), (-22, 11), (-53, -24)]


def _run_notebook(page, jupyter_server, artifacts, name: str, cells: list[str]) -> Lab:
    """Write ``cells`` as notebook ``name`` in the server's root, open it in JupyterLab and
    run every cell; returns the :class:`Lab` driving it."""
    write_notebook(jupyter_server.root / name, cells)
    lab = Lab(page, jupyter_server, artifacts)
    lab.open(name)
    lab.run_all()
    return lab


def _root(lab: Lab, cell: int):
    """The WaferMap element in a cell's output, once it has drawn at least once."""
    root = lab.cell(cell).locator(".fabnb-wafermap[data-renders]")
    root.wait_for()
    root.scroll_into_view_if_needed()
    return root


def _die_xy(root, die: int) -> tuple[float, float]:
    pos = root.evaluate("(el, i) => el.fabnbDieClientXY(i)", die)
    return pos["x"], pos["y"]


def _segment_distance(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Distance of each point to the nearest edge of the closed polygon."""
    a, b = polygon, np.roll(polygon, -1, axis=0)
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / (ab**2).sum(-1), 0, 1)
    nearest = a + t[..., None] * ab
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(axis=1)


def _draw_lasso(page, root, polygon_mm, steps=3) -> None:
    """Press at the first vertex, drag through the others (``steps`` pointer moves per
    edge, as a hand would), back to the start, release."""
    to_client = [root.evaluate("(el, p) => el.fabnbClientXY(p[0], p[1])", list(p)) for p in polygon_mm]
    page.mouse.move(to_client[0]["x"], to_client[0]["y"])
    page.mouse.down()
    for p in to_client[1:] + to_client[:1]:
        page.mouse.move(p["x"], p["y"], steps=steps)


def test_wafermap_select_hover_link_and_switch(page, jupyter_server, artifacts):
    ds = make_dataset(n_wafers=4, n_tests=2, seed=0)
    big = make_dataset(n_wafers=25, n_tests=1, seed=1, die_mm=2.28)
    lab = _run_notebook(page, jupyter_server, artifacts, "wafermap_e2e.ipynb", [
        SETUP,
        'm = WaferMap(ds, test="T01", size=360)\nm',
        'print("SELECTED", m.selected)',
        'm2 = WaferMap(ds, var="hbin", size=260)\nlink = m.link_selection(m2)\nm2',
        'bm = WaferMap(big, test="T01", size=480)\nbm',
        "bm.wafer = bm.wafers[20]",
        'print("READY")',
    ])
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

    # lasso: switch the mode with the map's button, draw a concave free-hand polygon;
    # the kernel sees exactly the dies whose centres matplotlib puts inside it
    root.scroll_into_view_if_needed()
    root.locator("button.fabnb-wm-mode", has_text="box").click()
    root.locator("button.fabnb-wm-mode[aria-pressed='true']", has_text="lasso").wait_for()
    centres = np.column_stack([x, y])
    polygon = np.array(LASSO_MM, dtype=float)
    assert _segment_distance(centres, polygon).min() > 3.0  # > 5 px at this scale
    lassoed = np.flatnonzero(PolygonPath(polygon).contains_points(centres)).tolist()
    in_hull = PolygonPath(polygon[[0, 1, 3, 4, 6, 7, 9]]).contains_points(centres)
    assert 5 < len(lassoed) < in_hull.sum()  # the concave bays really leave dies out
    _draw_lasso(page, root, LASSO_MM)
    lab.shot("lasso-dragging")
    page.mouse.up()
    root.locator(".fabnb-wm-status", has_text=f"{len(lassoed)} dies selected").wait_for()
    lab.run_cell(2)
    assert f"SELECTED {lassoed}" in lab.output_text(2)
    assert root.evaluate("el => el.fabnbSelection()") == lassoed
    lab.shot("kernel-sees-lasso")

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
    assert page.fabnb_errors == []


def test_wafermap_bad_input_messages(page, jupyter_server, artifacts):
    lab = _run_notebook(page, jupyter_server, artifacts, "wafermap_bad.ipynb", [
        SETUP,
        'WaferMap(ds, test="NOPE")',
        'WaferMap(ds.drop_vars(["x", "y"]))',
        'holes = ds.copy(deep=True)\nholes["value"][1] = np.nan\nWaferMap(holes, wafer=1)',
        "WaferMap(ds)",
    ])
    expected = {
        1: "Cannot show test 'NOPE': unknown test 'NOPE'",
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
    assert page.fabnb_errors == []  # nothing at all in the console, not only ours


def test_wafermap_draws_a_die_outside_the_wafer(page, jupyter_server, artifacts):
    """A die far beyond the grid (set aside by the reader, outside the wafer it derives)
    is on the canvas, and hovering it names it: the canvas spans every die, not only the
    wafer."""
    lab = _run_notebook(page, jupyter_server, artifacts, "wafermap_far.ipynb", [
        SETUP,
        "import warnings\nimport pandas as pd\nimport fabnb.io as fio\n"
        "from fabnb.geometry import die_grid\n"
        "grid = die_grid(200, die_width_mm=10, die_height_mm=10)\n"
        "col = np.r_[grid['col'].values, 200]  # one die far beyond the 20-column grid\n"
        "row = np.r_[grid['row'].values, 3]\n"
        "table = pd.DataFrame({'wafer': 'W1', 'col': col, 'row': row, 'test': 'T01',\n"
        "                      'value': np.arange(col.size, dtype=float)})\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')  # the reader's note on the die set aside\n"
        "    far = fio.from_long_table(table, geometry={'die_width_mm': 10, 'die_height_mm': 10})\n"
        "print('FAR', int(np.flatnonzero(far['col'].values == 200)[0]))",
        'fm = WaferMap(far, test="T01", size=360)\nfm',
    ])
    die = int(re.search(r"FAR (\d+)", lab.output_text(1)).group(1))
    root = _root(lab, 2)
    lab.shot("far-die", root)
    box = root.locator("canvas.fabnb-wm-canvas").bounding_box()
    x, y = _die_xy(root, die)
    assert box["x"] < x < box["x"] + box["width"] and box["y"] < y < box["y"] + box["height"]
    page.mouse.move(x, y)
    tooltip = root.locator(".fabnb-wm-tooltip")
    tooltip.wait_for(state="visible")
    assert f"die {die}" in tooltip.inner_text() and "col 200, row 3" in tooltip.inner_text()
    assert page.fabnb_errors == []


def _canvas_rgb(root, die: int) -> list[int]:
    """RGB of the map canvas at die ``die``'s centre (device pixels)."""
    return root.evaluate("""(el, i) => {
        const c = el.querySelector("canvas.fabnb-wm-canvas");
        const p = el.fabnbDieClientXY(i), r = c.getBoundingClientRect();
        const k = c.width / r.width;
        const d = c.getContext("2d").getImageData(Math.round((p.x - r.left) * k),
                                                   Math.round((p.y - r.top) * k), 1, 1).data;
        return [d[0], d[1], d[2]];
    }""", die)


def _hex_rgb(color: str) -> list[int]:
    return [int(color[k:k + 2], 16) for k in (1, 3, 5)]


def test_wafermap_on_the_real_stdf_folder(page, jupyter_server, artifacts):
    """Read the real tester folder in the notebook, check every bin's colour on the canvas
    and in the legend against ``bin_palette``, then pick a test by its number."""
    import warnings

    import fabnb
    from fabnb.io.stdf import StdfWarning
    from fabnb.plot import bin_hex

    folder = SHARED_DATA / "stdf"
    if not folder.is_dir():
        pytest.skip(f"real STDF folder {folder} is absent (the shared data folder sits beside the checkout)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StdfWarning)  # the files' stale summary counts
        warnings.filterwarnings("ignore", "fabnb.io.read: .*not a data file")  # the README
        ds = fabnb.io.read(folder, progress=False)
    wafer = str(ds.wafer.values[0])
    codes = ds["hbin"].sel(wafer=wafer).values
    palette = bin_hex(np.union1d(np.unique(ds["hbin"].values), [-1, 1]))
    assert {2, 20, 8, 17, 7, 16} <= set(palette)  # the old widget's code-mod-9 collisions
    svrr = str(ds["test"].values[list(ds["test_num"].values).index(1590)])
    lab = _run_notebook(page, jupyter_server, artifacts, "wafermap_stdf.ipynb", [
        "import warnings\nimport fabnb\nfrom fabnb.widgets import WaferMap\n"
        "warnings.simplefilter('ignore')\n"
        f"ds = fabnb.io.read({str(folder)!r}, progress=False)",
        f"m = WaferMap(ds, wafer={wafer!r}, var='hbin', size=460)\nm",
        'print("SHOWN", repr(m.test), m.var, m.message == "")',
    ])
    root = _root(lab, 1)
    lab.shot("stdf-bins", root)

    # every bin on the canvas has the palette's colour, whatever else is on the wafer
    for code in np.unique(codes):
        die = int(np.flatnonzero(codes == code)[len(np.flatnonzero(codes == code)) // 2])
        got = _canvas_rgb(root, die)
        assert np.abs(np.subtract(got, _hex_rgb(palette[int(code)]))).max() <= 2, (code, got)
    # the legend: one swatch per bin present, in the palette's colour, saying pass/fail
    rows = root.locator(".fabnb-wm-legend-row")
    assert rows.count() == np.unique(codes).size
    for k in range(rows.count()):
        text = rows.nth(k).inner_text()
        code = -1 if text.startswith("untested") else int(text.split()[0])
        assert ("pass" in text) == (code == 1) and ("fail" in text) == (code > 1)
        swatch = rows.nth(k).locator(".fabnb-wm-swatch").evaluate("e => getComputedStyle(e).backgroundColor")
        assert [int(v) for v in re.findall(r"\d+", swatch)[:3]] == _hex_rgb(palette[code])

    # a test by its number: the picker lists "<number> <clean name>"; the kernel resolves it
    root.locator("select.fabnb-wm-var").select_option("value")
    root.locator("select.fabnb-wm-test").select_option(label="1590 Svrr <> EA_SVRR")
    root.locator(".fabnb-wm-status", has_text="1590 Svrr <> EA_SVRR").wait_for()
    lab.run_cell(2)
    assert f"SHOWN {svrr!r} value True" in lab.output_text(2)
    lab.shot("stdf-test-1590", root)

    # die-pitch coordinates are labelled as such in the tooltip
    measured = np.flatnonzero(np.isfinite(ds["value"].sel(wafer=wafer, test=svrr).values))
    page.mouse.move(*_die_xy(root, int(measured[0])))
    tooltip = root.locator(".fabnb-wm-tooltip")
    tooltip.wait_for(state="visible")
    assert "die pitch" in tooltip.inner_text() and "mm" not in tooltip.inner_text()
    assert "1590 Svrr <> EA_SVRR" in tooltip.inner_text()
    lab.shot("stdf-tooltip", root)
    assert page.fabnb_errors == []


def test_wafermap_screening_layer(page, jupyter_server, artifacts):
    """The outlier screen as a layer: each screened die in its rule's colour
    (``fabnb.plot.screen.RULE_COLORS``), a legend row per rule with the wafer's count,
    the tooltip's reason, the checkbox hiding the layer, the header's yields; and a map
    without the debug flag exposes no test hooks."""
    import fabnb
    from fabnb.plot import bin_hex
    from fabnb.plot.screen import RULE_COLORS, RULE_LABELS

    ds = fabnb.synth.fab("small", seed=0)
    res = fabnb.screen.screen(ds)
    first = res["first_rule"].values
    k = int(np.argmax([len(set(row) - {""}) for row in first]))  # the wafer with most rules
    rules = [r for r in res.attrs["rules"] if (first[k] == r).any()]
    assert len(rules) >= 2
    lab = _run_notebook(page, jupyter_server, artifacts, "wafermap_screen.ipynb", [
        "import fabnb\nfrom fabnb.widgets import WaferMap\n"
        "ds = fabnb.synth.fab('small', seed=0)\nres = fabnb.screen.screen(ds)\n"
        f"m = WaferMap(ds, wafer={k}, var='hbin', screen=res, size=460)\nm",
        "plain = WaferMap(ds, size=200, debug=False)\nplain",
        'print("LAYER", m.screen_layer)',
    ])
    root = _root(lab, 0)
    lab.shot("screen-layer", root)

    # every rule on this wafer: its dies in the rule's colour, its legend row counting them
    for rule in rules:
        dies = np.flatnonzero(first[k] == rule)
        got = _canvas_rgb(root, int(dies[len(dies) // 2]))
        assert np.abs(np.subtract(got, _hex_rgb(RULE_COLORS[rule]))).max() <= 2, (rule, got)
    rows = root.locator(".fabnb-wm-screen-row")
    assert rows.count() == len(res.attrs["rules"])  # every rule of the result, 0 where none
    for n in range(rows.count()):
        rule = rows.nth(n).get_attribute("data-rule")
        assert rows.nth(n).inner_text() == f"{RULE_LABELS[rule]} ({int((first[k] == rule).sum())})"
        swatch = rows.nth(n).locator(".fabnb-wm-swatch").evaluate("e => getComputedStyle(e).backgroundColor")
        assert [int(v) for v in re.findall(r"\d+", swatch)[:3]] == _hex_rgb(RULE_COLORS[rule])

    # header: the wafer's and the lot's yield (passing / tested dies, bin 1 = pass)
    hbin = ds["hbin"].values
    lot = ds["lot"].values == ds["lot"].values[k]
    wafer_yield = (hbin[k] == 1).sum() / (hbin[k] != -1).sum()
    lot_yield = (hbin[lot] == 1).sum() / (hbin[lot] != -1).sum()
    head = root.locator(".fabnb-wm-header").inner_text()
    assert f"wafer {ds.wafer.values[k]}: yield {100 * wafer_yield:.1f} %" in head
    assert f"lot {ds['lot'].values[k]}: yield {100 * lot_yield:.1f} %" in head

    # the tooltip says which rule took the die out and why
    rule = rules[0]
    die = int(np.flatnonzero(first[k] == rule)[0])
    page.mouse.move(*_die_xy(root, die))
    tooltip = root.locator(".fabnb-wm-tooltip")
    tooltip.wait_for(state="visible")
    tip = tooltip.inner_text()
    assert f"die {die}" in tip and f"screened out by {RULE_LABELS[rule]}" in tip
    assert root.locator(".fabnb-wm-tip-why").first.inner_text().startswith(f"{RULE_LABELS[rule]}: ")
    lab.shot("screen-tooltip", root)

    # the checkbox hides the layer: the die shows its bin colour again, the kernel knows
    page.mouse.move(0, 0)
    root.locator("input.fabnb-wm-screen").uncheck()
    root.locator(".fabnb-wm-screen-row").first.wait_for(state="detached")
    got = _canvas_rgb(root, die)
    assert np.abs(np.subtract(got, _hex_rgb(bin_hex([1])[1]))).max() <= 2
    lab.run_cell(2)
    assert "LAYER False" in lab.output_text(2)
    lab.shot("screen-hidden", root)

    # without the debug flag: drawn, but no hooks or timings on the element
    plain = lab.cell(1).locator(".fabnb-wafermap")
    plain.locator(".fabnb-wm-legend-title").first.wait_for()
    assert plain.get_attribute("data-renders") is None
    assert plain.evaluate("el => typeof el.fabnbDieClientXY") == "undefined"
    assert page.fabnb_errors == []


def _boxes(locator) -> list[dict]:
    return [locator.nth(k).bounding_box() for k in range(locator.count())]


def _overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def test_wafermap_colour_scale_is_pythons(page, jupyter_server, artifacts):
    """On the real wafer lot2.stdf, "Ref aft zap" (1190: LSL 3.34, USL 3.385 v, 6 dies
    above): the legend states Python's scale label for spec limits and for a fixed
    ``clim`` (it said "P1–P99" whatever the scale), the under/over rows count the dies,
    the LSL/USL labels overlap neither the tick labels nor each other (on the clim map
    they are 11 px apart), a die above USL is painted in Python's over colour, and the
    scale picker switches to the robust scale computed by the kernel."""
    import warnings

    import fabnb
    from fabnb.io.stdf import StdfWarning

    path = SHARED_DATA / "stdf" / "lot2.stdf"
    if not path.is_file():
        pytest.skip(f"real STDF sample {path} is absent (the shared data folder sits beside the checkout)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StdfWarning)
        ds = fabnb.io.read_stdf(path, progress=False)
    name = str(ds["test"].values[list(ds["test_num"].values).index(1190)])
    values = ds["value"].sel(test=name).values[0]
    usl = float(ds["usl"].sel(test=name))
    over = np.flatnonzero(values > usl)
    assert over.size == 6
    lab = _run_notebook(page, jupyter_server, artifacts, "wafermap_scale.ipynb", [
        "import json, warnings\nimport fabnb\nfrom fabnb.widgets import WaferMap\n"
        "warnings.simplefilter('ignore')\n"
        f"ds = fabnb.io.read_stdf({str(path)!r}, progress=False)",
        "spec = WaferMap(ds, test=1190, scale='spec', size=420)\nspec",
        "fixed = WaferMap(ds, test=1190, clim=(3.0, 3.8), size=420)\nfixed",
        'print("SCALES", json.dumps([spec.scale_label, fixed.scale_label, spec.over_color, '
        "spec.over_label, spec.under_label]))",
    ])
    spec_root, fixed_root = _root(lab, 1), _root(lab, 2)
    out = lab.output_text(3)
    spec_label, fixed_label, over_color, over_label, under_label = json.loads(out[out.index("["):])
    assert spec_label == "spec limits LSL 3.34 – USL 3.385 v"
    assert fixed_label == "fixed 3 – 3.8 v (clim)"
    lab.shot("spec-scale", spec_root)
    lab.shot("clim-scale", fixed_root)

    for root, label in ((spec_root, spec_label), (fixed_root, fixed_label)):
        assert root.locator(".fabnb-wm-scale-note").inner_text() == label
        assert "P1" not in root.locator(".fabnb-wm-legend").inner_text()
        marks = root.locator(".fabnb-wm-speclabel")
        assert marks.count() == 2
        mark_boxes = _boxes(marks)
        tick_boxes = _boxes(root.locator(".fabnb-wm-colorbar-labels span"))
        assert len(tick_boxes) == 3
        for m in mark_boxes:
            assert not any(_overlap(m, t) for t in tick_boxes), (m, tick_boxes)
        assert not _overlap(*mark_boxes), mark_boxes
    # USL above LSL, in that order, on both bars
    for root in (spec_root, fixed_root):
        usl_box, lsl_box = (root.locator(f".fabnb-wm-speclabel[data-limit='{k}']").bounding_box()
                            for k in ("USL", "LSL"))
        assert usl_box["y"] + usl_box["height"] <= lsl_box["y"]

    # the under/over rows: Python's words and counts, in Python's colours
    rows = spec_root.locator(".fabnb-wm-beyond-row")
    assert [rows.nth(k).inner_text() for k in range(rows.count())] == [over_label, under_label]
    swatch = rows.first.locator(".fabnb-wm-swatch").evaluate("e => getComputedStyle(e).backgroundColor")
    assert [int(v) for v in re.findall(r"\d+", swatch)[:3]] == _hex_rgb(over_color)
    # a die above USL is painted in the over colour; an in-spec die is not
    for die in over[:3]:
        got = _canvas_rgb(spec_root, int(die))
        assert np.abs(np.subtract(got, _hex_rgb(over_color))).max() <= 2, (int(die), got)
    inside = int(np.flatnonzero((values > 3.35) & (values < 3.38))[0])
    assert np.abs(np.subtract(_canvas_rgb(spec_root, inside), _hex_rgb(over_color))).max() > 60

    # the scale picker: the kernel computes the robust scale, the legend says so
    spec_root.locator("select.fabnb-wm-scale").select_option(label="robust, all wafers")
    spec_root.locator(".fabnb-wm-scale-note", has_text="robust").wait_for()
    lab.run_cell(3)
    out = lab.output_text(3)
    robust_label = json.loads(out[out.index("["):])[0]
    assert robust_label == "robust (Tukey fences, 3 IQR) over all wafers of the test"
    assert spec_root.locator(".fabnb-wm-scale-note").inner_text() == robust_label
    lab.shot("robust-scale", spec_root)
    assert page.fabnb_errors == []
