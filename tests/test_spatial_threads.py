"""BLAS thread counts inside the spatial engine (fabnb.spatial._threads)."""

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from fabnb.spatial import GaussianProcess, gp as gp_module
from fabnb.spatial._threads import blas_threads, factor_threads


@pytest.fixture(autouse=True)
def idle_machine(monkeypatch):
    """The thread choices below are those of an idle 2-core machine, whatever the load
    while the suite runs (a busy machine is its own test)."""
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    if hasattr(os, "sched_getaffinity"):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})


def blas_thread_counts():
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def test_small_work_is_serial_and_large_factorisations_get_the_callers_threads():
    with threadpool_limits(2, user_api="blas"):
        with blas_threads(1e6):
            assert blas_thread_counts() == {1}
            with factor_threads(1000):
                assert blas_thread_counts() == {2}
            with factor_threads(100):  # too small to pay for a second thread
                assert blas_thread_counts() == {1}
            with blas_threads(1e6), factor_threads(1000):  # nested: still the outer caller's
                assert blas_thread_counts() == {2}
            assert blas_thread_counts() == {1}
        assert blas_thread_counts() == {2}


def test_a_caller_limited_to_one_thread_stays_serial():
    with threadpool_limits(1, user_api="blas"), blas_threads(1e6), factor_threads(1000):
        assert blas_thread_counts() == {1}
    with factor_threads(1000):  # outside blas_threads there is nothing to give back
        pass


def test_a_fit_factorises_its_large_matrix_with_the_callers_threads(monkeypatch):
    seen = []
    dpotrf = gp_module.lapack.dpotrf

    def recording_dpotrf(A, **kwargs):
        seen.append((A.shape[0], max(blas_thread_counts())))
        return dpotrf(A, **kwargs)

    monkeypatch.setattr(gp_module.lapack, "dpotrf", recording_dpotrf)
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 10, (350, 2))
    y = np.sin(X[:, 0]) + 0.1 * rng.normal(size=350)
    with threadpool_limits(2, user_api="blas"):
        GaussianProcess(length_scale=2.0, noise=0.01, optimizer=None).fit(X, y)
    assert (350, 2) in seen  # the 350 × 350 correlation matrix
    assert (1, 1) in seen  # the 1 × 1 mean design matrix stays serial


@pytest.mark.parametrize("load, threads", [(0.9, 2), (1.4, 2), (1.6, 1), (4.0, 1)])
def test_busy_cores_keep_factorisations_serial(monkeypatch, load, threads):
    """With other work on the cores, two-thread OpenBLAS waits for a core at every step
    (W1 at load 3.3–4.1: median 177 ms against 99 ms serial): a fit's own load (up to 1.5)
    leaves both threads, more keeps the factorisation on one."""
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    with threadpool_limits(2, user_api="blas"):
        with blas_threads(1e6), factor_threads(1000):
            assert blas_thread_counts() == {threads}
        with blas_threads(1e12):  # large work: the caller's threads unless the cores are taken
            assert blas_thread_counts() == {threads}
