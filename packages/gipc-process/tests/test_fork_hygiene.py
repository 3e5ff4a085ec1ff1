"""What a forked child starts with: no parent greenlets, default signals, only its handles."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gipc_process
import gipc_transport
import pytest
from gipc_transport import lowlevel

from _proc_accounting import thread_children

_NO_FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork start method: POSIX only")

# Registers an at-fork hook that yields to the hub *before* gipc is imported,
# as observability libraries do, then runs greenlets of several kinds in the
# parent and records in a log which process ran which greenlet.
HOOK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import gevent, gevent.socket

    log_r, log_w = os.pipe()

    def record(what):
        os.write(log_w, f"{what} {os.getpid()}\\n".encode())

    def hook():
        gevent.sleep(0)
        gevent.sleep(0.02)
        record("hook")

    os.register_at_fork(after_in_child=hook)

    import gipc_process, gipc_transport

    wake_r, wake_w = os.pipe()

    def ticker():
        while True:
            record("ticker")
            gevent.sleep(0.001)

    def io_waiter():
        gevent.socket.wait_read(wake_r)
        record("io_waiter")

    def later():
        record("callback")

    def child(w):
        # Give any inherited greenlet every chance to run here.
        os.write(wake_w, b"x")
        for _ in range(5):
            gevent.sleep(0.01)
        record("target")
        w.put(os.getpid())

    def start_and_join():
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(child, args=(w,), start_method="fork")
            pid = r.get(timeout=60)
            p.join(timeout=60)
        return pid, p.exitcode

    if __name__ == "__main__":
        greenlets = [gevent.spawn(ticker), gevent.spawn(io_waiter)]
        gevent.get_hub().loop.run_callback(later)
        gevent.spawn_later(0.03, later)
        gevent.sleep(0.01)
        results = [start_and_join(), gevent.spawn(start_and_join).get(timeout=60)]
        gevent.sleep(0.05)
        gevent.killall(greenlets, timeout=10)
        os.close(log_w)
        data = b""
        while chunk := os.read(log_r, 65536):
            data += chunk
        ran = sorted({tuple(line.split()) for line in data.decode().splitlines()})
        print(json.dumps({"parent": os.getpid(), "results": results, "ran": ran}))
    """
)


@_NO_FORK
def test_inherited_greenlets_never_run_in_the_child_even_if_a_fork_hook_yields(tmp_path: Path) -> None:
    script = tmp_path / "hook_isolation.py"
    script.write_text(HOOK_SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    parent = str(report["parent"])
    children = {str(pid) for pid, _ in report["results"]}
    assert [code for _, code in report["results"]] == [0, 0]
    ran: dict[str, set[str]] = {}
    for what, pid in report["ran"]:
        ran.setdefault(what, set()).add(pid)
    assert ran["hook"] == children, "the hook ran, and yielded, in each child"
    assert ran["target"] == children
    for what in ("ticker", "io_waiter", "callback"):
        assert ran[what] == {parent}, f"the parent's {what} greenlet ran in a child: {ran}"


def _report_signals(w: gipc_transport.Writer) -> None:
    signals = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGTERM)
    w.put({int(s): signal.getsignal(s) for s in signals})


def _python_handler(signum: int, frame: object) -> None:
    pass


@_NO_FORK
def test_signal_handlers_are_reset_except_ignored_ones_and_sigpipe() -> None:
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGPIPE, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGUSR1, _python_handler)
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _python_handler)
        # SIGPIPE keeps whatever the parent has, even a handler.
        signal.signal(signal.SIGPIPE, _python_handler)
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(_report_signals, args=(w,), start_method="fork")
            seen = r.get(timeout=60)
            p.join(timeout=60)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert seen[signal.SIGUSR1] == signal.SIG_DFL
    assert seen[signal.SIGTERM] == signal.SIG_DFL
    assert seen[signal.SIGUSR2] == signal.SIG_IGN
    assert seen[signal.SIGPIPE] is _python_handler
    assert p.exitcode == 0


def _report_live_handles(w: gipc_transport.Writer) -> None:
    w.put([repr(h) for h in lowlevel.live_handles()])


@_NO_FORK
def test_inherited_handles_the_child_was_not_given_are_closed() -> None:
    with gipc_transport.pipe() as (other_r, other_w), gipc_transport.pipe() as (r, w):
        given = repr(w)
        p = gipc_process.start_process(_report_live_handles, args=(w,), start_method="fork")
        assert r.get(timeout=60) == [given], "only the handle it was given is live in the child"
        p.join(timeout=60)
        # If the child had kept its inherited copy of other_w open past its
        # exit, this would not be the end of the pipe; the kernel knows.
        other_w.close()
        with pytest.raises(EOFError):
            other_r.get(timeout=60)


