"""Noticing that a child exited, for every start method, without reaping anyone else's.

No SIGCHLD handler and no event-loop child watcher are involved: both reap
with ``waitpid(-1)`` and would steal the exit statuses of children that
``subprocess`` or plain ``multiprocessing`` started. Instead an event-loop I/O
watcher waits for a descriptor that becomes readable when the child exits,
then the status of that one pid is collected with ``waitpid(pid, WNOHANG)``.
The descriptor is a pidfd where the OS has them (Linux 5.3+), else the
child's sentinel pipe; a ``forkserver`` child is not ours, and the forkserver
writes its exit code to the sentinel.
"""

from __future__ import annotations

import os
import select
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from gevent import monkey

from . import _status

# gevent's patched waitpid only knows children it forked itself.
_waitpid = monkey.get_original("os", "waitpid")
_os_close = monkey.get_original("os", "close")
_poll = monkey.get_original("select", "poll")

#: The exit code reported when another part of the program collected the
#: child's exit status first (``os.waitpid``) and it cannot be recovered.
LOST_EXITCODE = 255

# The sentinel normally signals the exit at once. It stays open, though, when
# a grandchild inherited the child's end of it through fork; then a periodic
# check of the pid notices the exit, at most this many seconds late.
_SLOWEST_CHECK = 2.0


class StatusLostWarning(RuntimeWarning):
    """Another part of the program collected a gipc child's exit status."""


def collect(popen: Any) -> int | None:
    """Return the child's exit code if it has exited; never block, reap only this pid."""
    code: int | None = popen.returncode
    if code is not None:
        return code
    if popen.method == "forkserver":
        # Not our child: the forkserver reports the status through the sentinel.
        polled: int | None = popen.poll()
        return polled
    reaping = getattr(popen, "reaping", None)
    if reaping is not None and not reaping.acquire(blocking=False):
        return None  # another thread is collecting it right now; look again soon
    try:
        return _collect(popen)
    finally:
        if reaping is not None:
            reaping.release()


def _collect(popen: Any) -> int | None:
    code: int | None = popen.returncode
    if code is not None:
        return code  # collected by the thread that held the lock
    try:
        pid, status = _waitpid(popen.pid, os.WNOHANG)
    except ChildProcessError:
        code = popen.returncode = _status_from_sentinel(popen)
        warnings.warn(
            f"the exit status of child process {popen.pid} was collected by other code "
            f"(os.waitpid() or a SIGCHLD handler); its exitcode is reported as {code}",
            StatusLostWarning,
            stacklevel=3,
        )
        return code
    if pid == 0:
        return None
    code = popen.returncode = os.waitstatus_to_exitcode(status)
    return code


def _status_from_sentinel(popen: Any) -> int:
    # What the child reported before exiting (see _status.py), if anything.
    if popen.method == "fork":
        _drain(popen)
    elif getattr(popen, "gipc_status_fd", None) is not None:
        reported = _status.read_reported(popen.gipc_status_fd)
        if reported is not None:
            popen.gipc_status = reported
    code: int = getattr(popen, "gipc_status", LOST_EXITCODE)
    return code


def _drain(popen: Any) -> bool:
    """Read what the fork child wrote to the sentinel; return whether it is at EOF."""
    try:
        data = os.read(popen.sentinel, 64)
    except BlockingIOError:
        return False
    except OSError:
        return True
    if len(data) >= _status.STATUS.size:
        (popen.gipc_status,) = _status.STATUS.unpack(data[-_status.STATUS.size :])
    return not data


def _open_pidfd(popen: Any) -> int | None:
    # A pidfd becomes readable exactly when the process exits (Linux 5.3+):
    # one wake-up, no early readiness, no sentinel held open by a grandchild.
    # Forkserver children are reaped by the forkserver, which reports the
    # status through the sentinel afterwards: wait for that instead.
    if popen.method == "forkserver" or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(popen.pid)
    except OSError:
        # Old kernel, a sandbox forbidding it, or the child is gone already.
        return None


class ChildWatcher:
    """Sets :attr:`exited` once the child's exit status is collected.

    Event-loop watchers with callbacks, no greenlet: starting a child costs
    little, and the parent touches little memory while the child runs (after
    fork every page written is copied).
    """

    def __init__(self, popen: Any, on_exit: Callable[[], None]) -> None:
        self.popen = popen
        self.exited = gevent.event.Event()
        self._on_exit = on_exit
        self._loop = gevent.get_hub().loop
        self._pidfd = _open_pidfd(popen)
        # gipc's fork children write their exit code to the sentinel just
        # before exiting; reading it makes the next readiness the end of the
        # pipe, which comes with the exit itself.
        self._drains = self._pidfd is None and popen.method == "fork"
        if self._drains:
            os.set_blocking(popen.sentinel, False)
        fd = popen.sentinel if self._pidfd is None else self._pidfd
        self._io: Any = self._loop.io(fd, 1)
        self._timer: Any = None
        self._interval = 0.1
        self._io.start(self._readable)
        if self._pidfd is None and popen.method != "forkserver":
            # The sentinel may stay open after the exit (a grandchild
            # inherited it): check the pid now and then regardless.
            self._arm_timer(self._interval)

    def _arm_timer(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.close()
        self._timer = self._loop.timer(seconds)
        self._timer.start(self._check)

    def _readable(self) -> None:
        if self._drains and not _drain(self.popen):
            return  # the status arrived; the exit follows
        self._io.stop()
        self._check(soon=True)

    def _check(self, soon: bool = False) -> None:
        if self.exited.is_set():
            return self.close()
        try:
            if self.popen.method == "forkserver":
                code = _read_forkserver_status(self.popen)
            else:
                code = collect(self.popen)
        finally:
            # Whatever a warning filter makes of StatusLostWarning, a
            # collected status must wake the joiners.
            if self.popen.returncode is not None:
                self.mark_exited()
        if code is None:
            if soon:
                # Readiness came with (or just before) the exit: retry quickly.
                self._arm_timer(0.0005)
            else:
                self._interval = min(self._interval * 2, _SLOWEST_CHECK)
                self._arm_timer(self._interval)
        return None

    def mark_exited(self) -> None:
        """Record that the status is collected; wake joiners; release the watchers."""
        if self.exited.is_set():
            return
        self.exited.set()
        self.close()
        self._on_exit()

    def close(self) -> None:
        self._io.close()
        if self._timer is not None:
            self._timer.close()
        if self._pidfd is not None:
            pidfd, self._pidfd = self._pidfd, None
            _os_close(pidfd)


def _read_forkserver_status(popen: Any) -> int | None:
    if popen.returncode is None:
        from multiprocessing import forkserver

        poller = _poll()
        poller.register(popen.sentinel, select.POLLIN)
        if not poller.poll(0):
            return None
        try:
            popen.returncode = forkserver.read_signed(popen.sentinel)
        except (OSError, EOFError):
            # As multiprocessing does: the forkserver itself went away.
            popen.returncode = 255
    code: int = popen.returncode
    return code


def start_watching(popen: Any, process: Any) -> ChildWatcher:
    """Start watching ``popen``; keep only a weak reference to ``process``."""
    ref = weakref.ref(process)

    def forget() -> None:
        # multiprocessing keeps started processes in a set until joined; an
        # exited child that nobody joins must not keep its descriptors open.
        import multiprocessing.process

        proc = ref()
        if proc is not None:
            multiprocessing.process._children.discard(proc)  # type: ignore[attr-defined]

    return ChildWatcher(popen, forget)
