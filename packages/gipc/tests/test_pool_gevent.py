"""Waiting on pool futures never blocks the event loop: greenlets keep running.

In this process gevent is not monkey-patched, where a naive
``concurrent.futures`` wait would block the hub. The monkey-patched case and
the other loop backends run in a fresh interpreter each.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import gipc
import pytest

from _proc_accounting import process_gone


def slow(value: Any) -> Any:
    gevent.sleep(0.3)
    return value


def square(x: int) -> int:
    return x * x


class Ticker:
    """A greenlet that counts how often it got to run."""

    def __init__(self) -> None:
        self.ticks = 0
        self._stop = gevent.event.Event()
        self._g = gevent.spawn(self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.ticks += 1
            gevent.sleep(0.005)

    def stop(self) -> None:
        self._stop.set()
        self._g.join(5)


@pytest.fixture
def ticker() -> Iterator[Ticker]:
    t = Ticker()
    yield t
    t.stop()


def test_result_lets_other_greenlets_run(ticker: Ticker) -> None:
    with gipc.ProcessPool(1) as pool:
        before = ticker.ticks
        assert pool.submit(slow, "x").result(timeout=60) == "x"
        assert ticker.ticks > before


def test_exception_lets_other_greenlets_run(ticker: Ticker) -> None:
    with gipc.ProcessPool(1) as pool:
        before = ticker.ticks
        assert pool.submit(slow, "x").exception(timeout=60) is None
        assert ticker.ticks > before


def test_result_timeout_is_cooperative(ticker: Ticker) -> None:
    with gipc.ProcessPool(1) as pool:
        fut = pool.submit(slow, "x")
        before = ticker.ticks
        with pytest.raises(gipc.ResultTimeout):
            fut.result(timeout=0.05)
        assert ticker.ticks > before
        assert fut.result(timeout=60) == "x"


def test_concurrent_futures_wait_is_cooperative(ticker: Ticker) -> None:
    with gipc.ProcessPool(2) as pool:
        futs = [pool.submit(slow, i) for i in range(4)]
        before = ticker.ticks
        done, not_done = concurrent.futures.wait(futs, timeout=60)
        assert not not_done
        assert ticker.ticks > before
        first, _ = concurrent.futures.wait(
            [pool.submit(slow, 1), pool.submit(square, 2)],
            timeout=60,
            return_when=concurrent.futures.FIRST_COMPLETED,
        )
        assert first


def test_as_completed_is_cooperative(ticker: Ticker) -> None:
    with gipc.ProcessPool(2) as pool:
        futs = [pool.submit(slow, i) for i in range(4)]
        before = ticker.ticks
        assert sorted(f.result() for f in concurrent.futures.as_completed(futs, timeout=60)) == [0, 1, 2, 3]
        assert ticker.ticks > before


def test_many_greenlets_wait_on_results_at_once() -> None:
    with gipc.ProcessPool(2) as pool:
        futs = [pool.submit(square, i) for i in range(50)]
        waiters = [gevent.spawn(f.result, 60) for f in futs]
        gevent.joinall(waiters, timeout=60, raise_error=True)
        assert [g.value for g in waiters] == [i * i for i in range(50)]


def test_done_callbacks_run() -> None:
    seen: list[Any] = []
    with gipc.ProcessPool(1) as pool:
        fut = pool.submit(square, 5)
        fut.add_done_callback(lambda f: seen.append(f.result()))
        fut.result(timeout=60)
    assert seen == [25]


_SCRIPT = textwrap.dedent(
    """
    import sys

    if sys.argv[1] == "patched":
        if sys.platform == "win32":
            # gevent.events calls platform.uname(), whose WMI query aborts
            # under wine 8; without _wmi, platform uses its older way.
            sys.modules.setdefault("_wmi", None)
        from gevent import monkey

        monkey.patch_all()

    import concurrent.futures
    import time

    import gevent

    import gipc


    def slow(value):
        time.sleep(0.2)
        return value


    def square(x):
        return x * x


    def main(start_method):
        ticks = [0]
        running = [True]

        def ticker():
            while running[0]:
                ticks[0] += 1
                gevent.sleep(0.005)

        g = gevent.spawn(ticker)
        with gipc.ProcessPool(2, start_method=start_method, task_timeout=60) as pool:
            before = ticks[0]
            assert pool.submit(slow, 1).result(timeout=60) == 1
            assert ticks[0] > before, "result() blocked the loop"
            before = ticks[0]
            done, not_done = concurrent.futures.wait([pool.submit(slow, i) for i in range(4)], timeout=60)
            assert not not_done and ticks[0] > before, "wait() blocked the loop"
            futs = [pool.submit(square, i) for i in range(200)]
            got = sorted(f.result() for f in concurrent.futures.as_completed(futs, timeout=60))
            assert got == sorted(i * i for i in range(200))
            assert list(pool.map(square, range(30), chunksize=4)) == [i * i for i in range(30)]
        running[0] = False
        g.join()
        print("OK", type(gevent.get_hub().loop).__module__)


    if __name__ == "__main__":
        main(None if sys.argv[2] == "default" else sys.argv[2])
    """
)


@pytest.mark.parametrize("patched", ["unpatched", "patched"])
@pytest.mark.parametrize(
    "loop",
    [
        "default",
        "libuv",
        pytest.param(
            "libev-cffi",
            marks=pytest.mark.skipif(sys.platform == "win32", reason="gevent has no libev-cffi on Windows"),
        ),
    ],
)
def test_in_a_fresh_interpreter(tmp_path: Path, patched: str, loop: str, start_method: str) -> None:
    script = tmp_path / "pool_script.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ)
    env.pop("GEVENT_LOOP", None)
    if loop != "default":
        env["GEVENT_LOOP"] = loop
    proc = subprocess.run(
        [sys.executable, str(script), patched, start_method],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK")
    if loop == "libuv":
        assert "libuv" in proc.stdout
    elif loop == "libev-cffi":
        assert "libev.corecffi" in proc.stdout


def test_result_from_another_thread_uses_the_standard_wait() -> None:
    got: list[Any] = []
    with gipc.ProcessPool(1) as pool:
        fut = pool.submit(slow, "x")
        t = threading.Thread(target=lambda: got.append(fut.result(timeout=60)))
        t.start()
        assert fut.result(timeout=60) == "x"
        t.join(60)
    assert got == ["x"]


def test_shutdown_from_a_done_callback_does_not_deadlock() -> None:
    pool = gipc.ProcessPool(1)
    fut = pool.submit(square, 3)
    fut.add_done_callback(lambda f: pool.shutdown(wait=True))
    assert fut.result(timeout=60) == 9
    with gevent.Timeout(60):
        pool.shutdown(wait=True)
    assert not pool._workers


_EXIT_SCRIPT = textwrap.dedent(
    """
    import os
    import sys

    import gevent

    import gipc


    def slow_write(path):
        gevent.sleep(0.5)
        with open(path, "w") as f:
            f.write("done")
        return os.getpid()


    if __name__ == "__main__":
        pool = gipc.ProcessPool(1)
        worker = pool.submit(os.getpid).result(timeout=60)
        print(worker, flush=True)
        pool.submit(slow_write, sys.argv[1])
        # No shutdown: the interpreter exits with the task still running.
    """
)


def test_interpreter_exit_finishes_pending_tasks_and_reaps_workers(tmp_path: Path) -> None:
    script = tmp_path / "exit_script.py"
    script.write_text(_EXIT_SCRIPT)
    marker = tmp_path / "marker"
    proc = subprocess.run(
        [sys.executable, str(script), str(marker)], capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert marker.read_text() == "done"
    worker = int(proc.stdout.split()[0])
    assert process_gone(worker)
