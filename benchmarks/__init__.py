"""Benchmarks: fabnb against the anchor libraries, same data, one run. `python -m benchmarks`."""

import time


def best_of(fn, repeat):
    """``(seconds, result)``: the fastest of ``repeat`` timed calls after one untimed
    warm-up call (Numba compilation and caches excluded)."""
    out = fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out
