"""Noticing that a child exited, for every start method, without reaping anyone else's.

No SIGCHLD handler and no event-loop child watcher are involved: both reap
with ``waitpid(-1)`` and would steal the exit statuses of children that
``subprocess`` or plain ``multiprocessing`` started. Instead a greenlet waits
cooperatively until the child's sentinel becomes readable, then collects the
status of that one pid. That works the same for ``fork``, ``spawn`` and
``forkserver`` (whose children are not ours: the forkserver writes their exit
code to the sentinel).
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.select
from gevent import monkey

from ._fork import STATUS

# gevent's patched waitpid only knows children it forked itself.
_waitpid = monkey.get_original("os", "waitpid")

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
    try:
        pid, status = _waitpid(popen.pid, os.WNOHANG)
    except ChildProcessError:
        code = _status_from_sentinel(popen)
        warnings.warn(
            f"the exit status of child process {popen.pid} was collected by other code "
            f"(os.waitpid() or a SIGCHLD handler); its exitcode is reported as {code}",
            StatusLostWarning,
            stacklevel=2,
        )
    else:
        if pid == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
    popen.returncode = code
    return code


def _status_from_sentinel(popen: Any) -> int:
    # Only gipc's fork launcher writes the exit code there (see _fork.py).
    if popen.method != "fork" or not hasattr(popen, "sentinel"):
        return LOST_EXITCODE
    fd = popen.sentinel
    try:
        os.set_blocking(fd, False)
        data = os.read(fd, STATUS.size)
    except OSError:
        return LOST_EXITCODE
    if len(data) != STATUS.size:
        return LOST_EXITCODE
    (code,) = STATUS.unpack(data)
    return int(code)


def watch(popen: Any, exited: gevent.event.Event, on_exit: Callable[[], None]) -> None:
    """Wait cooperatively for the child to exit, collect its status, set ``exited``."""
    fd = popen.sentinel
    interval = 0.1
    backoff = 0.001
    readable = False
    try:
        while collect(popen) is None:
            if not readable:
                ready, _, _ = gevent.select.select([fd], [], [], interval)
                readable = bool(ready)
                interval = min(interval * 2, _SLOWEST_CHECK)
            else:
                # Readable but not yet exited: the child wrote its status (or
                # closed the pipe) and is on its way out.
                gevent.sleep(backoff)
                backoff = min(backoff * 2, _SLOWEST_CHECK)
    finally:
        exited.set()
        on_exit()


def start_watching(popen: Any, process: Any) -> tuple[gevent.event.Event, gevent.Greenlet[Any, Any]]:
    """Spawn the greenlet that watches ``popen``; it keeps only a weak reference to ``process``."""
    ref = weakref.ref(process)

    def forget() -> None:
        # multiprocessing keeps started processes in a set until joined; an
        # exited child that nobody joins must not keep its descriptors open.
        import multiprocessing.process

        proc = ref()
        if proc is not None:
            multiprocessing.process._children.discard(proc)  # type: ignore[attr-defined]

    exited = gevent.event.Event()
    return exited, gevent.spawn(watch, popen, exited, forget)
