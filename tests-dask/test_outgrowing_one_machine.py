"""docs/pool.rst, "Outgrowing one machine", executed: one function, two executors.

The same user function runs unchanged through :class:`gipc.ProcessPool` and
through the executor of a dask.distributed cluster (a ``LocalCluster`` of two
worker processes on loopback, started and stopped here), with the same
results. Runs in the ``dask`` hatch environment (``hatch run dask:run``),
which adds ``distributed``; the default test paths leave this directory out.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import Executor

import pytest

distributed = pytest.importorskip(
    "distributed", reason="needs dask.distributed, which only the dask env has: hatch run dask:run"
)

import gipc  # noqa: E402


# The user's code, as on the docs page: a plain function, and code that knows
# only the Executor interface.
def score(item: str) -> tuple[int, int]:
    return len(item), os.getpid()


def run(executor: Executor, items: Iterable[str]) -> list[tuple[int, int]]:
    return list(executor.map(score, items))


ITEMS = ["a", "bb", "ccc", "dddd", "eeeee", "ffffff"]


def test_the_same_function_gives_the_same_results_on_gipc_and_on_a_cluster() -> None:
    with gipc.ProcessPool(max_workers=2) as pool:
        on_gipc = run(pool, ITEMS)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
        worker_pids = set(client.run(os.getpid).values())
        with client.get_executor() as executor:
            on_cluster = run(executor, ITEMS)

    assert [n for n, _ in on_gipc] == [n for n, _ in on_cluster] == [len(item) for item in ITEMS]
    # Both ran the function in other processes: gipc's workers, the cluster's workers.
    assert os.getpid() not in {pid for _, pid in on_gipc + on_cluster}
    assert {pid for _, pid in on_cluster} <= worker_pids
