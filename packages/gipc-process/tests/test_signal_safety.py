"""An exception from a signal handler at the worst moment leaves no lock of gipc's held.

A handler's exception (``KeyboardInterrupt``) comes out at the next call,
function entry or backward jump; the worst moment is right after a lock was
taken and before the code that gives it back is protected. Python 3.14 has
that moment right after a ``with`` statement's ``__enter__()``; every Python
has it after ``lock.acquire()`` outside ``try``. A lock left held there made
every later ``join()`` of the child wait forever.

The moment is made exact here: a profile function raises in the frame under
test as soon as that frame's call taking the lock returns (``c_return``),
which is where the interpreter would run a pending handler.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import gipc_process
import pytest
from gipc_process import _compat, _start


class _Interrupted(Exception):
    """What a signal handler raising at the worst moment raises."""


@contextlib.contextmanager
def _raise_once_lock_taken(code: Any, lock: Any) -> Iterator[list[str]]:
    """Raise :class:`_Interrupted` in the frame running ``code`` right after it takes ``lock``.

    Yields the list of calls interrupted (one at most): the test checks
    that the moment it means to make did come.
    """
    hits: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        # The call that took it: acquire(), or __enter__() of a with-statement.
        taken = event == "c_return" and getattr(arg, "__self__", None) is lock
        if taken and not hits and frame.f_code is code:
            hits.append(f"{code.co_name}: {arg.__name__}")
            raise _Interrupted

    sys.setprofile(profile)
    try:
        yield hits
    finally:
        sys.setprofile(None)


def _held_here(lock: Any) -> bool:
    """Whether the calling thread holds ``lock`` (a re-entrant lock knows; a plain one is just held)."""
    is_owned = getattr(lock, "_is_owned", None)
    return bool(is_owned()) if is_owned is not None else bool(lock.locked())


def _exit_with(code: int) -> None:
    time.sleep(0.3)
    sys.exit(code)


fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork start method's reaping lock")


@fork_only
@pytest.mark.parametrize(
    "site",
    [
        pytest.param("poll", id="multiprocessing-poll"),
        pytest.param("collect", id="watcher-collect"),
    ],
)
def test_an_exception_right_after_the_reaping_lock_is_taken_leaves_it_free(site: str) -> None:
    # multiprocessing polls a fork child from any thread (poll); gipc's
    # watcher collects its status in the event loop (collect). Both take
    # the start record's reaping lock.
    from gipc_process import _fork  # POSIX only

    p = gipc_process.start_process(_exit_with, args=(7,), start_method="fork")
    record = p._gipc_start
    assert isinstance(record, _start.ChildStart)
    lock = record.reaping
    if site == "poll":
        code, call = _fork.Popen.poll.__code__, record.popen.poll
    else:
        code, call = type(record).collect.__code__, record.collect
    with _raise_once_lock_taken(code, lock) as hits:
        with pytest.raises(_Interrupted):
            call()
    assert hits, f"{site} never took the reaping lock"
    assert not _held_here(lock), f"{hits[0]} left the reaping lock held"
    # And the child's exit is still seen.
    p.join(timeout=30)
    assert p.exitcode == 7


windows_only = pytest.mark.skipif(
    sys.platform != "win32", reason="Windows only: the process-handle wait threads"
)


@windows_only
@pytest.mark.parametrize("site", ["add", "remove", "wait_for"])
def test_an_exception_right_after_a_wait_thread_lock_is_taken_leaves_it_free(site: str) -> None:
    # Callers add and remove the handles of their children from their own
    # thread, which may be the one that handles signals; the wait thread
    # then needs the same lock. Events stand in for process handles.
    from gipc_process import _windows

    thread = _windows._WaitThread()
    notified: list[str] = []
    kept = _compat.win_create_event()
    if site == "remove":
        assert thread.add(kept, lambda: notified.append("kept"))
    event = _compat.win_create_event()
    calls = {
        "add": (_windows._WaitThread.add, thread._lock, lambda: thread.add(event, print)),
        "remove": (_windows._WaitThread.remove, thread._lock, lambda: thread.remove(kept)),
        "wait_for": (_windows._wait_for, _windows._threads_lock, lambda: _windows._wait_for(event, print)),
    }
    function, lock, call = calls[site]
    code = function.__code__
    with _raise_once_lock_taken(code, lock) as hits:
        with pytest.raises(_Interrupted):
            call()
    assert hits, f"{site} never took its lock"
    assert not _held_here(lock), f"{hits[0]} left its lock held"
    # The wait thread still hears of a handle signalled after that.
    if site != "remove":
        assert thread.add(kept, lambda: notified.append("kept"))
    _compat.win_set_event(kept)
    deadline = time.monotonic() + 30
    while not notified and time.monotonic() < deadline:
        time.sleep(0.01)
    assert notified == ["kept"]
    import _winapi

    _winapi.CloseHandle(event)  # never handed over: the interrupted call took nothing
