"""Progressive sampling (Algorithm 1) on one wafer and on a lot (GP-ST-PS)."""

import itertools

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import RBF

from fabnb.errors import FabDataError, FabParameterError
from fabnb.geometry import die_grid
from fabnb.spatial import (
    GaussianProcess,
    progressive_lot_states,
    progressive_sample,
    progressive_states,
    spec_range_error,
)


@pytest.fixture(scope="module")
def wafer():
    grid = die_grid(200, die_width_mm=7, die_height_mm=7)
    return np.c_[grid["x"].values, grid["y"].values]


def field(xy, seed, length_scale=25.0, noise=0.02):
    """A draw of a known stationary GP (scikit-learn's RBF) plus white noise on the dies."""
    K = RBF(length_scale)(xy) + 1e-8 * np.eye(len(xy))
    rng = np.random.default_rng(seed)
    return np.linalg.cholesky(K) @ rng.normal(size=len(xy)) + noise * rng.normal(size=len(xy))


def test_budget_increments_and_no_repicks(wafer):
    y = field(wafer, 0)
    y[:15] = np.nan  # unmeasurable dies are never picked
    n = np.isfinite(y).sum()
    states = list(progressive_states(wafer, y, budget=0.10, step=0.025, seed=1))
    step = round(0.025 * n)
    expected = [min(step * (i + 1), round(0.10 * n)) for i in range(len(states))]
    assert [s.n_sampled for s in states] == expected
    assert states[-1].n_sampled == round(0.10 * n)
    last = states[-1]
    assert len(set(last.order.tolist())) == last.order.size  # never re-picks
    assert not last.sampled[:15].any()
    for a, b in itertools.pairwise(states):
        assert (b.sampled >= a.sampled).all()  # nested samples
        np.testing.assert_array_equal(b.order[: a.order.size], a.order)
    assert np.flatnonzero(last.sampled).tolist() == sorted(last.order.tolist())
    assert last.mean.shape == last.std.shape == y.shape
    assert set(last.hyperparameters) >= {"length_scale", "signal_variance", "noise"}


def test_variance_threshold_stops_early(wafer):
    y = field(wafer, 1)
    states = list(progressive_states(wafer, y, budget=0.5, step=0.025, var_threshold=1e9, seed=0))
    assert len(states) == 1


def test_seed_reproduces_and_changes(wafer):
    y = field(wafer, 2)
    a = progressive_sample(wafer, y, seed=3)
    b = progressive_sample(wafer, y, seed=3)
    c = progressive_sample(wafer, y, seed=4)
    np.testing.assert_array_equal(a.order, b.order)
    np.testing.assert_array_equal(a.mean, b.mean)  # the same call twice: bit-identical by design
    assert not np.array_equal(a.order, c.order)


def test_beats_random_sampling_on_average(wafer):
    """At the same 10 % budget, progressive sampling predicts a known field better."""
    ps, rs = [], []
    for seed in range(4):
        y = field(wafer, 10 + seed)
        last = progressive_sample(wafer, y, seed=seed)
        ps.append(spec_range_error(y, last.mean, last.sampled))
        rand = np.zeros(len(y), bool)
        rand[np.random.default_rng(seed).choice(len(y), last.n_sampled, replace=False)] = True
        gp = GaussianProcess(ard=False).fit(wafer[rand], y[rand])
        rs.append(spec_range_error(y, gp.predict(wafer), rand))
    assert np.mean(ps) < np.mean(rs)


def test_lot_progressive_shares_first_sites_and_respects_budget(wafer):
    t = np.arange(4.0)
    Y = np.stack([field(wafer, 20) + 0.1 * k for k in t])
    Y[2, :5] = np.nan
    states = list(progressive_lot_states(wafer, t, Y, seed=0))
    first = states[0].sampled
    assert (first[0] == first[1]).all() and (first[0] == first[3]).all()  # same random sites
    last = states[-1]
    budget = np.round(0.10 * np.isfinite(Y).sum(axis=1))
    np.testing.assert_array_equal(last.sampled.sum(axis=1), budget)
    assert not last.sampled[2, :5].any()
    assert len(set(last.order.tolist())) == last.order.size
    assert last.mean.shape == Y.shape
    assert len(last.hyperparameters["length_scale"]) == 3  # x, y and its own time scale


def test_greedy_pick_matches_a_direct_numpy_transcription():
    """Steps 3.1–3.2 (argmax σ²·d², then update the distances) written out in NumPy."""
    from fabnb.spatial.progressive import pick_far_and_uncertain

    rng = np.random.default_rng(7)
    coords = rng.uniform(-1, 1, (300, 2))
    variance = rng.uniform(0.1, 1.0, 300)
    sampled = np.zeros(300, bool)
    sampled[rng.choice(300, 20, replace=False)] = True
    candidates = rng.uniform(size=300) < 0.8
    cand = np.flatnonzero(candidates & ~sampled)
    d2 = ((coords[cand, None, :] - coords[None, sampled, :]) ** 2).sum(-1).min(axis=1)
    var = variance[cand].copy()
    expected = []
    for _ in range(15):
        best = int(np.argmax(var * d2))
        expected.append(cand[best])
        d2 = np.minimum(d2, ((coords[cand] - coords[cand[best]]) ** 2).sum(axis=1))
        var[best] = -1.0
    np.testing.assert_array_equal(pick_far_and_uncertain(coords, variance, candidates, sampled, 15), expected)


