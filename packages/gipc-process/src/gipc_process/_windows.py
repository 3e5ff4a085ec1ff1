"""Noticing that a Windows child exited: its process handle, awaited by a thread of gipc's.

Windows has no descriptor that becomes readable when a child exits, and
gevent's loop there (libuv) watches sockets only, so the event loop cannot
wait for a child. A process handle becomes signalled when the process ends
and keeps its exit code for as long as it is open; nobody else can take it.
So one OS thread of gipc's waits for the handles of all watched children at
once (``WaitForMultipleObjects``, at most 62 handles and a wake-up event per
thread; more children get more threads), and tells the child's event loop
through an async watcher, which also keeps that loop alive while the child
is watched, as the sentinel's I/O watcher does on POSIX. The event loop is
never blocked, no periodic timer runs, and gevent's threadpool (10 threads by
default, shared with DNS lookups and blocking I/O) is not occupied for the
lifetime of a child. docs/architecture.rst has the measurements behind this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _compat, _locks
from ._start import ChildStart
from ._watcher import Watcher

# WaitForMultipleObjects takes at most 64 handles (MAXIMUM_WAIT_OBJECTS),
# CPython's binding 63 (it keeps one for its Ctrl-C event); one of them is
# the thread's wake-up event.
HANDLES_PER_THREAD = 62
# If a notification arrives while the child is still running (it cannot, but
# a failing wait thread wakes everyone), its handle is polled at this pace.
_RECHECK = 0.1


def _winapi() -> Any:
    import _winapi

    return _winapi


class _WaitThread:
    """An OS thread that waits for up to :data:`HANDLES_PER_THREAD` process handles.

    It owns the handles it is given (duplicates made for it) and closes them;
    a handle being waited on is never closed under the wait.
    """

    def __init__(self) -> None:
        # Taken by callers too, which may handle signals: see _locks.
        self._lock = _locks.new()
        self._wake = _compat.win_create_event()
        # Our duplicate of a child's process handle -> what to call when it is signalled.
        self._waiting: dict[int, Callable[[], None]] = {}
        self._dropped: list[int] = []
        self._running = False

    def add(self, handle: int, notify: Callable[[], None]) -> bool:
        """Wait for ``handle`` and call ``notify`` (from this thread) once; ``False`` if full."""
        lock = self._lock
        try:
            lock.acquire()
            if len(self._waiting) >= HANDLES_PER_THREAD:
                return False
            self._waiting[handle] = notify
            if not self._running:
                self._running = True
                _compat.start_new_thread(self._run, ())
        finally:
            _locks.release(lock)
        _compat.win_set_event(self._wake)
        return True

    def remove(self, handle: int) -> None:
        """Stop waiting for ``handle``; once this returns, its ``notify`` is never called."""
        lock = self._lock
        try:
            lock.acquire()
            if self._waiting.pop(handle, None) is None:
                return
            self._dropped.append(handle)
        finally:
            _locks.release(lock)
        _compat.win_set_event(self._wake)

    def _run(self) -> None:
        # In this thread no signal handler runs: with-statements are safe.
        winapi = _winapi()
        while True:
            with self._lock:
                for handle in self._dropped:
                    winapi.CloseHandle(handle)
                self._dropped.clear()
                if not self._waiting:
                    # Nothing to wait for: end; the next add() starts a thread again.
                    self._running = False
                    return
                handles = list(self._waiting)
            try:
                index = winapi.WaitForMultipleObjects([self._wake, *handles], False, winapi.INFINITE)
            except Exception:  # noqa: BLE001 - whatever fails, no child may be forgotten
                # Not expected with handles of our own; if it happens, every
                # watcher is woken and polls its child from then on.
                index = None
            if index is None:
                signalled = handles
            elif index == winapi.WAIT_OBJECT_0:
                signalled = []  # woken: the set changed
            else:
                signalled = [handles[index - winapi.WAIT_OBJECT_0 - 1]]
            with self._lock:
                for handle in signalled:
                    notify = self._waiting.pop(handle, None)
                    if notify is not None:
                        notify()
                        winapi.CloseHandle(handle)


_threads: list[_WaitThread] = []
_threads_lock = _locks.new()


def _wait_for(handle: int, notify: Callable[[], None]) -> _WaitThread:
    try:
        _threads_lock.acquire()
        for thread in _threads:
            if thread.add(handle, notify):
                return thread
        thread = _WaitThread()
        _threads.append(thread)
        thread.add(handle, notify)
        return thread
    finally:
        _locks.release(_threads_lock)


class HandleWatcher(Watcher):
    """Sets :attr:`exited` once a Windows child has exited (the ``_watch.ChildWatcher`` of Windows).

    :param child: the start record of the child.
    :param on_exit: called once, in the event loop's thread, after the exit.
    """

    def __init__(self, child: ChildStart, on_exit: Callable[[], None]) -> None:
        super().__init__(child, on_exit)
        self._timer: Any = None
        self._async: Any = None
        self._handle: int | None = None
        self._thread: _WaitThread | None = None

    def start(self) -> None:
        """Start watching, once the child exists."""
        # Referenced (as the POSIX sentinel watcher is): the loop runs while a
        # child is watched, so that a join() with nothing else to do waits.
        self._async = self._loop.async_()
        self._async.start(self._check)
        winapi = _winapi()
        me = winapi.GetCurrentProcess()
        # The thread's own handle: Popen.close() may close the original while it waits.
        sentinel = self.child.popen.sentinel
        handle = winapi.DuplicateHandle(me, sentinel, me, 0, False, winapi.DUPLICATE_SAME_ACCESS)
        self._handle = handle
        self._thread = _wait_for(handle, self._async.send)

    def _check(self) -> None:
        if self.exited.is_set():
            return self.close()
        if self.child.collect() is not None:
            self.mark_exited()
        elif self._timer is None:
            self._timer = self._loop.timer(_RECHECK, _RECHECK)
            self._timer.start(self._check)
        return None

    def close(self) -> None:
        if self._thread is not None and self._handle is not None:
            thread, self._thread = self._thread, None
            thread.remove(self._handle)
        if self._async is not None:
            self._async.close()
        if self._timer is not None:
            self._timer.close()
