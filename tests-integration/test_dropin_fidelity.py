"""Patterns of real gipc 1.8.0 programs that must keep working (issue 16)."""

from __future__ import annotations

import errno
import os
import pickle
import sys
from pathlib import Path

import gevent
import gipc
import pytest

WAIT = 30

if sys.platform == "win32":
    # A channel end is a socket there (gipc_transport._windows_pipes): its
    # number is closed with closesocket, which the C runtime's close refuses.
    import _socket

    close_underneath = _socket.close  # type: ignore[attr-defined,unused-ignore]
else:
    close_underneath = os.close


def wait_for_eof(r: gipc.Reader) -> None:
    try:
        r.get()
    except EOFError:
        pass


def test_second_start_on_what_start_process_returned_warns_and_starts_nothing() -> None:
    # Real suites call .start() on the object start_process() returned.
    with gipc.pipe() as (r, w):
        p = gipc.start_process(wait_for_eof, args=(r,))
        pid = p.pid
        with pytest.warns(RuntimeWarning, match="Redundant call to start()"):
            p.start()
        assert p.pid == pid
        assert p.is_alive()
        w.close()
        p.join(WAIT)
        assert p.exitcode == 0


def test_descriptor_closed_underneath_is_an_oserror_ebadf() -> None:
    # Programs written for 1.8.0 catch OSError/IOError around get() and put().
    r, w = gipc.pipe()
    for handle, op in ((r, r.get), (w, lambda: w.put("x"))):
        close_underneath(handle.fileno())
        with pytest.raises(OSError) as info:
            with gevent.Timeout(WAIT):
                op()
        assert info.value.errno == errno.EBADF
        assert isinstance(info.value, gipc.GIPCClosed)
        assert isinstance(info.value, gipc.GIPCClosedUnderneath)
        # Already closed by the test: only forget it.
        handle._finalizer.detach()
        try:
            handle.close()
        except OSError:
            pass


def test_pickling_a_started_process_gives_the_standard_error() -> None:
    with gipc.pipe() as (r, w):
        p = gipc.start_process(wait_for_eof, args=(r,))
        try:
            with pytest.raises(TypeError, match="Pickling an AuthenticationString"):
                pickle.dumps(p)
        finally:
            w.close()
            p.join(WAIT)


def test_epipe_error_keeps_the_standard_wording() -> None:
    r, w = gipc.pipe()
    r.close()
    with pytest.raises(OSError) as info:
        w.put("x")
    assert "[Errno 32] Broken pipe: " in str(info.value)
    assert "reading end" in str(info.value)
    w.close()


def test_close_of_a_running_child_says_while_it_is_still_running() -> None:
    with gipc.pipe() as (r, w):
        p = gipc.start_process(wait_for_eof, args=(r,))
        with pytest.raises(ValueError, match="while it is still running"):
            p.close()
        w.close()
        p.join(WAIT)
        p.close()


def put_50_and_stay(w: gipc.Writer, stay: gipc.Reader) -> None:
    for i in range(50):
        w.put(i)
    wait_for_eof(stay)


def _fileno(r: gipc.Reader) -> int:
    return r.fileno()


@pytest.mark.parametrize("route", ["fileno", "object"])
def test_select_then_get_receives_every_message(route: str) -> None:
    # A 1.x program: wait for readability of the descriptor, then get() once.
    import gevent.select

    with gipc.pipe() as (r, w), gipc.pipe() as (stay_r, stay_w):
        p = gipc.start_process(put_50_and_stay, args=(w, stay_r))
        target = r.fileno() if route == "fileno" else r
        got = []
        with gevent.Timeout(WAIT, False):
            while len(got) < 50:
                readable, _, _ = gevent.select.select([target], [], [])
                assert readable
                got.append(r.get())
        assert got == list(range(50))
        stay_w.close()
        p.join(WAIT)
        assert p.exitcode == 0


def test_select_on_the_1x_private_fd_then_get_receives_every_message() -> None:
    # The same 1.x program, written against gipc 1.8.0's private attribute.
    import gevent.select

    with gipc.pipe() as (r, w), gipc.pipe() as (stay_r, stay_w):
        p = gipc.start_process(put_50_and_stay, args=(w, stay_r))
        got = []
        with gevent.Timeout(WAIT, False):
            while len(got) < 50:
                readable, _, _ = gevent.select.select([r._fd], [], [])
                assert readable
                got.append(r.get())
        assert got == list(range(50))
        stay_w.close()
        p.join(WAIT)
        assert p.exitcode == 0
    assert r._fd is None  # as closed handles say in 2.x: no number to reuse


def test_poll_and_gevent_wait_see_messages_read_ahead() -> None:
    with gipc.pipe() as (r, w), gipc.pipe() as (stay_r, stay_w):
        p = gipc.start_process(put_50_and_stay, args=(w, stay_r))
        got = []
        with gevent.Timeout(WAIT, False):
            while len(got) < 50:
                if len(got) % 2:
                    assert r.poll(WAIT)
                else:
                    assert gevent.wait([r], timeout=WAIT) == [r]
                got.append(r.get())
        assert got == list(range(50))
        stay_w.close()
        p.join(WAIT)


REAPED_BY_GEVENT = """
import json, signal, subprocess, sys, time, warnings
from gevent import monkey
if sys.argv[1] == "patch":
    monkey.patch_all()
    import subprocess
else:
    import gevent.subprocess as subprocess
import gevent
import gipc

def forever():
    time.sleep(60)

def leave(code):
    sys.exit(code)

if __name__ == "__main__":
    warnings.simplefilter("error")
    # gevent's subprocess watches its child: from here on gevent reaps every
    # child on SIGCHLD.
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    codes = []
    for method in ("fork", "spawn", "forkserver"):
        for how in ("term", "kill", "exit"):
            if how == "exit":
                p = gipc.start_process(leave, args=(3,), start_method=method)
            else:
                p = gipc.start_process(forever, start_method=method)
                p.terminate() if how == "term" else p.kill()
            # Both gevent's reaper and gipc's watcher get their chance.
            gevent.sleep(0.2)
            p.join(30)
            codes.append(p.exitcode)
    print(json.dumps({"codes": codes, "loop": type(gevent.get_hub().loop).__module__}))
"""


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="POSIX reaping: no SIGCHLD on Windows, a process handle keeps the exit code",
)
@pytest.mark.parametrize("patch", ["patch", "gevent-subprocess"])
@pytest.mark.parametrize("loop", ["libev-cext", "libev-cffi", "libuv"])
def test_exit_status_reaped_by_gevent_is_the_real_one(loop: str, patch: str, tmp_path: Path) -> None:
    # A 1.8.0 program under patch_all() that used subprocess: gevent reaps
    # every child on SIGCHLD, gipc's children included, and keeps the status
    # only for pids it watches. 1.8.0 reported -15 for SIGTERM, never 255.
    # Whether gevent or gipc collects first varies from child to child;
    # warnings are errors in the program, so a lost status fails it.
    import json
    import signal
    import subprocess
    import sys

    script = tmp_path / "reaped.py"  # spawn children import their target from it
    script.write_text(REAPED_BY_GEVENT)
    env = dict(os.environ, GEVENT_LOOP=loop)
    proc = subprocess.run(
        [sys.executable, str(script), patch], capture_output=True, text=True, timeout=100, env=env
    )
    assert proc.returncode == 0, proc.stderr
    # Nothing failed in a loop callback either (gevent prints those).
    assert "Traceback" not in proc.stderr, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["loop"].startswith("gevent." + loop.split("-")[0])
    assert result["codes"] == [-signal.SIGTERM, -signal.SIGKILL, 3] * 3
