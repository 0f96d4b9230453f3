"""The virtual-probe study (the paper's Fig. 7) on the synthetic fab, from the command line.

    python -m benchmarks.study_virtual_probe                      # default fab, all 39 tests, all wafers (hours)
    python -m benchmarks.study_virtual_probe --lots 2 --tests T01,T05,T10
    python -m benchmarks.study_virtual_probe --preset small --out /tmp/vp.csv
    python -m benchmarks.study_virtual_probe --lots 2 --methods gp-st,gp-st-ps --wafer-offsets

Prints mean ε per method per test and overall, δ-MRE of each method vs GP, and the
paper's figures (7.3 / 6.9 / 5.9 / 5.6 %) beside ours.  ``--out`` also writes every
(method, wafer, test) ε as CSV (temporary name, then renamed).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import fabnb
from fabnb.spatial import METHODS, delta_mre, spec_range_error, virtual_probe

PAPER = {"gp": 7.3, "gp-ps": 6.9, "gp-st": 5.9, "gp-st-ps": 5.6}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tests", default="all", help="comma list of tests, or 'all'")
    parser.add_argument("--lots", type=int, default=0, help="use only the first N lots (0 = all)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default="", help="CSV of every (method, wafer, test) ε")
    parser.add_argument("--wafer-offsets", action="store_true",
                        help="lot methods remove each wafer's sampled mean first (SpatioTemporalGP(wafer_offsets=True))")
    args = parser.parse_args(argv)

    ds = fabnb.synth.fab(args.preset, seed=args.seed)
    if args.lots:
        lots = list(dict.fromkeys(np.asarray(ds["lot"].values, dtype=str)))[: args.lots]
        ds = ds.isel(wafer=np.isin(np.asarray(ds["lot"].values, dtype=str), lots))
    tests = list(ds["test"].values) if args.tests == "all" else args.tests.split(",")
    methods = args.methods.split(",")
    print(f"{args.preset}: {ds.sizes['wafer']} wafers, {ds.sizes['die']} dies, {len(tests)} tests", flush=True)
    measured = ds["value"].sel(test=tests)
    eps = {}
    for method in methods:
        start = time.perf_counter()
        options = {"wafer_offsets": True} if args.wafer_offsets and method.startswith("gp-st") else None
        out = virtual_probe(ds, tests, method=method, seed=args.seed, model_options=options)
        eps[method] = spec_range_error(measured, out["value_pred"], out["sampled"])
        print(f"{method:9s} {time.perf_counter() - start:8.1f} s  mean ε {100 * float(eps[method].mean()):.3f} %",
              flush=True)

    per_test = pd.DataFrame({m: 100 * eps[m].mean("wafer").to_series() for m in methods})
    print("\nmean ε (%) per test\n" + per_test.round(3).to_string())
    summary = pd.DataFrame({
        "mean ε (%)": {m: 100 * float(eps[m].mean()) for m in methods},
        "paper (%)": {m: PAPER[m] for m in methods},
        "δ-MRE vs GP (%)": {m: 100 * delta_mre(eps[m], eps["gp"], dim="test") for m in methods}
        if "gp" in methods else {},
    })
    print("\n" + summary.round(3).to_string())
    if args.out:
        table = pd.concat({m: eps[m].to_series() for m in methods}, names=["method"]).rename("eps")
        tmp = args.out + ".tmp"
        table.to_csv(tmp)
        os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