def _use_nested(items: list[object], mapping: dict[str, object]) -> None:
    (w1, (w2,)) = items  # type: ignore[misc]
    w3 = mapping["inner"]["w"]  # type: ignore[index]
    for i, w in enumerate((w1, w2, w3)):
        w.put(i)  # type: ignore[attr-defined]


def test_nested_handles_are_transferred_and_closed_in_the_parent(start_method: str) -> None:
    pairs = [gipc_transport.pipe() for _ in range(3)]
    (r1, w1), (r2, w2), (r3, w3) = pairs
    p = gipc_process.start_process(
        _use_nested, args=([w1, (w2,)],), kwargs={"mapping": {"inner": {"w": w3}}}, start_method=start_method
    )
    assert w1.closed and w2.closed and w3.closed
    assert [r.get(timeout=60) for r in (r1, r2, r3)] == [0, 1, 2]
    p.join(timeout=60)
    assert p.exitcode == 0
    for r in (r1, r2, r3):
        r.close()


def _children() -> set[int]:
    if not sys.platform.startswith("linux"):
        # No /proc/<tid>/children (under wine, /proc is the host's): the
        # children multiprocessing knows, which every gipc child joins at its start.
        return {p.pid for p in multiprocessing.active_children() if p.pid is not None}
    return thread_children()


def test_handle_busy_in_another_greenlet_is_refused_before_any_child_exists(start_method: str) -> None:
    with gipc_transport.pipe() as (r, w):
        reader = gevent.spawn(r.get)
        gevent.sleep(0.01)
        before = _children()
        with pytest.raises(gipc_transport.GIPCLocked):
            gipc_process.start_process(_report_live_handles, args=([{"k": (r,)}],), start_method=start_method)
        assert _children() == before, "no child was created"
        assert not r.closed, "a refused handle stays with the parent"
        w.put("done")
        assert reader.get(timeout=60) == "done"


class _SwitchesWhenPickled:
    """An argument whose pickling (``spawn``, ``forkserver``) lets other greenlets run."""

    def __reduce__(self) -> tuple[type[_SwitchesWhenPickled], tuple[()]]:
        gevent.sleep(0)
        return (_SwitchesWhenPickled, ())


def _echo_one(r: gipc_transport.Reader, w: gipc_transport.Writer, _switch: object) -> None:
    w.put(("child read", r.get(timeout=60)))


def test_handle_used_by_another_greenlet_while_the_child_starts_stays_the_childs(start_method: str) -> None:
    # The handle is pickled before the argument that lets another greenlet
    # run; that greenlet's get() must wait and fail, not read beside the
    # child, and start() must not fail after the child exists.
    r, w = gipc_transport.pipe()
    back_r, back_w = gipc_transport.pipe()
    outcome: list[object] = []

    def use_r() -> None:
        try:
            outcome.append(r.get(timeout=60))
        except gipc_transport.GIPCClosed:
            outcome.append("closed")

    reader = gevent.spawn(use_r)
    args = (r, back_w, _SwitchesWhenPickled())
    p = gipc_process.start_process(_echo_one, args=args, start_method=start_method)
    reader.join(timeout=60)
    assert outcome == ["closed"]
    w.put("for the child")
    assert back_r.get(timeout=60) == ("child read", "for the child")
    p.join(timeout=60)
    assert p.exitcode == 0
    w.close()
    back_r.close()


# Python 3.12+ warns when forking a process with more than one thread. gipc
# forks from a thread of its own: that thread alone must not cause the
# warning, but other threads must still cause it, as with multiprocessing.
THREADS_SCRIPT = textwrap.dedent(
    """
    import json, multiprocessing, threading, warnings
    import gipc_process

    def nothing():
        pass

    def deprecations(start):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = start()
            p.join(timeout=60)
        assert p.exitcode == 0
        return sum(issubclass(w.category, DeprecationWarning) for w in caught)

    def gipc_fork():
        return gipc_process.start_process(nothing, start_method="fork")

    def mp_fork():
        p = multiprocessing.get_context("fork").Process(target=nothing)
        p.start()
        return p

    if __name__ == "__main__":
        counts = {}
        for extra in (0, 1, 2):
            release = threading.Event()
            threads = [threading.Thread(target=release.wait, args=(60,)) for _ in range(extra)]
            for t in threads:
                t.start()
            counts[extra] = [deprecations(gipc_fork), deprecations(mp_fork)]
            release.set()
            for t in threads:
                t.join(timeout=60)
        print(json.dumps(counts))
    """
)


