"""Split-lot experiment to confirm suspected (killer) tools.

Each lot's wafers are divided at the suspect step between the candidate tool and a
reference tool, balanced and randomized within the lot: lot-to-lot variation cancels
from the comparison, and the routing confounding of production data cannot occur
because the experimenter, not the dispatcher, chose the tool. Several candidates at
different steps are crossed as a 2^c factorial inside every lot (each combination on
``wafers_per_lot / 2^c`` wafers), so each candidate is compared on all wafers.

Power. Model the wafer yield as ``y = mu + lot + delta x + e`` with ``x = ±1/2``
(candidate/reference) and ``e ~ N(0, sigma^2)`` the wafer-to-wafer yield scatter inside a
lot. With ``N`` wafers split evenly, the lot-blocked estimate of ``delta`` has standard
error ``2 sigma / sqrt(N)`` and ``N - lots - c`` residual degrees of freedom; the
two-sided level-``alpha`` t test detects a yield change ``delta`` with probability
``P(|T| > t_{1-alpha/2, df})``, ``T`` non-central t with ``ncp = delta sqrt(N) / (2 sigma)``.
``sigma`` comes from history; pure binomial scatter of a wafer of ``n`` dies at yield
``p`` is ``sqrt(p (1-p) / n)``, real wafers scatter more.
"""

import numpy as np
import pandas as pd
from scipy import stats

from .._params import Integral, Interval, Real, check_params
from ..errors import FabParameterError
from ._layout import RULES, Factor, assemble
from .factorial import base_matrix

#: Rules for the arguments of the split-lot functions.
SPLIT_RULES = {
    "n_wafers": [Interval(Integral, 1, None, closed="left")],
    "n_lots": [Interval(Integral, 1, None, closed="left")],
    "n_candidates": [Interval(Integral, 1, None, closed="left")],
    "lots": [Interval(Integral, 1, None, closed="left"), list, tuple],
    "wafers_per_lot": [Interval(Integral, 2, 25, closed="both")],
    "reference": [None, dict],
    "effect": [Interval(Real, None, None, closed="neither")],
    "wafer_sd": [Interval(Real, 0, None, closed="neither")],
    "alpha": [Interval(Real, 0, 1, closed="neither")],
    "target_power": [Interval(Real, 0, 1, closed="neither")],
    "seed": RULES["seed"],
}


