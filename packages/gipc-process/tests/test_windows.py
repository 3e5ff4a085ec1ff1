"""What differs on Windows: spawn only, process handles, TerminateProcess, daemon children at exit."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import time

import gevent
import gipc_process
import pytest

pytestmark = pytest.mark.skipif(sys.platform != "win32", reason="Windows only: process handles, spawn only")


def _sleep_then_exit(seconds: float, code: int) -> None:
    time.sleep(seconds)
    sys.exit(code)


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_posix_start_methods_are_refused_clearly_and_start_nothing(method: str) -> None:
    before = set(multiprocessing.active_children())
    refused = rf"start method '{method}' is not available on win32: use one of \['spawn'\]"
    with pytest.raises(ValueError, match=refused):
        gipc_process.start_process(time.sleep, args=(0,), start_method=method)
    with pytest.raises(ValueError, match="not available on win32"):
        gipc_process.Process(target=time.sleep, args=(0,), start_method=method)
    assert set(multiprocessing.active_children()) == before


@pytest.mark.parametrize("how", ["terminate", "kill"])
def test_terminate_and_kill_are_terminateprocess_reported_as_minus_sigterm(how: str) -> None:
    # multiprocessing's kill() is terminate() on Windows: TerminateProcess
    # with its own code, which it reports as -SIGTERM.
    p = gipc_process.start_process(time.sleep, args=(60,))
    assert p.is_alive()
    getattr(p, how)()
    p.join(timeout=60)
    assert not p.is_alive()
    assert p.exitcode == -signal.SIGTERM


def test_more_children_than_one_wait_thread_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    from gipc_process import _windows

    # Two children per thread instead of 63: the same code, at a size the
    # suite can afford under wine (three threads for five children).
    monkeypatch.setattr(_windows, "HANDLES_PER_THREAD", 2)
    threads_before = len(_windows._threads)
    procs = [gipc_process.start_process(_sleep_then_exit, args=(0.2 * (i % 3), i)) for i in range(5)]
    assert len(_windows._threads) >= threads_before + 2
    for p in reversed(procs):
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == list(range(5))


def test_a_full_wait_thread_is_within_what_waitformultipleobjects_takes() -> None:
    import _winapi

    from gipc_process import _compat, _windows

    # A full thread waits for its wake-up event and HANDLES_PER_THREAD
    # children; events stand in for the children's process handles here
    # (starting 62 children under wine takes a minute).
    events = [_compat.win_create_event() for _ in range(_windows.HANDLES_PER_THREAD + 1)]
    try:
        assert _winapi.WaitForMultipleObjects(events, False, 0) == _winapi.WAIT_TIMEOUT
    finally:
        for event in events:
            _winapi.CloseHandle(event)


def test_closing_an_exited_child_leaves_the_next_children_watched() -> None:
    # The wait thread waits on a duplicate of the process handle: close()
    # closing the original (and reusing of its value) disturbs nothing.
    for code in (3, 4, 5):
        p = gipc_process.start_process(sys.exit, args=(code,))
        p.join(timeout=60)
        assert p.exitcode == code
        p.close()


DAEMON_AT_EXIT = """
import sys, time
import gipc_process

if __name__ == "__main__":
    daemon = gipc_process.start_process(time.sleep, args=(120,), daemon=True)
    plain = gipc_process.start_process(time.sleep, args=(1,))
    print(daemon.pid, plain.pid, flush=True)
    sys.stdin.readline()
    # Exit without joining: multiprocessing ends the daemon child, and the
    # exit waits for the other one.
"""


def test_daemon_children_are_ended_when_the_parent_exits_and_others_waited_for() -> None:
    import _winapi

    parent = subprocess.Popen(
        [sys.executable, "-c", DAEMON_AT_EXIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None and parent.stdin is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2, "the script printed the pids of its children"
        # SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, opened while both run.
        handles = [_winapi.OpenProcess(0x00100000 | 0x1000, False, pid) for pid in pids]
        parent.stdin.write("exit\n")
        parent.stdin.flush()
        assert parent.wait(timeout=60) == 0
        try:
            for h in handles:
                assert _winapi.WaitForSingleObject(h, 10_000) == _winapi.WAIT_OBJECT_0
            # TerminateProcess with multiprocessing's code for the daemon; 0 for the other.
            assert [_winapi.GetExitCodeProcess(h) for h in handles] == [0x10000, 0]
        finally:
            for h in handles:
                _winapi.CloseHandle(h)
    finally:
        parent.kill()
        parent.wait()


def test_join_does_not_block_the_loop_while_the_handle_is_awaited() -> None:
    ticks = 0

    def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            gevent.sleep(0.01)

    g = gevent.spawn(ticker)
    try:
        p = gipc_process.start_process(time.sleep, args=(0.5,))
        gevent.sleep(0)
        before = ticks
        p.join(timeout=60)
        during = ticks - before
    finally:
        g.kill()
    assert p.exitcode == 0
    # The child sleeps 0.5 s after its (slow) start: a loop blocked by join()
    # would not have ticked at all.
    assert during >= 5


def test_children_never_joined_are_released_after_their_exit() -> None:
    import gc
    import weakref

    refs = [weakref.ref(gipc_process.start_process(sys.exit, args=(0,))) for _ in range(3)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        gc.collect()
        if all(ref() is None for ref in refs):
            break
        gevent.sleep(0.05)
    # Nothing (the wait thread, multiprocessing's set of children, the loop)
    # keeps an exited, unreferenced child's process object and handle alive.
    assert all(ref() is None for ref in refs)


PATCHED = """
import sys
# gevent.events calls platform.uname(), whose WMI query (_wmi) aborts under
# wine 8 (propsys.VariantToString is unimplemented); without _wmi, platform
# uses its older way. Harmless on Windows itself.
sys.modules["_wmi"] = None
import gevent.monkey
gevent.monkey.patch_all()
import sys, time
import gevent, gipc_process

if __name__ == "__main__":
    ticks = []
    g = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(10_000)])
    p = gipc_process.start_process(sys.exit, args=(6,))
    p.join(60)
    g.kill()
    print(p.exitcode, len(ticks) > 0)
"""


def test_under_monkey_patching() -> None:
    # The wait thread is a real OS thread with a real lock, also when
    # threading and time are patched.
    out = subprocess.run([sys.executable, "-c", PATCHED], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["6", "True"]
