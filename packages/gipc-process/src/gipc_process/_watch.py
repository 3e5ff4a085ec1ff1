"""Noticing that a child exited, for every start method, without reaping anyone else's.

No SIGCHLD handler and no event-loop child watcher are involved: both reap
with ``waitpid(-1)`` and would steal the exit statuses of children that
``subprocess`` or plain ``multiprocessing`` started. Instead an event-loop I/O
watcher waits for a descriptor that becomes readable when the child exits,
then the status of that one pid is collected with ``waitpid(pid, WNOHANG)``.
The descriptor is a pidfd where the OS has them (Linux 5.3+), else the
child's sentinel pipe; a ``forkserver`` child is not ours, and the forkserver
writes its exit code to the sentinel.

Once gevent reaps children itself (its SIGCHLD handling is installed by the
first gevent child watcher, as after any use of gevent's ``subprocess`` or a
monkey-patched ``os.fork``), it collects every child's status, ours included,
and keeps it only for the pids it watches. So a gipc child also gets a gevent
child watcher when gevent reaps already, or will as soon as the program forks
or runs a subprocess because ``os`` is monkey-patched (gevent's own model
then: every child is gevent's to reap). Otherwise gipc installs no SIGCHLD
handling: that would take the statuses of children that other code started.
"""

from __future__ import annotations

import os
import select
import signal
import time
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

# How long a status that gevent's reaper collected may take to reach the
# child watcher (libuv hands it over in a later loop callback) before it
# counts as lost to other code.
_REAPED_GRACE = 1.0

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
        reaped = getattr(popen, "gipc_reaped", None)
        if reaped is not None:
            got = reaped.status()
            if got is not None:
                code = popen.returncode = os.waitstatus_to_exitcode(got)
                return code
            if not reaped.overdue():
                return None  # gevent reaped it; the status is on its way
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


class GeventReaped:
    """A gevent child watcher for one pid, used while gevent reaps children."""

    def __init__(self, loop: Any, pid: int, on_status: Callable[[], None]) -> None:
        self.pid = pid
        #: Whether the status came from gevent (gevent reaped before gipc could).
        self.collected = False
        self._since: float | None = None
        self._watcher: Any = loop.child(pid, ref=False)
        self._watcher.start(on_status)

    def status(self) -> int | None:
        """The wait status gevent collected for the pid, once it has it."""
        if self._watcher.rpid == self.pid:
            rstatus: int = self._watcher.rstatus
            self.collected = True
            return rstatus
        return None

    def overdue(self) -> bool:
        """Whether the status was taken long enough ago to count as lost."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        return now - self._since > _REAPED_GRACE

    def close(self) -> None:
        self._watcher.close()


def _gevent_will_reap(loop: Any) -> bool:
    if not getattr(loop, "default", False):
        return False  # gevent reaps only on the default loop
    return monkey.is_module_patched("os") or gevent_reaps_children(loop)


def gevent_reaps_children(loop: Any) -> bool:
    """Whether gevent's SIGCHLD handling is installed for ``loop``."""
    if not getattr(loop, "default", False) or not hasattr(loop, "child"):
        return False
    try:
        # libuv: gevent's own signal watcher, created by the first child watcher.
        return bool(loop._sigchld_watcher)
    except AttributeError:
        pass
    # libev keeps the state in C. Its handler is native: Python's signal
    # module still reports the default disposition while it is installed.
    if signal.getsignal(signal.SIGCHLD) not in (signal.SIG_DFL, None):
        return False
    return _native_sigchld_handler()


_sigaction: Any = None


def _native_sigchld_handler() -> bool:
    global _sigaction
    try:
        if _sigaction is None:
            import ctypes

            _sigaction = ctypes.CDLL(None, use_errno=True).sigaction
        import ctypes

        # struct sigaction starts with the handler on Linux, the BSDs and macOS;
        # the buffer is larger than the struct on each of them.
        buf = ctypes.create_string_buffer(512)
        if _sigaction(signal.SIGCHLD, None, buf) != 0:
            return False
        handler = ctypes.c_void_p.from_buffer(buf).value or 0
    except (ImportError, OSError, AttributeError):
        return False
    return handler not in (int(signal.SIG_DFL), int(signal.SIG_IGN))


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
        self._reaped: GeventReaped | None = None
        if popen.method != "forkserver" and _gevent_will_reap(self._loop):
            self._reaped = popen.gipc_reaped = GeventReaped(self._loop, popen.pid, self._check)
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
                # Readiness came with (or just before) the exit: retry quickly,
                # at libuv's finest resolution (a finer one makes it warn).
                self._arm_timer(0.001)
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
        if self._reaped is not None:
            self._reaped.close()
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
