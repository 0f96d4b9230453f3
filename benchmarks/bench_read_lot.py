"""A lot folder -> one Dataset: fabnb.io.read on 25 wafer files, timed.

``python -m benchmarks.bench_read_lot`` (needs ../shared/data/stdf/*.stdf).  The folder is
made in a temporary directory by writing the real files' data under 25 wafer ids with
fabnb's STDF writer (:func:`fabnb.io.write_stdf`; the real samples alternate), so each
file is one wafer as on a test floor.  Prints files/s, MB/s and dies/s of the read (best
of 3 after a warm-up read, so Numba's compilation is not counted), and of the same read
through ``fabnb.io.read_stdf`` on the file list (the folder walk and format sniffing
cost the difference).

Hook for the lot report: :func:`report_seconds` is called with the folder after the
reading is timed; while it returns None (the lot report template is being redone) only
the reading is printed.  Once the template reads ``dataset`` as a folder, set it to run
``fabnb.report.run("lot_report", {"dataset": str(folder)}, out)`` and the benchmark prints
the report's time against the reading alone (issue 21: the report must not cost more
than 3x the reading plus papermill's fixed start).  Nothing is asserted about time.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stdf"
N_WAFERS = 25
REPEATS = 3


def make_folder(folder: Path, n_wafers: int = N_WAFERS) -> list[Path]:
    """``n_wafers`` STDF files in ``folder``, the real samples' data under new wafer ids."""
    import fabnb.io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the samples' known notes (stale RTST_CNT, ...)
        real = [fabnb.io.read_stdf(p, progress=False) for p in sorted(SAMPLES.glob("*.stdf"))]
    paths = []
    for k in range(1, n_wafers + 1):
        one = real[k % len(real)]
        one = one.assign_coords(wafer=[f"LOT25-{k:02d}"], lot=("wafer", ["LOT25"]))
        paths.append(fabnb.io.write_stdf(one, folder / f"LOT25-{k:02d}.stdf", byteorder=">"))
    return paths


def _best(fn, repeats=REPEATS) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def report_seconds(folder: Path) -> float | None:
    """Seconds to render the lot report of ``folder``; None until the redone lot report
    template takes a folder as its ``dataset`` (see the module docstring)."""
    return None


def main() -> None:
    import fabnb.io

    if not SAMPLES.is_dir():
        print(f"skipped: {SAMPLES} is absent")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "LOT25"
        folder.mkdir()
        paths = make_folder(folder)
        mb = sum(p.stat().st_size for p in paths) / 1e6

        def read_folder():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fabnb.io.read(folder, progress=False)

        def read_list():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return fabnb.io.read_stdf(paths, progress=False)

        read_folder()  # warm-up: Numba's cached kernels load once per process
        seconds, ds = _best(read_folder)
        list_seconds, _ = _best(read_list)
        dies = ds.sizes["wafer"] * ds.sizes["die"]
        print(f"{len(paths)} wafer files, {mb:.1f} MB -> Dataset {dict(ds.sizes)}")
        print(f"fabnb.io.read(folder):     {seconds:6.2f} s  {len(paths) / seconds:6.1f} files/s  "
              f"{mb / seconds:6.1f} MB/s  {dies / seconds:9,.0f} dies/s")
        print(f"fabnb.io.read_stdf(list):  {list_seconds:6.2f} s  "
              f"{len(paths) / list_seconds:6.1f} files/s  {mb / list_seconds:6.1f} MB/s")
        report = report_seconds(folder)
        if report is None:
            print("lot report: not timed (report_seconds hook not set; template being redone)")
        else:
            print(f"lot report HTML:           {report:6.2f} s  = "
                  f"{report / seconds:.1f}x the reading")


if __name__ == "__main__":
    main()
