"""Lots, routes, chamber assignment, step timing and tool clocks.

Routing model
-------------
Each lot follows one route family ``route ∈ {R1, R2, R3}`` (balanced counts in random
order, weights 0.40/0.35/0.25).  Each wafer gets a queue lane ``lane ∈ {0, 1, 2}``
(uniform); the pair ``ctx = (route, lane)`` is its routing context.  At step ``s`` with
``n_s`` chambers, every context has a preferred chamber ``pref[s, ctx]`` and the wafer
runs there with probability ``a_s`` (0.85; 0.9 at the killer and co-routed steps),
otherwise on a uniformly random chamber.  Shared contexts make chamber usage correlated
across steps.  The contexts ``(R3, 0), (R3, 1), (R2, 2)`` prefer the killer chamber
``S22-C3`` *and* the innocent ``S14-C2``; no other context prefers either, so most
wafers through the killer also ran on the co-routed chamber, and the killer is used
mostly by route R3.

Timing model
------------
Lot ``i`` starts at ``i·span/n_lots + U(0, 0.3)·span/n_lots``.  At each step the lots
are served in order of arrival, their wafers in slot order: a wafer enters at
``max(arrival + 45 s · k, chamber free)``, runs ``d_s·U(0.9, 1.1)`` seconds
(``d_s ~ U(60, 600)``, traced steps ``U(90, 180)``) and frees the chamber 30 s later;
the lot moves on after its last wafer plus an ``Exp(4 h) + 5 min`` queue.  So no chamber
ever runs two wafers at once.  A wafer's ``time`` is its start at ``S01``.

Tool clocks: chamber ``c`` stamps MES time ``m`` as
``m + offset_c + drift_c·1e-6·(m − epoch)`` with ``offset_c ~ U(−10, 10)`` s and
``drift_c ~ U(−1, 1)`` ppm.

Example
-------
>>> import numpy as np
>>> from fabnb.synth._routing import route_fab
>>> rt = route_fab(np.random.default_rng(0), n_lots=2, wafers_per_lot=(3, 3),
...                span_days=10.0, start="2026-01-05")
>>> rt.tool.shape, rt.tool[0, 21][:4]
((6, 40), 'S22-')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._catalog import ROUTES, STEPS, TRACED_STEPS

ROUTE_WEIGHTS = (0.40, 0.35, 0.25)
N_LANES = 3
KILLER_STEP, KILLER_CHAMBER = "S22", 2  # S22-C3
CO_ROUTED_STEP, CO_ROUTED_CHAMBER = "S14", 1  # S14-C2
KILLER_TOOL, CO_ROUTED_TOOL = "S22-C3", "S14-C2"
KILLER_CONTEXTS = ((2, 0), (2, 1), (1, 2))  # (route index, lane)
ADHERENCE, SPECIAL_ADHERENCE = 0.85, 0.90
LOAD_PITCH_S, HANDLING_S, QUEUE_MEAN_S, QUEUE_MIN_S = 45, 30, 4 * 3600.0, 300


@dataclass(frozen=True)
class Routing:
    """Where and when every wafer was processed (times in seconds after ``epoch``)."""

    wafer: np.ndarray  # (W,) ids "L0001-07"
    lot: np.ndarray  # (W,) "L0001"
    lot_index: np.ndarray  # (W,) 0-based lot number
    slot: np.ndarray  # (W,)
    route: np.ndarray  # (W,) "R1".."R3"
    lane: np.ndarray  # (W,)
    order: np.ndarray  # (W,) 0-based processing order in the lot
    chamber: np.ndarray  # (W, S) 0-based chamber index
    tool: np.ndarray  # (W, S) "S22-C3"
    start: np.ndarray  # (W, S) seconds
    end: np.ndarray  # (W, S) seconds
    n_chambers: np.ndarray  # (S,)
    epoch: np.datetime64
    clock_offset: pd.Series  # seconds, by tool id
    clock_drift_ppm: pd.Series  # by tool id

    @property
    def time(self) -> np.ndarray:
        """Wafer start at the first step as datetime64[ns]."""
        return to_datetime(self.epoch, self.start[:, 0])

    def tool_clock(self, tool_id, seconds):
        """MES seconds -> the tool's own clock (seconds after epoch)."""
        off = self.clock_offset.reindex(np.atleast_1d(tool_id)).to_numpy()
        ppm = self.clock_drift_ppm.reindex(np.atleast_1d(tool_id)).to_numpy()
        return seconds + off + ppm * 1e-6 * seconds


def to_datetime(epoch: np.datetime64, seconds) -> np.ndarray:
    """Seconds after ``epoch`` as datetime64[ns]."""
    ns = np.round(np.asarray(seconds, dtype=float) * 1e9).astype("int64")
    return np.datetime64(epoch, "ns") + ns.astype("timedelta64[ns]")


def chamber_ids(step: str, n: int) -> list[str]:
    """Chamber ids of one step: ``S22-C1``, ``S22-C2``, ..."""
    return [f"{step}-C{c + 1}" for c in range(n)]


def _population(rng, n_lots, wafers_per_lot):
    counts = np.floor(np.asarray(ROUTE_WEIGHTS) * n_lots).astype(int)
    counts[: n_lots - counts.sum()] += 1
    lot_route = rng.permutation(np.repeat(np.arange(len(ROUTES)), counts))
    lo, hi = wafers_per_lot
    sizes = rng.integers(lo, hi + 1, size=n_lots)
    slots = [np.sort(rng.choice(np.arange(1, 26), size=n, replace=False)) for n in sizes]
    lot_index = np.repeat(np.arange(n_lots), sizes)
    return lot_index, np.concatenate(slots), lot_route[lot_index]