def split_lot_power(n_wafers, n_lots, effect, wafer_sd, alpha=0.05, n_candidates=1):
    """Probability that a split-lot experiment detects a yield change ``effect``.

    >>> round(split_lot_power(96, 4, effect=0.03, wafer_sd=0.04), 3)
    0.953
    """
    check_params("split_lot_power", SPLIT_RULES, {
        "n_wafers": n_wafers, "n_lots": n_lots, "effect": effect, "wafer_sd": wafer_sd,
        "alpha": alpha, "n_candidates": n_candidates})
    if n_wafers <= n_lots + n_candidates:
        raise FabParameterError(
            f"n_wafers={n_wafers} leaves no residual degrees of freedom after {n_lots} lot(s) and "
            f"{n_candidates} candidate(s); use more than {n_lots + n_candidates} wafers"
        )
    df = n_wafers - n_lots - n_candidates
    ncp = abs(effect) * np.sqrt(n_wafers) / (2 * wafer_sd)
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def split_lot_design(candidates, lots=4, wafers_per_lot=24, reference=None, effect=0.05,
                     wafer_sd=0.03, alpha=0.05, target_power=0.8, seed=0):
    """Wafer-by-wafer tool assignment for a split-lot confirmation experiment.

    Parameters
    ----------
    candidates : DataFrame with columns ``step`` and ``tool``, list of ``(step, tool)``,
        or dict step -> tool. One candidate per step.
    lots : int or list of lot ids
    wafers_per_lot : int
        A multiple of ``2**len(candidates)`` so every lot is balanced.
    reference : dict step -> tool, optional
        The comparison tool at each step (default: "not <candidate>", any other tool).
    effect, wafer_sd, alpha, target_power
        Yield change to detect (fraction), wafer-to-wafer yield SD within a lot, test
        level, and the power for ``attrs["doe"]["lots_needed"]``.
    seed : int
        Randomizes which wafers (slots) of each lot go to which tool.

    Returns a design DataFrame, one row per wafer: ``lot``, ``slot``, ``wafer``, one coded
    column per step (+1 = candidate tool, -1 = reference) with the tool in
    ``<step>_natural``, and ``block`` = lot. ``attrs["doe"]`` holds the power.

    >>> d = split_lot_design([("S12", "ETCH03")], lots=2, wafers_per_lot=8, seed=1)
    >>> d.groupby("lot")["S12"].sum().tolist()
    [0.0, 0.0]
    >>> round(d.attrs["doe"]["power"], 2)
    0.87
    """
    check_params("split_lot_design", SPLIT_RULES, {
        "lots": lots, "wafers_per_lot": wafers_per_lot, "reference": reference, "effect": effect,
        "wafer_sd": wafer_sd, "alpha": alpha, "target_power": target_power, "seed": seed})
    pairs = _candidates(candidates)
    lot_ids = [f"SPL{i + 1:02d}" for i in range(lots)] if isinstance(lots, Integral) else list(lots)
    if not lot_ids:
        raise FabParameterError("lots: give a positive number of lots or a non-empty list of lot ids")
    combos = base_matrix(len(pairs))
    if wafers_per_lot % len(combos):
        raise FabParameterError(
            f"wafers_per_lot={wafers_per_lot} cannot be split evenly over the {len(combos)} tool "
            f"combinations of {len(pairs)} candidate(s) within a 25-slot lot; use a multiple of "
            f"{len(combos)} up to 25, or confirm fewer candidates per experiment"
        )
    rng = np.random.default_rng(seed)
    one_lot = np.repeat(combos, wafers_per_lot // len(combos), axis=0)
    coded = np.vstack([one_lot[rng.permutation(wafers_per_lot)] for _ in lot_ids])
    reference = reference or {}
    factors = [Factor(step, (reference.get(step, f"not {tool}"), tool)) for step, tool in pairs]
    n = len(coded)
    power = split_lot_power(n, len(lot_ids), effect, wafer_sd, alpha, len(pairs))
    lots_needed = next((m for m in range(1, 201)
                        if m * wafers_per_lot > m + len(pairs)
                        and split_lot_power(m * wafers_per_lot, m, effect, wafer_sd, alpha,
                                            len(pairs)) >= target_power), None)
    meta = {"kind": "split_lot", "candidates": pairs, "block_labels": lot_ids,
            "replicates": 1, "center_points": 0, "effect": effect, "wafer_sd": wafer_sd,
            "alpha": alpha, "power": power, "target_power": target_power,
            "lots_needed": lots_needed}
    lot_index = np.repeat(np.arange(1, len(lot_ids) + 1), wafers_per_lot)
    slots = np.tile(np.arange(1, wafers_per_lot + 1), len(lot_ids))
    lot_col = np.asarray(lot_ids, dtype=object)[lot_index - 1]
    extra = {"lot": lot_col, "slot": slots,
             "wafer": [f"{lot}-{slot:02d}" for lot, slot in zip(lot_col, slots)]}
    design = assemble(coded, factors, meta, lot_index, None, None, extra)
    front = ["lot", "slot", "wafer"]
    design = design[front + [c for c in design.columns if c not in front]]
    design.attrs["doe"]["randomized"] = True
    design.attrs["doe"]["seed"] = seed
    return design


def _candidates(candidates):
    if isinstance(candidates, pd.DataFrame):
        if not {"step", "tool"} <= set(candidates.columns):
            raise FabParameterError("candidates: the DataFrame needs 'step' and 'tool' columns")
        pairs = list(zip(candidates["step"], candidates["tool"]))
    elif isinstance(candidates, dict):
        pairs = list(candidates.items())
    else:
        pairs = [tuple(c) for c in candidates]
    if not pairs or any(len(p) != 2 for p in pairs):
        raise FabParameterError("candidates: give (step, tool) pairs, e.g. [('S12', 'ETCH03')]")
    steps = [str(s) for s, _ in pairs]
    dup = sorted({s for s in steps if steps.count(s) > 1})
    if dup:
        raise FabParameterError(
            f"several candidates share step(s) {dup}; a wafer passes one tool per step, so "
            "confirm them in separate split-lot experiments (or keep the top one)"
        )
    return [(str(s), str(t)) for s, t in pairs]
