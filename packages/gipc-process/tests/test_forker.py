"""The one thread that forks ``fork`` children: shared by all threads, never seen by other forks."""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import gevent
import gipc_process
import gipc_transport
import pytest
from gipc_process import _forker

from _proc_accounting import children

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")


def _report(w: gipc_transport.Writer, tag: int) -> None:
    w.put((tag, os.getppid()))
    w.close()


def _one_child(tag: int) -> tuple[object, int | None]:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_report, args=(w, tag), start_method="fork")
        report = r.get(timeout=60)
        p.join(timeout=60)
    return report, p.exitcode


def _start_and_join_in_a_thread(tag: int, results: list[object]) -> None:
    # A thread of its own, with a hub of its own, starting children while
    # the other threads do the same.
    try:
        results.append([_one_child(tag * 100 + i) for i in range(5)])
    except BaseException:  # noqa: BLE001 - reported to the test's thread
        results.append(traceback.format_exc())
    finally:
        gevent.get_hub().destroy(destroy_loop=True)


def test_children_started_from_several_os_threads_at_once() -> None:
    results: list[object] = []
    threads = [threading.Thread(target=_start_and_join_in_a_thread, args=(t, results)) for t in range(3)]
    with warnings.catch_warnings(record=True) as caught:
        # multiprocessing polls every started process from start(), in any
        # thread: that must not take a status from under our watcher.
        warnings.simplefilter("always", gipc_process.StatusLostWarning)
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=100)
    assert not any(t.is_alive() for t in threads)
    assert [w for w in caught if issubclass(w.category, gipc_process.StatusLostWarning)] == []
    me = os.getpid()
    expected = [[((t * 100 + i, me), 0) for i in range(5)] for t in range(3)]
    assert sorted(map(str, results)) == sorted(map(str, expected)), results


THREADS_SCRIPT = textwrap.dedent(
    """
    import json, multiprocessing, os, warnings
    import gipc_process

    def nothing():
        pass

    def threads():
        return len(os.listdir("/proc/self/task"))

    if __name__ == "__main__":
        base = threads()
        rows = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for plain in ("os.fork", "multiprocessing"):
                for _ in range(3):
                    p = gipc_process.start_process(nothing, start_method="fork")
                    p.join(timeout=60)
                    after_gipc = threads() - base
                    if plain == "os.fork":
                        pid = os.fork()
                        if pid == 0:
                            os._exit(0)
                        after_plain = threads() - base
                        os.waitpid(pid, 0)
                    else:
                        mp = multiprocessing.get_context("fork").Process(target=nothing)
                        mp.start()
                        after_plain = threads() - base
                        mp.join(timeout=60)
                    rows.append([p.exitcode, after_gipc, after_plain])
        deprecations = sum(issubclass(w.category, DeprecationWarning) for w in caught)
        print(json.dumps({"rows": rows, "deprecations": deprecations}))
    """
)


def test_the_forking_thread_is_reused_and_gone_before_any_other_fork(
    run_script: Callable[[str], Any],
) -> None:
    # In a fresh interpreter: pytest-timeout's thread method adds a thread here.
    result = run_script(THREADS_SCRIPT)
    for exitcode, after_gipc, after_plain in result["rows"]:
        assert exitcode == 0
        # At most one thread of ours, however many children were started.
        assert after_gipc in (0, 1)
        # Gone before another fork: no multi-threaded fork warning there.
        assert after_plain == 0
    assert result["deprecations"] == 0


class _Interrupted(Exception):
    """What the test's signal handler raises while ``start()`` waits for the fork."""


def _nothing() -> None:
    pass


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
@pytest.mark.parametrize("spin", [_forker.SPIN_SECONDS, 0.0], ids=["yielding", "asleep"])
def test_a_signal_handler_raising_while_start_waits_for_the_fork(
    spin: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fork completes regardless; its child is killed and reaped before
    # the exception leaves start(), and the next start works.
    monkeypatch.setattr(_forker, "SPIN_SECONDS", spin)
    raised: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if not raised and frame is not None and frame.f_code.co_name == "_wait_finished":
            raised.append(signum)
            raise _Interrupted

    before = set(children())
    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
        for _ in range(500):
            try:
                p = gipc_process.start_process(_nothing, start_method="fork")
            except _Interrupted:
                break
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, old)
    assert raised == [signal.SIGALRM], "the handler never ran while start() waited for the fork"
    assert set(children()) - before == set()
    p = gipc_process.start_process(_nothing, start_method="fork")
    p.join(timeout=60)
    assert p.exitcode == 0
