"""``make demo``: the synthetic fab end to end, into one output folder.

``python -m fabnb.demo --out out [--preset default] [--seed 0]`` writes

- ``fab.zarr``: the synthetic fab as a contract Dataset (Zarr store),
- ``lot_report.html`` + ``lot_report.ipynb``: the lot report run on that store, and
  ``yield_study.html``: the early-wafer yield study (Hist/KDE x RS/GP-ST-PS; on the
  small fab, see ``OVERRIDES``), or the templates named with ``--reports``,
- ``wafer_gallery.png``: bin maps of the lowest-yield wafers; ``bin_pareto.png``,
- ``yield_by_wafer.csv``, ``zone_stats.csv``: two of its tables,

then prints the paths, the headline numbers (wafers, dies, overall yield, worst wafer)
and how long each stage took.

Example
-------
>>> from fabnb.demo import main
>>> main(["--out", "out", "--preset", "small"])   # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

#: report templates the demo runs: the lot report and the early-wafer yield study
REPORTS = ("lot_report", "yield_study")
#: parameters that override the demo's for one template: the yield study over all 39 tests
#: of the default fab takes ~8.5 minutes (``python -m benchmarks.study_yield`` runs it), past
#: the demo's 3-minute budget, so the demo runs it on the small synthetic fab instead
OVERRIDES = {"yield_study": {"dataset": "synthetic", "preset": "small"}}
#: wafers in the demo's gallery (the lowest-yield ones): a few hundred panels take minutes
GALLERY_WAFERS = 24


class _Stopwatch:
    """Named stage timings, printed at the end."""

    def __init__(self):
        self.stages = {}
        self._t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.stages[name] = now - self._t
        self._t = now


def _save(fig, path: Path) -> None:
    """Save a matplotlib figure (or the figure of an Axes) atomically."""
    import matplotlib.pyplot as plt

    from .io import atomic_path

    fig = getattr(fig, "figure", fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix[1:])
    plt.close(fig)


def _write_csv(table, path: Path) -> None:
    from .io import atomic_path

    with atomic_path(path) as tmp:
        table.to_csv(tmp)


def _report_parameters(name: str, store: Path, preset: str, seed: int) -> dict:
    """A template reads the Zarr store when it declares ``dataset``, else builds the same
    synthetic fab from ``preset`` and ``seed`` (passed either way: they also size the
    analysis); ``OVERRIDES`` has the last word."""
    from .report import read_parameters, template_path

    declared = read_parameters(template_path(name))
    parameters = {k: v for k, v in (("preset", preset), ("seed", seed)) if k in declared}
    if "dataset" in declared:
        parameters["dataset"] = str(store)
    parameters.update(OVERRIDES.get(name, {}))
    if "title" in declared:
        shown = parameters.get("preset", preset)
        parameters["title"] = f"{name.replace('_', ' ').capitalize()}: synthetic fab ({shown})"
    return parameters


def headline(ds) -> dict:
    """Wafers, dies per wafer, overall yield and the worst wafer of a contract Dataset.

    Example
    -------
    >>> import fabnb
    >>> headline(fabnb.synth.fab("small", seed=0))["wafers"]  # doctest: +SKIP
    18
    """
    from . import summary

    info = summary.overview(ds)
    per_wafer = summary.yield_by_wafer(ds)
    worst = per_wafer["yield"].idxmin()
    return {
        "lots": info["lots"],
        "wafers": info["wafers"],
        "dies per wafer": info["dies"],
        "tests": info["tests"],
        "overall yield": info["yield"],
        "worst wafer": worst,
        "worst wafer yield": float(per_wafer.loc[worst, "yield"]),
    }


def main(argv=None) -> int:
    """Run the demo; returns the exit code (0)."""
    parser = argparse.ArgumentParser(prog="python -m fabnb.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out", help="output folder (created)")
    parser.add_argument("--preset", default="default", choices=("default", "small"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reports", default=",".join(REPORTS),
                        help="comma-separated report templates to run on the fab")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from . import io, plot, report, summary, synth

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clock = _Stopwatch()

    ds = synth.fab(args.preset, seed=args.seed)
    clock.lap("synthetic fab")
    store = out / "fab.zarr"
    io.write_zarr(ds, store)  # replaces an older store atomically
    clock.lap("write Zarr")

    paths = {"fab": store}
    per_wafer = summary.yield_by_wafer(ds)
    lowest = list(per_wafer["yield"].sort_values().index[:GALLERY_WAFERS])
    paths["gallery"] = out / "wafer_gallery.png"
    _save(plot.wafer_gallery(ds, wafers=lowest, bins=True), paths["gallery"])
    paths["pareto"] = out / "bin_pareto.png"
    _save(plot.bin_pareto(ds), paths["pareto"])
    paths["yield"] = out / "yield_by_wafer.csv"
    _write_csv(per_wafer, paths["yield"])
    paths["zones"] = out / "zone_stats.csv"
    _write_csv(summary.zone_stats(ds), paths["zones"])
    clock.lap("figures and tables")

    names = [name.strip() for name in args.reports.split(",") if name.strip()]
    jobs = {name: _report_parameters(name, store, args.preset, args.seed) for name in names}
    with ThreadPoolExecutor(max_workers=2) as pool:  # each report has its own kernel
        futures = {name: pool.submit(report.run, name, parameters, out / f"{name}.html")
                   for name, parameters in jobs.items()}
        for name, future in futures.items():
            result = future.result()
            paths[name], paths[f"{name} notebook"] = result.html, result.notebook
    clock.lap("reports")

    print("fabnb demo: wrote")
    for path in paths.values():
        print(f"  {path}")
    print("headline numbers:")
    for key, value in headline(ds).items():
        shown = f"{value:.1%}" if "yield" in key else value
        print(f"  {key:>18}: {shown}")
    print("time (s):")
    for stage, seconds in clock.stages.items():
        print(f"  {stage:>18}: {seconds:6.1f}")
    print(f"  {'total':>18}: {sum(clock.stages.values()):6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
