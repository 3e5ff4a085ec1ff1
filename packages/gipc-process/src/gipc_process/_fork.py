"""The ``fork`` start method, forking from an OS thread of gipc's own.

``os.register_at_fork(after_in_child=...)`` hooks run inside ``os.fork()``,
before any of our code, in the thread that forked. A hook that yields to the
hub (observability libraries do) would run the parent's greenlets in the child
if that thread were the one running the parent's hub. Forking from a
hub-less OS thread makes them unreachable: in the child only the forking
thread exists, its thread-local hub is empty, and greenlets cannot be switched
to from another thread (nor are they run when collected there). The thread
is kept for the next child for a moment (see ``_forker.py``).
"""

from __future__ import annotations

import gc
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from multiprocessing import popen_fork, util
from typing import Any, NoReturn

import gevent
from gipc_transport import Handle

from . import _child, _compat, _forker, _locks, _status

_os_fork = _compat.os_fork
_os_close = _compat.os_close


if sys.platform.startswith("linux"):

    def _others_alone() -> bool:
        """Whether the caller's thread is the only one besides this (forking) thread."""
        try:
            return len(os.listdir("/proc/self/task")) - 1 <= 1
        except OSError:
            return False

else:

    def _others_alone() -> bool:
        """Whether the caller's thread is the only one besides this (forking) thread."""
        # What Python counts where it has no OS count: threading's threads
        # (this one is not among them).
        return _compat.python_thread_count() <= 1


def _fork_quietly(record: _compat.ThreadRecord | None) -> int:
    # Python 3.12+ warns about forking a process with more than one thread.
    # This thread is ours and the caller waits for it: counted without it,
    # the process warns exactly when os.fork() from the caller would have
    # (another thread, e.g. pytest-timeout's, may hold a lock the child needs).
    # The warning is Python's own, attributed to this module as
    # multiprocessing's is to multiprocessing.popen_fork. Filters are changed
    # only when no other thread exists that could warn or change them meanwhile.
    if sys.version_info >= (3, 12):
        if _others_alone():
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", message=r".*is multi-threaded, use of fork\(\)", category=DeprecationWarning
                )
                return _listed_fork(record)
    return _listed_fork(record)


def _listed_fork(record: _compat.ThreadRecord | None) -> int:
    # The forking thread listed in threading's table for the duration of the
    # fork: the child adopts the record (see _compat.ThreadRecord). Listed
    # after _others_alone() counted the threads threading knows.
    if record is None:
        return _os_fork()
    record.list()
    try:
        pid = _os_fork()
    except BaseException:
        record.unlist()
        raise
    if pid:
        record.unlist()
    return pid


def fork_from_thread(in_child: Callable[[], NoReturn], inherited: _child.InheritedHub) -> int:
    """Fork from gipc's forker thread; run ``in_child`` there in the child; return the pid.

    The calling thread waits for the fork, as it would in ``os.fork()``: its
    hub must not be inside the event loop while the loop's memory is copied
    (libev's default loop would be unusable in the child). If the wait is
    interrupted (a signal handler raising), the fork still completes; the
    child is then killed and reaped before the exception propagates.

    :raises OSError: if the thread cannot be started or ``fork()`` fails.
    """

    def fork() -> int:
        inherited.install()
        # The child's garbage collector must not scan what it inherits: each
        # object it visits costs a copy-on-write page fault. The objects are
        # frozen in the child before its first collection can run (threading's
        # own after-fork hook allocates enough to trigger one).
        collecting = gc.isenabled()
        gc.disable()
        record = _forker.thread_record()
        try:
            pid = _fork_quietly(record)
            if pid == 0:
                gc.freeze()
                if collecting:
                    gc.enable()
                if record is not None:
                    record.promote()
                in_child()
            return pid
        finally:
            if collecting:
                gc.enable()
            inherited.uninstall()
            # A before/after_in_parent hook may have created a hub in this
            # thread; free it now rather than keep its loop for the next child.
            if inherited.stray is not None:
                inherited.stray.destroy(destroy_loop=True)

    return _forker.fork_in_thread(fork)


class Popen(popen_fork.Popen):
    """multiprocessing's fork launcher, forking from gipc's own thread with a clean child.

    :param process_obj: the process to run in the child.
    :param keep: the gipc handles handed to the child; it closes every other.
    :param reaping: the start record's lock, held while the status is collected.
    """

    method = "fork"

    def __init__(self, process_obj: Any, keep: list[Handle], reaping: Any) -> None:
        self._keep = keep
        # multiprocessing polls every started process from start() in any
        # thread; a waitpid() of gipc's racing it would find the status gone.
        self.reaping = reaping
        super().__init__(process_obj)

    def poll(self, flag: int = os.WNOHANG) -> int | None:
        reaping = self.reaping
        try:
            reaping.acquire()
            code: int | None = super().poll(flag)
            return code
        finally:
            _locks.release(reaping)

    def _launch(self, process_obj: Any) -> None:
        parent_r, child_w = os.pipe()
        child_r, parent_w = os.pipe()
        inherited = _child.InheritedHub(gevent.get_hub())
        keep = self._keep
        caller = _compat.thread_ident()

        def in_child() -> NoReturn:
            code = 1
            try:
                _os_close(parent_r)
                _os_close(parent_w)
                _child.after_fork(keep, caller)
                code = process_obj._bootstrap(parent_sentinel=child_r)
            except BaseException:  # noqa: BLE001 - reported, then the child exits
                traceback.print_exc()
                sys.stderr.flush()
            finally:
                _status.report(child_w, code)
                os._exit(code)

        try:
            self.pid = fork_from_thread(in_child, inherited)
        except BaseException:
            for fd in (parent_r, child_w, child_r, parent_w):
                _os_close(fd)
            raise
        _os_close(child_w)
        _os_close(child_r)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_r, parent_w))  # type: ignore[attr-defined]
        self.sentinel = parent_r
