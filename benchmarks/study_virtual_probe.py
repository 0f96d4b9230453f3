"""The virtual-probe study (the paper's Fig. 7) on the synthetic fab: resumable, lot by lot.

    python -m benchmarks.study_virtual_probe                      # default fab, 39 tests, all lots (hours)
    python -m benchmarks.study_virtual_probe --lots 2 --tests T01,T05,T10
    python -m benchmarks.study_virtual_probe --lot-range 4:8 --workers 2
    python -m benchmarks.study_virtual_probe --summary            # read the results, print, plot
    python -m benchmarks.study_virtual_probe --preset small --results-dir /tmp/vp --out /tmp/vp.csv

Every (lot, method) is one unit of work whose ε table goes to
``<results-dir>/<method>/<lot>.csv`` (temporary name, then ``os.replace``: a killed run
leaves no partial file).  Columns: method, lot, wafer, test, eps (ε as a fraction, NaN
where the fit failed or the wafer has no spread), fit_error ("" when the fit worked),
seconds_per_test (the lot-method call's wall time divided by its number of tests), and
the options that change results: preset, seed (of the fab and of the probe), budget,
step, wafer_offsets, and ``code`` (a hash of the fabnb.spatial and fabnb.synth sources).

A run skips the (lot, method) files that already hold every requested test, completes
those that hold only some, and refuses (``FabDataError`` naming the file and the option)
to add results computed with other options to the directory; ``--accept-code-change``
lets it mix results of different ``code`` hashes (the summary then lists them).

``--workers K`` runs K lots at a time in separate processes ('spawn'), each with
BLAS/OpenMP/Numba pools of one thread (:data:`fabnb.scale.WORKER_ENVIRONMENT`).  The
parent builds the fab once and sends each task its lot's ``value`` (≈ 18 MB pickled
for a default lot and 39 tests, ~20 ms) rather than each worker rebuilding the whole fab
(≈ 8 s and ≈ 0.5 GB per worker on the default preset).  ``--workers 1`` runs in this
process with the default thread pools.

The reference ``field`` (a row beside the four methods, on by default; not a method of
the paper) is the ε of the simulator's noise-free field used as the prediction, over all
measured dies of each wafer (:func:`fabnb.synth.truth`).  Die noise is symmetric and
independent of everything a method sees, so no prediction has a smaller expected ε: it
is the floor, and ``ε(method) − ε(field)`` is what a method could still gain.

The summary (``--summary``, and the end of every run) reads every file in the results
directory: lots done per method, mean ε per test and method (Fig. 7) on the
(wafer, test) pairs every method has with a finite ε, δ-MRE of each method vs GP on
those pairs, the paper's figures (7.3 / 6.9 / 5.9 / 5.6 %) beside ours, whether the
ordering GP > GP-PS > GP-ST > GP-ST-PS holds, with the floor: the share of GP's excess
over it that each method removes, and ``fig7.png`` in the results directory.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

import fabnb
from fabnb.errors import FabDataError, FabFitError
from fabnb.scale import worker_environment
from fabnb.spatial import METHODS, delta_mre, spec_range_error, virtual_probe

PAPER = {"gp": 7.3, "gp-ps": 6.9, "gp-st": 5.9, "gp-st-ps": 5.6}
FLOOR = "field"  # the reference: the simulator's noise-free field as the prediction
STUDY_METHODS = (*METHODS, FLOOR)
DEFAULT_RESULTS_DIR = Path(__file__).parent / "results" / "virtual_probe"
#: options that change ε, recorded on every row, and how to read them back from a CSV
RESULT_OPTIONS = {"preset": str, "seed": int, "budget": float, "step": float,
                  "wafer_offsets": lambda v: str(v) == "True", "code": str}
COLUMNS = ["method", "lot", "wafer", "test", "eps", "fit_error", "seconds_per_test", *RESULT_OPTIONS]
FIGURE = "fig7.png"


def code_version() -> str:
    """12-hex hash of the fabnb.spatial and fabnb.synth sources: the code that makes ε.

    Example
    -------
    >>> len(code_version())
    12
    """
    digest = hashlib.sha256()
    for package in ("spatial", "synth"):
        folder = Path(fabnb.__file__).parent / package
        for path in sorted(folder.glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def lot_names(ds: xr.Dataset) -> list[str]:
    """Lots in the order of their first wafer."""
    return list(dict.fromkeys(np.asarray(ds["lot"].values, dtype=str)))


def select_lots(lots: list[str], n_lots: int = 0, lot_range: str = "") -> list[str]:
    """The first ``n_lots`` lots (0 = all) or the Python slice ``lot_range`` ("A:B", 0-based).

    Example
    -------
    >>> select_lots(["L1", "L2", "L3"], lot_range="1:3")
    ['L2', 'L3']
    """
    if n_lots and lot_range:
        raise FabDataError("give --lots or --lot-range, not both")
    if lot_range:
        try:
            start, stop = (int(p) if p.strip() else None for p in lot_range.split(":"))
        except ValueError:
            raise FabDataError(f"--lot-range must look like A:B (0-based, B excluded), got {lot_range!r}") from None
        chosen = lots[start:stop]
    else:
        chosen = lots[:n_lots] if n_lots else lots
    if not chosen:
        raise FabDataError(f"no lot selected (the fab has {len(lots)}: {lots[0]}..{lots[-1]})")
    return chosen


def probe_lot(sub: xr.Dataset, method: str, tests: list[str], options: dict) -> pd.DataFrame:
    """ε of every (wafer, test) of one lot's Dataset ``sub`` for one method, as study rows.

    A lot whose every item fails is recorded with NaN ε and the error, not raised: it is
    a result of the method on this data.
    """
    start = time.perf_counter()
    if method == FLOOR:
        return _rows(sub, method, spec_range_error(sub["value"].sel(test=tests), sub["field"].sel(test=tests)),
                     xr.full_like(sub["field"].sel(test=tests).isel(die=0, drop=True), "", dtype=object),
                     start, tests, options)
    model_options = {"wafer_offsets": True} if options["wafer_offsets"] and method.startswith("gp-st") else None
    try:
        with warnings.catch_warnings():  # failed items are kept in the fit_error column
            warnings.simplefilter("ignore")
            out = virtual_probe(sub, tests, method=method, budget=options["budget"], step=options["step"],
                                seed=options["seed"], progress=False, model_options=model_options)
        eps = spec_range_error(sub["value"].sel(test=tests), out["value_pred"], out["sampled"])
        fit_error = out["fit_error"]
    except (FabDataError, FabFitError) as exc:
        eps = xr.full_like(sub["value"].sel(test=tests).isel(die=0, drop=True), np.nan)
        fit_error = xr.full_like(eps, f"{type(exc).__name__}: {exc}", dtype=object)
    return _rows(sub, method, eps, fit_error, start, tests, options)


def _rows(sub, method, eps, fit_error, start, tests, options) -> pd.DataFrame:
    """ε and fit errors (wafer, test) of one lot as study rows, timed from ``start``."""
    frame = pd.DataFrame({"eps": eps.transpose("wafer", "test").to_series(),
                          "fit_error": fit_error.transpose("wafer", "test").to_series().astype(str)})
    frame = frame.reset_index()
    frame.insert(0, "method", method)
    frame.insert(1, "lot", str(sub["lot"].values[0]))
    frame["seconds_per_test"] = (time.perf_counter() - start) / len(tests)
    for name in RESULT_OPTIONS:
        frame[name] = options[name]
    return frame[COLUMNS]


def result_path(results_dir: Path, method: str, lot: str) -> Path:
    return Path(results_dir) / method / f"{lot}.csv"


def read_result(path: Path) -> pd.DataFrame:
    """One (lot, method) file, with typed columns."""
    frame = pd.read_csv(path, dtype={c: str for c in ("method", "lot", "wafer", "test", "preset", "code")},
                        keep_default_na=False, na_values={"eps": ["", "nan", "NaN"]})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise FabDataError(f"{path}: not a virtual-probe study file (no column(s) {missing})")
    frame["fit_error"] = frame["fit_error"].astype(str)
    return frame


def file_options(frame: pd.DataFrame, path: Path) -> dict:
    """The result options a file was computed with (one value each, or FabDataError)."""
    found = {}
    for name, parse in RESULT_OPTIONS.items():
        values = set(frame[name].astype(str))
        if len(values) != 1:
            raise FabDataError(f"{path}: option '{name}' has several values {sorted(values)}")
        found[name] = parse(values.pop())
    return found


def check_options(path: Path, found: dict, wanted: dict, accept_code_change: bool = False) -> None:
    """Refuse to mix: FabDataError naming the file and every option that differs."""
    names = [n for n in RESULT_OPTIONS if not (n == "code" and accept_code_change)]
    differ = [f"{n}={found[n]!r} (expected {wanted[n]!r})" for n in names if found[n] != wanted[n]]
    if differ:
        hint = (" (--accept-code-change mixes code versions)" if any(d.startswith("code=") for d in differ) else "")
        raise FabDataError(f"{path} was computed with other options: {', '.join(differ)}; use another "
                           f"--results-dir or the same options{hint}")


def write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write CSV to a temporary name in the same folder, then rename: never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)


def load_results(results_dir: Path, reference: dict | None = None, accept_code_change: bool = False) -> pd.DataFrame:
    """Every study file under ``results_dir``, checked against ``reference`` options.

    Without ``reference`` the first file's options are the reference.  Returns the rows
    (empty frame with :data:`COLUMNS` if there are none).
    """
    frames = []
    for path in sorted(Path(results_dir).glob("*/*.csv")):
        frame = read_result(path)
        found = file_options(frame, path)
        if reference is None:
            reference = found
        check_options(path, found, reference, accept_code_change)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def plan(results_dir: Path, lots: list[str], methods: list[str], tests: list[str]) -> list[tuple[str, str, list[str]]]:
    """(lot, method, tests still missing) for every unit not done; prints counts per method."""
    tasks = []
    for method in methods:
        n_done = n_partial = 0
        for lot in lots:
            path = result_path(results_dir, method, lot)
            present = set(read_result(path)["test"]) if path.exists() else set()
            missing = [t for t in tests if t not in present]
            n_done += not missing
            n_partial += bool(present) and bool(missing)
            if missing:
                tasks.append((lot, method, missing))
        left = len(lots) - n_done
        print(f"{method:9s} {n_done} lot(s) done, {left} left" + (f" ({n_partial} partial)" if n_partial else ""),
              flush=True)
    # lot-major, so every lot done is a common (wafer, test) set of all methods; within a lot
    # the slowest method first (GP-ST-PS > GP-ST ≈ GP-PS > GP > the floor), so parallel
    # workers end together
    order = {lot: i for i, lot in enumerate(lots)}
    cost = {method: -i for i, method in enumerate(METHODS)} | {FLOOR: 1}
    return sorted(tasks, key=lambda task: (order[task[0]], cost[task[1]]))


def print_estimate(done: pd.DataFrame, tasks) -> None:
    """Compute time left, from the mean seconds per (lot, test) of each method's done files."""
    if not tasks:
        return
    per_test = done.groupby(["method", "lot", "test"])["seconds_per_test"].first().groupby("method").mean()
    unknown = sorted({method for _, method, _ in tasks} - set(per_test.index))
    seconds = sum(per_test[method] * len(missing) for _, method, missing in tasks if method in per_test.index)
    known = f"about {seconds / 3600:.1f} h on one worker" if len(per_test) else "time unknown"
    print(f"{len(tasks)} (lot, method) unit(s) to compute: {known}"
          + (f" ({', '.join(unknown)} not timed yet)" if unknown else ""), flush=True)


