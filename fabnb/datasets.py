"""Published example data sets that fabnb's methods are checked against.

* :func:`old_faithful_eruptions` — the bandwidth rules (:mod:`fabnb.density.bandwidth`).
* :func:`mauna_loa_co2` — the composite-kernel GP (:mod:`fabnb.spatial.kernels`).

Old Faithful: R's ``faithful$eruptions`` (Härdle 1991, *Smoothing Techniques with Implementation in S*;
272 eruptions of the Old Faithful geyser, minutes; shipped with R, public domain).  R's
documentation example ``density(faithful$eruptions)`` prints "Bandwidth 'bw' = 0.3348"
(Silverman's rule of thumb, ``bw.nrd0``); ``summary`` gives mean 3.488, sd 1.141371.

>>> from fabnb.datasets import old_faithful_eruptions
>>> x = old_faithful_eruptions()
>>> x.size, round(float(x.mean()), 3)
(272, 3.488)
"""

import numpy as np

_ERUPTIONS = np.array([
    3.6, 1.8, 3.333, 2.283, 4.533, 2.883, 4.7, 3.6, 1.95, 4.35, 1.833, 3.917, 4.2, 1.75, 4.7, 2.167,
    1.75, 4.8, 1.6, 4.25, 1.8, 1.75, 3.45, 3.067, 4.533, 3.6, 1.967, 4.083, 3.85, 4.433, 4.3, 4.467,
    3.367, 4.033, 3.833, 2.017, 1.867, 4.833, 1.833, 4.783, 4.35, 1.883, 4.567, 1.75, 4.533, 3.317,
    3.833, 2.1, 4.633, 2, 4.8, 4.716, 1.833, 4.833, 1.733, 4.883, 3.717, 1.667, 4.567, 4.317, 2.233,
    4.5, 1.75, 4.8, 1.817, 4.4, 4.167, 4.7, 2.067, 4.7, 4.033, 1.967, 4.5, 4, 1.983, 5.067, 2.017,
    4.567, 3.883, 3.6, 4.133, 4.333, 4.1, 2.633, 4.067, 4.933, 3.95, 4.517, 2.167, 4, 2.2, 4.333,
    1.867, 4.817, 1.833, 4.3, 4.667, 3.75, 1.867, 4.9, 2.483, 4.367, 2.1, 4.5, 4.05, 1.867, 4.7, 1.783,
    4.85, 3.683, 4.733, 2.3, 4.9, 4.417, 1.7, 4.633, 2.317, 4.6, 1.817, 4.417, 2.617, 4.067, 4.25,
    1.967, 4.6, 3.767, 1.917, 4.5, 2.267, 4.65, 1.867, 4.167, 2.8, 4.333, 1.833, 4.383, 1.883, 4.933,
    2.033, 3.733, 4.233, 2.233, 4.533, 4.817, 4.333, 1.983, 4.633, 2.017, 5.1, 1.8, 5.033, 4, 2.4, 4.6,
    3.567, 4, 4.5, 4.083, 1.8, 3.967, 2.2, 4.15, 2, 3.833, 3.5, 4.583, 2.367, 5, 1.933, 4.617, 1.917,
    2.083, 4.583, 3.333, 4.167, 4.333, 4.5, 2.417, 4, 4.167, 1.883, 4.583, 4.25, 3.767, 2.033, 4.433,
    4.083, 1.833, 4.417, 2.183, 4.8, 1.833, 4.8, 4.1, 3.966, 4.233, 3.5, 4.366, 2.25, 4.667, 2.1, 4.35,
    4.133, 1.867, 4.6, 1.783, 4.367, 3.85, 1.933, 4.5, 2.383, 4.7, 1.867, 3.833, 3.417, 4.233, 2.4,
    4.8, 2, 4.15, 1.867, 4.267, 1.75, 4.483, 4, 4.117, 4.083, 4.267, 3.917, 4.55, 4.083, 2.417, 4.183,
    2.217, 4.45, 1.883, 1.85, 4.283, 3.95, 2.333, 4.15, 2.35, 4.933, 2.9, 4.583, 3.833, 2.083, 4.367,
    2.133, 4.35, 2.2, 4.45, 3.567, 4.5, 4.15, 3.817, 3.917, 4.45, 2, 4.283, 4.767, 4.533, 1.85, 4.25,
    1.983, 2.25, 4.75, 4.117, 2.15, 4.417, 1.817, 4.467
])
_ERUPTIONS.flags.writeable = False


def old_faithful_eruptions() -> np.ndarray:
    """The 272 eruption durations (minutes), in R's order; a fresh writable copy."""
    return _ERUPTIONS.copy()


def mauna_loa_co2() -> tuple[np.ndarray, np.ndarray]:
    """Monthly mean CO₂ at Mauna Loa, 1958–2001: ``(t, y)`` with ``t`` (n, 1) in decimal
    years, ``year + (month − 1)/12`` as scikit-learn's ``plot_gpr_co2`` example builds it,
    and ``y`` in ppm with its mean removed (as in the example).

    The weekly Scripps record shipped with statsmodels (``statsmodels.datasets.co2``,
    no download), averaged by month; the data of Rasmussen & Williams (2006) §5.4.3.

    >>> t, y = mauna_loa_co2()
    >>> t.shape[1], abs(float(y.mean())) < 1e-9
    (1, True)
    """
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"].dropna()
    monthly = weekly.groupby([weekly.index.year, weekly.index.month]).mean()
    t = np.array([year + (month - 1) / 12 for year, month in monthly.index])[:, None]
    y = monthly.to_numpy()
    return t, y - y.mean()
