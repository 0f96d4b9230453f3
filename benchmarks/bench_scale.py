"""Virtual probe on a Dask cluster: 1 vs 2 local workers against the single-process run.

    python -m benchmarks.bench_scale                 # 300 wafers x 2,592 dies (5 mm), 2 tests
    python -m benchmarks.bench_scale --tests 39      # every test (about 20x longer)
    python -m benchmarks.bench_scale --quick         # 60 wafers, 2 tests
    python -m benchmarks.bench_scale --chunk 1       # one wafer per task (open_zarr's default)
    python -m benchmarks.bench_scale --no-dask-default   # skip the Dask-default-env row

A 300-wafer synthetic fab (30 lots of 10) is written to Zarr and opened lazily with
``fabnb.io.open_zarr`` (``--chunk`` wafers per chunk, default 10: with one wafer per
task the per-task cost -- a Zarr read, task (de)serialisation, scheduling -- adds about
40 % to the ~80 ms of CPU a wafer's GP needs); ``fabnb.spatial.virtual_probe(method="gp")``
then runs (a) in this process on the in-memory Dataset and (b) through
``fabnb.scale.client(n_workers=n)`` with n = 1 and 2 single-threaded worker processes,
and (c) on 1 worker of a plain ``distributed.LocalCluster`` with Dask's default worker
environment, which sets ``MALLOC_TRIM_THRESHOLD_`` (see ``fabnb.scale.WORKER_ENVIRONMENT``
for why fabnb unsets it).
Printed: seconds, speed-up over 1 worker, CPU seconds actually received (user + system)
and minor page faults, and whether the cluster results equal the single-process ones
(sampled dies identical, largest |difference| of the predictions).  The machine's load
average and the cores other processes kept busy during each run ("others busy", from
``/proc/stat``) are printed too: on a shared machine the speed-up is bounded by the cores
actually free.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def usage() -> np.ndarray:
    """(CPU seconds user + system, minor page faults) of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([r.ru_utime + r.ru_stime, r.ru_minflt])


def machine_ticks() -> np.ndarray:
    """(busy, total) CPU ticks of the whole machine so far (Linux ``/proc/stat``; zeros
    elsewhere): what *every* process got, ours and the other users' alike."""
    try:
        fields = np.array(Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9], dtype=float)
    except OSError:
        return np.zeros(2)
    idle = fields[3] + fields[4]  # idle + iowait
    return np.array([fields.sum() - idle, fields.sum()])


def worker_usage(c) -> np.ndarray:
    """:func:`usage` summed over all of the cluster's worker processes."""
    return sum(c.run(usage).values())


def on_cluster(c, store, tests, ref, chunk):
    """Warm the workers up, then time the probe on the lazily opened store."""
    lazy = open_zarr(store, chunks={"wafer": chunk})
    # warm up: imports, Numba dispatch and Zarr handles on every worker
    virtual_probe(lazy.isel(wafer=slice(0, 4 * len(c.scheduler_info()["workers"]))), tests,
                  progress=False)
    before, client_before, machine = worker_usage(c), usage(), machine_ticks()
    out, seconds = timed(virtual_probe, lazy, tests, method="gp", progress=False)
    used = worker_usage(c) - before
    others = machine_busy(machine, seconds) - (used[0] + (usage() - client_before)[0]) / seconds
    return seconds, used, others, difference(out, ref)


def machine_busy(start, seconds) -> float:
    """Cores the whole machine kept busy since ``start`` (:func:`machine_ticks`)."""
    busy, total = machine_ticks() - start
    return (os.cpu_count() or 1) * busy / total if total else float("nan")


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
    parser.add_argument("--chunk", type=int, default=10,
                        help="wafers per Dask chunk (default 10, one lot; 1 = open_zarr's default)")
    parser.add_argument("--no-dask-default", action="store_true",
                        help="skip the run on a LocalCluster with Dask's default worker environment")
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
        virtual_probe(ds.isel(wafer=slice(0, 2)), tests, progress=False)  # warm up in-process
        before, machine = usage(), machine_ticks()
        ref, single = timed(virtual_probe, ds, tests, method="gp", progress=False)
        used = usage() - before
        rows = [("single process (in memory)", single, used, machine_busy(machine, single) - used[0] / single,
                 None, (True, 0.0))]
        for n in (1, 2):
            with client(n_workers=n, dashboard_address=":0") as c:
                seconds, used, others, diff = on_cluster(c, store, tests, ref, args.chunk)
            rows.append((f"dask, {n} worker{'s' * (n > 1)} (open_zarr)", seconds, used, others, n, diff))
        if not args.no_dask_default:
            from distributed import Client

            with Client(n_workers=1, threads_per_worker=1, dashboard_address=":0") as c:
                seconds, used, others, diff = on_cluster(c, store, tests, ref, args.chunk)
            rows.append(("dask, 1 worker, Dask's default env", seconds, used, others, 0, diff))

    one = next(s for _, s, _, _, n, _ in rows if n == 1)
    items = len(tests) * ds.sizes["wafer"]
    print(f"\n{'run':36s} {'seconds':>8s} {'vs 1 worker':>12s} {'CPU s':>7s} {'cores busy':>11s} "
          f"{'others busy':>12s} {'CPU ms/item':>12s} {'faults/item':>12s} {'same samples':>13s} "
          f"{'max |d pred|':>13s}")
    for name, seconds, (cpu, faults), others, _, (same, diff) in rows:
        print(f"{name:36s} {seconds:8.1f} {one / seconds:11.2f}x {cpu:7.1f} {cpu / seconds:11.2f} "
              f"{others:12.2f} {1e3 * cpu / items:12.0f} {faults / items:12.0f} {same!s:>13s} {diff:13.2e}")
    print(f"(item = one wafer x test, {items} items; CPU s = user + system of this process for the "
          "single run, of the worker processes for the dask runs; cores busy = CPU s / seconds; "
          "others busy = cores the rest of the machine used meanwhile (other users, and for the dask "
          "runs not the client/scheduler process): 2 workers can only beat 1 if "
          f"{os.cpu_count()} - others busy > 1)")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