@_NO_FORK
def test_our_fork_thread_alone_causes_no_threads_warning(run_script: Callable[[str], Any]) -> None:
    # In a fresh interpreter: pytest-timeout's thread method adds a thread here.
    counts = run_script(THREADS_SCRIPT)
    warns = 1 if sys.version_info >= (3, 12) else 0
    # [gipc, multiprocessing] deprecation warnings per number of extra threads.
    assert counts == {"0": [0, 0], "1": [warns, warns], "2": [warns, warns]}


# A fork child whose parent's hub is inside the event loop (it always is: the
# forking greenlet was switched to from one of the loop's callbacks) makes a
# hub of its own; its loop must work fully: timers, signals the parent also
# handled with gevent, and gevent's child watchers, which need the default
# loop. Run on each loop backend in a fresh interpreter.
LOOP_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    os.environ["GEVENT_LOOP"] = sys.argv[1]
    import gevent, gevent.subprocess
    import gipc_process, gipc_transport

    def child(w):
        got = []
        gevent.signal_handler(signal.SIGUSR1, got.append, "usr1")
        gevent.sleep(0.001)
        os.kill(os.getpid(), signal.SIGUSR1)
        with gevent.Timeout(10, False):
            while not got:
                gevent.sleep(0.001)
        code = gevent.subprocess.run(["sh", "-c", "exit 7"], timeout=10).returncode
        w.put([got, code, gevent.get_hub().loop.default])

    def start_and_join():
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(child, args=(w,), start_method="fork")
            with gevent.Timeout(20, False):
                report = r.get()
            p.join(timeout=20)
            if p.exitcode is None:
                p.kill()
                p.join()
        return report, p.exitcode

    def ticker():
        while True:
            gevent.sleep(0.0005)

    if __name__ == "__main__":
        if sys.argv[2] == "parent-handles-usr1":
            gevent.signal_handler(signal.SIGUSR1, lambda: None)
        tickers = [gevent.spawn(ticker) for _ in range(3)]
        results = [gevent.spawn(start_and_join).get() for _ in range(10)]
        gevent.killall(tickers)
        print(json.dumps(results))
    """
)


_LIBEV_SIGNALS = pytest.mark.xfail(
    strict=True,
    reason="libev keeps the parent's signal watchers registered for the signal after the inherited "
    "loop is destroyed, so the child's own watcher installs no handler (known, not fixed yet)",
)


@_NO_FORK
@pytest.mark.parametrize(
    ("loop", "parent"),
    [
        ("libev-cext", "-"),
        ("libev-cffi", "-"),
        ("libuv", "-"),
        pytest.param("libev-cext", "parent-handles-usr1", marks=_LIBEV_SIGNALS),
        pytest.param("libev-cffi", "parent-handles-usr1", marks=_LIBEV_SIGNALS),
        ("libuv", "parent-handles-usr1"),
    ],
)
def test_a_fork_childs_own_hub_has_a_working_default_loop(tmp_path: Path, loop: str, parent: str) -> None:
    # Under libuv the inherited loop can be neither run nor closed in the
    # child (it was copied mid-iteration); the child's hub gets a new loop,
    # which must still be gevent's default one and receive the signals the
    # parent also handled.
    script = tmp_path / "child_loop.py"
    script.write_text(LOOP_SCRIPT)
    command = [sys.executable, "-W", "ignore", str(script), loop, parent]
    out = subprocess.run(command, capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.splitlines()[-1])
    assert results == [[[["usr1"], 7, True], 0]] * 10, out.stderr


# Imported, not run: the fork happens while this module is being imported,
# and the child imports it again.
IMPORTED_WHILE_STARTING = textwrap.dedent(
    """
    import gipc_process, gipc_transport

    def child(w):
        import imported_while_starting as me  # still being imported in the parent
        w.put(me.__name__)

    with gipc_transport.pipe() as (r, w):
        # A daemon: a child that hangs is ended when this parent gives up.
        p = gipc_process.start_process(child, args=(w,), daemon=True, start_method="fork")
        print("child imported", r.get(timeout=20))
        p.join(20)
    print("exitcode", p.exitcode)
    """
)


@_NO_FORK
def test_a_fork_child_can_import_the_module_whose_import_started_it(tmp_path: Path) -> None:
    # A module lock held by the importing thread in the parent is the
    # child's own after the fork, as after a fork from that very thread; the
    # fork happens on gipc's forker thread, whose child used to wait forever.
    (tmp_path / "imported_while_starting.py").write_text(IMPORTED_WHILE_STARTING)
    out = subprocess.run(
        [sys.executable, "-c", "import imported_while_starting"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["child imported imported_while_starting", "exitcode 0"]
