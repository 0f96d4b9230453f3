"""Latent-defect dies: dies that pass every spec but carry a defect (the dies an
outlier screen — PAT, NNR, GDBN, Z-PAT — is meant to catch).

Model (only when ``latent_rate = ρ > 0``; at 0 nothing is drawn and the fab is unchanged)
-----------------------------------------------------------------------------------------
**Weak sites** (Z-PAT's rationale: a location that fails again and again).  Each die
location of a lot is a weak site with probability ``ρ``; on every wafer of the lot the
die there is killed (a functional fail, added to the random defect kills) with
probability ``WEAK_KILL_P`` = 0.6, and a weak-site die that survives carries a latent
defect with probability ``WEAK_LATENT_P`` = 0.5.

**Bad neighbourhoods** (GDBN's rationale: defects cluster).  Any other die that no
defect killed carries a latent defect with probability::

    p[w, d] = min(1, ρ · (1 + NEIGHBOUR_GAIN · n_killed[w, d]))

``n_killed`` the functionally killed dies among its 8 neighbours (random defects, the
killer chamber's signature, weak-site kills), ``NEIGHBOUR_GAIN`` = 4.

**Signature.**  A carrier's defect shows as a correlated shift of several tests of one
test group (a leaky junction raises all leakage tests at once): a group drawn at random,
``min(2 + Poisson(1), group size)`` of its tests, each shifted by ``s · U(0.75, 1.25)``
die-noise sigmas with ``s ~ U(3, 8)`` per die, in one direction: towards the only spec
limit of one-sided tests (up for leakage, down for speed), a random common sign for
two-sided ones.  A few noise sigmas is well inside the spec and inside static PAT limits
computed on the lot (whose spread holds the spatial and wafer-to-wafer variation too),
so the rules differ in what they see.

A carrier whose shift takes a test out of spec fails at test like any other die: it is
not a latent die.  ``truth(ds)["latent"]`` (wafer, die) holds the carriers the tester
passed (hard bin 1); ``latent_test`` (wafer, die, test) their shifted tests;
``weak_site`` (wafer, die) the weak locations of each wafer's lot.

Example
-------
>>> import numpy as np
>>> from fabnb.synth._latent import killed_neighbours
>>> k = np.zeros((1, 3), dtype=bool); k[0, 0] = True
>>> killed_neighbours(k, np.array([0, 1, 2]), np.array([0, 0, 0])).tolist()
[[0, 1, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._catalog import TESTS

WEAK_KILL_P = 0.6
WEAK_LATENT_P = 0.5
NEIGHBOUR_GAIN = 4.0
SHIFT_SIGMAS = (3.0, 8.0)


@dataclass(frozen=True)
class Latent:
    carrier: np.ndarray  # (W, D) dies given a latent defect (before binning)
    weak_site: np.ndarray  # (W, D) the lot's weak locations on each wafer
    weak_kill: np.ndarray  # (W, D) weak-site dies killed
    shifted: tuple  # (wafer, die, test) index arrays of the shifted values


def none(shape) -> Latent:
    """No latent defects (``latent_rate`` 0)."""
    empty = np.zeros(shape, dtype=bool)
    idx = np.zeros(0, dtype=np.int64)
    return Latent(empty, empty, empty, (idx, idx, idx))


def killed_neighbours(killed, col, row) -> np.ndarray:
    """Killed dies among each die's 8 neighbours on the (col, row) grid, (wafer, die)."""
    image = np.zeros((killed.shape[0], row.max() - row.min() + 3, col.max() - col.min() + 3), dtype=np.int64)
    r, c = row - row.min() + 1, col - col.min() + 1  # one empty site of margin all round
    image[:, r, c] = killed
    count = np.zeros_like(killed, dtype=np.int64)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if dr or dc:
                count += image[:, r + dr, c + dc]
    return count


def _directions(rng, n) -> np.ndarray:
    """(n, T) shift signs: towards the only spec limit, else one random sign per die."""
    specs = list(TESTS.values())
    lower_only = np.array([np.isnan(s.usl_z) for s in specs])
    upper_only = np.array([np.isnan(s.lsl_z) for s in specs])
    common = rng.choice([-1.0, 1.0], size=(n, 1))
    return np.where(upper_only, 1.0, np.where(lower_only, -1.0, common))


def simulate(rng, value, noise_sd, col, row, killed, lot_index, rate) -> Latent:
    """Draw weak sites and carriers and shift the carriers' values **in place**.

    ``value`` (W, D, T) physical units, ``noise_sd`` (T,) physical die-noise sd,
    ``killed`` (W, D) functional kills before the weak sites.
    """
    n_w, n_d, _ = value.shape
    weak_lot = rng.random((lot_index.max() + 1, n_d)) < rate
    weak = weak_lot[lot_index]
    weak_kill = weak & ~killed & (rng.random((n_w, n_d)) < WEAK_KILL_P)
    killed = killed | weak_kill
    p = np.minimum(1.0, rate * (1.0 + NEIGHBOUR_GAIN * killed_neighbours(killed, col, row)))
    p = np.where(weak, WEAK_LATENT_P, p)
    carrier = ~killed & (rng.random((n_w, n_d)) < p)

    w_c, d_c = np.nonzero(carrier)
    test_group = np.array([s.group for s in TESTS.values()])
    groups = np.unique(test_group)
    member = test_group == groups[rng.integers(0, groups.size, w_c.size)][:, None]  # (carrier, test)
    n_shift = 2 + rng.poisson(1.0, w_c.size)
    size = rng.uniform(*SHIFT_SIGMAS, w_c.size)
    sign = _directions(rng, w_c.size)
    priority = np.where(member, rng.random(member.shape), np.inf)  # a random subset of the group
    rank = np.argsort(np.argsort(priority, axis=1), axis=1)
    chosen = member & (rank < n_shift[:, None])
    amount = sign * size[:, None] * rng.uniform(0.75, 1.25, member.shape) * noise_sd
    c, t = np.nonzero(chosen)
    shifted = (w_c[c].astype(np.int64), d_c[c].astype(np.int64), t.astype(np.int64))
    value[shifted] += amount[c, t]
    return Latent(carrier, weak, weak_kill, shifted)
