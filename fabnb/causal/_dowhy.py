"""The thin DoWhy adapter: every use of DoWhy's API lives here (tested with dowhy 0.14;
pin ``dowhy>=0.14,<0.15``).

Causal graph of one candidate (see :mod:`fabnb.causal.adjustment`)::

    context c  ──► T, Z, Y          (observed routing context: route, period, ...)
    dispatch U ──► T, Z             (unobserved: queue lane, operator habits; not in data)
    Z ──► Y,  T ──► Y               (co-routed tools and the candidate act on the response)

DoWhy's backdoor identification on this graph returns the adjustment set ``c ∪ Z``.
The graph's shape depends only on how many context and co-routed columns there are,
so identification runs once per shape on canonical node names and is mapped back.

Example
-------
>>> print(backdoor_set("T", "y", ["route", "period"], ["S22-C3"]))
['route', 'period', 'S22-C3']
"""

from __future__ import annotations

import functools
import logging
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

from .._params import check_option

DISPATCH = "dispatch"
_ESTIMATORS = {"regression": "backdoor.linear_regression",
               "stratification": "backdoor.propensity_score_stratification",
               "ipw": "backdoor.propensity_score_weighting"}


@contextmanager
def _quiet():
    """DoWhy logs and warns on every call; keep the user's notebook readable."""
    logger = logging.getLogger("dowhy")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def causal_graph(treatment: str, outcome: str, context, co_routed):
    """networkx DiGraph of one candidate (module docstring); ``dispatch`` is unobserved."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_edge(treatment, outcome)
    graph.add_edges_from([(DISPATCH, treatment)] + [(DISPATCH, z) for z in co_routed])
    graph.add_edges_from((z, outcome) for z in co_routed)
    for c in context:
        graph.add_edges_from([(c, treatment), (c, outcome)] + [(c, z) for z in co_routed])
    return graph


def _model(frame, treatment, outcome, context, co_routed):
    from dowhy import CausalModel

    graph = causal_graph(treatment, outcome, context, co_routed)
    with _quiet():
        return CausalModel(data=frame, treatment=treatment, outcome=outcome, graph=graph)


@functools.lru_cache(maxsize=256)
def _canonical_backdoor(n_context: int, n_co: int) -> tuple[int, ...]:
    context = [f"C{i}" for i in range(n_context)]
    co = [f"Z{i}" for i in range(n_co)]
    frame = pd.DataFrame({name: [0.0, 1.0, 0.0, 1.0] for name in context + co + ["Y"]})
    frame["T"] = [False, True, True, False]
    with _quiet():
        estimand = _model(frame, "T", "Y", context, co).identify_effect(
            proceed_when_unidentifiable=False)
        chosen = set(estimand.get_backdoor_variables() or [])
    if estimand.estimands.get("backdoor") is None:
        return (-1,)
    names = context + co
    return tuple(i for i, name in enumerate(names) if name in chosen)


def backdoor_set(treatment: str, outcome: str, context, co_routed) -> list[str] | None:
    """DoWhy's backdoor adjustment set for the candidate graph (None if unidentifiable).

    >>> print(backdoor_set("T", "y", [], []))
    []
    """
    index = _canonical_backdoor(len(context), len(co_routed))
    if index == (-1,):
        return None
    names = list(context) + list(co_routed)
    return [names[i] for i in index]


def _estimate(frame, treatment, outcome, context, co_routed, method, method_params):
    """DoWhy's identified-and-estimated ATE (a ``CausalEstimate``), see :func:`dowhy_effect`."""
    model = _model(frame, treatment, outcome, context, co_routed)
    with _quiet():
        estimand = model.identify_effect(proceed_when_unidentifiable=False)
        return model.estimate_effect(estimand, method_name=_ESTIMATORS[method],
                                     target_units="ate", effect_modifiers=[],
                                     method_params=method_params)


