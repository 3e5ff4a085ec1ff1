"""``gipc.ProcessPool`` as a ``concurrent.futures.Executor``."""

from __future__ import annotations

import concurrent.futures
import os
import pickle
import threading
from typing import Any

import gevent
import gevent.event
import gipc
import pytest

_initialized: Any = None


def square(x: int) -> int:
    return x * x


def add(x: int, y: int) -> int:
    return x + y


def pid(_: object = None) -> int:
    return os.getpid()


def sleep_then(seconds: float, value: Any) -> Any:
    gevent.sleep(seconds)
    return value


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def return_lock() -> Any:
    return threading.Lock()


def remember(value: Any) -> None:
    global _initialized
    _initialized = value


def initialized() -> Any:
    return _initialized


def test_submit_returns_a_concurrent_futures_future(start_method: str) -> None:
    with gipc.ProcessPool(2, start_method=start_method) as pool:
        fut = pool.submit(square, 9)
        assert isinstance(fut, concurrent.futures.Future)
        assert isinstance(fut, gipc.Future)
        assert fut.result(timeout=60) == 81
        assert fut.done() and not fut.cancelled()


def test_kwargs_and_many_tasks() -> None:
    with gipc.ProcessPool(2) as pool:
        futs = [pool.submit(add, i, y=i) for i in range(300)]
        assert [f.result(timeout=60) for f in futs] == [2 * i for i in range(300)]


def test_tasks_run_in_the_workers() -> None:
    with gipc.ProcessPool(2) as pool:
        pids = {pool.submit(pid).result(timeout=60) for _ in range(20)}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def pid_after(seconds: float) -> int:
    gevent.sleep(seconds)
    return os.getpid()


def test_a_burst_after_tiny_calls_goes_to_whichever_worker_is_free() -> None:
    # Tiny calls make the pool batch deep. A burst of a long call and short
    # ones that follows is not split between the workers up front: the
    # worker running the long call holds one short call beside it at most,
    # and the other worker runs the rest, as from a shared queue (issue 21).
    with gipc.ProcessPool(2) as pool:
        workers: set[int] = set()
        while len(workers) < 2:
            workers |= {f.result(timeout=60) for f in [pool.submit(pid) for _ in range(40)]}
        burst = [pool.submit(pid_after, 2.0)] + [pool.submit(pid_after, 0.02) for _ in range(7)]
        long_one = burst[0].result(timeout=60)
        short_ones = [f.result(timeout=60) for f in burst[1:]]
    assert short_ones.count(long_one) <= 1, short_ones


@pytest.mark.parametrize("chunksize", [1, 3, 100])
def test_map_keeps_order(chunksize: int) -> None:
    with gipc.ProcessPool(2) as pool:
        assert list(pool.map(square, range(50), chunksize=chunksize)) == [i * i for i in range(50)]


def test_map_over_several_iterables_stops_at_the_shortest() -> None:
    with gipc.ProcessPool(2) as pool:
        assert list(pool.map(add, range(10), range(100, 105))) == [100, 102, 104, 106, 108]


def test_map_with_buffersize_submits_lazily() -> None:
    consumed: list[int] = []

    def items() -> Any:
        for i in range(20):
            consumed.append(i)
            yield i

    with gipc.ProcessPool(2) as pool:
        results = pool.map(square, items(), buffersize=3)
        assert len(consumed) == 3
        assert list(results) == [i * i for i in range(20)]


def test_map_timeout_raises_result_timeout() -> None:
    with gipc.ProcessPool(1) as pool:
        # map's timeout counts from the call, as in concurrent.futures: start
        # the worker first, so a slow spawn start on a busy machine is not
        # what runs out of time.
        assert pool.submit(sleep_then, 0.0, "warm").result(timeout=60) == "warm"
        results = pool.map(sleep_then, [0.0, 30.0], ["a", "b"], timeout=2.0)
        assert next(results) == "a"
        with pytest.raises(gipc.ResultTimeout) as info:
            next(results)
        assert isinstance(info.value, concurrent.futures.TimeoutError)
        assert isinstance(info.value, gipc.GIPCError)
        pool.shutdown(wait=False, cancel_futures=True)
        for w in list(pool._workers):
            w.kill()


