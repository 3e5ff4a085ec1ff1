"""``gipc.ProcessPool`` when workers crash, hang or refuse to exit."""

from __future__ import annotations

import concurrent.futures
import ctypes
import faulthandler
import os
import signal
import sys
import threading
import time
from typing import Any

import gevent
import gipc
import pytest


def square(x: int) -> int:
    return x * x


def pid() -> int:
    return os.getpid()


def sleep_then(seconds: float, value: Any) -> Any:
    gevent.sleep(seconds)
    return value


def exit_with(code: int) -> None:
    os._exit(code)


if sys.platform == "win32":
    # os.kill() is TerminateProcess there, with the signal's number as the exit code.
    KILL, KILLED = signal.SIGTERM, int(signal.SIGTERM)
else:
    KILL, KILLED = signal.SIGKILL, -signal.SIGKILL
# A crash: a negative signal number on POSIX, the exception's status on Windows.
SEGFAULTED = 0xC0000005 if sys.platform == "win32" else -getattr(signal, "SIGSEGV", 11)


def kill_self() -> None:
    os.kill(os.getpid(), KILL)


def segfault() -> None:
    if sys.platform == "win32":
        # ctypes turns an access violation into an OSError there; this one is
        # real. No crash dialog (SEM_NOGPFAULTERRORBOX), as CPython's tests do.
        ctypes.windll.kernel32.SetErrorMode(0x0002)  # type: ignore[attr-defined]
        faulthandler.disable()
        faulthandler._read_null()  # type: ignore[attr-defined]
    ctypes.string_at(0)


def block_exit_with_a_thread() -> str:
    # A non-daemon thread makes the worker's interpreter wait at exit.
    threading.Thread(target=time.sleep, args=(3600,)).start()
    return "thread started"


def spin_forever() -> None:
    while True:
        pass


CRASHES = pytest.mark.parametrize(
    ("crash", "args", "exitcode"),
    [
        (exit_with, (5,), 5),
        (kill_self, (), KILLED),
        (segfault, (), SEGFAULTED),
    ],
    ids=["os._exit", "SIGKILL", "segfault"],
)


@CRASHES
def test_crash_fails_only_the_task_and_the_pool_repairs_itself(
    crash: Any, args: tuple[Any, ...], exitcode: int, start_method: str
) -> None:
    with gipc.ProcessPool(1, start_method=start_method) as pool:
        first = pool.submit(pid).result(timeout=60)
        doomed = pool.submit(crash, *args)
        queued = [pool.submit(square, i) for i in range(5)]
        with pytest.raises(gipc.WorkerDied) as info:
            doomed.result(timeout=60)
        err = info.value
        assert err.exitcode == exitcode
        assert isinstance(err, concurrent.futures.process.BrokenProcessPool)
        assert isinstance(err, gipc.GIPCError)
        assert [f.result(timeout=60) for f in queued] == [i * i for i in range(5)]
        assert pool.submit(pid).result(timeout=60) != first


def test_crash_among_many_tasks_on_several_workers() -> None:
    with gipc.ProcessPool(2) as pool:
        futs = [pool.submit(square, i) if i != 25 else pool.submit(kill_self) for i in range(50)]
        done, not_done = concurrent.futures.wait(futs, timeout=60)
        assert not not_done
        for i, f in enumerate(futs):
            if i == 25:
                assert isinstance(f.exception(timeout=0), gipc.WorkerDied)
            else:
                assert f.result(timeout=0) == i * i


def test_worker_killed_while_idle_is_replaced() -> None:
    with gipc.ProcessPool(1) as pool:
        victim = pool.submit(pid).result(timeout=60)
        os.kill(victim, KILL)
        deadline = gevent.Timeout(30)
        with deadline:
            while any(w.process.pid == victim for w in pool._workers):
                gevent.sleep(0.01)
        assert pool.submit(square, 6).result(timeout=60) == 36


def test_task_timeout_kills_and_replaces_the_worker(start_method: str) -> None:
    # The initializer makes a spawned worker import this module before it is
    # ready, so that the import does not count against the first task's time.
    with gipc.ProcessPool(1, initializer=pid, task_timeout=1.0, start_method=start_method) as pool:
        first = pool.submit(pid).result(timeout=60)
        slow = pool.submit(sleep_then, 60, "late")
        queued = pool.submit(square, 7)
        with pytest.raises(gipc.TaskTimeout) as info:
            slow.result(timeout=60)
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, concurrent.futures.TimeoutError)
        assert isinstance(info.value, gipc.GIPCError)
        assert queued.result(timeout=60) == 49
        assert pool.submit(pid).result(timeout=60) != first


def test_task_timeout_stops_a_busy_loop() -> None:
    with gipc.ProcessPool(1, task_timeout=0.3) as pool:
        with pytest.raises(gipc.TaskTimeout):
            pool.submit(spin_forever).result(timeout=60)


def test_tasks_within_the_timeout_are_not_affected() -> None:
    with gipc.ProcessPool(2, task_timeout=30) as pool:
        assert list(pool.map(sleep_then, [0.01] * 10, range(10))) == list(range(10))


def test_shutdown_kills_a_worker_that_does_not_exit() -> None:
    pool = gipc.ProcessPool(1)
    assert pool.submit(block_exit_with_a_thread).result(timeout=60) == "thread started"
    with gevent.Timeout(60):
        pool.shutdown(wait=True)
    assert not pool._workers


def test_interrupted_shutdown_kills_the_workers() -> None:
    pool = gipc.ProcessPool(2)
    futs = [pool.submit(sleep_then, 3600, i) for i in range(2)]
    gevent.sleep(0.2)
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.5):
            pool.shutdown(wait=True)
    with gevent.Timeout(60):
        pool.shutdown(wait=True)
    assert all(isinstance(f.exception(timeout=0), gipc.WorkerDied) for f in futs)


def test_leaving_the_context_by_a_timeout_kills_the_workers() -> None:
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.5):
            with gipc.ProcessPool(2) as pool:
                futs = [pool.submit(sleep_then, 3600, i) for i in range(4)]
                futs[0].result()
    assert not pool._workers
    assert all(f.done() for f in futs)


def test_a_dead_workers_undelivered_tasks_run_elsewhere() -> None:
    with gipc.ProcessPool(2) as pool:
        pids = {pool.submit(pid).result(timeout=60) for _ in range(10)}
        for p in pids:
            os.kill(p, KILL)
        # Submitted before the pool has noticed the deaths.
        futs = [pool.submit(square, i) for i in range(20)]
        results = []
        for f in futs:
            try:
                results.append(f.result(timeout=60))
            except gipc.WorkerDied:
                results.append(None)
        assert [r for r in results if r is not None] == [i * i for i in range(20) if results[i] is not None]
        assert pool.submit(square, 3).result(timeout=60) == 9