def dowhy_effect(frame: pd.DataFrame, treatment: str, outcome: str, context, co_routed,
                 method: str = "regression", method_params: dict | None = None) -> float:
    """DoWhy's identified-and-estimated ATE of ``treatment`` (bool column) on ``outcome``.

    ``context`` columns are categorical (DoWhy one-hot encodes them), ``co_routed``
    numeric (0/1 tools or continuous covariates).  ``effect_modifiers=[]``: DoWhy would
    otherwise read the co-routed tools off the graph as effect modifiers and add
    ``T × Z`` interactions; the fabnb estimand is the additive model.  ``method_params``
    go to DoWhy's estimator (e.g. ``{"min_ps_score": 0.02, "max_ps_score": 0.98}`` for
    fabnb's IPW clip).  DoWhy's ``ipw`` fits scikit-learn's ``LogisticRegression`` on the
    adjustment set (L2, C = 1; pass ``propensity_score_model`` for the unpenalised
    maximum likelihood fabnb uses); its ``stratification`` cuts the fitted propensity,
    not the covariates.  Slow (about 0.5 s per call); used to check the native
    estimators and to time DoWhy.
    """
    check_option("dowhy_effect", "method", method, _ESTIMATORS)
    return float(_estimate(frame, treatment, outcome, context, co_routed, method, method_params).value)


def dowhy_means(frame: pd.DataFrame, treatment: str, outcome: str, context, co_routed,
                method: str = "regression", method_params: dict | None = None) -> tuple[float, float]:
    """DoWhy's interventional means ``(E[Y | do(T=1)], E[Y | do(T=0)])``.

    regression: the fitted ``linear_regression`` estimator's do-operator, ``do(1)`` and
    ``do(0)`` on ``frame`` (the mean prediction with the treatment set for every row).
    DoWhy 0.14's ``CausalModel.do`` still calls ``fit`` with the pre-0.9 arguments and
    raises a TypeError, so the estimator's own ``do`` is called.  ipw / stratification:
    DoWhy's weighting estimators have no do-operator, but their ATE is linear in the
    outcome, ``Σ w T y / Σ w T − Σ w (1−T) y / Σ w (1−T)``: estimated on the outcome
    ``y·T`` it is ``μ₁`` (the control term vanishes), on ``y·(1−T)`` it is ``−μ₀``, with
    the same propensity model and weights.  Other arguments as :func:`dowhy_effect`.
    """
    check_option("dowhy_means", "method", method, _ESTIMATORS)
    if method == "regression":
        estimate = _estimate(frame, treatment, outcome, context, co_routed, method, method_params)
        with _quiet():
            return float(estimate.estimator.do(1, frame)), float(estimate.estimator.do(0, frame))
    t = frame[treatment].to_numpy(dtype=float)
    arms = frame.assign(__y1=frame[outcome] * t, __y0=frame[outcome] * (1 - t))
    mu1 = _estimate(arms.copy(), treatment, "__y1", context, co_routed, method, method_params).value
    mu0 = -_estimate(arms.copy(), treatment, "__y0", context, co_routed, method, method_params).value
    return float(mu1), float(mu0)


def dowhy_refute(frame: pd.DataFrame, treatment: str, outcome: str, context, co_routed,
                 method="regression", n_simulations=20, subset_fraction=0.8, seed=0) -> dict:
    """DoWhy's placebo (permute), random-common-cause and data-subset refuters.

    Returns the same keys as :func:`fabnb.causal.estimate.refute`: mean new effects and
    DoWhy's placebo p-value.
    """
    check_option("dowhy_refute", "method", method, _ESTIMATORS)
    model = _model(frame, treatment, outcome, context, co_routed)
    with _quiet():
        estimand = model.identify_effect(proceed_when_unidentifiable=False)
        estimate = model.estimate_effect(estimand, method_name=_ESTIMATORS[method],
                                         effect_modifiers=[])
        placebo = model.refute_estimate(estimand, estimate, "placebo_treatment_refuter",
                                        placebo_type="permute", num_simulations=n_simulations,
                                        random_seed=seed)
        cause = model.refute_estimate(estimand, estimate, "random_common_cause",
                                      num_simulations=n_simulations, random_seed=seed)
        subset = model.refute_estimate(estimand, estimate, "data_subset_refuter",
                                       subset_fraction=subset_fraction,
                                       num_simulations=n_simulations, random_seed=seed)
    p_value = (placebo.refutation_result or {}).get("p_value", np.nan)
    return {"placebo_effect": float(placebo.new_effect), "placebo_p": float(p_value),
            "random_cause_effect": float(cause.new_effect),
            "subset_effect": float(subset.new_effect)}
