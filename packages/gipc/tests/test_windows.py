"""call_in_process and ProcessPool on Windows: spawn only, and no process left behind.

The repository's leak check fails a test that leaves a child behind; these
tests also follow the pids they learn of (workers, grandchildren) to the end.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import gevent
import gipc
import pytest

from _proc_accounting import process_gone

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows only: process handles, spawn only")


def _all_gone(pids: set[int], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while not all(process_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.05)
    return True


def _pid_then_sleep(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_posix_start_methods_are_refused_clearly(method: str) -> None:
    with pytest.raises(ValueError, match=f"start method '{method}' is not available on win32; it has spawn"):
        gipc.ProcessPool(2, start_method=method)
    with pytest.raises(ValueError, match=f"start method '{method}' is not available on win32"):
        gipc.call_in_process(os.getpid, start_method=method)


def test_pool_shutdown_leaves_no_worker_running() -> None:
    with gipc.ProcessPool(3) as pool:
        pids = set(pool.map(_pid_after, [0.2] * 9))
        assert os.getpid() not in pids
    assert _all_gone(pids)


def test_a_worker_killed_mid_task_fails_that_task_and_the_pool_goes_on(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    with gipc.ProcessPool(1) as pool:
        doomed = pool.submit(_pid_then_sleep, str(marker), 60)
        with gevent.Timeout(60):
            while not marker.exists() or not marker.read_text():
                gevent.sleep(0.05)
        victim = int(marker.read_text())
        # TerminateProcess, with the signal's number as the exit code.
        os.kill(victim, 15)
        with pytest.raises(gipc.WorkerDied) as info:
            doomed.result(timeout=60)
        assert info.value.exitcode == 15
        replacement = pool.submit(os.getpid).result(timeout=60)
        assert replacement != victim
    assert _all_gone({victim, replacement})


def test_call_in_process_timeout_ends_the_child(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    with pytest.raises(gipc.TaskTimeout):
        # Long enough for a slow start under wine to write the pid first.
        gipc.call_in_process(_pid_then_sleep, str(marker), 60, timeout=10)
    assert _all_gone({int(marker.read_text())})


def test_task_timeout_ends_the_worker(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    with gipc.ProcessPool(1, initializer=os.getpid, task_timeout=5) as pool:
        with pytest.raises(gipc.TaskTimeout):
            pool.submit(_pid_then_sleep, str(marker), 60).result(timeout=60)
        assert _all_gone({int(marker.read_text())})
        assert pool.submit(_pid_after, 0).result(timeout=60) != int(marker.read_text())