def test_map_rejects_bad_chunksize() -> None:
    with gipc.ProcessPool(1) as pool:
        with pytest.raises(ValueError):
            pool.map(square, range(3), chunksize=0)


def test_exception_carries_the_remote_traceback() -> None:
    with gipc.ProcessPool(1) as pool:
        fut = pool.submit(raise_value_error, "in a worker")
        exc = fut.exception(timeout=60)
        assert isinstance(exc, ValueError)
        assert isinstance(exc.__cause__, gipc.RemoteTraceback)
        assert "raise_value_error" in str(exc.__cause__)
        with pytest.raises(ValueError, match="in a worker"):
            fut.result(timeout=60)
        assert pool.submit(square, 3).result(timeout=60) == 9


def test_unpicklable_argument_fails_only_its_future() -> None:
    with gipc.ProcessPool(1) as pool:
        before = pool.submit(square, 2)
        bad = pool.submit(square, threading.Lock())
        after = pool.submit(square, 3)
        with pytest.raises(TypeError):
            bad.result(timeout=60)
        assert before.result(timeout=60) == 4
        assert after.result(timeout=60) == 9


def test_unpicklable_function_fails_only_its_future() -> None:
    with gipc.ProcessPool(1) as pool:
        bad = pool.submit(lambda: 1)
        with pytest.raises((pickle.PicklingError, AttributeError)):
            bad.result(timeout=60)
        assert pool.submit(square, 5).result(timeout=60) == 25


def test_unpicklable_result_fails_only_its_future() -> None:
    with gipc.ProcessPool(1) as pool:
        bad = pool.submit(return_lock)
        good = pool.submit(square, 4)
        with pytest.raises((TypeError, pickle.PicklingError)) as info:
            bad.result(timeout=60)
        assert isinstance(info.value.__cause__, gipc.RemoteTraceback)
        assert good.result(timeout=60) == 16


def test_initializer_runs_in_every_worker(start_method: str) -> None:
    with gipc.ProcessPool(2, initializer=remember, initargs=("ready",), start_method=start_method) as pool:
        assert [f.result(timeout=60) for f in [pool.submit(initialized) for _ in range(6)]] == ["ready"] * 6


def test_failing_initializer_breaks_the_pool() -> None:
    pool = gipc.ProcessPool(2, initializer=raise_value_error, initargs=("bad init",))
    try:
        fut = pool.submit(square, 2)
        with pytest.raises(gipc.PoolBroken) as info:
            fut.result(timeout=60)
        assert isinstance(info.value, concurrent.futures.process.BrokenProcessPool)
        assert isinstance(info.value.__cause__, ValueError)
        with pytest.raises(gipc.PoolBroken):
            pool.submit(square, 2)
    finally:
        pool.shutdown(wait=True)


def test_failing_initializer_breaks_a_pool_that_replaces_workers_after_each_task() -> None:
    pool = gipc.ProcessPool(1, initializer=raise_value_error, initargs=("bad",), max_tasks_per_worker=1)
    try:
        futs = [pool.submit(square, i) for i in range(5)]
        for f in futs:
            with pytest.raises(gipc.PoolBroken):
                f.result(timeout=60)
    finally:
        pool.shutdown(wait=True)


def test_max_tasks_per_worker_replaces_workers(start_method: str) -> None:
    with gipc.ProcessPool(1, max_tasks_per_worker=2, start_method=start_method) as pool:
        pids = [pool.submit(pid).result(timeout=60) for _ in range(6)]
    assert len(set(pids)) == 3
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]


def test_max_tasks_per_worker_with_a_burst() -> None:
    with gipc.ProcessPool(2, max_tasks_per_worker=3) as pool:
        pids = list(pool.map(pid, range(30)))
    assert len(set(pids)) >= 10
    assert all(pids.count(p) <= 3 for p in set(pids))


def test_submit_after_shutdown_raises_pool_closed() -> None:
    pool = gipc.ProcessPool(1)
    pool.shutdown()
    with pytest.raises(gipc.PoolClosed) as info:
        pool.submit(square, 1)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, gipc.GIPCError)


def test_shutdown_waits_for_pending_tasks() -> None:
    pool = gipc.ProcessPool(2)
    futs = [pool.submit(sleep_then, 0.05, i) for i in range(10)]
    pool.shutdown(wait=True)
    assert [f.result(timeout=0) for f in futs] == list(range(10))
    assert not pool._workers


