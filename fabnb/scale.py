"""Scale-out on Dask: one call to get a ``dask.distributed`` client for fabnb's per-wafer work.

The analysis functions that map over wafers or tests (``fabnb.summary.yield_by_wafer``,
``zone_stats``, ``fabnb.spatial.virtual_probe``, ...) take dask-chunked Datasets — e.g.
from :func:`fabnb.io.open_zarr`, one wafer per chunk — and build their work with
``xr.apply_ufunc(..., dask="parallelized")``.  Once a :class:`distributed.Client` exists
it is Dask's default scheduler, so those same calls run on its workers unchanged; this
module only starts (or connects to) the cluster.

Where the work runs:

* ``client()``: a ``LocalCluster`` on this machine, one single-threaded worker process
  per core, each with BLAS/OpenMP/Numba thread pools of one thread (so ``n`` workers
  use ``n`` cores, not ``n`` x cores) and glibc's default ``malloc`` (see
  :data:`WORKER_ENVIRONMENT`);
* ``client("tcp://scheduler:8786")``: an existing cluster (``dask scheduler`` +
  ``dask worker`` on other machines, dask-jobqueue, Kubernetes, ...);
* ``client()`` with ``DASK_SCHEDULER_ADDRESS`` set (or Dask's ``scheduler-address``
  config): that cluster, so notebooks need no edit to move from laptop to cluster.

Workers of an existing cluster need fabnb installed and must be able to read the Zarr
path (a shared file system or an object store URL).

Chunk size: every chunk is one task, and a task costs a Zarr read, (de)serialisation and
scheduling on top of its work.  For the virtual probe (~80 ms of CPU per wafer and test on
a 2,592-die map) one wafer per chunk adds about 40 % of CPU; ten wafers per chunk
(``open_zarr(path, chunks={"wafer": 10})``, one lot) bring it to within a few % of a
single process (``benchmarks/bench_scale.py``).  Keep at least a few chunks per worker.

Example
-------
>>> import fabnb.io, fabnb.summary
>>> from fabnb.scale import client
>>> with client(n_workers=2) as c:                                  # doctest: +SKIP
...     lazy = fabnb.io.open_zarr("fab.zarr")                      # one wafer per chunk
...     table = fabnb.summary.yield_by_wafer(lazy)                 # runs on the 2 workers
"""

from __future__ import annotations

import contextlib
import os

from ._params import Integral, Interval, check_params
from .errors import FabDataError, FabParameterError

#: Environment of local worker processes, set before they start (Dask's
#: ``distributed.nanny.pre-spawn-environ``).  One thread per BLAS/OpenMP/Numba pool:
#: each worker is one core.  ``MALLOC_TRIM_THRESHOLD_`` is *unset* (Dask sets 65536 to
#: hand freed memory back to the OS sooner): a fixed trim threshold also switches off
#: glibc's adaptive mmap threshold, so every array over 128 kB -- a GP's cross-kernel,
#: its predictions -- is a fresh ``mmap`` that is page-faulted and zeroed again.  On
#: the virtual probe that costs 4-5x the page faults and about a quarter more CPU per
#: wafer than the same work in a plain process (``benchmarks/bench_scale.py``).
WORKER_ENVIRONMENT = {
    "OMP_NUM_THREADS": 1, "OPENBLAS_NUM_THREADS": 1, "MKL_NUM_THREADS": 1,
    "NUMBA_NUM_THREADS": 1, "MALLOC_TRIM_THRESHOLD_": None,
}


@contextlib.contextmanager
def worker_environment():
    """Put :data:`WORKER_ENVIRONMENT` in ``os.environ``, so that worker processes started
    inside the block inherit it, and the caller's values back afterwards.

    Example
    -------
    >>> import os
    >>> with worker_environment():
    ...     os.environ["OPENBLAS_NUM_THREADS"]
    '1'
    """
    before = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
    try:
        for name, value in WORKER_ENVIRONMENT.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def client(address=None, n_workers=None, threads_per_worker=1, processes=True, timeout=30,
           **cluster_options):
    """A ``dask.distributed`` Client: a new ``LocalCluster``, or an existing scheduler's.

    The returned client becomes Dask's default scheduler, so ``.compute()`` of
    fabnb results on chunked data runs on its workers.  Close it (or use it in a
    ``with`` block) to stop a local cluster it started.

    Parameters
    ----------
    address : str, optional
        Scheduler address of an existing cluster (``"tcp://10.0.0.5:8786"``).  Default:
        Dask's ``scheduler-address`` config (env ``DASK_SCHEDULER_ADDRESS``) if set,
        else start a ``LocalCluster``.
    n_workers : int, optional
        Local workers (default: the number of cores).  Only for a local cluster.
    threads_per_worker : int
        Threads per local worker.  1 (the default) suits fabnb's GP and Numba
        kernels, which hold the GIL for part of their work; more threads per worker
        help only for I/O-bound loads.
    processes : bool
        Local workers as processes (default) or as threads of this process (starts
        faster, shares memory, but the GIL limits the speed-up).
    timeout : float
        Seconds to wait for an existing scheduler to answer.
    **cluster_options
        Passed to ``distributed.LocalCluster`` (``memory_limit``,
        ``dashboard_address``, ...).

    Returns
    -------
    distributed.Client

    Raises
    ------
    FabDataError
        Bad worker counts, local-cluster options given together with an address, or
        no scheduler answering at ``address``.

    Example
    -------
    >>> from fabnb.scale import client
    >>> c = client(n_workers=2, processes=False, dashboard_address=None)
    >>> len(c.scheduler_info()["workers"])
    2
    >>> c.close()
    """
    import dask
    from distributed import Client

    address = address or dask.config.get("scheduler-address", None)
    if address is not None:
        local = {"n_workers": n_workers, **cluster_options}
        given = sorted(k for k, v in local.items() if v is not None)
        if given:
            raise FabParameterError(
                f"client(address={address!r}) connects to an existing cluster; "
                f"{', '.join(given)} only apply to a local cluster (size the remote one "
                "with its own `dask worker` options)"
            )
        try:
            return Client(address, timeout=timeout)
        except (OSError, TimeoutError) as err:
            raise FabDataError(
                f"no Dask scheduler answered at {address!r} within {timeout} s "
                f"({type(err).__name__}: {err})"
            ) from err
    if n_workers is None:
        n_workers = os.cpu_count() or 1
    check_params("client", {name: [Interval(Integral, 1, None, closed="left")]
                            for name in ("n_workers", "threads_per_worker")},
                 {"n_workers": n_workers, "threads_per_worker": threads_per_worker})
    if not processes:
        return Client(n_workers=n_workers, threads_per_worker=threads_per_worker,
                      processes=False, **cluster_options)
    return _local_process_cluster(n_workers, threads_per_worker, cluster_options)


def _local_process_cluster(n_workers, threads_per_worker, cluster_options):
    """A Client on a new process ``LocalCluster`` whose workers get :data:`WORKER_ENVIRONMENT`.

    Dask's nanny writes the worker environment into *this* process's ``os.environ``
    before spawning; it is put back afterwards, so later subprocesses (a report's
    kernel, a second cluster) start from the caller's environment.
    """
    import dask
    from distributed import Client

    with worker_environment(), dask.config.set({"distributed.nanny.pre-spawn-environ": dict(WORKER_ENVIRONMENT)}):
        return Client(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True, **cluster_options)
