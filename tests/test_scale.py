"""fabnb.scale: per-wafer analyses on a lazily opened Zarr store, run by a 2-worker
``dask.distributed`` cluster, equal the single-process results on the in-memory data."""

import os

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import get_task_stream

import fabnb
from fabnb import FabDataError, FabParameterError, summary
from fabnb.io import open_zarr, write_zarr
from fabnb.scale import WORKER_ENVIRONMENT, client
from fabnb.spatial import virtual_probe

TESTS = ["T01", "T02"]


@pytest.fixture(scope="module")
def fab():
    return fabnb.synth.fab("small", seed=0)


@pytest.fixture(scope="module")
def eager(fab):
    """Single-process results on the in-memory Dataset, computed before any cluster exists."""
    return {
        "yield": summary.yield_by_wafer(fab),
        "zones": summary.zone_stats(fab, "T03", by_wafer=True),
        "probe": virtual_probe(fab, TESTS, method="gp", progress=False),
    }


@pytest.fixture(scope="module")
def store(fab, tmp_path_factory):
    path = tmp_path_factory.mktemp("scale") / "fab.zarr"
    write_zarr(fab, path)
    return path


@pytest.fixture(scope="module")
def cluster(eager):
    """Two single-threaded worker processes (real pickling of every task, no GIL sharing)."""
    with client(n_workers=2, processes=True, dashboard_address=None) as c:
        yield c


def ran_on_workers(tasks, c) -> set:
    """Addresses of the cluster's workers that executed any of ``tasks``."""
    return {t["worker"] for t in tasks} & set(c.scheduler_info()["workers"])


def test_summaries_on_the_cluster_equal_the_eager_tables(cluster, store, eager):
    lazy = open_zarr(store)
    assert lazy["hbin"].chunks is not None
    with get_task_stream(client=cluster) as stream:
        pd.testing.assert_frame_equal(summary.yield_by_wafer(lazy), eager["yield"])
        pd.testing.assert_frame_equal(summary.zone_stats(lazy, "T03", by_wafer=True), eager["zones"])
    assert ran_on_workers(stream.data, cluster)


def test_virtual_probe_on_the_cluster_equals_the_single_process_run(cluster, store, eager):
    lazy = open_zarr(store)
    with get_task_stream(client=cluster) as stream:
        out = virtual_probe(lazy, TESTS, method="gp", progress=False)
    # one task per wafer chunk and test, spread over both workers
    assert len(ran_on_workers(stream.data, cluster)) == 2
    ref = eager["probe"]
    np.testing.assert_array_equal(out["sampled"].values, ref["sampled"].values)
    np.testing.assert_array_equal(out["fit_error"].values, ref["fit_error"].values)
    for var in ("value_pred", "value_std"):
        np.testing.assert_allclose(out[var].values, ref[var].values, rtol=1e-12, atol=1e-12)  # BLAS sum order


def test_connect_to_an_existing_scheduler_by_address(cluster, store, eager):
    address = cluster.scheduler.address
    with client(address) as remote:
        assert set(remote.scheduler_info()["workers"]) == set(cluster.scheduler_info()["workers"])
        with get_task_stream(client=remote) as stream:
            table = summary.yield_by_wafer(open_zarr(store))
        assert ran_on_workers(stream.data, remote)
    pd.testing.assert_frame_equal(table, eager["yield"])
    with dask.config.set({"scheduler-address": address}), client() as from_config:
        assert from_config.scheduler.address == address


def test_bad_arguments_are_named(cluster):
    with pytest.raises(FabParameterError, match="'n_workers' parameter of client must be an int in the range"):
        client(n_workers=0)
    with pytest.raises(FabParameterError, match="'threads_per_worker' parameter of client"):
        client(n_workers=1, threads_per_worker=1.5)
    with pytest.raises(FabParameterError, match="n_workers only apply to a local cluster"):
        client(cluster.scheduler.address, n_workers=4)
    with pytest.raises(FabDataError, match="no Dask scheduler answered at 'tcp://127.0.0.1:9'"):
        client("tcp://127.0.0.1:9", timeout=2)


def _worker_setup():
    """(environment of WORKER_ENVIRONMENT's names, thread counts of the loaded BLAS/OpenMP pools)."""
    import os

    import numpy  # noqa: F401 -- loads OpenBLAS, so threadpoolctl sees its pool
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_info

    return ({name: os.environ.get(name) for name in WORKER_ENVIRONMENT},
            [pool["num_threads"] for pool in threadpool_info()])


def test_local_workers_get_one_thread_per_pool_and_default_malloc(monkeypatch):
    """Each worker is one core (no BLAS/OpenMP/Numba oversubscription), glibc's adaptive malloc
    is left alone (Dask's MALLOC_TRIM_THRESHOLD_ costs a page fault per large array), and the
    caller's own environment is as it was."""
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    with client(n_workers=1, dashboard_address=":0") as c:
        (environment, threads), = c.run(_worker_setup).values()
    assert dict(os.environ) == before
    assert environment == {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                           "NUMBA_NUM_THREADS": "1", "MALLOC_TRIM_THRESHOLD_": None}
    assert threads and set(threads) == {1}
