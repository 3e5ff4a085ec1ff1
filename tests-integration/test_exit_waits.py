"""What a program waits for at exit: announced on stderr; another Ctrl-C ends it cleanly.

Each test runs a program in a fresh interpreter, interrupts it with SIGINT as
Ctrl-C would (or lets it end), and checks what it printed, how it exited and
that none of its children is left running.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import gevent
import pytest

from _proc_accounting import process_gone

# A Ctrl-C is SIGINT sent to the program here; Windows has no SIGINT to send
# to one process (a console control event goes to a whole console).
ctrl_c_is_sigint = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals: Ctrl-C is sent as SIGINT to the program"
)

NOTICE = "gipc: waiting for "

POOL_PROGRAM = """
import os
import sys
import time
from pathlib import Path

import gevent

import gipc


def slow(i, folder):
    # Written whole, then renamed: a reader never sees a half-written file.
    tmp = Path(folder) / f"{i}.tmp"
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, Path(folder) / f"{i}.pid")
    time.sleep(60)
    return i


if __name__ == "__main__":
    # Outside `with`: the exit hook is what shuts the pool down.
    pool = gipc.ProcessPool(2)
    futures = [pool.submit(slow, i, sys.argv[1]) for i in range(4)]
    print("submitted", flush=True)
    gevent.sleep(120)
"""

CHILDREN_PROGRAM = """
import os
import sys
import time
from pathlib import Path

import gipc


def sleeper(seconds, folder):
    # Written whole, then renamed: a reader never sees a half-written file.
    tmp = Path(folder) / f"{os.getpid()}.tmp"
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, Path(folder) / f"{os.getpid()}.pid")
    time.sleep(seconds)
    (Path(folder) / f"{os.getpid()}.done").write_text("done")


if __name__ == "__main__":
    # Non-daemon children, never joined: multiprocessing waits for them at exit.
    children = [gipc.start_process(sleeper, args=(float(sys.argv[2]), sys.argv[1])) for _ in range(2)]
    # Both run before the program ends, so the exit waits only for what is left.
    while len(list(Path(sys.argv[1]).glob("*.pid"))) < 2:
        time.sleep(0.01)
    print("started", flush=True)