@pytest.mark.parametrize("kwargs,match", [
    ({"budget": 2.0}, "'budget' parameter of {}"),
    ({"step": 0.0}, "'step' parameter of {}"),
    ({"budget": 0.05, "step": 0.1}, "'step' parameter of {} must not exceed budget"),
])
def test_budget_and_step_are_fractions(wafer, kwargs, match):
    y = field(wafer, 0)
    with pytest.raises(FabParameterError, match=match.format("progressive_states")):
        next(progressive_states(wafer, y, **kwargs))
    with pytest.raises(FabParameterError, match=match.format("progressive_lot_states")):
        next(progressive_lot_states(wafer, np.arange(2.0), np.stack([y, y]), **kwargs))


def test_inf_is_refused_not_skipped(wafer):
    """An inf is a measurement gone wrong, never an unmeasured die (NaN): it used to be
    silently left out of the sample."""
    y = field(wafer, 0)
    y[7] = -np.inf
    with pytest.raises(FabDataError, match=r"1 inf value\(s\) \(first: die 7\)"):
        next(progressive_states(wafer, y))
    Y = np.stack([field(wafer, 1), y])
    with pytest.raises(FabDataError, match=r"first: die 7 of wafer 1\)"):
        next(progressive_lot_states(wafer, np.arange(2.0), Y))


def test_one_argument_name_for_the_model(wafer):
    """Issue 22: ``gp=`` in one sampler, ``model=`` in the other; now ``model=`` in both,
    and the old name says what to do."""
    y = field(wafer, 0)
    model = GaussianProcess(ard=False, kernel="matern52")
    last = progressive_sample(wafer, y, model=model, seed=1)
    assert last.n_sampled == round(0.10 * len(y))
    with pytest.raises(FabParameterError, match="'gp' parameter of progressive_states was renamed 'model'"):
        progressive_sample(wafer, y, gp=model)
    with pytest.raises(FabParameterError, match="'gp' parameter of progressive_lot_states was renamed 'model'"):
        next(progressive_lot_states(wafer, np.arange(2.0), np.stack([y, y]), gp=model))
    with pytest.raises(TypeError, match="unexpected keyword argument 'modle'"):
        next(progressive_states(wafer, y, modle=model))


def test_state_holds_the_hyperparameters_of_its_own_fit(wafer):
    """Issue 22: ``previous`` held the current values under the wrong name.  Each state's
    ``hyperparameters`` are those fitted to that state's sample: the same kernel with
    them, fixed, on that sample has the reported log-likelihood, and they change from
    state to state."""
    y = field(wafer, 3)
    states = list(progressive_states(wafer, y, seed=2))
    for state in states:
        h = state.hyperparameters
        fixed = GaussianProcess(ard=False, length_scale=h["length_scale"], signal_variance=h["signal_variance"],
                                noise=h["noise"], optimizer=None).fit(wafer[state.order], y[state.order])
        assert fixed.log_marginal_likelihood_ == pytest.approx(h["log_marginal_likelihood"], rel=1e-9)
        assert h["group_variance"] == 0.0  # a wafer model has no wafer effect
    assert len({float(s.hyperparameters["length_scale"][0]) for s in states}) == len(states)


def test_lot_states_come_from_the_same_driver(wafer):
    """GP-ST-PS and per-wafer progressive sampling share one driver: with one wafer and a
    wafer model the lot sampler's picks are the per-wafer sampler's."""
    from fabnb.spatial.progressive import drive

    y = field(wafer, 4)
    per_wafer = list(progressive_states(wafer, y, seed=5))
    lot = list(drive(wafer, y[None, :], None, budget=0.10, step=0.025, n_init=None, k=None,
                     var_threshold=None, model=GaussianProcess(ard=False), seed=5))
    assert [s.n_sampled for s in lot] == [s.n_sampled for s in per_wafer]
    np.testing.assert_array_equal(lot[-1].order, per_wafer[-1].order)
    np.testing.assert_array_equal(lot[-1].sampled[0], per_wafer[-1].sampled)


def test_refits_start_cold_so_the_first_fits_basin_does_not_stick(monkeypatch):
    """Issue 22: a refit warm-started at the previous optimum stays in its basin.  On this
    pair of the small fab the warm path ends more than 5 nat below the best optimum of
    its own final sites; the default (cold) refits reach the best optimum of theirs (the
    panel's reference: L-BFGS-B on all sites from the default and 8 random starts).
    The optimiser's later rechecks (a long quasi-Newton jump, or one ending on a bound,
    is redone by L-BFGS-B from its start) also pull the warm path out here, so the trap
    is shown with them off."""
    import math

    import fabnb
    import fabnb.spatial._optimize as optimize
    from benchmarks.bench_gp import best_of_restarts

    ds = fabnb.synth.fab("small", seed=0)
    xy = np.c_[ds["x"].values, ds["y"].values]
    y = ds["value"].sel(test="T05").isel(wafer=3).values.astype(float)
    warm_template = GaussianProcess(ard=False, warm_start=True)
    rescued = progressive_sample(xy, y, seed=0, model=warm_template)
    cold = progressive_sample(xy, y, seed=0)
    with monkeypatch.context() as patch:
        patch.setattr(optimize, "FAR_STEP", math.inf)
        patch.setattr(optimize, "on_bound", lambda x, lo, hi: False)
        warm = progressive_sample(xy, y, seed=0, model=warm_template)
    for state, trapped in ((warm, True), (rescued, False), (cold, False)):
        best = best_of_restarts(xy[state.sampled], y[state.sampled])
        gap = best - state.hyperparameters["log_marginal_likelihood"]
        assert (gap > 5.0) if trapped else (gap < 0.5), (trapped, gap)
