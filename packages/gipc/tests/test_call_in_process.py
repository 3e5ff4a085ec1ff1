"""``gipc.call_in_process``: a return value or an exception back from a child."""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from typing import Any

import gevent
import gipc
import pytest


def square(x: int) -> int:
    return x * x


def echo(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def pid() -> int:
    return os.getpid()


def raise_value_error(message: str) -> None:
    raise ValueError(message)


class Unpicklable(Exception):
    def __reduce__(self) -> Any:
        raise TypeError("this exception refuses to be pickled")


def raise_unpicklable() -> None:
    raise Unpicklable("nope")


def return_lock() -> Any:
    return threading.Lock()


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


def sleep_then(seconds: float, value: Any) -> Any:
    gevent.sleep(seconds)
    return value


def test_returns_the_value(start_method: str) -> None:
    assert gipc.call_in_process(square, 12, start_method=start_method) == 144


def test_runs_in_another_process() -> None:
    assert gipc.call_in_process(pid) != os.getpid()


def test_passes_args_and_kwargs_even_named_like_parameters() -> None:
    args, kwargs = gipc.call_in_process(echo, 1, "two", fn=3, x=[4])
    assert args == (1, "two")
    assert kwargs == {"fn": 3, "x": [4]}


def test_exception_comes_back_with_the_child_traceback(start_method: str) -> None:
    with pytest.raises(ValueError, match="from the child") as info:
        gipc.call_in_process(raise_value_error, "from the child", start_method=start_method)
    cause = info.value.__cause__
    assert isinstance(cause, gipc.RemoteTraceback)
    assert "raise_value_error" in str(cause)
    assert "raise ValueError(message)" in str(cause)


def test_unpicklable_exception_arrives_as_remote_error() -> None:
    with pytest.raises(gipc.RemoteError, match="Unpicklable: nope") as info:
        gipc.call_in_process(raise_unpicklable)
    assert isinstance(info.value, gipc.GIPCError)
    assert "raise_unpicklable" in str(info.value.__cause__)


def test_unpicklable_result_raises_the_pickling_error() -> None:
    with pytest.raises((TypeError, pickle.PicklingError)) as info:
        gipc.call_in_process(return_lock)
    assert isinstance(info.value.__cause__, gipc.RemoteTraceback)


@pytest.mark.parametrize(
    ("target", "args", "exitcode"),
    [
        (exit_with, (7,), 7),
        (kill_self, (), KILLED),
        (segfault, (), SEGFAULTED),
    ],
    ids=["os._exit", "SIGKILL", "segfault"],
)
def test_child_death_raises_process_died(target: Any, args: tuple[Any, ...], exitcode: int) -> None:
    with pytest.raises(gipc.ProcessDied) as info:
        gipc.call_in_process(target, *args)
    assert info.value.exitcode == exitcode
    assert isinstance(info.value, gipc.GIPCError)


def test_timeout_kills_the_child(start_method: str) -> None:
    with pytest.raises(gipc.TaskTimeout) as info:
        gipc.call_in_process(sleep_then, 60, "late", timeout=0.5, start_method=start_method)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value, gipc.GIPCError)


def test_result_within_the_timeout_is_returned() -> None:
    assert gipc.call_in_process(sleep_then, 0.01, "soon", timeout=30) == "soon"


def test_other_greenlets_run_while_waiting() -> None:
    ticks: list[int] = []
    stop = gevent.event.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(1)
            gevent.sleep(0.01)

    g = gevent.spawn(ticker)
    try:
        assert gipc.call_in_process(sleep_then, 0.5, "done") == "done"
        assert ticks, "the ticker greenlet never ran while call_in_process() waited"
    finally:
        stop.set()
        g.join(5)


def test_interrupted_wait_kills_and_reaps_the_child() -> None:
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.5):
            gipc.call_in_process(sleep_then, 60, "late")


UNIMPORTABLE_TARGET = """
import sys

import gipc

if __name__ == "__main__":
    # Defined here, the target does not exist in a spawn or forkserver child,
    # which imports this file as __mp_main__: the child fails to unpickle it.
    def target():
        return 1

    try:
        gipc.call_in_process(target, start_method=sys.argv[1], timeout=60)
    except gipc.ProcessDied as exc:
        print("exit code:", exc.exitcode)
        print("message:", exc)
"""


_SPAWNING = [m for m in ("spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]


@pytest.mark.parametrize("method", _SPAWNING)
def test_a_child_that_fails_before_the_call_keeps_its_exit_code_and_traceback(
    method: str, tmp_path: Any
) -> None:
    # The child closes its end of the pipe as it fails: it must be let exit
    # by itself, not killed while it is writing its traceback.
    import subprocess
    import sys

    script = tmp_path / "prog.py"
    script.write_text(UNIMPORTABLE_TARGET)
    for _ in range(3):
        proc = subprocess.run(
            [sys.executable, str(script), method], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        assert "exit code: 1\n" in proc.stdout, (proc.stdout, proc.stderr)
        assert "standard error" in proc.stdout
        # The traceback is complete: it ends with the exception's own line.
        assert proc.stderr.rstrip().splitlines()[-1].startswith("AttributeError: "), proc.stderr
        assert "target" in proc.stderr.rstrip().splitlines()[-1]


@pytest.mark.parametrize(("timeout", "error"), [(0, ValueError), (-1.5, ValueError), ("5", TypeError)])
def test_a_bad_timeout_is_refused_before_a_child_starts(timeout: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="timeout"):
        gipc.call_in_process(square, 2, timeout=timeout)