"""


def _ctrl_c_to_another_thread(program: str, starts: str, ready: str) -> str:
    """``program``, whose second Ctrl-C reaches another thread than the waiting one.

    Python then runs the handler in the main thread only once that thread's
    event loop wakes up (as when the signal reaches the main thread just
    before its loop blocks, a race too narrow to aim at). The main thread
    blocks SIGINT from just before the exit wait (exit hooks run last
    registered first) and unblocks it after, for Python's own exit by SIGINT.
    """
    unblock = (
        "    import atexit, signal, threading, time\n"
        "    atexit.register(signal.pthread_sigmask, signal.SIG_UNBLOCK, {signal.SIGINT})\n"
    )
    block = (
        "    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n"
        "    atexit.register(signal.pthread_sigmask, signal.SIG_BLOCK, {signal.SIGINT})\n"
    )
    assert starts in program and ready in program
    return program.replace(starts, unblock + starts).replace(ready, block + ready)


def _run(tmp_path: Path, program: str, *args: str) -> subprocess.Popen[str]:
    script = tmp_path / "prog.py"
    script.write_text(program)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    # A program that waits silently would block the reads below for good:
    # kill it well within the test's timeout, and the assertions say why.
    watchdog = threading.Timer(45, proc.kill)
    watchdog.daemon = True
    watchdog.start()
    return proc


def _finish(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def _interrupt(proc: subprocess.Popen[str]) -> str:
    """Send the second Ctrl-C; return the rest of stderr once the program has exited."""
    assert proc.stderr is not None
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    proc.wait(timeout=30)
    return rest


def _assert_only_interrupted(stderr: str) -> None:
    # Nothing but the interrupt went wrong on the way out.
    assert not re.search(r"^\w+(Error|Exception): ", stderr, re.M), stderr


def _pids(folder: Path, count: int) -> list[int]:
    with gevent.Timeout(60, AssertionError(f"{count} children did not start")):
        while len(found := sorted(folder.glob("*.pid"))) < count:
            gevent.sleep(0.05)
    return [int(p.read_text()) for p in found]


def _wait_for_line(stream, text: str) -> list[str]:  # type: ignore[no-untyped-def]
    lines = []
    for line in stream:  # blocking reads: this test process runs no other greenlet
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"{text!r} never printed; got {lines!r}")


def _gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all(process_gone(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


POOL_PROGRAM_OTHER_THREAD = _ctrl_c_to_another_thread(
    POOL_PROGRAM, "    pool = gipc.ProcessPool(2)\n", '    print("submitted", flush=True)\n'
)


@ctrl_c_is_sigint
@pytest.mark.parametrize(
    "program",
    [POOL_PROGRAM] * 3 + [POOL_PROGRAM_OTHER_THREAD],
    ids=["main-thread-0", "main-thread-1", "main-thread-2", "another-thread"],
)
def test_second_ctrl_c_during_the_pool_exit_wait_ends_workers_without_abort(
    tmp_path: Path, program: str
) -> None:
    proc = _run(tmp_path, program)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == "submitted\n"
        workers = _pids(tmp_path, 2)
        proc.send_signal(signal.SIGINT)
        # The first Ctrl-C ends the main program; the exit hook waits for the
        # running and queued tasks, and says so once the wait lasts.
        before = _wait_for_line(proc.stderr, NOTICE)
        assert "4 tasks of a ProcessPool to finish before exit" in before[-1]
        assert "Ctrl-C again" in before[-1]
        rest = _interrupt(proc)
    finally:
        _finish(proc)
    stderr = "".join(before) + rest
    # libev's assertion on a descriptor closed under a live watcher
    # ("libev: I/O watcher with invalid fd found in epoll_ctl") aborts.
    assert "libev: " not in stderr and "invalid fd" not in stderr, stderr
    _assert_only_interrupted(stderr)
    # Exits as an interrupted Python program does, not with an abort (-6).
    assert proc.returncode == -signal.SIGINT, (proc.returncode, stderr)
    notices = [line for line in stderr.splitlines() if line.startswith(NOTICE)]
    assert notices == [before[-1].rstrip("\n")], stderr
    assert _gone(workers), f"workers {workers} outlived the program"


# The same program, whose hub a Ctrl-C already ended: a KeyboardInterrupt raised
# in the hub's own code (not in a callback it guards) kills the hub greenlet and
# reaches the main greenlet as the hub's exit. Every cooperative wait after that
# fails at once; the exit must still wait for the children, and end them. Its
# children are spawn children: after a forkserver start the thrown exception
# does not end the hub (gevent reports "Error when handling error" instead).
DEAD_HUB_PROGRAM = CHILDREN_PROGRAM.replace(
    "args=(float(sys.argv[2]), sys.argv[1]))", 'args=(float(sys.argv[2]), sys.argv[1]), start_method="spawn")'
).replace(
    '    print("started", flush=True)',
    """    import gevent
    hub = gevent.get_hub()
    try:
        hub.throw(KeyboardInterrupt)
    except KeyboardInterrupt:
        pass
    assert hub.dead
    print("started", flush=True)""",
)


CHILDREN_PROGRAM_OTHER_THREAD = _ctrl_c_to_another_thread(
    CHILDREN_PROGRAM, "    children = [", '    print("started", flush=True)\n'
)


@ctrl_c_is_sigint
@pytest.mark.parametrize(
    "program",
    [CHILDREN_PROGRAM, DEAD_HUB_PROGRAM, CHILDREN_PROGRAM_OTHER_THREAD],
    ids=["hub", "dead-hub", "another-thread"],
)
def test_second_ctrl_c_during_the_children_exit_wait_ends_them(tmp_path: Path, program: str) -> None:
    proc = _run(tmp_path, program, "60")
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline() == "started\n"
        children = _pids(tmp_path, 2)
        started = time.monotonic()
        before = _wait_for_line(proc.stderr, NOTICE)
        waited = time.monotonic() - started
        line = before[-1]
        assert "2 non-daemon child processes to exit" in line
        assert all(str(pid) in line for pid in children), (line, children)
        rest = _interrupt(proc)
    finally:
        _finish(proc)
    stderr = "".join(before) + rest
    assert waited < 30, "the wait was announced only after the children's own time"
    assert "KeyboardInterrupt" in stderr, stderr
    _assert_only_interrupted(stderr)
    assert _gone(children), f"children {children} outlived the program"


def test_a_short_exit_wait_is_silent_and_waits_for_the_children(tmp_path: Path) -> None:
    proc = _run(tmp_path, CHILDREN_PROGRAM, "0.05")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == "started\n"
    assert err == ""
    # The children ran to the end: the exit waited for them, as multiprocessing does.
    assert len(list(tmp_path.glob("*.done"))) == 2


DAEMON_STREAM_PROGRAM = """
import os
import sys
import time
from pathlib import Path

import gevent

import gipc


def stream(w, folder):
    (Path(folder) / f"{os.getpid()}.pid").write_text(str(os.getpid()))
    while True:
        w.put("x" * 100)
        time.sleep(0.001)


def read(r):
    while True:
        r.get()


if __name__ == "__main__":
    r, w = gipc.pipe()
    child = gipc.start_process(stream, args=(w, sys.argv[1]), daemon=True)
    # The child streams before the program ends, however slowly it starts
    # (a spawn child under wine takes up to a second).
    r.get()
    reader = gevent.spawn(read, r)
    gevent.sleep(0.2)
    print("exiting", flush=True)
"""


@pytest.mark.parametrize(
    "loop",
    [
        "libev-cext",
        pytest.param(
            "libev-cffi",
            marks=pytest.mark.skipif(
                sys.platform == "win32", reason="gevent's Windows wheels have no libev-cffi"
            ),
        ),
        "libuv",
    ],
)
def test_daemon_children_end_at_exit_without_waking_the_programs_greenlets(tmp_path: Path, loop: str) -> None:
    # gipc 1.8.0 printed nothing here. Ending the daemon child closes the
    # pipe a greenlet reads from; the exit must not run that greenlet again.
    script = tmp_path / "prog.py"
    script.write_text(DAEMON_STREAM_PROGRAM)
    env = {**os.environ, "GEVENT_LOOP": loop}
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "exiting\n"
    assert out.stderr == ""
    children = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
    assert len(children) == 1
    assert _gone(children), f"daemon child {children} outlived the program"
