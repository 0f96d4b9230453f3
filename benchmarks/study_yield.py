"""The HVM yield study (the paper's Section V-B, Table and Fig. 8) on the synthetic fab.

    python -m benchmarks.study_yield                                  # default fab, 39 tests, 4 methods + 2 references
    python -m benchmarks.study_yield --methods hist-rs,kde-rs          # RS methods only (minutes)
    python -m benchmarks.study_yield --preset small --lots 3 --out /tmp/yield.csv
    python -m benchmarks.study_yield --methods hist-gp-st-ps,kde-gp-st-ps --reconstruction mean   # the paper's recipe

Early silicon = first wafer of each of the first ``--lots`` lots, 10 % of the dies;
actual = every die of every other wafer; limits = ±3σ of the HVM population.  Prints
the per-test absolute yield error and KS distance, the mean yield error per method
and the KS of ``--ks-test`` beside the paper's numbers (1.16 / 0.63 / 0.61 / 0.21 % and
0.25 / 0.23 / 0.11 / 0.087).  ``--reconstruction`` fills the GP-ST-PS methods'
unsampled dies with posterior predictive draws (``draw``, default) or the posterior
mean (``mean``, the paper's recipe).  ``--out`` writes the per-(test, method) table as CSV
(temporary name, then renamed).

The references ``hist-all`` and ``kde-all`` run the same density estimators on every
measured die of the early wafers: no sampling can beat them except by chance, so they
show how much of each method's error is the drift between early silicon and HVM.  The
summary's "|vs all early dies|" column is each method's distance from its reference.
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd

import fabnb
from fabnb.density.study import METHODS, RECONSTRUCTIONS, REFERENCE_METHODS, summary, yield_study


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lots", type=int, default=5)
    parser.add_argument("--tests", default="all", help="comma list of tests, or 'all'")
    parser.add_argument("--methods", default=",".join(METHODS + REFERENCE_METHODS),
                        help="comma list; hist-all and kde-all are the references (every early die measured)")
    parser.add_argument("--n-synthetic", type=int, default=1_000_000)
    parser.add_argument("--ks-test", default="", help="test whose KS distance is printed (default: the first)")
    parser.add_argument("--bandwidth", default="scipy_silverman",
                        help="KDE pilot bandwidth: scipy_silverman (the committed results), silverman "
                             "(R's bw.nrd0), scott, scipy_scott, isj")
    parser.add_argument("--bins", type=int, default=20, help="histogram bins (the paper: 20)")
    parser.add_argument("--reconstruction", default="draw", choices=RECONSTRUCTIONS,
                        help="GP-ST-PS unsampled dies: posterior predictive draws (draw) or the posterior mean "
                             "(mean, the paper's recipe)")
    parser.add_argument("--out", default="")
    args = parser.parse_args(argv)

    ds = fabnb.synth.fab(args.preset, seed=args.seed)
    tests = None if args.tests == "all" else args.tests.split(",")
    start = time.perf_counter()
    table = yield_study(ds, tests=tests, methods=tuple(args.methods.split(",")), n_lots=args.lots,
                        n_synthetic=args.n_synthetic, seed=args.seed, bins=args.bins,
                        kde_options={"bandwidth": args.bandwidth}, reconstruction=args.reconstruction)
    print(f"{args.preset}: {ds.sizes['wafer']} wafers, {ds.sizes['die']} dies; reconstruction {args.reconstruction}, "
          f"bandwidth {args.bandwidth}, {args.bins} bins; study {time.perf_counter() - start:.1f} s")
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        wide = table.pivot(index="test", columns="method", values=["abs_yield_error", "ks"])
        wide["abs_yield_error"] *= 100
        print("\nper test: |yield error| (%) and KS\n" + wide.round(4).to_string())
        print("\n" + summary(table, args.ks_test or None).round(4).to_string())
    if args.out:
        tmp = args.out + ".tmp"
        table.to_csv(tmp, index=False)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
