"""How many threads the spatial engine's numerical work uses.

Multithreaded BLAS pays only for large calls: below ~1e10 flops per call (a Cholesky at
n ≈ 2,000, or the variance solve of 1,000 sites × 10,000 queries) thread start-up and, on a
busy 2-core machine, threads waiting for a core cost more than they gain.  So fits and
predictions run inside :func:`blas_threads`, which drops BLAS to one thread for small work.

LAPACK's blocked Cholesky factorisation and inverse are the exception: from a few hundred
sites on they use the threads the caller had (:func:`factor_threads`; 2 cores, n = 550:
dpotrf 4.5 → 3.4 ms, dpotri 9.6 → 5.1 ms, which cuts W1's fit by a fifth) — unless other
work keeps the cores busy (:func:`cores_taken`): OpenBLAS threads then wait for a core
at every synchronisation, and W1 (fit + predict with std) took a median 177 ms (max 805)
with two threads against 99 ms (max 124) serial, at load 3.3–4.1 on the 2 cores.  Worker
processes started by :func:`fabnb.scale.worker_environment` have one BLAS thread, so there
everything stays serial.  (Splitting the lattice variance's Gram sum between two threads
gained 16 % here, as the two vCPUs barely add throughput to it, so it stays serial.)

Example
-------
>>> import numpy as np
>>> with blas_threads(1e6):
...     L = np.linalg.cholesky(np.eye(3))   # one BLAS thread
...     with factor_threads(1000):
...         pass                            # the caller's threads for a large factorisation
"""

from __future__ import annotations

import contextlib
import os
from contextvars import ContextVar

from threadpoolctl import ThreadpoolController

_SERIAL_BELOW_FLOPS = 1e10
_OWN_LOAD = 1.5  # what a running fit adds to the load average itself (its thread, BLAS spinning)
_PARALLEL_FROM_N = 300  # order from which factorisations use the caller's threads
_BLAS = ThreadpoolController()
_caller_threads = ContextVar("BLAS threads outside fabnb's limits", default=None)


def cores_taken(threads: int) -> bool:
    """Whether other work leaves fewer than ``threads`` cores free: the 1-minute load
    average, less this fit's own share, exceeds the cores this process may use minus
    ``threads``.  False where the system keeps no load average."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return load - _OWN_LOAD > cores - threads


@contextlib.contextmanager
def blas_threads(flops: float):
    """Context limiting BLAS to one thread for calls of fewer than ~1e10 flops, or when
    other work has taken the cores; it keeps the caller's thread count for
    :func:`factor_threads`."""
    outer = _caller_threads.get()
    if outer is None:
        outer = max((lib.num_threads for lib in _BLAS.select(user_api="blas").lib_controllers), default=1)
    token = _caller_threads.set(outer)
    try:
        serial = flops < _SERIAL_BELOW_FLOPS or cores_taken(outer)
        with _BLAS.limit(limits=1 if serial else None, user_api="blas"):
            yield
    finally:
        _caller_threads.reset(token)


def factor_threads(n: int):
    """Context for a Cholesky factorisation or inverse of order ``n`` inside
    :func:`blas_threads`: BLAS gets the caller's threads back when ``n >= 300`` and the
    cores are free for them."""
    threads = _caller_threads.get()
    if threads is None or threads <= 1 or n < _PARALLEL_FROM_N or cores_taken(threads):
        return contextlib.nullcontext()
    return _BLAS.limit(limits=threads, user_api="blas")
