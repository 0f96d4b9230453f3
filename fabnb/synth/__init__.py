r"""The embedded synthetic fab: contract Datasets with known ground truth.

``fab(preset, seed, **overrides)`` returns a validated contract Dataset;
``truth(ds)`` returns what the simulator knows about it; ``tables(ds)`` the long MES,
trace and tool-state tables.  Everything is a deterministic function of
``(preset, seed, overrides)``, stored as JSON in ``ds.attrs["synth"]``, so ``truth``
and ``tables`` work on a Dataset read back from NetCDF or Zarr.

>>> import fabnb
>>> ds = fabnb.synth.fab("small", seed=0)
>>> ds.sizes["wafer"], ds.sizes["test"], ds.sizes["vmin_test"]
(18, 39, 9)
>>> t = fabnb.synth.truth(ds)
>>> float(abs(ds["value"] - t["field"]).where(~t["outlier"]).max()) < 10 * float(
...     t["noise_sd"].max())
True

Generative model
----------------
**Fab and lots** (:mod:`._routing`).  ``n_lots`` lots of ``wafers_per_lot`` wafers (slots
a random subset of 1..25) start evenly over ``span_days`` (about six months).  Each lot
follows a route family R1/R2/R3; each wafer gets a queue lane; the routing context
``(route, lane)`` picks a preferred chamber at each of the 40 steps (2-6 chambers each,
ids ``S22-C3``), followed with probability 0.85, so chamber usage is correlated across
steps.  A scheduler serves lots in arrival order with no chamber double-booked;
``time`` is a wafer's start at S01, ``seq`` the global order of ``time``, and a
wafer's order in its lot ``k`` gives ``τ = k / (max wafers per lot − 1)``.

**Parametric tests** (:mod:`._fields`).  ``value[w,d,t] = center_t + scale_t·z`` with::

    z = a[w,t] + m[w,t]·S_t(d) + gx[w,t]·x/R + gy[w,t]·y/R + b[w,t]·(r²/R² − mean)
        + σ_t·ε[w,d,t]

``S_t`` a standardised smooth spatial field (bowl, gradient, edge ring, azimuthal
sector, Gaussian bumps; smooth or rough per test), ``a`` = lot offset + six-month drift
+ class-probe shift ``Σ_e Γ[t,e]·E[w,e]`` + wafer offset, ``gx, gy`` include the
**within-lot trend** ``τ·β[lot,t]·(cos φ, sin φ)`` (a gradient growing with the wafer's
order in the lot), ``σ_t ε`` die noise.  ``truth["field"]`` is ``value`` without
``σ_t ε``; a fraction ``outlier_rate`` (0.1 %) of values are replaced by
``field ± U(6, 14)·scale_t`` (``truth["outlier"]``).

**Latent defects** (:mod:`._latent`; off in the presets: ``latent_rate`` 0 draws
nothing and leaves every preset's data as it was).  With ``latent_rate = ρ > 0``, each
die location of a lot is a *weak site* with probability ρ (killed on each wafer with
probability 0.6, a latent defect with probability 0.5 where it survives), and any other
surviving die carries a latent defect with probability ``ρ·(1 + 4·killed
neighbours)``.  A carrier's defect shifts 2+ tests of one test group by 3-8 die-noise
sigmas in one direction; the carriers that still pass every spec are
``truth["latent"]`` (wafer, die), the dies an outlier screen (:mod:`fabnb.screen`)
should catch: ``fab("small", seed=1, latent_rate=0.01)``.

**Bins** (:mod:`._bins`).  Random clustered defects (isolated kills, blobs, scratches,
edge arcs; intensity × route factor 0.6/1.0/1.8 × lot factor) and, on wafers that ran
``S22-C3``, the killer's edge-arc signature kill dies (functional soft bins 21/22, hard
bin 5).  Otherwise the first test outside ``[lsl, usl]`` sets the soft bin of its
group (11-18) and the hard bin 2/3/4; else bin 1.  ``truth["killer"]["effect"]`` is the
mean over killer wafers of (yield − yield without the killer's kills, same draws).
``S14-C2`` is co-routed with the killer (same routing contexts) and has no effect; route
R3 uses the killer most *and* has more defects, so route confounds naive comparisons.

**Vmin** (:mod:`._vmin`).  On ~12 % of the dies (not defect-killed)::

    vmin[w,d,v] = c_v + X[w,d]·W_v + b_inter[w,v] + b_intra[zone(d),v] + N(0, σ_v)
    b_inter[w,v] = c'_v + Γ_v·(E05[w], E06[w]) + N(0, 3 mV)

``X`` the measured ``T03, T05, T14, T11`` at the die, σ_v 5-9 mV, ``b_intra`` edge-high
(tens of mV, zero-sum over the four balanced zones).

**Tables** (:mod:`._tables`).  MES windows per wafer and step; 1 Hz traces of three
parameters on the chambers of steps S05, S14, S22, S30, S37 stamped by each tool's
clock (``m + offset + drift_ppm·1e-6·(m − epoch)``); tool states explaining every trace
gap except a few data-loss gaps (``truth["trace_data_loss"]``).
"""

from __future__ import annotations

import xarray as xr