def lot_dataset(ds: xr.Dataset, lot: str, tests: list[str]) -> xr.Dataset:
    """The lot's wafers with only what the probe needs (value of ``tests``, x, y, lot, slot,
    and the noise-free ``field`` when the floor is computed)."""
    keep = np.asarray(ds["lot"].values, dtype=str) == lot
    return ds[[v for v in ("value", "field") if v in ds]].sel(test=tests).isel(wafer=keep)


def run(ds: xr.Dataset, tasks, results_dir: Path, options: dict, workers: int = 1,
        progress: bool = True) -> None:
    """Compute ``tasks``; write each (lot, method) file as soon as it is done."""
    running = {}  # method -> [sum ε, count] over the directory, for the progress lines
    for row in load_results(results_dir, options, accept_code_change=True).itertuples():
        if np.isfinite(row.eps):
            total = running.setdefault(row.method, [0.0, 0])
            total[0] += row.eps
            total[1] += 1
    bar = tqdm(total=len(tasks), desc="virtual-probe study (lot × method)", disable=not progress)

    def finish(lot, method, frame):
        seconds = frame["seconds_per_test"].iloc[0] * frame["test"].nunique()
        n_tests, failed = frame["test"].nunique(), int((frame["fit_error"] != "").sum())
        path = result_path(results_dir, method, lot)
        if path.exists():  # completing a file that holds only some tests
            frame = pd.concat([read_result(path), frame], ignore_index=True)
        write_atomic(frame.sort_values(["wafer", "test"], kind="stable"), path)
        eps = frame["eps"].to_numpy(dtype=float)
        total = running.setdefault(method, [0.0, 0])
        total[0] += np.nansum(eps)
        total[1] += int(np.isfinite(eps).sum())
        bar.update(1)
        tqdm.write(f"{lot} {method:9s} {n_tests:2d} tests {seconds:8.1f} s  "
                   f"running mean ε ({method}) {100 * total[0] / max(total[1], 1):.3f} %"
                   + (f"  ({failed} failed items)" if failed else ""), file=sys.stdout)
        sys.stdout.flush()

    if workers <= 1:
        for lot, method, missing in tasks:
            finish(lot, method, probe_lot(lot_dataset(ds, lot, missing), method, missing, options))
    else:
        with worker_environment(), cf.ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            _run_pool(pool, ds, tasks, options, workers, finish)
    bar.close()


