"""One record per child start: how the child is launched, what tells of its exit, where its status comes from.

:class:`~gipc_process.Process` makes a record when it starts a child, picked
once by the start method (:func:`start_for`), and keeps it as long as the
child is watched. The record holds what gipc knows of that start: the
handles found in the arguments (found once, handed to the child), the
child's ``Popen`` (pid, sentinel), the lock held while its exit status is
collected, and the code the child reported on its way out. Everything that
differs between start methods is a method or an attribute of a subclass
here; the watcher (``_watch.py``, ``_windows.py`` on Windows) and the
process only ask. Windows, a platform of its own, has one more subclass.
"""

from __future__ import annotations

import os
import select
import sys
import warnings
from multiprocessing import util
from typing import Any, ClassVar

from gipc_transport import Handle

from . import _compat, _forkserver, _locks, _reaped, _status

if sys.platform != "win32":
    # multiprocessing's fork launcher, which _fork builds on, does not
    # import on Windows (and fork is not there to use).
    from . import _fork


class ChildStart:
    """A child of this process, launched by multiprocessing's ``Popen`` for its start method.

    The base of every start, and the whole of one where gipc adds nothing:
    the child is reaped by its pid, the OS tells of its exit (a pidfd where
    there are pidfds, else the sentinel), and a status collected elsewhere
    is lost.

    :param ctx: the multiprocessing context of the start method.
    :param method: the start method's name.
    :param handles: the gipc handles to hand to the child.
    """

    #: Whether the sentinel may stay open after the child exited (a
    #: grandchild inherited it), so that its pid is checked now and then too.
    sentinel_may_linger: ClassVar[bool] = True
    #: Whether the child writes its exit code to the sentinel before it exits.
    reports_on_sentinel: ClassVar[bool] = False
    #: Held while the child's exit status is collected, where another thread
    #: may collect it too (multiprocessing polls from any ``start()``).
    reaping: Any = None
    #: While the child is being launched: the status pipe it inherits.
    status_pipe: _status.StatusPipe | None = None
    #: Whether gevent's SIGCHLD handling can reap the child (it is ours).
    gevent_may_reap: ClassVar[bool] = True
    #: The gevent child watcher of the child, while gevent reaps children.
    gevent_reaped: _reaped.GeventReaped | None = None

    def __init__(self, ctx: Any, method: str, handles: list[Handle]) -> None:
        self.ctx = ctx
        self.method = method
        #: The gipc handles handed to the child.
        self.handles = handles
        #: multiprocessing's ``Popen`` of the child, once launched.
        self.popen: Any = None
        #: The exit code the child reported through a pipe, if it did.
        self.reported: int | None = None

    @property
    def pid(self) -> int:
        """The child's pid."""
        pid: int = self.popen.pid
        return pid

    def launch(self, process: Any) -> Any:
        """Create the child of ``process`` (multiprocessing's ``_Popen``); return its ``Popen``."""
        self.popen = _compat.launch_as_multiprocessing(self.ctx, process)
        return self.popen

    def open_pidfd(self) -> int | None:
        """Return a descriptor that becomes readable when the child exits, if the OS has one."""
        # One wake-up at the exit itself, no early readiness, no sentinel held
        # open by a grandchild (Linux 5.3+).
        if not hasattr(os, "pidfd_open"):
            return None
        try:
            return os.pidfd_open(self.popen.pid)
        except OSError:
            # Old kernel, a sandbox forbidding it, or the child is gone already.
            return None

    def drain(self) -> bool:
        """Read what the child wrote to its sentinel; return whether the sentinel is at its end."""
        return True

    def collect(self) -> int | None:
        """Return the child's exit code if it has exited; never block, reap only this pid."""
        code: int | None = self.popen.returncode
        if code is not None:
            return code
        reaping = self.reaping
        if reaping is None:
            return self._collect()
        try:
            if not reaping.acquire(blocking=False):
                return None  # another thread is collecting it right now; look again soon
            return self._collect()
        finally:
            _locks.release(reaping)

    def _collect(self) -> int | None:
        popen = self.popen
        code: int | None = popen.returncode
        if code is not None:
            return code  # collected by the thread that held the lock
        try:
            pid, status = _compat.os_waitpid(popen.pid, os.WNOHANG)
        except ChildProcessError:
            reaped = self.gevent_reaped
            if reaped is not None:
                got = reaped.status()
                if got is not None:
                    code = popen.returncode = os.waitstatus_to_exitcode(got)
                    return code
                if not reaped.overdue():
                    return None  # gevent reaped it; the status is on its way
            code = popen.returncode = self.reported_code()
            warnings.warn(
                f"the exit status of child process {popen.pid} was collected by other code "
                f"(os.waitpid() or a SIGCHLD handler); its exitcode is reported as {code}",
                _status.StatusLostWarning,
                stacklevel=3,
            )
            return code
        if pid == 0:
            return None
        code = popen.returncode = os.waitstatus_to_exitcode(status)
        return code

    def reported_code(self) -> int:
        """The code the child reported before exiting, else :data:`~gipc_process.LOST_EXITCODE`."""
        return _status.LOST_EXITCODE if self.reported is None else self.reported

    def close(self) -> None:
        """Release what the record holds once the child is closed."""


