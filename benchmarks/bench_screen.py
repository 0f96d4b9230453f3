"""Outlier screening benchmark: fabnb.screen on one 25-wafer lot against NumPy/SciPy
written the obvious way, same data, one run.

    python -m benchmarks.bench_screen [--wafers 25] [--repeat 3] [--latent-rate 0.002]

Data: the first ``--wafers`` wafers of the default synthetic fab (5,540 dies × 39
tests) with latent-defect dies (``fab("default", seed=0, latent_rate=...)``: dies that
pass every spec but carry a shift of a few noise sigmas in several tests of one group,
more likely next to killed dies and at recurring weak sites of a lot; see
:mod:`fabnb.synth._latent`).  Rows: static PAT limits (fabnb's one-sort quantiles vs ``np.nanquantile``),
NNR (fabnb's Numba neighbour median vs ``scipy.ndimage.generic_filter`` with
``np.nanmedian`` on the map image, one wafer and test at a time), and the whole
``screen`` (static + dynamic PAT, NNR, GDBN, GDBN cluster, Z-PAT).  Accuracy: the
largest difference between the two results.  Best of ``--repeat`` after a warm-up
(Numba compile excluded).  Then, against the simulator's truth, each rule's detection
rate (latent dies flagged / latent dies) and false-scrap rate (clean passing dies
flagged / clean passing dies; clean = no latent defect and no outlier value).  Asserts
nothing.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from benchmarks import best_of


def main(argv=None):
    from scipy import ndimage

    import fabnb
    from fabnb import screen as S
    from fabnb.screen import _select

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wafers", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latent-rate", type=float, default=0.002)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    ds = fabnb.synth.fab("default", seed=0, latent_rate=args.latent_rate).isel(wafer=slice(0, args.wafers)).load()
    tests = _select.select_tests(ds)
    print(f"data: {ds.sizes['wafer']} wafers x {ds.sizes['die']} dies x {len(tests)} tests, "
          f"latent_rate {args.latent_rate}")

    def numpy_limits():
        v = _select.values(ds, tests).reshape(-1, len(tests))
        lsl, usl = _select.spec_limits(ds, tests)
        keep = (ds["hbin"].values.reshape(-1) == 1)[:, None] & _select.inside(v, lsl, usl)
        q1, med, q3 = np.nanquantile(np.where(keep, v, np.nan), [0.25, 0.5, 0.75], axis=0)
        return np.fmax(med - 6 * (q3 - q1) / 1.35, lsl)

    t_ours, lim = best_of(lambda: S.pat_limits(ds), args.repeat)
    t_ref, ref = best_of(numpy_limits, args.repeat)
    dev = float(np.nanmax(np.abs(lim["pat_lsl"].to_numpy() - ref)))
    print(f"  static PAT limits   fabnb {t_ours * 1e3:8.1f} ms   np.nanquantile {t_ref * 1e3:8.1f} ms"
          f"   x{t_ref / t_ours:6.1f}   max |Δ limit| {dev:.1e}")

    col, row = ds["col"].values, ds["row"].values
    n_tests_ref = 3  # generic_filter is slow: time 3 tests and scale to all

    def scipy_nnr_median():
        out = np.full((ds.sizes["wafer"], ds.sizes["die"], n_tests_ref), np.nan)
        footprint = np.ones((3, 3), dtype=bool)
        footprint[1, 1] = False
        for w in range(ds.sizes["wafer"]):
            for t in range(n_tests_ref):
                img = np.full((row.max() + 1, col.max() + 1), np.nan)
                img[row, col] = ds["value"].values[w, :, t]
                med = ndimage.generic_filter(img, np.nanmedian, footprint=footprint, mode="constant", cval=np.nan)
                out[w, :, t] = med[row, col]
        return out

    t_ours, res = best_of(lambda: S.nnr(ds), args.repeat)
    t_ref, med = best_of(scipy_nnr_median, 1)
    t_ref *= len(tests) / n_tests_ref
    ours = ds["value"].values[:, :, :n_tests_ref] - res["residual"].values[:, :, :n_tests_ref]
    both = np.isfinite(ours) & np.isfinite(med)
    dev = float(np.max(np.abs(ours[both] - med[both])))
    print(f"  NNR (all tests)     fabnb {t_ours * 1e3:8.1f} ms   scipy generic_filter {t_ref:8.1f} s (scaled)"
          f"   x{t_ref / t_ours:6.0f}   max |Δ estimate| {dev:.1e}")

    rules = S.RULE_NAMES
    t_all, out = best_of(lambda: S.screen(ds, rules=rules), args.repeat)
    cpu = time.process_time()
    S.screen(ds, rules=rules)
    cpu = time.process_time() - cpu  # what the screen itself costs when other jobs share the cores
    loss = S.yield_loss(out)
    print(f"  screen, all rules   fabnb {t_all:8.2f} s wall, {cpu:.2f} s CPU   (target < 2 s); dies taken out: "
          + ", ".join(f"{r} {int(n)}" for r, n in loss["dies"].items()))

    truth = fabnb.synth.truth(ds)
    latent = truth["latent"].values
    clean = (ds["hbin"].values == 1) & ~latent & ~truth["outlier"].values.any(-1)
    print(f"against the truth: {int(latent.sum())} latent dies, {int(clean.sum())} clean passing dies")
    print(f"  {'rule':14s} {'detection':>18s} {'false scrap':>22s}")
    flags = {r: out[r].values for r in rules}
    flags["any"] = np.any(list(flags.values()), axis=0)
    for rule, f in flags.items():
        print(f"  {rule:14s} {f[latent].mean():8.3f} ({int(f[latent].sum()):4d}/{int(latent.sum())})"
              f" {f[clean].mean():10.5f} ({int(f[clean].sum()):5d}/{int(clean.sum())})")


if __name__ == "__main__":
    main()
