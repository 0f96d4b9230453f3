"""Design of experiments and their analysis (``fabnb.doe``).

Designs are pandas DataFrames (coded factor columns, ``<factor>_natural``, ``std_order``,
``run_order``, ``replicate``, ``block``, ``center_point``) carrying their metadata in
``attrs["doe"]`` (see :mod:`fabnb.doe._layout`); analysis runs on statsmodels.

>>> import fabnb.doe as doe
>>> d = doe.fractional_factorial({"power": (300, 700), "pressure": (20, 60),
...                               "gas": (50, 150), "time": (30, 90)},
...                              generators=["D=ABC"], center_points=3, seed=0)
>>> len(d), doe.resolution(d)
(11, 4)
"""

import numpy as np
import pandas as pd

from .._params import check_option, check_params
from ..errors import FabDataError
from ._layout import assemble, coded_values, design_meta, parse_factors
from .analysis import Curvature, DoeResult, DoeWarning, Lenth, analyze, lenth
from .cost import DesignCost, design_cost
from .factorial import full_factorial
from .fractional import (AliasStructure, alias_structure, fold_over, fraction_meta, fractional_factorial,
                         resolution)
from .rsm import StationaryPoint, box_behnken, central_composite, stationary_point
from .screening import ofat, plackett_burman
from .split_lot import split_lot_design, split_lot_power


def as_design(frame, factors, kind="external", generators=None):
    """Attach design metadata to a DataFrame of runs (e.g. a textbook table), adding the
    bookkeeping columns it lacks.

    Factor columns hold coded values, or the natural levels when ``factors`` declares
    them (``{"p": [160, 180, 200, 220]}``, ``{"power": (300, 700)}``): those are coded
    (and the natural values kept in ``<factor>_natural``).

    A two-level table keeps its fraction: the defining relation is found from the
    columns (the words whose product column is constant ±1 over the factorial runs, see
    :func:`fabnb.doe.fractional.fraction_meta`), so :func:`alias_structure`,
    :func:`resolution` and :func:`fold_over` work on a fraction typed in from a book.
    ``generators`` as printed in the book (``["D=ABC"]``) are checked against the
    columns (a :class:`FabDataError` names the row that breaks one) and kept as written.
    A factor declared with more than two levels is analysed as categorical by default
    (see :func:`analyze`).

    >>> import pandas as pd
    >>> d = as_design(pd.DataFrame({"A": [-1, 1, -1, 1], "B": [-1, -1, 1, 1], "y": [1, 2, 3, 5]}), ["A", "B"])
    >>> float(analyze(d, "y", model="main").effects["A"])
    1.5
    >>> levels = [160, 180, 200, 220]
    >>> d = as_design(pd.DataFrame({"p": levels, "y": [1.0, 2, 3, 4]}), {"p": levels})
    >>> d["p"].round(4).tolist()
    [-1.0, -0.3333, 0.3333, 1.0]

    Montgomery's Example 8.1 (Sec. 8.2), the 2^(4-1) half fraction I = ABCD, typed in:

    >>> book = pd.DataFrame({"A": [-1, 1, -1, 1, -1, 1, -1, 1], "B": [-1, -1, 1, 1, -1, -1, 1, 1],
    ...                      "C": [-1, -1, -1, -1, 1, 1, 1, 1], "D": [-1, 1, 1, -1, 1, -1, -1, 1]})
    >>> print(alias_structure(as_design(book, list("ABCD")), max_order=2))
    Defining relation: I = ABCD
    Aliases (effects up to order 2):
    A
    B
    C
    D
    AB = CD
    AC = BD
    AD = BC
    """
    check_params("as_design", {"frame": [pd.DataFrame], "kind": [str], "generators": [None, str, list, tuple]},
                 {"frame": frame, "kind": kind, "generators": generators})
    parsed = parse_factors(factors)
    missing = [f.name for f in parsed if f.name not in frame.columns]
    if missing:
        check_option("as_design", "factors", missing[0], frame.columns)
    if frame.empty:
        raise FabDataError("the frame has no rows; a design needs at least one run")
    coded = np.column_stack([coded_values(f, frame[f.name]) for f in parsed])
    block = frame["block"].to_numpy() if "block" in frame else None
    if block is not None:
        codes = {b: i + 1 for i, b in enumerate(dict.fromkeys(block))}
        block = np.array([codes[b] for b in block])
    fraction = fraction_meta(coded, np.ones(len(coded)) if block is None else block,
                             [f.name for f in parsed], generators)
    design = assemble(coded, parsed, {"kind": kind, **fraction}, block, None, None)
    for col in frame.columns:
        if col not in design.columns:
            design[col] = frame[col].to_numpy()
    if "block" in frame:
        design["block"] = frame["block"].to_numpy()
    return design


__all__ = [
    "AliasStructure", "Curvature", "DesignCost", "DoeResult", "DoeWarning", "Lenth", "StationaryPoint",
    "alias_structure", "analyze", "as_design", "box_behnken", "central_composite",
    "design_cost", "design_meta", "fold_over", "fractional_factorial", "full_factorial",
    "lenth", "ofat", "plackett_burman", "resolution", "split_lot_design", "split_lot_power",
    "stationary_point",
]
