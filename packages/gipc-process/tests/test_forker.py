"""The one thread that forks ``fork`` children: shared by all threads, never seen by other forks."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
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

# Not the existence of /proc: under wine, Windows programs see the host's.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork start method; counts threads in /proc"
)


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


def _own_child(tag: int) -> None:
    # The child reports the tag of the start that made it: a start handed
    # another start's child would show it.
    report, exitcode = _one_child(tag)
    assert report == (tag, os.getpid())
    assert exitcode == 0


_WAIT = _forker.Forker._wait_finished.__code__
_HAND_OVER = _forker.Forker._hand_over.__code__


def _stop_alarms(old: Any) -> None:
    """Disarm the interval timer, let its last signals arrive, then restore ``old``.

    A SIGALRM that expired just before the timer was disarmed may reach a
    thread (the forker's) a moment later. Found with ``SIG_DFL`` restored
    already, Python reports it as an unraisable "Signal 14 ignored due to
    race condition", and pytest fails the test for it (seen once in CI). The
    test's handler, still installed meanwhile, ignores it.
    """
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    time.sleep(0.1)
    signal.signal(signal.SIGALRM, old)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
@pytest.mark.parametrize("starts", [1, 100], ids=["one-start", "each-of-100-starts"])
@pytest.mark.parametrize("spin", [_forker.SPIN_SECONDS, 0.0], ids=["yielding", "asleep"])
def test_a_signal_handler_raising_while_start_waits_for_the_fork(
    spin: float, starts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A handler may raise at any call, function entry or loop jump. Raised
    # once while the job is handed over or waited for, the fork completes
    # regardless; its child is killed and reaped before the exception leaves
    # start() (not by the next start), and the next start works. With one
    # start, the exception comes from the wait; with 100, each start gets one
    # at the first such point the timer hits in either. (A second exception
    # while the first is being handled is beyond what Python code can
    # survive: Python 3.10 skips a with-block's exit then.)
    monkeypatch.setattr(_forker, "SPIN_SECONDS", spin)
    targets = (_WAIT,) if starts == 1 else (_WAIT, _HAND_OVER)
    raised: list[str] = []
    armed = [False]

    def handler(signum: int, frame: Any) -> None:
        if armed[0] and frame is not None and frame.f_code in targets:
            armed[0] = False
            raised.append(frame.f_code.co_name)
            raise _Interrupted

    before = set(children())
    old = signal.signal(signal.SIGALRM, handler)
    interrupted = 0
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
        for _ in range(500 if starts == 1 else starts):
            armed[0] = True
            try:
                p = gipc_process.start_process(_nothing, start_method="fork")
            except _Interrupted:
                interrupted += 1
                # Its child, if the fork happened, is already gone.
                assert set(children()) - before == set()
                if starts == 1:
                    break
                continue
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        _stop_alarms(old)
    assert "_wait_finished" in raised, f"the handler never raised while start() waited for the fork: {raised}"
    assert interrupted == len(raised)
    _own_child(1)
    assert set(children()) - before == set()


def _fork_and_exit() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    return pid


def test_a_start_after_one_whose_caller_left_takes_that_child_down() -> None:
    # A second exception raised while start() catches a first makes start()
    # leave without the result of the job it handed over. That state, made
    # directly: the next start kills and reaps the left child instead of
    # being handed it, and gets a child of its own.
    before = set(children())
    forker = _forker._current()
    with forker._serving:
        forker._hand_over(_fork_and_exit)
    _own_child(1)
    _own_child(2)
    assert set(children()) - before == set()


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs setitimer")
def test_a_start_from_a_signal_handler_interrupting_a_start_fails_clearly() -> None:
    # The interrupted start holds the forker until its fork is done: a
    # second start from the same thread would wait for it forever. It fails
    # at once instead, and the interrupted start completes.
    errors: list[BaseException] = []
    armed = [False]

    def handler(signum: int, frame: Any) -> None:
        if armed[0] and frame is not None and frame.f_code is _WAIT:
            armed[0] = False
            try:
                gipc_process.start_process(_nothing, start_method="fork")
            except gipc_process.GIPCError as exc:
                errors.append(exc)

    before = set(children())
    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
        for _ in range(500):
            armed[0] = True
            p = gipc_process.start_process(_nothing, start_method="fork")
            p.join(timeout=60)
            assert p.exitcode == 0
            if errors:
                break
    finally:
        _stop_alarms(old)
    assert len(errors) == 1, "the handler never ran while start() waited for the fork"
    assert "interrupted a fork start in the same thread" in str(errors[0])
    _own_child(1)
    assert set(children()) - before == set()


def _describe_threads() -> dict[str, Any]:
    main = threading.main_thread()
    helper = threading.Thread(target=_nothing)
    helper.start()
    helper.join(timeout=60)
    record = _forker._forker.record
    return {
        "main is current": main is threading.current_thread(),
        "type": type(main).__name__,
        "name": main.name,
        "daemon": main.daemon,
        "alive": main.is_alive(),
        "ident": main.ident == threading.get_ident(),
        "threads": [t.name for t in threading.enumerate()],
        # The forker thread's record, inherited: adopted, not rebuilt.
        "adopted": record is not None and main is record.thread,
        "helper ran": not helper.is_alive(),
    }


def _threads_report(w: gipc_transport.Writer, depth: int) -> None:
    report = _describe_threads()
    if depth:
        # A grandchild, forked by the child's own forker thread.
        with gipc_transport.pipe() as (r, w2):
            p = gipc_process.start_process(_threads_report, args=(w2, depth - 1), start_method="fork")
            report["grandchild"] = r.get(timeout=60)
            p.join(timeout=60)
            report["grandchild exitcode"] = p.exitcode
    w.put(report)
    w.close()


def test_a_fork_childs_one_thread_is_its_main_thread_and_the_parent_sees_no_extra_thread() -> None:
    # The child adopts threading's record of the forker thread, listed only
    # while it forks (_compat.ThreadRecord): a main thread like that of any
    # child (multiprocessing's bootstrap ends with threading._shutdown(),
    # which needs it), and no extra thread for the parent's threading.
    before = [(t.name, t.ident) for t in threading.enumerate()]
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_threads_report, args=(w, 1), start_method="fork")
        report = r.get(timeout=60)
        p.join(timeout=60)
    assert p.exitcode == 0
    assert [(t.name, t.ident) for t in threading.enumerate()] == before
    assert _forker._forker.record is not None
    assert _forker._forker.record.thread not in threading.enumerate()
    grandchild = report.pop("grandchild")
    assert report.pop("grandchild exitcode") == 0
    expected = {
        "main is current": True,
        "type": "_MainThread",
        "name": "MainThread",
        "daemon": False,
        "alive": True,
        "ident": True,
        "threads": ["MainThread"],
        "adopted": True,
        "helper ran": True,
    }
    assert report == expected
    assert grandchild == expected
