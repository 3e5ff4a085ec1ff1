"""The handle base class: one pipe end owned by one process.

Everything that reader and writer share lives here: descriptor ownership
(close, finalizer, the pid guard), the registry of live handles, the lock
that serialises greenlets and every rule about it (a busy handle, one
reserved for a child being started), waiting for readiness on the gevent
loop, and hand-over to a child process (pickling, and rebuilding there
through the constructor).
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Callable
from time import monotonic
from types import TracebackType
from typing import Any

import gevent.lock
from gevent import get_hub

from . import _exit, _pipes
from ._deadline import wait_watcher
from ._errors import GIPCBroken, GIPCClosed, GIPCError, GIPCLocked, GIPCTimeout
from ._registry import Registry
from ._transfer import rebuild_fd, reduce_fd

READ = 1
WRITE = 2

# The pid of this process, kept current across os.fork(). getpid() is a
# system call, too slow to guard every get() and put() with.
PID = [os.getpid()]


def _forked() -> None:
    PID[0] = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def _close_fd(fd: int, pid: int, kind: str) -> None:
    # A finalizer must never close a descriptor number in a process that did
    # not open it: after fork() the number may mean something else there.
    if os.getpid() == pid:
        warnings.warn(f"unclosed gipc handle <{kind} fd={fd}>", ResourceWarning, stacklevel=2)
        try:
            _pipes.close(fd)
        except OSError:
            pass


def _finalizer(handle: Handle, fd: int, pid: int) -> weakref.finalize[..., Handle]:
    kind = f"{type(handle).__module__}.{type(handle).__qualname__}"
    finalizer = weakref.finalize(handle, _close_fd, fd, pid, kind)
    # Not at interpreter exit: the handle is alive then, a greenlet may wait
    # on its descriptor, and closing the descriptor behind the handle's back
    # would leave a live event-loop watcher (and the handle) with a number
    # that the next open() reuses. _exit closes unused handles properly.
    finalizer.atexit = False
    return finalizer


# A greenlet doing I/O in a loop that never waits (the pipe always has room,
# or data) would never let the others of its thread run: after about this
# many bytes, each message counting at least FAIR_MIN, put() and get() first
# yield to the event loop.
FAIR_BYTES = 1024 * 1024
FAIR_MIN = 1024


class Handle:
    """One end of a gipc pipe: owns a file descriptor in one process.

    Handles are created by :func:`gipc_transport.pipe`; they are usable as
    context managers, which close them on exit. A handle dropped without
    :meth:`close` has its descriptor closed by a finalizer, but only in the
    process that owns it, so that a copy inherited by a child stays intact.
    """

    # The descriptor, None once closed. (Not ``_fd``: that is gipc 1.x's
    # name, which 1.x programs still read; see the ``_fd`` property.)
    _descriptor: int | None
    _direction = READ

    def __init__(self, fd: int) -> None:
        self._descriptor = fd
        self._legit_pid = PID[0] = os.getpid()
        self._closed = False
        # Why the handle was closed, if not by close(): said by GIPCClosed.
        self._closed_why = ""
        self._broken: GIPCBroken | None = None
        self._lock = gevent.lock.Semaphore(1)
        # Set while a child being started holds the lock (lowlevel.transferring).
        self._transferring = False
        self._watcher: Any = None
        self._watcher_loop: Any = None
        # What this handle may still move before it yields (see FAIR_BYTES).
        self._credit = FAIR_BYTES
        # rawlink() callbacks: each an event-loop watcher or a scheduled callback.
        self._links: dict[Callable[[Any], Any], Any] = {}
        _pipes.prepare(fd)
        self._key = _LIVE.add(self)
        self._finalizer = _finalizer(self, fd, self._legit_pid)
        _exit.register(_close_unused)

    def fileno(self) -> int:
        """Return the file descriptor, for ``select``-like APIs.

        :raises GIPCClosed: if the handle is closed.
        """
        self._validate()
        assert self._descriptor is not None
        return self._descriptor

    @property
    def _fd(self) -> int | None:
        # gipc 1.x's private attribute for the descriptor, which 1.x programs
        # passed to select(); None once the handle is closed.
        return self._descriptor

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Close the file descriptor and unregister the handle.

        :raises GIPCClosed: if the handle was closed before.
        :raises GIPCLocked: if another greenlet is doing I/O on it.
        :raises GIPCError: if the handle belongs to another process.
        """
        if self._closed:
            raise self._closed_error()
        if PID[0] != self._legit_pid:
            # A broken handle can be closed; one of another process cannot.
            self._validate()
        self._take_lock("close")
        try:
            self._release()
        finally:
            self._lock.release()

    def _busy(self, what: str) -> GIPCLocked:
        """The error for ``what`` ("close", "transfer") refused because the handle's lock is held."""
        if self._transferring:
            whom = "another child process" if what == "transfer" else "a child process"
            return GIPCLocked(f"can't {what} {self!r}: it is being handed to {whom}")
        return GIPCLocked(f"can't {what} {self!r}: another greenlet is doing I/O on it")

    def _take_lock(self, what: str) -> None:
        """Take the lock without waiting, for ``what``: the handle must not be busy.

        :raises GIPCLocked: if a greenlet does I/O on it or a child is being given it.
        """
        if not self._lock.acquire(blocking=False):
            raise self._busy(what)

    def _reserve(self) -> None:
        """Lock the handle for a child being started (see ``lowlevel.transferring``).

        :raises GIPCClosed: if the handle is closed.
        :raises GIPCLocked: if it is busy.
        """
        self._validate()
        self._take_lock("transfer")
        self._transferring = True

    def _unreserve(self, handed_over: str | None) -> None:
        """End :meth:`_reserve`: close the handle, saying ``handed_over`` why, or leave it usable (``None``).

        The lock is released whatever closing raises: a handle left locked
        would keep other greenlets' I/O waiting forever.
        """
        self._transferring = False
        try:
            if handed_over is not None and not self._closed:
                self._release(handed_over)
        finally:
            self._lock.release()

    def _forget(self) -> None:
        """Leave the handle out of :func:`live_handles` (see ``lowlevel.forget``)."""
        _LIVE.discard(self._key)

    def _close_at_exit(self, pid: int) -> None:
        """Close the handle at interpreter exit, unless a greenlet uses it or it is not ``pid``'s."""
        if self._closed or self._legit_pid != pid or self._in_use():
            return
        try:
            self._release(": it was closed at interpreter exit")
        except OSError:
            pass

    def _closed_error(self) -> GIPCClosed:
        return GIPCClosed(f"{self!r} is closed{self._closed_why}")

    def _in_use(self) -> bool:
        """Whether a greenlet is doing I/O on the handle or waits for it to be ready."""
        return self._lock.locked() or bool(self._links)

    def _release(self, why: str = "") -> None:
        # rawlink() takes no lock, so close() does not wait for it: its
        # watchers stop before the descriptor closes (the number may be
        # reused at once), and its callbacks are called, as gevent.wait()
        # expects. (Scheduled callbacks, for buffered frames, run anyway.)
        self._stop_watchers(list(self._links.values()))
        self._finalizer.detach()
        fd, self._descriptor = self._descriptor, None
        self._closed = True
        self._closed_why = why
        self._drop_watcher()
        _LIVE.discard(self._key)
        if fd is not None and os.getpid() == self._legit_pid:
            _pipes.close(fd)

    def _drop_watcher(self) -> None:
        w, self._watcher = self._watcher, None
        if w is not None:
            try:
                w.close()
            except Exception:  # noqa: BLE001 - a watcher of a destroyed loop may refuse
                pass

    @staticmethod
    def _stop_watchers(watchers: list[Any]) -> None:
        for watcher in watchers:
            if not hasattr(watcher, "close"):
                continue  # a scheduled callback
            callback, args = watcher.callback, watcher.args or ()
            watcher.stop()
            if callback is not None:
                get_hub().loop.run_callback(callback, *args)

    def _adopt(self, pid: int) -> None:
        """Make the handle usable in a child with a new hub (see ``lowlevel.adopt_in_child``)."""
        self._lock = gevent.lock.Semaphore(1)
        self._transferring = False
        # The watchers belong to the parent's loop, which the child destroyed.
        self._watcher = self._watcher_loop = None
        self._links = {}
        self._legit_pid = pid
        self._finalizer.detach()
        if not self._closed and self._descriptor is not None:
            self._finalizer = _finalizer(self, self._descriptor, pid)

    def _ready_now(self) -> bool:
        """Whether a :meth:`rawlink` callback is due without waiting for the descriptor."""
        return False

    def rawlink(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(self)`` once the handle is ready: a reader to receive, a writer to send.

        This is gevent's wait protocol: it makes handles usable with
        :func:`gevent.wait` and :func:`gevent.iwait`. A reader is ready when
        :meth:`~gipc_transport.Reader.poll` would return ``True``; a writer
        when the pipe has room, so that a ``put()`` starts writing at once.
        If the handle is closed meanwhile, ``callback`` is called too.

        :raises GIPCClosed: if the handle is closed.

        .. versionadded:: 2.0
        """
        self._validate()
        self.unlink(callback)
        loop = get_hub().loop
        if self._ready_now():
            self._links[callback] = loop.run_callback(callback, self)
            return
        assert self._descriptor is not None
        watcher = loop.io(self._descriptor, self._direction)

        def ready() -> None:
            self._links.pop(callback, None)
            watcher.close()
            callback(self)

        watcher.start(ready)
        self._links[callback] = watcher

    def unlink(self, callback: Callable[[Any], Any]) -> None:
        """Undo :meth:`rawlink`.

        .. versionadded:: 2.0
        """
        link = self._links.pop(callback, None)
        if link is not None:
            link.stop()
            if hasattr(link, "close"):
                link.close()

    def _validate(self) -> None:
        if self._closed:
            raise self._closed_error()
        if PID[0] != self._legit_pid:
            raise GIPCError(
                f"{self!r} belongs to process {self._legit_pid}, not to {os.getpid()}: "
                "pass it to the child through start_process() to use it there"
            )
        if self._broken is not None:
            raise type(self._broken)(*self._broken.args)

    def _break(self, exc: GIPCError) -> GIPCError:
        """Mark the handle unusable because of ``exc``; return ``exc`` to be raised."""
        # A copy that is never raised: the raised one's traceback would keep
        # the caller's frames (and everything they reference) alive.
        if isinstance(exc, GIPCBroken):
            self._broken = type(exc)(*exc.args)
        else:
            self._broken = GIPCBroken(f"{self!r} is broken: {exc}")
        return exc

    def _acquire(self, deadline: float | None, what: str) -> None:
        if self._lock.acquire(blocking=False):
            return
        if deadline is None:
            self._lock.acquire()
        elif not self._lock.acquire(timeout=max(deadline - monotonic(), 0.0)):
            raise GIPCTimeout(f"{what} timed out waiting for another greenlet using {self!r}")
        if self._closed or self._broken is not None:
            # The greenlet that had the handle closed or broke it meanwhile.
            self._lock.release()
            self._validate()

    def _wait(self, deadline: float | None, what: str) -> None:
        """Wait until the descriptor is ready for this handle's direction."""
        self._credit = FAIR_BYTES  # the others run meanwhile
        hub = get_hub()
        w = self._watcher
        # Not every loop backend's watcher tells its loop: remember it.
        if w is None or self._watcher_loop is not hub.loop:
            assert self._descriptor is not None
            w = self._watcher = hub.loop.io(self._descriptor, self._direction)
            self._watcher_loop = hub.loop
        if deadline is None:
            hub.wait(w)
            return
        remaining = deadline - monotonic()
        if remaining <= 0 or not wait_watcher(hub, w, remaining):
            raise GIPCTimeout(f"{what} on {self!r} did not complete within its timeout")

    def __enter__(self) -> Handle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.close()
        except GIPCClosed:
            pass

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} fd={self._descriptor}>"

    def _carry(self) -> tuple[Any, ...]:
        """What the handle takes to a child besides its descriptor: the arguments of :meth:`_rebuilt`."""
        raise NotImplementedError

    @classmethod
    def _rebuilt(cls, fd: int, *carried: Any) -> Handle:
        """In a child: the handle made anew by its constructor from ``fd`` and :meth:`_carry`'s values."""
        raise NotImplementedError

    def __reduce__(self) -> tuple[Any, ...]:
        self._validate()
        if self._lock.locked() and not self._transferring:
            # Pickled by a child's start outside lowlevel.transferring().
            raise self._busy("transfer")
        assert self._descriptor is not None
        return (_rebuild, (type(self), reduce_fd(self._descriptor), self._carry()))


def _rebuild(cls: type[Handle], token: Any, carried: tuple[Any, ...]) -> Handle:
    return cls._rebuilt(rebuild_fd(token), *carried)


# The open handles of this process.
_LIVE: Registry[Handle] = Registry()


def live_handles() -> list[Handle]:
    """Return the open handles of this process, oldest first.

    After ``fork()`` this includes the handles inherited from the parent
    until :func:`~gipc_transport.lowlevel.adopt_in_child` closed them.
    """
    return _LIVE.items()


def _close_unused() -> None:
    # The exit hook (see _exit): close this process's handles no greenlet uses.
    pid = os.getpid()
    for h in _LIVE.items():
        h._close_at_exit(pid)
