"""Progressive sampling (Algorithm 1 of the virtual-probe paper).

1. Measure ``n'`` dies drawn at random (``n_init``, default one ``step`` of the wafer).
2. Fit the GP to the measured dies; predict mean and variance σ²(x) at every die.
3. Until the budget is spent (or every candidate's variance is below ``var_threshold``),
   add ``k`` dies (default one ``step``), **one at a time**:

   3.1 for every unmeasured candidate ``x`` keep ``d²(x) = min_s ‖x − s‖²``, the squared
       distance to the nearest die already in the sample (including dies picked earlier
       in this increment);
   3.2 pick ``argmax σ²(x) · d²(x)``: high predictive variance *and* far from the sample.
       The variance is that of the last fit (it is not updated inside an increment), so
       the distance term is what spreads one increment's ``k`` picks apart.

   then refit from scratch and go to 3.

Why every refit starts cold.  A refit warm-started at the previous optimum (quasi-Newton
steps from it) stays in that optimum's basin.  The first fit, on 2.5 % of the dies,
often sits in the "long and smooth" basin (length scales of 150–600 mm on a 300 mm
wafer); measured on lot L0001 of the default fab (4 tests × 8 wafers, 2026-12-06) the
warm path ended 8–68 nat below a cold fit to the same final sites on 17 of 32 pairs, and
mean ε was 7.23 % against 6.70 % for the cold fit.  The cold fit (coarse to fine, with
the second-basin probe, :mod:`._optimize`) costs a few more likelihood evaluations.

With the defaults (``budget=0.10``, ``step=0.025``) the sample grows
2.5 % → 5 % → 7.5 % → 10 % of the measurable dies.

One driver (:func:`drive`) runs the loop for one wafer (:func:`progressive_states`,
a :class:`~fabnb.spatial.GaussianProcess` over (x, y)) and for a lot
(:func:`~fabnb.spatial.progressive_lot_states`, GP-ST-PS: a
:class:`~fabnb.spatial.SpatioTemporalGP` over (x, y, t), the first increment at the same
sites on every wafer); both take the model template as ``model=``.

Example
-------
>>> import numpy as np
>>> from fabnb.geometry import die_grid
>>> from fabnb.spatial import progressive_sample
>>> g = die_grid(200, die_width_mm=8, die_height_mm=8)
>>> X = np.c_[g.x.values, g.y.values]; y = np.sin(X[:, 0] / 30) + X[:, 1] / 100
>>> last = progressive_sample(X, y, seed=0)
>>> last.n_sampled == round(0.10 * len(y))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.base import clone

from .._params import Interval, Real, check_params
from ..errors import FabDataError, FabParameterError
from . import _kernels
from .gp import GaussianProcess


@dataclass
class ProgressiveState:
    """One iteration of progressive sampling.

    ``sampled`` is a boolean mask over the dies (wafers × dies for lot models), ``order``
    the indices of sampled dies in the order they were picked (flat for lots), ``mean`` and
    ``std`` the model's prediction at every die, ``hyperparameters`` the fitted ones.
    """

    iteration: int
    sampled: np.ndarray
    order: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    n_sampled: int
    fraction: float
    hyperparameters: dict = field(default_factory=dict)


_FRACTION = Interval(Real, 0, 1, closed="right")


def check_budget(owner: str, budget, step) -> None:
    """Raise :class:`FabParameterError` naming ``owner`` unless ``0 < step <= budget <= 1``."""
    check_params(owner, {"budget": [_FRACTION], "step": [_FRACTION]}, {"budget": budget, "step": step})
    if step > budget:
        raise FabParameterError(f"The 'step' parameter of {owner} must not exceed budget={budget}. "
                                f"Got {step!r} instead.")


def refuse_inf(values, dies=None, wafers=None):
    """NaN means "not measured"; ±inf is a measurement gone wrong (a tester overflow, a
    failed conversion), never a missing value: raise :class:`FabDataError` naming the
    first such die (its label in ``dies``, else its position) and wafer (``wafers``, for
    a wafers × dies array)."""
    inf = np.isinf(values)
    if inf.any():
        where = np.argwhere(inf)[0]
        first = f"die {where[-1] if dies is None else dies[where[-1]]}"
        if wafers is not None:
            first += f" of wafer {wafers[where[0]]}"
        raise FabDataError(f"{int(inf.sum())} inf value(s) (first: {first}): inf is not a measurement; "
                           "set unmeasured dies to NaN or fix the values")


def sample_sizes(n_measurable: int, budget: float, step: float, n_init=None, k=None):
    """``(n_init, k, n_budget)`` in dies from fractions of the measurable dies (checked by
    :func:`check_budget`)."""
    n_budget = max(1, round(budget * n_measurable))
    n_step = max(1, round(step * n_measurable))
    n_init = n_step if n_init is None else int(n_init)
    k = n_step if k is None else int(k)
    return min(n_init, n_budget), k, n_budget


def pick_far_and_uncertain(coords, variance, candidates, sampled, k):
    """Pick ``k`` candidate indices one at a time by ``argmax σ² · d²`` (steps 3.1–3.2).

    ``coords`` (n, d) die coordinates, ``variance`` (n,), ``candidates`` and ``sampled``
    boolean masks over the n dies.  Returns the picked indices in order.
    """
    cand = np.flatnonzero(candidates & ~sampled)
    k = min(k, cand.size)
    if k == 0:
        return np.empty(0, dtype=np.int64)
    C = np.ascontiguousarray(coords[cand], dtype=float)
    d2 = _kernels.min_sq_dist(C, coords[sampled].astype(float)) if sampled.any() else np.full(cand.size, np.inf)
    var = np.maximum(variance[cand], 0.0)
    return cand[_kernels.greedy_far_and_uncertain(C, var, d2, k)]


def hyperparameters(model) -> dict:
    """Fitted hyperparameters of a GaussianProcess or SpatioTemporalGP as a plain dict
    (``group_variance`` is the wafer effect's variance, 0 without one)."""
    return {
        "length_scale": np.atleast_1d(np.asarray(model.length_scale_, dtype=float)).copy(),
        "signal_variance": float(model.signal_variance_),
        "group_variance": float(model.group_variance_),
        "noise": float(model.noise_),
        "log_marginal_likelihood": float(model.log_marginal_likelihood_),
    }


def progressive_states(X, y, *, budget=0.10, step=0.025, n_init=None, k=None,
                       var_threshold=None, model=None, seed=None, **removed):
    """Iterate over the states of progressive sampling on one wafer (Algorithm 1).

    Parameters
    ----------
    X : array (n_dies, 2)
        Die coordinates (mm).
    y : array (n_dies,)
        The measurement every die *would* give (the oracle); NaN dies (not measured) are
        never picked; an inf raises :class:`FabDataError` naming the die.
    budget, step : float
        Final sample size and increment, as fractions of the measurable dies.
    n_init, k : int, optional
        Override the initial sample size n' and the increment k (in dies).
    var_threshold : float, optional
        Stop early once every candidate's predictive variance is below this.
    model : GaussianProcess, optional
        Model template (cloned once, then refitted from scratch at every step unless
        the template sets ``warm_start=True``); default
        ``GaussianProcess(ard=False)``: one spatial length scale, which the first few
        dies can identify.  (Formerly ``gp=``.)
    seed : int, optional
        Seed of the initial random dies.

    Yields
    ------
    ProgressiveState after each fit (the first after the random start).

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(-1, 1, (400, 2)); y = X[:, 0] ** 2 + X[:, 1]
    >>> [s.n_sampled for s in progressive_states(X, y, seed=1)]
    [10, 20, 30, 40]
    """
    refuse_renamed("progressive_states", removed)
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise FabDataError(f"X must be (n, d) and y (n,), got X{X.shape} and y{y.shape}")
    check_budget("progressive_states", budget, step)
    refuse_inf(y)
    model = GaussianProcess(ard=False) if model is None else model
    for state in drive(X, y[None, :], None, budget=budget, step=step, n_init=n_init, k=k,
                       var_threshold=var_threshold, model=model, seed=seed):
        # one wafer: the state's arrays over its dies
        yield replace(state, sampled=state.sampled[0], mean=state.mean[0], std=state.std[0])


def refuse_renamed(owner: str, extra: dict) -> None:
    """The keyword ``gp=`` was renamed ``model=`` (one name for the model template in
    every progressive sampler): say so; any other unknown keyword is a TypeError, as
    Python's own."""
    if "gp" in extra:
        raise FabParameterError(f"The 'gp' parameter of {owner} was renamed 'model': pass model=... instead.")
    if extra:
        raise TypeError(f"{owner}() got an unexpected keyword argument {next(iter(extra))!r}")


def drive(xy, Y, t, *, budget, step, n_init, k, var_threshold, model, seed):
    """Algorithm 1, the one driver of per-wafer (``t=None``, ``Y`` of one row) and lot
    (``t`` the wafers' order, GP-ST-PS) progressive sampling; inputs already checked.

    ``Y`` (n_wafers, n_dies) is the oracle over the dies ``xy``.  The first increment puts
    the *same* random sites on every wafer (those measurable on all wafers when there are
    enough); every later increment refits ``model`` (a clone, from scratch: see the module
    docstring) to everything sampled so far, the training rows in the
    order they were picked, ``(x, y)`` for a wafer and ``(x, y, t)`` for a lot, and gives
    every wafer ``k`` new dies by :func:`pick_far_and_uncertain` on its own predictive
    variance, until each wafer's budget is spent (or its candidates' variance is below
    ``var_threshold``).  Yields :class:`ProgressiveState` over (n_wafers, n_dies).
    """
    n_wafers, n_dies = Y.shape
    measurable = np.isfinite(Y)
    n_meas = measurable.sum(axis=1)
    sizes = [sample_sizes(int(n), budget, step, n_init, k) for n in n_meas]
    rng = np.random.default_rng(seed)
    shared = np.flatnonzero(measurable.all(axis=0))
    n_first = min(s[0] for s in sizes)
    pool = shared if shared.size >= n_first else np.flatnonzero(measurable.any(axis=0))
    first = rng.choice(pool, size=min(n_first, pool.size), replace=False)
    order = [w * n_dies + first[measurable[w, first]] for w in range(n_wafers)]
    sampled = np.zeros_like(measurable)
    for picked in order:
        sampled.ravel()[picked] = True
    Xq = xy if t is None else np.c_[np.tile(xy, (n_wafers, 1)), np.repeat(t, n_dies)]
    fit = clone(model)
    iteration = 0
    while True:
        flat = np.concatenate(order)
        wafer, die = np.divmod(flat, n_dies)
        fit.fit(xy[die] if t is None else np.c_[xy[die], t[wafer]], Y[wafer, die])
        mean, std = (a.reshape(Y.shape) for a in fit.predict(Xq, return_std=True))
        yield ProgressiveState(iteration, sampled.copy(), flat, mean, std, int(sampled.sum()),
                               float(sampled.sum() / n_meas.sum()), hyperparameters(fit))
        order = []
        for w in range(n_wafers):
            left = sizes[w][2] - int(sampled[w].sum())
            cand = measurable[w] & ~sampled[w]
            if left <= 0 or not cand.any():
                continue
            if var_threshold is not None and (std[w][cand] ** 2).max() < var_threshold:
                continue
            picked = pick_far_and_uncertain(xy, std[w] ** 2, measurable[w], sampled[w], min(sizes[w][1], left))
            sampled[w, picked] = True
            order.append(w * n_dies + picked)
        if not order:
            return
        order = [flat, *order]
        iteration += 1


def last_state(states) -> ProgressiveState:
    """Run a progressive-sampling iterator to the end and return its last state."""
    state = None
    for state in states:
        pass
    return state


def progressive_sample(X, y, **kwargs) -> ProgressiveState:
    """Run :func:`progressive_states` to the end and return the last state.

    Example
    -------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).uniform(-1, 1, (400, 2)); y = X[:, 0] ** 2 + X[:, 1]
    >>> progressive_sample(X, y, seed=1).sampled.sum()
    np.int64(40)
    """
    return last_state(progressive_states(X, y, **kwargs))
