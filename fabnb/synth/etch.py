"""A small synthetic plasma-etch process with known truth, for DoE teaching and tests.

Five factors in coded units (-1 = low, +1 = high; natural ranges in :data:`FACTORS`)
drive two responses, each a known second-order polynomial plus Gaussian noise::

    etch_rate = 500 + 60 power + 25 pressure + 10 gas_flow + 5 temperature
                + 35 power·pressure - 30 pressure²                   (nm/min, sd 8)
    cd        = 45 - 1.2 power + 0.6 pressure - 2.0 time - 0.4 temperature
                - 0.5 power·time + 0.8 time²                          (nm, sd 0.3)

The power × pressure interaction is what a one-factor-at-a-time study misses: from the
all-low baseline, raising pressure alone *lowers* the rate (25 - 35 < 0), so OFAT keeps
pressure low, yet the best corner is power and pressure both high. The pressure²
curvature is invisible at the factorial corners and shows up only at centre points.
``time`` has no effect on the etch rate (a true null for screening).

>>> import fabnb.doe as doe
>>> from fabnb.synth.etch import etch_response, TRUTH
>>> d = etch_response(doe.full_factorial(["power", "pressure", "gas_flow"]), seed=0)
>>> coef = doe.analyze(d, "etch_rate").coefficients["power:pressure"]
>>> bool(abs(coef - TRUTH["etch_rate"]["power:pressure"]) < 3 * 8 / 8 ** 0.5)  # 3 std errors
True
"""

import numpy as np

from .._params import check_option
from ..errors import FabParameterError

#: factor -> (low, high, unit)
FACTORS = {
    "power": (300.0, 700.0, "W"),
    "pressure": (20.0, 60.0, "mTorr"),
    "gas_flow": (50.0, 150.0, "sccm"),
    "time": (30.0, 90.0, "s"),
    "temperature": (20.0, 60.0, "degC"),
}

#: response -> coefficients in coded units ("a:b" interaction, "a^2" square)
TRUTH = {
    "etch_rate": {"Intercept": 500.0, "power": 60.0, "pressure": 25.0, "gas_flow": 10.0,
                  "time": 0.0, "temperature": 5.0, "power:pressure": 35.0, "pressure^2": -30.0},
    "cd": {"Intercept": 45.0, "power": -1.2, "pressure": 0.6, "gas_flow": 0.0, "time": -2.0,
           "temperature": -0.4, "power:time": -0.5, "time^2": 0.8},
}

#: response -> noise standard deviation
NOISE_SD = {"etch_rate": 8.0, "cd": 0.3}

UNITS = {"etch_rate": "nm/min", "cd": "nm"}


def factor_ranges(names=None):
    """``{factor: (low, high)}`` in natural units, for the design constructors.

    >>> factor_ranges(["power"])
    {'power': (300.0, 700.0)}
    """
    names = list(FACTORS) if names is None else list(names)
    _check_names(names)
    return {n: FACTORS[n][:2] for n in names}


def true_response(design, response="etch_rate"):
    """Noise-free response at every run of ``design`` (missing factors at 0).

    >>> import pandas as pd
    >>> float(true_response(pd.DataFrame({"power": [1.0], "pressure": [1.0]}))[0])
    590.0
    """
    check_option("true_response", "response", response, TRUTH)
    present = [c for c in FACTORS if c in design.columns]
    x = {f: design[f].to_numpy(dtype=float) if f in present else np.zeros(len(design))
         for f in FACTORS}
    out = np.zeros(len(design))
    for term, coef in TRUTH[response].items():
        if term == "Intercept":
            out += coef
        elif term.endswith("^2"):
            out += coef * x[term[:-2]] ** 2
        else:
            out += coef * np.prod([x[f] for f in term.split(":")], axis=0)
    return out


def etch_response(design, seed=0, noise_sd=None):
    """Run the design on the simulated etcher: a copy of ``design`` with ``etch_rate``
    and ``cd`` columns (design attrs kept).

    ``noise_sd``: ``None`` for :data:`NOISE_SD`, a number for the etch-rate noise (CD noise
    scaled in proportion), or a dict response -> sd.

    >>> import fabnb.doe as doe
    >>> d = etch_response(doe.ofat(["power", "pressure"]), seed=1, noise_sd=0)
    >>> d["etch_rate"].tolist()
    [420.0, 470.0, 400.0]
    """
    factors = design.attrs.get("doe", {}).get("factors")
    if factors is not None:
        _check_names(factors)
    if noise_sd is None:
        sd = dict(NOISE_SD)
    elif isinstance(noise_sd, dict):
        sd = {**NOISE_SD, **noise_sd}
    else:
        sd = {r: float(noise_sd) * s / NOISE_SD["etch_rate"] for r, s in NOISE_SD.items()}
    rng = np.random.default_rng(seed)
    out = design.copy()
    for response in TRUTH:
        out[response] = true_response(design, response) + rng.normal(0.0, sd[response], len(design))
    return out


def _check_names(names):
    unknown = [n for n in names if n not in FACTORS]
    if unknown:
        raise FabParameterError(
            f"factor(s) {unknown} are not knobs of the etch process; use {list(FACTORS)}"
        )
