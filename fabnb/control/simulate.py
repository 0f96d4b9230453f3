"""Closed-loop simulation of a controller on a :class:`~fabnb.control.LinearProcess`.

Per wafer ``t``: the controller recommends ``u_t``; the process gives ``y_t``; every
``metrology_every``-th wafer is measured and the result arrives ``metrology_delay``
wafers later. A delay-aware loop pairs each late result with the recipe of *its* wafer;
a naive loop (``delay_aware=False``) pairs it with the most recent recipe — the classic
bug of applying an update to the wrong wafer. Unmeasured wafers leave the controller's
state as it was (hold-last), unless a :class:`~fabnb.control.VirtualMetrology` feed
gives a prediction for them, which is then used as the measurement.
"""

from __future__ import annotations

import copy

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from .._params import HasMethods, Integral, Interval, check_params
from .process import LinearProcess, VirtualMetrology

PARAMETERS = {
    "process": [LinearProcess],
    "controller": [HasMethods(["recommend", "update", "state"])],
    "n_runs": [Interval(Integral, 1, None, closed="left")],
    "metrology_every": [Interval(Integral, 1, None, closed="left")],
    "metrology_delay": [Interval(Integral, 0, None, closed="left")],
    "delay_aware": ["boolean"],
    "vm": [VirtualMetrology, None],
    "progress": ["boolean"],
}


def simulate(process: LinearProcess, controller, n_runs: int, seed=0, metrology_every: int = 1,
             metrology_delay: int = 0, delay_aware: bool = True, vm: VirtualMetrology | None = None,
             progress: bool = False) -> xr.Dataset:
    """Run ``controller`` (a copy; the argument is not modified) for ``n_runs`` wafers.

    Returns a Dataset over ``run`` with ``recipe``, ``output``, ``disturbance``,
    ``measured`` (NaN where not measured), ``vm`` (NaN where no VM prediction was used),
    ``error`` (output − target) and the controller's state after each wafer
    (``state_<name>``); attrs hold the settings and the MSE about target.

    Example
    -------
    >>> from fabnb.control import EWMAController, LinearProcess, simulate
    >>> sim = simulate(LinearProcess(gain=1.0, intercept=2.0), EWMAController(1.0, 0.0, 0.5), 30)
    >>> abs(float(sim.error[-1])) < 1e-6
    True
    """
    check_params("simulate", PARAMETERS, locals())
    ctl = copy.deepcopy(controller)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    d = process.disturbance(n_runs, seed=seed)
    recipe = np.empty(n_runs)
    output = np.empty(n_runs)
    measured = np.full(n_runs, np.nan)
    vm_used = np.full(n_runs, np.nan)
    states: dict[str, list] = {}
    pending: list[tuple[int, int, float]] = []  # (arrival run, wafer run, value)
    for t in tqdm(range(n_runs), disable=not progress, desc="R2R simulation"):
        recipe[t] = float(np.squeeze(ctl.recommend()))
        output[t] = process.output(recipe[t], d[t])
        if t % metrology_every == 0:
            measured[t] = output[t]
            pending.append((t + metrology_delay, t, output[t]))
        elif vm is not None:
            vm_used[t] = vm.predict(output[t], t, rng)
            ctl.update(vm_used[t], recipe[t])
        for arrival, wafer, value in [p for p in pending if p[0] == t]:
            ctl.update(value, recipe[wafer] if delay_aware else recipe[t])
            pending.remove((arrival, wafer, value))
        for name, val in ctl.state().items():
            states.setdefault(name, []).append(float(np.squeeze(val)) if val is not None else np.nan)
    target = float(np.squeeze(ctl.target))
    error = output - target
    ds = xr.Dataset(
        {
            "recipe": ("run", recipe),
            "output": ("run", output),
            "disturbance": ("run", d),
            "measured": ("run", measured),
            "vm": ("run", vm_used),
            "error": ("run", error),
            **{f"state_{k}": ("run", np.asarray(v)) for k, v in states.items()},
        },
        coords={"run": np.arange(n_runs)},
        attrs={
            "controller": type(ctl).__name__,
            "target": target,
            "metrology_every": metrology_every,
            "metrology_delay": metrology_delay,
            "delay_aware": int(delay_aware),
            "seed": seed,
            "mse": float(np.mean(error**2)),
            "skipped_updates": int(ctl.n_skipped_),
        },
    )
    return ds