class ForkStart(ChildStart):
    """gipc's own ``fork`` launcher (``_fork.py``); the child reports its exit code on the sentinel."""

    reports_on_sentinel = True

    def __init__(self, ctx: Any, method: str, handles: list[Handle]) -> None:
        super().__init__(ctx, method, handles)
        self.reaping = _locks.new()

    def launch(self, process: Any) -> Any:
        self.popen = _fork.Popen(process, self.handles, self.reaping)
        return self.popen

    def drain(self) -> bool:
        try:
            data = os.read(self.popen.sentinel, 64)
        except BlockingIOError:
            return False
        except OSError:
            return True
        if len(data) >= _status.STATUS.size:
            (self.reported,) = _status.STATUS.unpack(data[-_status.STATUS.size :])
        return not data

    def reported_code(self) -> int:
        # The watcher may wait on a pidfd and leave the sentinel blocking; a
        # grandchild holding it open must not make this read wait.
        try:
            os.set_blocking(self.popen.sentinel, False)
        except OSError:
            pass
        self.drain()
        return super().reported_code()


class SpawnStart(ChildStart):
    """multiprocessing's ``spawn`` launcher; a child given handles reports its exit code on a pipe."""

    _status_fd: int | None = None
    _release: Any = None

    def launch(self, process: Any) -> Any:
        if not self.handles:
            # No gipc code runs in the child (see Process.__reduce_ex__).
            return super().launch(process)
        r, w = os.pipe()
        self.status_pipe = _status.StatusPipe(w)
        try:
            popen = super().launch(process)
        except BaseException:
            os.close(r)
            raise
        finally:
            self.status_pipe = None
            os.close(w)
        self._status_fd = r
        self._release = util.Finalize(self, os.close, (r,))
        return popen

    def reported_code(self) -> int:
        if self._status_fd is not None:
            reported = _status.read_reported(self._status_fd)
            if reported is not None:
                self.reported = reported
        return super().reported_code()

    def close(self) -> None:
        if self._release is not None:
            self._status_fd = None
            self._release()


class ForkserverStart(ChildStart):
    """Not our child: the forkserver reaps it and then writes its exit code to the sentinel."""

    sentinel_may_linger = False
    gevent_may_reap = False

    def launch(self, process: Any) -> Any:
        # multiprocessing's forkserver client blocks the thread while the
        # server starts, and cannot authenticate on a gevent socket (Python
        # 3.14+ under monkey-patching): see _forkserver.py.
        with _forkserver.starting():
            return super().launch(process)

    def open_pidfd(self) -> int | None:
        # The status arrives after the exit, through the sentinel: wait for that.
        return None

    def collect(self) -> int | None:
        popen = self.popen
        if popen.returncode is None:
            poller = _compat.select_poll()
            poller.register(popen.sentinel, select.POLLIN)
            if not poller.poll(0):
                return None
            try:
                popen.returncode = _compat.forkserver().read_signed(popen.sentinel)
            except (OSError, EOFError):
                # As multiprocessing does: the forkserver itself went away.
                popen.returncode = 255
        code: int = popen.returncode
        return code


class WindowsSpawnStart(ChildStart):
    """multiprocessing's ``spawn`` launcher on Windows: the process handle holds the exit code.

    Nothing is reaped on Windows and no other code can take the exit code:
    the handle (the child's sentinel) holds it until it is closed, so the
    child reports nothing itself. The watcher waits for the handle in a
    thread (``_windows.py``); multiprocessing reports ``terminate()`` and
    ``kill()`` (both ``TerminateProcess``) as ``-SIGTERM``.
    """

    sentinel_may_linger = False
    gevent_may_reap = False

    def open_pidfd(self) -> int | None:
        return None

    def collect(self) -> int | None:
        # WaitForSingleObject(handle, 0), then GetExitCodeProcess: never blocks.
        code: int | None = self.popen.poll()
        return code


_STARTS: dict[str, type[ChildStart]] = {"fork": ForkStart, "spawn": SpawnStart, "forkserver": ForkserverStart}
if sys.platform == "win32":
    # Windows has spawn alone (multiprocessing offers no other context there).
    _STARTS = {"spawn": WindowsSpawnStart}


def start_for(ctx: Any, handles: list[Handle]) -> ChildStart:
    """Return the record for a start under ``ctx``, handing over ``handles``."""
    method: str = ctx.get_start_method()
    return _STARTS.get(method, ChildStart)(ctx, method, handles)
