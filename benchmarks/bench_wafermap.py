"""WaferMap speed in a real browser at full size: ~5,500 dies x 25 wafers.

    python -m benchmarks.bench_wafermap [--switches 25] [--size 480]

Starts the same JupyterLab + headless Chromium as the browser tests
(``tests/browser/harness.py``), opens a notebook that shows
``WaferMap(fabnb.synth.fab("default", n_lots=1, wafers_per_lot=25), test="T01")`` and
switches wafers ``--switches`` times with the map's wafer picker, as a user would.  Per
switch it prints two times measured in the browser with ``performance.now()``:

- render: the new wafer's buffers arrived -> the map, legend and status are drawn
  (``data-render-ms`` of the widget; issue 10 asks < 50 ms); measured twice: as the
  widget reports it (canvas commands issued) and, in a second pass over the wafers,
  including the rasterization of the canvas (forced by a 1-pixel read-back);
- round trip: picker change -> kernel slices the wafer -> buffers back -> drawn
  (``data-switch-ms``).

Side by side: the kernel's share (the same switch timed in this process, no browser)
and the payload of one switch as binary buffers against the JSON lists they replace.
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SYNTH = {"preset": "default", "seed": 0, "n_lots": 1, "wafers_per_lot": 25}


def notebook_cells(size: int) -> list[str]:
    """The benchmark notebook: build the lot, show the map, report its size."""
    return [
        ("import fabnb\nfrom fabnb.widgets import WaferMap\n"
         f"ds = fabnb.synth.fab(**{SYNTH!r})\nm = WaferMap(ds, test='T01', size={size})\nm"),
        "print('DIES', m.geometry['n_die'], 'WAFERS', len(m.wafers))",
    ]


def _summary(name: str, ms: list[float]) -> str:
    return (f"  {name:34s} median {statistics.median(ms):7.2f} ms   mean {np.mean(ms):7.2f}"
            f"   p90 {np.percentile(ms, 90):7.2f}   max {max(ms):7.2f}")


def kernel_side(switches: int) -> tuple[list[float], int, int]:
    """Seconds*1e3 of ``m.wafer = w`` in this process, and one switch's payload bytes as
    binary buffers and as JSON lists."""
    import fabnb
    from fabnb.widgets import WaferMap
    from fabnb.widgets.wafermap import decode_f32, decode_i32

    m = WaferMap(fabnb.synth.fab(**SYNTH), test="T01")
    times = []
    for k in range(1, switches + 1):
        start = time.perf_counter()
        m.wafer = m.wafers[k % len(m.wafers)]
        times.append(1e3 * (time.perf_counter() - start))
    values, bins = decode_f32(m.values), decode_i32(m.bins)
    as_json = json.dumps({"values": [None if np.isnan(v) else float(v) for v in values],
                          "bins": bins.tolist()})
    return times, m.values.nbytes + m.bins.nbytes, len(as_json.encode())


def browser_side(switches: int, size: int) -> dict:
    """Switch wafers with the picker in JupyterLab; browser-measured times per switch."""
    sys.path.insert(0, str(REPO))
    from tests.browser.harness import Lab, chromium_context, jupyterlab, write_notebook

    with tempfile.TemporaryDirectory(prefix="fabnb-bench-wafermap-") as tmp:
        tmp = Path(tmp)
        with jupyterlab(tmp / "lab") as server, chromium_context(tmp / "profile") as context:
            write_notebook(server.root / "bench_wafermap.ipynb", notebook_cells(size))
            page = context.new_page()
            lab = Lab(page, server, tmp / "shots")
            lab.open("bench_wafermap.ipynb")
            lab.run_all()
            shown = lab.output_text(1).split()
            root = lab.cell(0).locator(".fabnb-wafermap[data-renders]")
            root.wait_for()
            root.scroll_into_view_if_needed()
            wafers = root.evaluate("el => [...el.querySelectorAll('select.fabnb-wm-wafer option')]"
                                   ".map(o => o.value)")
            timings = {}
            for raster in (False, True):
                if raster:
                    root.evaluate("el => { el.dataset.measureRaster = ''; }")
                render, roundtrip = [], []
                for k in range(1, switches + 1):
                    wafer = wafers[k % len(wafers)]
                    root.evaluate("el => { delete el.dataset.switchMs; }")
                    root.locator("select.fabnb-wm-wafer").select_option(wafer)
                    page.wait_for_function(
                        "([el, w]) => el.dataset.wafer === w && el.dataset.switchMs !== undefined",
                        arg=[root.element_handle(), wafer])
                    render.append(float(root.get_attribute("data-render-ms")))
                    roundtrip.append(float(root.get_attribute("data-switch-ms")))
                timings[raster] = render, roundtrip
            page.close()
    (render, roundtrip), (raster_render, _) = timings[False], timings[True]
    return {"n_die": int(shown[1]), "n_wafer": int(shown[3]), "render": render,
            "raster": raster_render, "roundtrip": roundtrip}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--switches", type=int, default=25)
    parser.add_argument("--size", type=int, default=480, help="canvas size in CSS pixels")
    args = parser.parse_args(argv)

    kernel_ms, binary_bytes, json_bytes = kernel_side(args.switches)
    got = browser_side(args.switches, args.size)
    print(f"WaferMap, {got['n_die']:,} dies x {got['n_wafer']} wafers, canvas {args.size} px, "
          f"{args.switches} wafer switches with the picker (headless Chromium, JupyterLab)")
    print("  switch  render ms  render+raster ms  round trip ms")
    for k, (r, f, t) in enumerate(zip(got["render"], got["raster"], got["roundtrip"]), start=1):
        print(f"  {k:6d}  {r:9.2f}  {f:16.2f}  {t:13.2f}")
    print(_summary("browser render (target < 50 ms)", got["render"]))
    print(_summary("browser render + rasterize", got["raster"]))
    print(_summary("picker -> kernel -> drawn", got["roundtrip"]))
    print(_summary("kernel slice + send (no browser)", kernel_ms))
    print(f"  payload per switch: binary buffers {binary_bytes:,} B vs JSON lists "
          f"{json_bytes:,} B (x{json_bytes / binary_bytes:.1f})")


if __name__ == "__main__":
    main()
