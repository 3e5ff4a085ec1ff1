"""Noticing that a child exited, for every start method, without reaping anyone else's.

No SIGCHLD handler and no event-loop child watcher are involved: both reap
with ``waitpid(-1)`` and would steal the exit statuses of children that
``subprocess`` or plain ``multiprocessing`` started. Instead an event-loop I/O
watcher waits for a descriptor that becomes readable when the child exits,
then the status of that one pid is collected with ``waitpid(pid, WNOHANG)``.
The descriptor is a pidfd where the OS has them (Linux 5.3+), else the
child's sentinel pipe; a ``forkserver`` child is not ours, and the forkserver
writes its exit code to the sentinel. Which descriptor, and how the status is
collected, the watcher asks of the child's start record (``_start.py``).
Where gevent reaps every child itself, a gevent child watcher tells of the
exit as well, and hands over the status gevent took (``_reaped.py``).
"""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Callable
from typing import Any

from . import _compat, _reaped
from ._start import ChildStart
from ._watcher import Watcher

_os_close = _compat.os_close

# The sentinel normally signals the exit at once. It stays open, though, when
# a grandchild inherited the child's end of it through fork; then a periodic
# check of the pid notices the exit, at most this many seconds late.
_SLOWEST_CHECK = 2.0


class ChildWatcher(Watcher):
    """Sets :attr:`exited` once the child's exit status is collected.

    Event-loop watchers with callbacks, no greenlet: starting a child costs
    little, and the parent touches little memory while the child runs (after
    fork every page written is copied).
    """

    def __init__(self, child: ChildStart, on_exit: Callable[[], None]) -> None:
        super().__init__(child, on_exit)
        self._pidfd: int | None = None
        self._drains = False
        self._io: Any = None
        self._timer: Any = None
        self._interval = 0.1

    def start(self) -> None:
        """Start watching, once the child exists."""
        child = self.child
        self._pidfd = child.open_pidfd()
        sentinel = child.popen.sentinel
        # A child that writes its exit code to the sentinel just before
        # exiting: reading it makes the next readiness the end of the pipe,
        # which comes with the exit itself.
        self._drains = self._pidfd is None and child.reports_on_sentinel
        if self._drains:
            os.set_blocking(sentinel, False)
        fd = sentinel if self._pidfd is None else self._pidfd
        self._io = self._loop.io(fd, 1)
        self._io.start(self._readable)
        # The exception to watcher_for's rule: asked once the child exists,
        # not before the launch. The answer cannot change before the hub runs
        # again, and the question (a ctypes sigaction() query) costs the
        # parent a dozen page faults, which delay the child only when asked
        # before the fork (docs/performance.rst, "Start-up: the child's own
        # thread").
        if child.gevent_may_reap and _reaped.gevent_will_reap(self._loop):
            child.gevent_reaped = _reaped.GeventReaped(self._loop, child.pid, self._check)
        if self._pidfd is None and child.sentinel_may_linger:
            # The sentinel may stay open after the exit (a grandchild
            # inherited it): check the pid now and then regardless.
            self._arm_timer(self._interval)

    def _arm_timer(self, seconds: float) -> None:
        if self._timer is not None:
            self._timer.close()
        self._timer = self._loop.timer(seconds)
        self._timer.start(self._check)

    def _readable(self) -> None:
        if self._drains and not self.child.drain():
            return  # the status arrived; the exit follows
        self._io.stop()
        self._check(soon=True)

    def _check(self, soon: bool = False) -> None:
        if self.exited.is_set():
            return self.close()
        try:
            code = self.child.collect()
        finally:
            # Whatever a warning filter makes of StatusLostWarning, a
            # collected status must wake the joiners.
            if self.child.popen.returncode is not None:
                self.mark_exited()
        if code is None:
            if soon:
                # Readiness came with (or just before) the exit: retry quickly,
                # at libuv's finest resolution (a finer one makes it warn).
                self._arm_timer(0.001)
            else:
                self._interval = min(self._interval * 2, _SLOWEST_CHECK)
                self._arm_timer(self._interval)
        return None

    def close(self) -> None:
        if self._io is not None:
            self._io.close()
        if self._timer is not None:
            self._timer.close()
        if self.child.gevent_reaped is not None:
            self.child.gevent_reaped.close()
        if self._pidfd is not None:
            pidfd, self._pidfd = self._pidfd, None
            _os_close(pidfd)


def watcher_for(child: ChildStart, process: Any) -> Watcher:
    """Make the watcher of the child of ``child``; :meth:`~Watcher.start` it once the child exists.

    Made before the launch: what needs no pid is done while the parent's
    memory is still its own. Right after a fork every page the parent
    writes is copied first, so the same work costs several times as much
    once the child exists (see docs/performance.rst). The one exception
    is whether gevent reaps the child: ``ChildWatcher.start`` asks it once
    the child exists, because asked before the fork its cost delays the
    child. Keeps only a weak reference to ``process``.
    """
    ref = weakref.ref(process)

    def forget() -> None:
        # multiprocessing keeps started processes in a set until joined; an
        # exited child that nobody joins must not keep its descriptors open.
        proc = ref()
        if proc is not None:
            _compat.started_children().discard(proc)

    return _Watcher(child, forget)


_Watcher: Callable[[ChildStart, Callable[[], None]], Watcher] = ChildWatcher
if sys.platform == "win32":
    # No descriptor tells of a child's exit there: a thread awaits its process handle.
    from ._windows import HandleWatcher as _Watcher
