"""One screening run: every rule on a lot, one result per die, a PAT bin beside the
tester's bins, and the yield each rule costs.

The value cube is taken from ``ds`` once and handed to every parametric rule (static
and dynamic PAT, NNR share the rule functions' code, so ``screen`` flags exactly what
:func:`~fabnb.screen.pat_flags`, :func:`~fabnb.screen.dynamic_pat_flags` and
:func:`~fabnb.screen.nnr` flag); each rule is one NumPy/Numba pass over the lot.

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
from . import _select, pat
from .gdbn import RULES as gdbn_rules
from .gdbn import bad_neighbours, gdbn_cluster
from .nnr import RULES as nnr_rules
from .nnr import residual_flags
from .zpat import zpat

PAT_BINS = {"static_pat": 91, "dynamic_pat": 92, "nnr": 93, "gdbn": 94, "gdbn_cluster": 95, "zpat": 96}
RULE_NAMES = tuple(PAT_BINS)
DEFAULT_RULES = ("static_pat", "dynamic_pat", "nnr", "gdbn", "zpat")
RULES = {"k": pat.RULES["k"], "nnr_k": nnr_rules["k"], "dynamic_by": pat.RULES["by"],
         "dynamic_method": pat.RULES["method"], "min_parts": pat.RULES["min_parts"],
         "min_bad": gdbn_rules["min_bad"]}


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
    check_params("screen", RULES, {"k": k, "nnr_k": nnr_k, "dynamic_by": dynamic_by,
                                   "dynamic_method": dynamic_method, "min_parts": min_parts, "min_bad": min_bad})
    if "nnr" in rules:
        check_params("screen", {"rings": nnr_rules["rings"]}, {"rings": rings})
    codes = {**PAT_BINS, **(bins or {})}
    passing = _select.passing(ds, kind)
    coords = {"wafer": ds["wafer"].values}
    out = xr.Dataset(coords=coords)
    notes = []
    needs_limits = {"static_pat", "dynamic_pat"} & set(rules)
    names = _select.select_tests(ds, tests) if limits is None else pat.limit_tests(ds, limits)
    v = _select.values(ds, names) if needs_limits or "nnr" in rules else None  # taken once for all rules
    if needs_limits:
        if limits is None:
            limits = pat.static_limits(ds, names, v, passing, k, method="robust", min_parts=min_parts, kind=kind,
                                       errors="warn")
        out = out.assign_coords(test=names)
        out["pat_lsl"] = ("test", limits["pat_lsl"].to_numpy(float))
        out["pat_usl"] = ("test", limits["pat_usl"].to_numpy(float))
        if "status" in limits:
            fallback = limits.index[limits["status"] != "ok"].tolist()
            if fallback:
                notes.append(f"static PAT fell back to spec limits for {fallback}")
    dims = ("wafer", "die", "test")
    if "static_pat" in rules:
        fail = pat.outside(v, limits["pat_lsl"].to_numpy(float), limits["pat_usl"].to_numpy(float))
        fail &= passing[:, :, None]
        out["static_pat_fail"] = (dims, fail)
        out["static_pat"] = (("wafer", "die"), fail.any(-1))
    if "dynamic_pat" in rules:
        dyn_k = float(limits.attrs.get("reference", {}).get("k", k))
        check_params("screen", {"k": pat.RULES["k"]}, {"k": dyn_k})  # the k the limits were made with
        dyn = pat.dynamic_limits(ds, names, v, passing, limits, by=dynamic_by, k=dyn_k, method=dynamic_method,
                                 min_parts=min_parts)
        fail = pat.outside(v, dyn["dpat_lsl"].values[:, None, :], dyn["dpat_usl"].values[:, None, :])
        fail &= passing[:, :, None]
        out["dpat_lsl"], out["dpat_usl"] = dyn["dpat_lsl"], dyn["dpat_usl"]
        out["dynamic_pat_fail"] = (dims, fail)
        out["dynamic_pat"] = (("wafer", "die"), fail.any(-1))
        n_static = int((dyn["status"] == "static").sum())
        if n_static:
            notes.append(f"dynamic PAT kept the static limits for {n_static} (group, test) pairs with too few parts")
    if "nnr" in rules:
        res = residual_flags(ds, names, v, passing, nnr_k, rings, 3)
        out = out.assign_coords(test=names) if "test" not in out.coords else out
        out["nnr_residual"] = res["residual"]
        out["nnr_fail"] = res["nnr_fail"]
        out["nnr"] = (("wafer", "die"), res["nnr_fail"].values.any(-1))
        if res.attrs["unscreened"]:
            notes.append(f"NNR: {res.attrs['unscreened']} measured values had too few measured neighbours")
    if "gdbn" in rules:
        out["bad_neighbours"] = bad_neighbours(ds, rings, weights, kind)
        out["gdbn"] = (("wafer", "die"), passing & (out["bad_neighbours"].values >= min_bad))
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
