r"""Histogram density estimate (the paper's eq. 5).

With ``B`` equal-width bins of width ``w`` spanning ``[min t, max t]`` per dimension and
``n_b`` samples in the cell containing ``x``::

    f̂(x) = n_b / (n · Π_k w_k)        (0 outside the cells)

Sampling draws a cell with probability ``n_b / n`` and a point uniformly inside it, so
synthetic dies follow ``f̂`` exactly; the 1-D CDF is piecewise linear.

Example
-------
>>> import numpy as np
>>> from fabnb.density import Histogram
>>> h = Histogram(bins=20).fit(np.random.default_rng(0).normal(size=1000))
>>> float(h.cdf([100.0])[0])
1.0
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .._params import CheckedParams, Integral, Interval, check_params
from ..errors import FabDataError, FabFitError
from ._validate import as_matrix, check_spread

MAX_CELLS = 10_000_000


class Histogram(CheckedParams, BaseEstimator):
    """Equal-width histogram density with ``bins`` per dimension (eq. 5 of the paper).

    Attributes
    ----------
    edges_ : list of ndarray (bins + 1,)   bin edges per dimension
    probabilities_ : ndarray (bins,)*d     share of the samples in each cell

    Example
    -------
    >>> import numpy as np
    >>> h = Histogram(bins=2).fit([0.0, 1.0, 1.0, 2.0])
    >>> h.pdf([0.5, 1.5])
    array([0.25, 0.75])
    """

    _parameter_constraints = {"bins": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, bins=20):
        self.bins = bins

    def fit(self, x, y=None):
        """Fit to data ``x`` (n,) or (n, d).  Returns self."""
        self._validate_params()
        data = as_matrix(x, "x")
        check_spread(data, "x")
        n, d = data.shape
        if float(self.bins) ** d > MAX_CELLS:
            raise FabFitError(f"{self.bins}^{d} histogram cells exceed {MAX_CELLS}; use fewer bins or KDE")
        counts, edges = np.histogramdd(data, bins=int(self.bins))
        self.edges_ = [np.asarray(e) for e in edges]
        self.probabilities_ = counts / n
        self.n_samples_, self.n_features_in_ = n, d
        return self

    def _check(self, points):
        check_is_fitted(self)
        return as_matrix(points, "points", self.n_features_in_, type(self).__name__)

    def _widths(self) -> list[np.ndarray]:
        return [np.diff(e) for e in self.edges_]

    def pdf(self, points) -> np.ndarray:
        """Density ``n_b / (n Π w)`` at points (m,) or (m, d); 0 outside the histogram."""
        q = self._check(points)
        inside = np.ones(q.shape[0], dtype=bool)
        cells = []
        for k, e in enumerate(self.edges_):
            idx = np.searchsorted(e, q[:, k], side="right") - 1
            idx[q[:, k] == e[-1]] = e.size - 2  # the last bin is closed on the right
            inside &= (idx >= 0) & (idx < e.size - 1)
            cells.append(np.clip(idx, 0, e.size - 2))
        volume = np.prod([self._widths()[k][c] for k, c in enumerate(cells)], axis=0)
        return np.where(inside, self.probabilities_[tuple(cells)] / volume, 0.0)

    def cdf(self, points) -> np.ndarray:
        """1-D CDF (piecewise linear between edges) at points (m,)."""
        q = self._check(points)
        if self.n_features_in_ != 1:
            raise FabDataError(f"cdf is 1-D only; the histogram was fitted with d={self.n_features_in_}")
        edges = self.edges_[0]
        return np.interp(q[:, 0], edges, np.r_[0.0, np.cumsum(self.probabilities_)])

    def mass(self, lsl, usl) -> float:
        """Exact probability of the box ``lsl ≤ x ≤ usl`` (cells partly inside count pro rata)."""
        check_is_fitted(self)
        lo = np.broadcast_to(np.asarray(lsl, float), (self.n_features_in_,))
        hi = np.broadcast_to(np.asarray(usl, float), (self.n_features_in_,))
        p = self.probabilities_
        for k, e in enumerate(self.edges_):
            overlap = np.clip(np.minimum(e[1:], hi[k]) - np.maximum(e[:-1], lo[k]), 0, None) / np.diff(e)
            shape = [1] * self.n_features_in_
            shape[k] = -1
            p = p * overlap.reshape(shape)
        return float(p.sum())

    def sample(self, n: int, seed=0) -> np.ndarray:
        """``n`` draws: a cell by its probability, then uniform inside it; (n,) or (n, d)."""
        check_is_fitted(self)
        check_params("Histogram.sample", {"n": [Interval(Integral, 0, None, closed="left")]}, {"n": n})
        rng = np.random.default_rng(seed)
        flat = self.probabilities_.ravel()
        cell = np.searchsorted(np.cumsum(flat), rng.random(int(n)) * flat.sum(), side="right")
        cell = np.minimum(cell, flat.size - 1)
        index = np.unravel_index(cell, self.probabilities_.shape)
        u = rng.random((int(n), self.n_features_in_))
        draws = np.column_stack([e[i] + u[:, k] * np.diff(e)[i] for k, (e, i) in enumerate(zip(self.edges_, index))])
        return draws[:, 0] if self.n_features_in_ == 1 else draws