from ..errors import FabDataError
from ..schema import validate
from ._build import build, stream
from ._presets import PRESETS, synth_key
from ._tables import mes_table, tool_state_table, trace_table
from ._truth import align, truth_dict

__all__ = ["PRESETS", "fab", "tables", "truth"]


def fab(preset: str = "default", seed: int = 0, **overrides) -> xr.Dataset:
    """A synthetic fab as a validated contract Dataset.

    Parameters
    ----------
    preset
        ``"default"`` (300 mm, 5,540 dies of 3.4 × 3.5 mm, 24 lots of 8-12 wafers over
        182 days) or ``"small"`` (200 mm, 256 dies of 10 × 10 mm, 3 lots × 6 wafers).
    seed
        Non-negative int; the same seed gives an identical Dataset.
    **overrides
        Any key of ``PRESETS[preset]``: ``n_lots``, ``wafers_per_lot`` (int or
        ``(lo, hi)``), ``wafer_diameter_mm``, ``die_width_mm``, ``die_height_mm``,
        ``edge_exclusion_mm``, ``span_days``, ``start``, ``vmin_fraction``,
        ``outlier_rate``, ``latent_rate`` (latent-defect dies, 0 in the presets; see
        :mod:`fabnb.synth._latent`), ``product``.  An unknown name or a bad value
        raises ``FabParameterError`` (a ``FabDataError``) naming it.

    Returns
    -------
    xarray.Dataset
        A fresh (writable) copy; ``attrs["synth"]`` records the inputs.

    Example
    -------
    >>> import fabnb
    >>> ds = fabnb.synth.fab("small", seed=3, n_lots=2, wafers_per_lot=(4, 5))
    >>> ds.sizes["wafer"] <= 10, str(ds["lot"].values[0])
    (True, 'L0001')
    """
    key = synth_key(preset, seed, overrides)
    return validate(build(key).ds.copy(deep=True))


def _build_of(ds: xr.Dataset):
    if not isinstance(ds, xr.Dataset) or "synth" not in ds.attrs:
        raise FabDataError("dataset was not made by fabnb.synth.fab (no 'synth' attribute)")
    return build(str(ds.attrs["synth"]))


def truth(ds: xr.Dataset) -> dict:
    """Ground truth of a synthetic Dataset, restricted to its wafers, dies and tests.

    Keys: ``field`` (wafer, die, test) noise-free values; ``noise_sd`` (test) die-noise
    sd; ``outlier`` (wafer, die, test) bool; ``latent`` (wafer, die) bool, dies that
    pass every spec but carry a latent defect (none unless ``latent_rate > 0``),
    ``latent_test`` (wafer, die, test) their shifted tests (not part of ``field``),
    ``weak_site`` (wafer, die) the lot's recurring weak locations; ``spatial`` (die,
    test) static field;
    ``lot_trend`` Dataset (``order``, ``tau`` per wafer, ``amplitude``/``angle`` per
    lot and test, ``attrs["formula"]``); ``etest_loading`` (test, etest);
    ``inter_bias`` (wafer, vmin_test); ``intra_bias`` (zone, vmin_test);
    ``vmin_weights`` (vmin_test, feature); ``vmin_features``, ``vmin_etests`` (names);
    ``vmin_etest_coef``, ``vmin_etest_intercept``, ``vmin_intercept``,
    ``vmin_noise_sd``; ``killer`` / ``co_routed`` dicts (``step``, ``tool``,
    ``effect`` on wafer yield fraction, ``n_wafers``); ``used_killer``, ``route``,
    ``lane`` (wafer); ``defect``, ``killer_defect`` (wafer, die); ``yield``,
    ``yield_without_killer`` (wafer); ``bins`` table; ``clock_offset`` (s) and
    ``clock_drift_ppm`` Series by tool_id, ``clock_epoch``; ``trace_data_loss``;
    ``params``.  Arrays may be read-only views of the cache: copy before editing.

    Raises ``FabDataError`` for a Dataset not made by :func:`fab`.

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.truth(fabnb.synth.fab("small"))
    >>> t["co_routed"]["effect"], t["killer"]["effect"] < 0
    (0.0, True)
    """
    b = _build_of(ds)
    return align(truth_dict(b), ds, b.ds)


def tables(ds: xr.Dataset) -> dict:
    """Long tables of a synthetic Dataset: ``mes``, ``trace`` and ``tool_state``.

    ``mes`` covers the Dataset's wafers; ``trace`` and ``tool_state`` cover the
    chambers of the traced steps for the whole fab (see :mod:`fabnb.synth._tables`).

    Example
    -------
    >>> import fabnb
    >>> t = fabnb.synth.tables(fabnb.synth.fab("small"))
    >>> list(t["trace"].columns)
    ['tool_id', 'parameter_id', 'timestamp', 'value', 'quality']
    """
    b = _build_of(ds)
    mes = mes_table(b.routing)
    mes = mes[mes["wafer"].isin(ds["wafer"].values)].reset_index(drop=True)
    return {
        "mes": mes,
        "trace": trace_table(stream(b.seed, "trace"), b.routing, b.windows, b.data_loss),
        "tool_state": tool_state_table(stream(b.seed, "tool_state"), b.routing, b.windows),
    }
