"""Virtual probe on a Dask cluster: 1 vs 2 local workers against the single-process run.

    python -m benchmarks.bench_scale                 # 300 wafers x 2,592 dies (5 mm), 2 tests
    python -m benchmarks.bench_scale --tests 39      # every test (about 20x longer)
    python -m benchmarks.bench_scale --quick         # 60 wafers, 2 tests

A 300-wafer synthetic fab (30 lots of 10) is written to Zarr and opened lazily with
``fabnb.io.open_zarr`` (one wafer per chunk); ``fabnb.spatial.virtual_probe(method="gp")``
then runs (a) in this process on the in-memory Dataset and (b) through
``fabnb.scale.client(n_workers=n)`` with n = 1 and 2 single-threaded worker processes.
Printed: seconds, speed-up over 1 worker, CPU seconds actually received, and whether the cluster results equal
the single-process ones (sampled dies identical, largest |difference| of the
predictions).  The machine's load average is printed too: on a shared machine the
speed-up is bounded by the cores actually free.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import fabnb
from fabnb.io import open_zarr, write_zarr
from fabnb.scale import client
from fabnb.spatial import virtual_probe


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def worker_cpu(c) -> float:
    """CPU seconds used so far by all of the cluster's worker processes."""
    return sum(c.run(time.process_time).values())


def difference(out, ref) -> tuple[bool, float]:
    """(sampled dies identical, largest |value_pred difference|) of two probe results."""
    same_sample = bool((out["sampled"].values == ref["sampled"].values).all())
    diff = np.nanmax(np.abs(out["value_pred"].values - ref["value_pred"].values))
    return same_sample, float(diff)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lots", type=int, default=30, help="lots of 10 wafers (default 30)")
    parser.add_argument("--tests", type=int, default=2, help="first N tests (default 2, max 39)")
    parser.add_argument("--die-mm", type=float, default=5.0, help="die edge in mm (default 5)")
    parser.add_argument("--quick", action="store_true", help="6 lots, 2 tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.lots, args.tests = 6, 2

    ds, seconds = timed(fabnb.synth.fab, "default", seed=0, n_lots=args.lots, wafers_per_lot=10,
                        die_width_mm=args.die_mm, die_height_mm=args.die_mm)
    tests = [str(t) for t in ds["test"].values[: args.tests]]
    print(f"fab: {ds.sizes['wafer']} wafers x {ds.sizes['die']} dies, tests {tests[0]}..{tests[-1]} "
          f"({len(tests)}), built in {seconds:.1f} s; virtual probe method='gp', budget 10 %")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "fab.zarr"
        write_zarr(ds, store)
        cpu = time.process_time()
        ref, single = timed(virtual_probe, ds, tests, method="gp", progress=False)
        rows = [("single process (in memory)", single, time.process_time() - cpu, None, (True, 0.0))]
        for n in (1, 2):
            with client(n_workers=n, dashboard_address=None) as c:
                lazy = open_zarr(store)
                # warm up: imports, Numba dispatch and Zarr handles on every worker
                virtual_probe(lazy.isel(wafer=slice(0, 4 * n)), tests, progress=False)
                cpu = worker_cpu(c)
                out, seconds = timed(virtual_probe, lazy, tests, method="gp", progress=False)
                cpu = worker_cpu(c) - cpu
            rows.append((f"dask, {n} worker{'s' * (n > 1)} (open_zarr)", seconds, cpu, n, difference(out, ref)))

    one = next(s for _, s, _, n, _ in rows if n == 1)
    print(f"\n{'run':32s} {'seconds':>8s} {'vs 1 worker':>12s} {'CPU s':>7s} {'cores busy':>11s} "
          f"{'same samples':>13s} {'max |d pred|':>13s}")
    for name, seconds, cpu, _, (same, diff) in rows:
        print(f"{name:32s} {seconds:8.1f} {one / seconds:11.2f}x {cpu:7.1f} {cpu / seconds:11.2f} "
              f"{str(same):>13s} {diff:13.2e}")
    print("(CPU s: this process for the single run, the worker processes for the dask runs; "
          "cores busy = CPU s / seconds)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
