"""Child exit is noticed for every start method, and nobody else's child is reaped."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import weakref
from typing import Any

import gevent
import gipc_process
import gipc_transport
import pytest

from _proc_accounting import thread_children

_NO_FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork start method: POSIX only")
# Windows keeps a child's exit code in its process handle: nothing reaps it.
_POSIX_REAPING = pytest.mark.skipif(
    sys.platform == "win32", reason="waitpid(), SIGCHLD and /proc: POSIX reaping only"
)


def _wait_for_word(r: gipc_transport.Reader) -> None:
    r.get(timeout=60)


def _exit_on_word(r: gipc_transport.Reader, code: int, hard: bool) -> None:
    r.get(timeout=60)
    if hard:
        os._exit(code)
    sys.exit(code)


def _square(x: int) -> int:
    return x * x


def _fork_lingering_grandchild(release: gipc_transport.Reader, report: gipc_transport.Writer) -> None:
    # A plain fork: the grandchild inherits every descriptor of the child,
    # among them the child's end of the sentinel pipe, and keeps it open.
    fd = release.fileno()
    pid = os.fork()
    if pid == 0:
        os.set_blocking(fd, True)
        os.read(fd, 1)
        os._exit(0)
    report.put(pid)


def _die_leaving_grandchild(
    release: gipc_transport.Reader, report: gipc_transport.Writer, die: gipc_transport.Reader
) -> None:
    # Killed, the child writes no exit code; the grandchild keeps the
    # child's end of the sentinel pipe open. It dies only when told, once the
    # parent is about to block in waitpid(): dying earlier, it could be
    # reaped by gipc's own watcher while the parent's get() runs the loop.
    _fork_lingering_grandchild(release, report)
    die.get()
    os.kill(os.getpid(), signal.SIGKILL)


def _children() -> set[int]:
    return thread_children()


def _run_exit_3() -> int:
    return subprocess.run([sys.executable, "-c", "raise SystemExit(3)"], timeout=60).returncode


def test_subprocess_keeps_its_exit_status(start_method: str) -> None:
    for _ in range(3):
        p = gipc_process.start_process(os._exit, args=(0,), start_method=start_method)
        p.join(timeout=60)
    assert _run_exit_3() == 3
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,), start_method=start_method)
        # While the gipc child runs and is being watched.
        assert _run_exit_3() == 3
        proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
        assert proc.wait(timeout=60) == 5
        w.put("go")
        p.join(timeout=60)
    assert p.exitcode == 0


def test_plain_multiprocessing_process_keeps_its_exit_status(start_method: str) -> None:
    ctx = multiprocessing.get_context(start_method)
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,), start_method=start_method)
        mp = ctx.Process(target=os._exit, args=(6,))
        mp.start()
        mp.join(timeout=60)
        assert mp.exitcode == 6
        w.put("go")
        p.join(timeout=60)
    assert p.exitcode == 0
    mp.close()


@_NO_FORK
def test_multiprocessing_pool_works_alongside() -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,))
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert pool.map(_square, range(10), chunksize=2) == [x * x for x in range(10)]
            pool.close()
            pool.join()
        w.put("go")
        p.join(timeout=60)
    assert p.exitcode == 0


@pytest.mark.parametrize(
    "method, hard, expected",
    [("fork", False, 7), ("spawn", False, 7), ("fork", True, gipc_process.LOST_EXITCODE)],
)
@_POSIX_REAPING
def test_status_taken_by_foreign_waitpid_does_not_hang_join(method: str, hard: bool, expected: int) -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_exit_on_word, args=(r, 7, hard), start_method=method)
        w.put("exit")
        # Blocks the whole thread, so the watcher cannot collect first.
        pid, status = os.waitpid(p.pid, 0)
        assert os.waitstatus_to_exitcode(status) == 7
        with pytest.warns(gipc_process.StatusLostWarning, match=f"child process {p.pid}"):
            p.join(timeout=60)
    assert not p.is_alive()
    # Children report the code their target ended with before exiting; one
    # that leaves through os._exit() cannot, and gets the documented stand-in.
    assert p.exitcode == expected


@_NO_FORK
def test_sentinel_held_open_by_a_grandchild_does_not_hang_join() -> None:
    with gipc_transport.pipe() as (release_r, release_w), gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_fork_lingering_grandchild, args=(release_r, w), start_method="fork")
        grandchild = r.get(timeout=60)
        p.join(timeout=60)
        assert not p.is_alive()
        assert p.exitcode == 0
        # The grandchild really was still there, holding the sentinel open.
        os.kill(grandchild, 0)
    # Closing the last writer lets the grandchild exit (init reaps it).


@_NO_FORK
def test_status_taken_while_a_grandchild_holds_the_sentinel_does_not_hang() -> None:
    # The watcher may wait on a pidfd and leave the sentinel blocking; looking
    # there for a reported code must not wait for the grandchild.
    with (
        gipc_transport.pipe() as (release_r, release_w),
        gipc_transport.pipe() as (r, w),
        gipc_transport.pipe() as (die_r, die_w),
    ):
        p = gipc_process.start_process(
            _die_leaving_grandchild, args=(release_r, w, die_r), start_method="fork"
        )
        grandchild = r.get(timeout=60)
        die_w.put(None)  # a small put completes at once: no switch to the loop
        pid, status = os.waitpid(p.pid, 0)
        assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
        with pytest.warns(gipc_process.StatusLostWarning, match=f"child process {p.pid}"):
            p.join(timeout=60)
        assert not p.is_alive()
        assert p.exitcode == gipc_process.LOST_EXITCODE
        os.kill(grandchild, 0)


@_POSIX_REAPING
def test_children_never_joined_are_reaped_and_leave_no_descriptors(start_method: str) -> None:
    # The first start may launch multiprocessing's long-lived helpers
    # (forkserver, resource tracker), whose descriptors stay.
    gipc_process.start_process(os._exit, args=(0,), start_method=start_method).join(timeout=60)
    gc.collect()
    fds_before = set(os.listdir("/proc/self/fd"))
    refs = []
    pids = []
    for _ in range(5):
        p = gipc_process.start_process(os._exit, args=(0,), start_method=start_method)
        refs.append(weakref.ref(p))
        pids.append(p.pid)
    del p

    def settled() -> bool:
        gc.collect()
        return not set(pids) & _children() and all(ref() is None for ref in refs)

    # Forkserver children are the forkserver's: only the objects tell.
    deadline = time.monotonic() + 60
    while not settled() and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert not set(pids) & _children(), "exited children are reaped without join()"
    assert all(ref() is None for ref in refs), "nothing keeps an exited, unreferenced process alive"
    gevent.sleep(0.01)
    assert set(os.listdir("/proc/self/fd")) <= fds_before


GEVENT_REAPS = """
import json, os, signal, sys, time
import gevent, gevent.subprocess
import gipc_process
from gipc_process import _compat