def _chamber_counts(rng):
    n = rng.integers(2, 7, size=len(STEPS))
    n[STEPS.index(KILLER_STEP)] = 4
    n[STEPS.index(CO_ROUTED_STEP)] = 3
    return n


def _preferences(rng, n_chambers):
    """pref[s, ctx]: preferred chamber of each routing context at each step."""
    n_ctx = len(ROUTES) * N_LANES
    pref = np.floor(rng.random((len(STEPS), n_ctx)) * n_chambers[:, None]).astype(int)
    special = {r * N_LANES + lane for r, lane in KILLER_CONTEXTS}
    for step, chosen in ((KILLER_STEP, KILLER_CHAMBER), (CO_ROUTED_STEP, CO_ROUTED_CHAMBER)):
        s = STEPS.index(step)
        others = np.setdiff1d(np.arange(n_chambers[s]), [chosen])
        for ctx in range(n_ctx):
            pref[s, ctx] = chosen if ctx in special else others[ctx % others.size]
    return pref


def _assign(rng, route_index, lane, n_chambers):
    pref = _preferences(rng, n_chambers)
    ctx = route_index * N_LANES + lane
    adherence = np.full(len(STEPS), ADHERENCE)
    adherence[[STEPS.index(KILLER_STEP), STEPS.index(CO_ROUTED_STEP)]] = SPECIAL_ADHERENCE
    follow = rng.random((ctx.size, len(STEPS))) < adherence
    anywhere = np.floor(rng.random((ctx.size, len(STEPS))) * n_chambers).astype(int)
    return np.where(follow, pref[:, ctx].T, anywhere)


def _durations(rng):
    d = rng.uniform(60, 600, size=len(STEPS))
    for step in TRACED_STEPS:
        d[STEPS.index(step)] = rng.uniform(90, 180)
    return d


def _schedule(rng, lot_index, chamber, lot_start, base_duration):
    """Serve lots in arrival order at each step; no chamber runs two wafers at once."""
    n_w, n_s = chamber.shape
    n_lots = lot_index.max() + 1
    members = [np.flatnonzero(lot_index == i) for i in range(n_lots)]
    start, end = np.zeros((n_w, n_s)), np.zeros((n_w, n_s))
    duration = np.round(base_duration * rng.uniform(0.9, 1.1, size=(n_w, n_s)))
    queue = np.round(rng.exponential(QUEUE_MEAN_S, size=(n_lots, n_s)) + QUEUE_MIN_S)
    arrival = np.round(lot_start).astype(float)
    for s in range(n_s):
        free: dict[int, float] = {}
        for i in np.argsort(arrival, kind="stable"):
            for k, w in enumerate(members[i]):
                c = chamber[w, s]
                t0 = max(arrival[i] + LOAD_PITCH_S * k, free.get(c, -np.inf))
                start[w, s], end[w, s] = t0, t0 + duration[w, s]
                free[c] = end[w, s] + HANDLING_S
            arrival[i] = end[members[i], s].max() + queue[i, s]
    return start, end


def _clocks(rng, n_chambers):
    ids = [t for s, n in zip(STEPS, n_chambers) for t in chamber_ids(s, n)]
    index = pd.Index(ids, name="tool_id")
    offset = pd.Series(rng.uniform(-10, 10, size=len(ids)), index=index, name="clock_offset_s")
    drift = pd.Series(rng.uniform(-1, 1, size=len(ids)), index=index, name="clock_drift_ppm")
    return offset, drift


def _tight(strings: np.ndarray) -> np.ndarray:
    """Fixed-width unicode just wide enough (np.char ops over-allocate)."""
    return strings.astype(f"U{max(int(np.char.str_len(strings).max(initial=1)), 1)}")


def route_fab(rng, n_lots, wafers_per_lot, span_days, start) -> Routing:
    """Draw lots, routes, chambers, step windows and tool clocks (see module docstring)."""
    lot_index, slot, route_index = _population(rng, n_lots, wafers_per_lot)
    lane = rng.integers(0, N_LANES, size=lot_index.size)
    n_chambers = _chamber_counts(rng)
    chamber = _assign(rng, route_index, lane, n_chambers)
    spacing = span_days * 86400.0 / n_lots
    lot_start = np.arange(n_lots) * spacing + rng.uniform(0, 0.3, size=n_lots) * spacing
    t_start, t_end = _schedule(rng, lot_index, chamber, lot_start, _durations(rng))
    offset, drift = _clocks(rng, n_chambers)
    lots = np.array([f"L{i + 1:04d}" for i in range(n_lots)])[lot_index]
    order = np.empty(lot_index.size, dtype=np.int64)
    for i in range(n_lots):
        members = np.flatnonzero(lot_index == i)
        order[members[np.lexsort((slot[members], t_start[members, 0]))]] = np.arange(members.size)
    steps = np.asarray(STEPS)
    tool = np.char.add(np.char.add(steps[None, :], "-C"), (chamber + 1).astype(str))
    wafer = np.char.add(np.char.add(lots, "-"), np.char.zfill(slot.astype(str), 2))
    return Routing(
        wafer=_tight(wafer),
        lot=lots, lot_index=lot_index, slot=slot.astype(np.int64),
        route=np.asarray(ROUTES)[route_index], lane=lane, order=order,
        chamber=chamber, tool=_tight(tool), start=t_start, end=t_end,
        n_chambers=n_chambers, epoch=np.datetime64(start, "ns"),
        clock_offset=offset, clock_drift_ppm=drift,
    )