def _run_pool(pool, ds, tasks, options, workers, finish):
    """Keep ``workers`` tasks in flight: each holds a copy of its lot's data (~20 MB on the
    default fab), so submitting all 96 at once would hold ~2 GB.  On an error or Ctrl-C
    the queued tasks are cancelled instead of being run to the end by the pool's exit."""
    queue, running = list(tasks), {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                lot, method, missing = queue.pop(0)
                running[pool.submit(probe_lot, lot_dataset(ds, lot, missing), method, missing, options)] = (lot, method)
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                finish(*running.pop(future), future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def summarize(table: pd.DataFrame) -> dict:
    """The study's figures from all result rows.

    Returns ``{"lots": per-method counts, "per_test": mean ε (%) per test × method on the
    common pairs, "overall": mean ε, paper, δ-MRE per method (and, with the floor, the
    share of GP's excess over it each method removes), "n_common": pairs, "ordering":
    bool or None}``.  Common pairs are the (wafer, test) pairs that every method present
    (the floor included) has with a finite ε; δ-MRE is ``delta_mre(ε_m, ε_gp, dim="test")``;
    the removed share is ``(ε_gp − ε_m) / (ε_gp − ε_field)`` of the means.
    """
    methods = [m for m in STUDY_METHODS if m in set(table["method"])]
    probes = [m for m in methods if m != FLOOR]
    per_lot_seconds = table.groupby(["method", "lot", "test"])["seconds_per_test"].first().groupby(
        ["method", "lot"]).sum()
    lots = pd.DataFrame({
        "lots": table.groupby("method")["lot"].nunique(),
        "wafers": table.groupby("method")["wafer"].nunique(),
        "tests": table.groupby("method")["test"].nunique(),
        "rows": table.groupby("method").size(),
        "failed": table.assign(f=table["fit_error"] != "").groupby("method")["f"].sum(),
        "s / lot": per_lot_seconds.groupby("method").mean(),
        "mean ε all rows (%)": 100 * table.groupby("method")["eps"].mean(),
    }).reindex(methods)
    wide = table.set_index(["wafer", "test", "method"])["eps"].unstack("method").reindex(columns=methods)
    common = wide.dropna()
    per_test = 100 * common.groupby(level="test").mean()
    eps = {m: xr.DataArray.from_series(common[m]) for m in methods}
    mean = 100 * common.mean()
    overall = pd.DataFrame({
        "mean ε (%)": mean,
        "paper (%)": pd.Series(PAPER),
        "δ-MRE vs GP (%)": pd.Series({m: 100 * delta_mre(eps[m], eps["gp"], dim="test") for m in methods})
        if "gp" in methods and len(common) else np.nan,
    }).reindex(methods)
    if FLOOR in methods and "gp" in methods and len(common):
        overall["removed of GP's excess over the floor (%)"] = (
            100 * (mean["gp"] - mean) / (mean["gp"] - mean[FLOOR])).reindex(methods)
    ordering = (bool(np.all(np.diff(overall.loc[probes, "mean ε (%)"].to_numpy()) < 0))
                if probes == list(METHODS) and len(common) else None)
    return {"lots": lots, "per_test": per_test, "overall": overall, "n_common": len(common),
            "n_pairs": len(wide), "ordering": ordering}


def plot_fig7(per_test: pd.DataFrame, path: Path, title: str) -> None:
    """Mean ε per test, one line per method (the paper's Fig. 7), as PNG (atomic write)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax = fig.add_subplot()
    positions = np.arange(len(per_test.index))
    for method in per_test.columns:
        if method == FLOOR:
            ax.plot(positions, per_test[method], color="0.4", linestyle="--", label="floor: the true field")
        else:
            ax.plot(positions, per_test[method], marker="o", markersize=3, label=method.upper())
    ax.set_xticks(positions, per_test.index, rotation=90, fontsize=7)
    ax.set_xlabel("test")
    ax.set_ylabel("mean ε (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fig.savefig(tmp, format="png", dpi=120)
    os.replace(tmp, path)


def print_summary(results_dir: Path, accept_code_change: bool = False) -> dict | None:
    """Print the summary of everything in ``results_dir`` and write its figure."""
    results_dir = Path(results_dir)
    table = load_results(results_dir, accept_code_change=accept_code_change)
    if table.empty:
        print(f"\nno results in {results_dir}")
        return None
    first = table.iloc[0]
    codes = sorted(set(table["code"]))
    print(f"\n== summary of {results_dir}: preset {first.preset}, seed {first.seed}, budget {first.budget}, "
          f"step {first.step}, wafer_offsets {first.wafer_offsets}, code {', '.join(codes)}")
    if len(codes) > 1:
        print(f"WARNING: results from {len(codes)} code versions are mixed")
    figures = summarize(table)
    print(figures["lots"].round(3).to_string())
    print(f"\n(wafer, test) pairs with a finite ε for every method: {figures['n_common']} of {figures['n_pairs']}")
    if figures["n_common"]:
        print("\nmean ε (%) per test (the paper's Fig. 7)\n" + figures["per_test"].round(3).to_string())
        print("\n" + figures["overall"].round(3).to_string())
        if figures["ordering"] is not None:
            means = ", ".join(f"{m} {v:.3f}" for m, v in figures["overall"]["mean ε (%)"].items() if m != FLOOR)
            print(f"\npaper's ordering GP > GP-PS > GP-ST > GP-ST-PS {'holds' if figures['ordering'] else 'does NOT hold'}"
                  f" (ours: {means} %)")
        if FLOOR in figures["overall"].index and "gp" in figures["overall"].index:
            gp, floor = figures["overall"].loc[["gp", FLOOR], "mean ε (%)"]
            print(f"floor (the true field) {floor:.3f} %: 10 % below GP would be {0.9 * gp:.3f} %, "
                  f"{100 * 0.1 * gp / (gp - floor):.0f} % of GP's excess over the floor")
        plot_fig7(figures["per_test"], results_dir / FIGURE,
                  f"virtual probe, {first.preset} fab, budget {first.budget:g} in steps of {first.step:g}: "
                  f"mean ε per test over the {figures['n_common']} (wafer, test) pairs every method has")
        print(f"figure: {results_dir / FIGURE}")
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fab and of the probe")
    parser.add_argument("--tests", default="all", help="comma list of tests, or 'all'")
    parser.add_argument("--lots", type=int, default=0, help="use only the first N lots (0 = all)")
    parser.add_argument("--lot-range", default="", help="lots A:B (0-based Python slice of the lot order)")
    parser.add_argument("--methods", default=",".join(STUDY_METHODS),
                        help=f"comma list of {', '.join(METHODS)} and {FLOOR} (the floor: the true field)")
    parser.add_argument("--budget", type=float, default=0.10)
    parser.add_argument("--step", type=float, default=0.025)
    parser.add_argument("--wafer-offsets", action="store_true",
                        help="lot methods remove each wafer's sampled mean first (SpatioTemporalGP(wafer_offsets=True))")
    parser.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="one CSV per <method>/<lot>")
    parser.add_argument("--workers", type=int, default=1, help="lots computed at a time, in separate processes")
    parser.add_argument("--summary", action="store_true", help="only summarize the results directory")
    parser.add_argument("--accept-code-change", action="store_true",
                        help="allow results of another fabnb.spatial/synth source version in the directory")
    parser.add_argument("--out", default="", help="also write the selected lots' ε rows to this one CSV")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    results_dir = Path(args.results_dir)
    if args.summary:
        return print_summary(results_dir, args.accept_code_change)

    methods = args.methods.split(",")
    unknown = [m for m in methods if m not in STUDY_METHODS]
    if unknown:
        raise FabDataError(f"--methods: unknown {unknown} (known: {', '.join(STUDY_METHODS)})")
    if args.workers < 1:
        raise FabDataError(f"--workers must be >= 1, got {args.workers}")
    options = {"preset": args.preset, "seed": args.seed, "budget": args.budget, "step": args.step,
               "wafer_offsets": args.wafer_offsets, "code": code_version()}
    done = load_results(results_dir, options, args.accept_code_change)  # refuse to mix before the fab build
    ds = fabnb.synth.fab(args.preset, seed=args.seed)
    lots = select_lots(lot_names(ds), args.lots, args.lot_range)
    known = list(np.asarray(ds["test"].values, dtype=str))
    tests = known if args.tests == "all" else args.tests.split(",")
    if set(tests) - set(known):
        raise FabDataError(f"--tests: {sorted(set(tests) - set(known))} not in the {args.preset} fab "
                           f"({known[0]}..{known[-1]})")
    n_wafers = int(np.isin(np.asarray(ds["lot"].values, dtype=str), lots).sum())
    print(f"{args.preset}: {len(lots)} lot(s) ({lots[0]}..{lots[-1]}), {n_wafers} wafers, {ds.sizes['die']} dies, "
          f"{len(tests)} tests, methods {', '.join(methods)} -> {results_dir}", flush=True)
    tasks = plan(results_dir, lots, methods, tests)
    if any(method == FLOOR for _, method, _ in tasks):
        ds = ds.assign(field=fabnb.synth.truth(ds)["field"].astype(float))
    print_estimate(done, tasks)
    start = time.perf_counter()
    run(ds, tasks, results_dir, options, workers=args.workers, progress=not args.no_progress)
    if tasks:
        print(f"{len(tasks)} (lot, method) unit(s) in {time.perf_counter() - start:.1f} s wall "
              f"with {args.workers} worker(s)", flush=True)
    if args.out:
        table = load_results(results_dir, options, args.accept_code_change)
        table = table[table["method"].isin(methods) & table["lot"].isin(lots) & table["test"].isin(tests)]
        write_atomic(table, Path(args.out))
    return print_summary(results_dir, args.accept_code_change)


if __name__ == "__main__":
    try:
        main()
    except FabDataError as exc:
        sys.exit(f"error: {exc}")
