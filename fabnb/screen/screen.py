"""One screening run: every rule on a lot, one result per die, a PAT bin beside the
tester's bins, and the yield each rule costs.

Rules run in the order given; a passing die flagged by several rules gets the PAT bin
of the first (``PAT_BINS``), the tester's ``hbin``/``sbin`` are never changed.  Dies
that failed at the tester keep their bin in ``pat_bin`` and are not flagged by any rule
(screening takes out *passing* parts).

Example
-------
>>> import fabnb
>>> from fabnb.screen import screen, yield_loss
>>> ds = fabnb.synth.fab("small", seed=0)
>>> res = screen(ds)
>>> int(((res["pat_bin"] != ds["hbin"]) & (ds["hbin"] != 1)).sum())   # failing dies keep their bin
0
>>> list(yield_loss(res).columns)
['dies', 'yield_loss']
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .._params import StrOptions, check_params
from ..errors import FabParameterError
from . import _select
from .gdbn import bad_neighbours, gdbn, gdbn_cluster
from .nnr import nnr
from .pat import dynamic_pat_flags, dynamic_pat_limits, pat_flags, pat_limits
from .zpat import zpat

PAT_BINS = {"static_pat": 91, "dynamic_pat": 92, "nnr": 93, "gdbn": 94, "gdbn_cluster": 95, "zpat": 96}
RULE_NAMES = tuple(PAT_BINS)
DEFAULT_RULES = ("static_pat", "dynamic_pat", "nnr", "gdbn", "zpat")


def screen(ds: xr.Dataset, rules=DEFAULT_RULES, *, tests=None, limits: pd.DataFrame | None = None,
           k: float = 6.0, dynamic_by: str = "wafer", dynamic_method: str = "robust", min_parts: int = 30,
           nnr_k: float = 6.0, min_bad: float = 5, rings: int = 1, weights=None, min_cluster: int = 10,
           zpat_threshold: float = 0.5, min_wafers: int = 5, kind: str = "hbin",
           bins: dict | None = None) -> xr.Dataset:
    """Run the screening ``rules`` on ``ds`` and return one Dataset over (wafer, die[, test]).

    ``limits``: static PAT limits from a reference set (:func:`pat_limits`, or
    :func:`load_limits` for limits saved earlier); by default they are computed on
    ``ds`` itself.  The other settings are those of the rule functions.

    Result: one boolean flag per rule (wafer, die); ``pat_bin`` (wafer, die);
    ``first_rule`` (the rule that set the PAT bin, "" where none did); the reasons —
    ``static_pat_fail``/``dynamic_pat_fail``/``nnr_fail`` (wafer, die, test),
    ``bad_neighbours``, ``location_fail_rate`` — and the limits (``pat_lsl``/``pat_usl``
    on test, ``dpat_lsl``/``dpat_usl`` on wafer × test).  ``attrs`` record the settings
    and what could not be screened.
    """
    rules = (rules,) if isinstance(rules, str) else tuple(rules)
    for rule in rules:
        check_params("screen", {"rules": [StrOptions(set(RULE_NAMES))]}, {"rules": rule})
    if not rules:
        raise FabParameterError("screen needs at least one rule; choose from " + ", ".join(RULE_NAMES))
    codes = {**PAT_BINS, **(bins or {})}
    passing = _select.passing(ds, kind)
    coords = {"wafer": ds["wafer"].values}
    out = xr.Dataset(coords=coords)
    notes = []
    needs_limits = {"static_pat", "dynamic_pat"} & set(rules)
    if needs_limits:
        if limits is None:
            limits = pat_limits(ds, tests, k, min_parts=min_parts, kind=kind)
        out = out.assign_coords(test=[str(t) for t in limits.index])
        out["pat_lsl"] = ("test", limits["pat_lsl"].to_numpy(float))
        out["pat_usl"] = ("test", limits["pat_usl"].to_numpy(float))
        if "status" in limits:
            fallback = limits.index[limits["status"] != "ok"].tolist()
            if fallback:
                notes.append(f"static PAT fell back to spec limits for {fallback}")
    if "static_pat" in rules:
        fail = pat_flags(ds, limits) & passing[:, :, None]
        out["static_pat_fail"] = fail
        out["static_pat"] = fail.any("test")
    if "dynamic_pat" in rules:
        dyn = dynamic_pat_limits(ds, limits, by=dynamic_by, method=dynamic_method, min_parts=min_parts, kind=kind)
        fail = dynamic_pat_flags(ds, dyn) & passing[:, :, None]
        out["dpat_lsl"], out["dpat_usl"] = dyn["dpat_lsl"], dyn["dpat_usl"]
        out["dynamic_pat_fail"] = fail
        out["dynamic_pat"] = fail.any("test")
        n_static = int((dyn["status"] == "static").sum())
        if n_static:
            notes.append(f"dynamic PAT kept the static limits for {n_static} (group, test) pairs with too few parts")
    if "nnr" in rules:
        res = nnr(ds, tests if limits is None else list(limits.index), k=nnr_k, rings=rings, kind=kind)
        out = out.assign_coords(test=res["test"].values) if "test" not in out.coords else out
        out["nnr_residual"] = res["residual"]
        out["nnr_fail"] = res["nnr_fail"]
        out["nnr"] = res["nnr_fail"].any("test")
        if res.attrs["unscreened"]:
            notes.append(f"NNR: {res.attrs['unscreened']} measured values had too few measured neighbours")
    if "gdbn" in rules:
        out["bad_neighbours"] = bad_neighbours(ds, rings, weights, kind)
        out["gdbn"] = gdbn(ds, min_bad, rings, weights, kind)
    if "gdbn_cluster" in rules:
        out["gdbn_cluster"] = gdbn_cluster(ds, min_cluster, kind)
    if "zpat" in rules:
        z = zpat(ds, zpat_threshold, min_wafers, kind)
        out["location_fail_rate"] = z["location_fail_rate"]
        out["zpat"] = z["zpat"]
        if z.attrs["unscreened_lots"]:
            notes.append(f"Z-PAT did not screen lots {z.attrs['unscreened_lots']} (too few wafers)")
    tester = np.asarray(_select.bin_codes(ds, kind).transpose("wafer", "die").values)
    pat_bin = tester.copy()
    first = np.full(tester.shape, "", dtype=object)
    for rule in reversed(rules):  # the first rule in the list wins
        hit = out[rule].values
        pat_bin[hit] = codes[rule]
        first[hit] = rule
    out["pat_bin"] = (("wafer", "die"), pat_bin)
    out["first_rule"] = (("wafer", "die"), first.astype(str))
    out.attrs = {"rules": list(rules), "bins": {r: int(codes[r]) for r in rules}, "k": float(k),
                 "dynamic_by": dynamic_by, "nnr_k": float(nnr_k), "min_bad": float(min_bad), "rings": rings,
                 "zpat_threshold": float(zpat_threshold), "tester_bin": kind, "notes": notes,
                 "passing_dies": int(passing.sum())}
    if "lot" in ds.coords:
        out = out.assign_coords(lot=("wafer", np.asarray(ds["lot"].values).astype(str)))
    return out


def yield_loss(result: xr.Dataset, by: str | None = None) -> pd.DataFrame:
    """Passing dies each rule takes out, overall (``by=None``) or per ``"wafer"``,
    ``"lot"`` or ``"test"`` (the parametric rules, counted per failing test).

    A die flagged by two rules counts for both; the column/row ``"any"`` counts each die
    once.  Overall, ``yield_loss`` is ``dies / passing dies`` (the share of the tester's
    good dies the screen scraps).
    """
    check_params("yield_loss", {"by": [StrOptions({"wafer", "lot", "test"}), None]}, {"by": by})
    rules = list(result.attrs["rules"])
    if by == "test":
        fails = xr.Dataset({r: result[f"{r}_fail"] for r in rules if f"{r}_fail" in result})
        fails["any"] = fails.to_array("rule").any("rule")
        return fails.sum(("wafer", "die")).to_dataframe()[list(fails.data_vars)]
    flags = xr.Dataset({r: result[r] for r in rules})
    flags["any"] = flags.to_array("rule").any("rule")
    if by is None:
        dies = pd.Series({name: int(flags[name].sum()) for name in flags.data_vars}, name="dies")
        passing = result.attrs["passing_dies"]
        return pd.DataFrame({"dies": dies, "yield_loss": dies / passing if passing else np.nan}).rename_axis("rule")
    per = flags.sum("die")
    if by == "lot":
        per = per.groupby("lot").sum()
    return per.to_dataframe()[list(flags.data_vars)]