def forever():
    time.sleep(60)

if __name__ == "__main__":
    loop = gevent.get_hub().loop
    report = {"before": _compat.gevent_sigchld_installed(loop)}
    # gipc's own children install no SIGCHLD handling.
    p = gipc_process.start_process(forever, start_method="fork")
    p.terminate()
    p.join(30)
    report["after_gipc_child"] = _compat.gevent_sigchld_installed(loop)
    # gevent's subprocess does: from here on gevent reaps every child.
    gevent.subprocess.run([sys.executable, "-c", "pass"], check=True)
    report["after_gevent_subprocess"] = _compat.gevent_sigchld_installed(loop)
    codes = []
    for method in ("fork", "spawn"):
        p = gipc_process.start_process(forever, start_method=method)
        # Only gevent's reaper may notice the exit: gipc's own readiness
        # watcher is stopped, so gipc can learn the status from gevent alone.
        p._watcher._io.stop()
        p.terminate()
        p.join(30)
        codes.append([p.exitcode, p._watcher.child.gevent_reaped.collected])
    report["codes"] = codes
    print(json.dumps(report))
"""


@_POSIX_REAPING
@pytest.mark.parametrize("loop", ["libev-cext", "libev-cffi", "libuv"])
def test_status_reaped_by_gevent_comes_from_gevent(
    loop: str, run_script: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEVENT_LOOP", loop)
    report = run_script(GEVENT_REAPS)
    assert report == {
        "before": False,
        "after_gipc_child": False,
        "after_gevent_subprocess": True,
        "codes": [[-15, True], [-15, True]],
    }