def test_shutdown_without_wait_still_runs_pending_tasks() -> None:
    pool = gipc.ProcessPool(2)
    futs = [pool.submit(sleep_then, 0.05, i) for i in range(6)]
    pool.shutdown(wait=False)
    assert not all(f.done() for f in futs)
    assert [f.result(timeout=60) for f in futs] == list(range(6))
    # Waiting again is allowed and lets the workers' exit be observed here.
    pool.shutdown(wait=True)
    assert not pool._workers


def test_shutdown_cancel_futures_cancels_what_has_not_started() -> None:
    pool = gipc.ProcessPool(1)
    futs = [pool.submit(sleep_then, 0.2, i) for i in range(20)]
    gevent.sleep(0.05)
    pool.shutdown(wait=True, cancel_futures=True)
    assert futs[0].result(timeout=0) == 0
    assert any(f.cancelled() for f in futs)
    assert all(f.done() for f in futs)


def test_cancel_a_pending_future() -> None:
    with gipc.ProcessPool(1) as pool:
        first = pool.submit(sleep_then, 0.3, "first")
        futs = [pool.submit(square, i) for i in range(10)]
        assert futs[-1].cancel()
        assert futs[-1].cancelled()
        with pytest.raises(concurrent.futures.CancelledError):
            futs[-1].result(timeout=0)
        assert first.result(timeout=60) == "first"
        assert [f.result(timeout=60) for f in futs[:-1]] == [i * i for i in range(9)]


def test_unused_pool_starts_no_process() -> None:
    with gipc.ProcessPool(4) as pool:
        assert not pool._workers


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_workers": 0},
        {"max_workers": -1},
        {"start_method": "teleport"},
        {"initializer": 3},
        {"max_tasks_per_worker": 0},
        {"task_timeout": 0},
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        gipc.ProcessPool(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_workers": "2"},
        {"max_workers": 2.0},
        {"max_workers": True},
        {"start_method": 3},
        {"max_tasks_per_worker": 1.5},
        {"task_timeout": "1"},
    ],
)
def test_arguments_of_the_wrong_type_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        gipc.ProcessPool(**kwargs)


def test_bad_arguments_name_the_argument_and_start_no_process() -> None:
    with pytest.raises(ValueError, match="teleport"):
        gipc.ProcessPool(start_method="teleport")
    with pytest.raises(ValueError, match="max_workers must be 1 or more, not 0"):
        gipc.ProcessPool(0)
    with gipc.ProcessPool(1) as pool:
        with pytest.raises(ValueError, match="buffersize"):
            pool.map(square, range(3), buffersize=0)
        with pytest.raises(TypeError, match="chunksize"):
            pool.map(square, range(3), chunksize="2")  # type: ignore[arg-type]
        assert not pool._workers


def test_submit_from_another_thread_is_refused() -> None:
    errors: list[BaseException] = []
    with gipc.ProcessPool(1) as pool:

        def submit() -> None:
            try:
                pool.submit(square, 1)
            except BaseException as exc:  # noqa: BLE001 - checked below
                errors.append(exc)

        t = threading.Thread(target=submit)
        t.start()
        t.join(30)
    assert len(errors) == 1 and isinstance(errors[0], gipc.GIPCError)


# Imported, not run: a library that keeps a pool from import time on, and
# calls a function of its own that the worker must import.
POOL_AT_IMPORT = """
import gipc

def square(x):
    return x * x

# A worker that hangs is killed after task_timeout, and the task fails.
with gipc.ProcessPool(1, start_method="fork", task_timeout=20) as pool:
    print("result", pool.submit(square, 7).result())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork start method: POSIX only")
def test_a_pool_made_while_its_module_is_imported_runs_that_modules_functions(tmp_path: Any) -> None:
    # The worker unpickles square by importing pool_at_import, which is
    # still being imported in the parent; after a fork from gipc's forker
    # thread it used to wait forever for the parent's import lock.
    import subprocess
    import sys

    (tmp_path / "pool_at_import.py").write_text(POOL_AT_IMPORT)
    command = [sys.executable, "-c", "import pool_at_import"]
    out = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["result 49"]
