"""The OS thread that forks ``fork`` children, kept while children start in quick succession.

Starting a thread for every child cost more than the fork itself under
load: thread creation and teardown, and two extra wake-ups of the calling
thread, each waiting for a free core. One thread serves every start in this
process instead, and ends after ``IDLE_SECONDS`` without one.

A thread that merely lingers must not be seen by other code's forks: from
Python 3.12 on, ``os.fork()`` warns when the process has more than one
thread, and a child's ``PR_SET_PDEATHSIG`` follows the thread that forked it.
An ``os.register_at_fork(before=...)`` hook therefore ends an idle forker
thread before any fork that is not its own, and waits until the OS has
removed it. A busy one is left alone: the process has other threads then
anyway, and waiting for our fork could deadlock with another fork hook's
lock that the foreign fork's thread already holds.

The calling thread does not sleep while the forker thread forks: it yields
the CPU in a loop (see ``SPIN_SECONDS``), as if it were in ``os.fork()``
itself. A caller put to sleep has to be woken and scheduled again once the
child exists, and the child just created then competes for the same cores:
on a busy machine the caller waited up to a millisecond longer than the fork
took.

A signal handler that raises in the calling thread (``KeyboardInterrupt``)
while the fork is handed over or waited for does not cut the wait short:
the caller waits for the fork, kills and reaps the child, then raises.
Leaving early would leave a child forked after its pipes were closed, with
nobody to reap it. The locks the calling thread takes are therefore never
taken with a ``with`` statement: Python 3.14 checks for pending signals
right after a ``with`` statement's ``__enter__()`` returns and before the
block is protected, so an exception raised there left the lock held for
good, and every later start hung. They are re-entrant locks, acquired
inside ``try`` and released in ``finally`` unless this thread does not hold
them (see :mod:`gipc_process._locks`).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from gipc_transport import GIPCError

from . import _compat, _locks

# Real OS threads, locks and sleeps, also when gevent.monkey has patched them.
_start_new_thread = _compat.start_new_thread
_allocate_lock = _compat.allocate_lock
_get_ident = _compat.thread_ident
_get_native_id = _compat.thread_native_id
_sleep = _compat.sleep
_monotonic = time.monotonic
_sched_yield: Callable[[], None] | None = getattr(os, "sched_yield", None)

#: How long the forker thread waits for the next child before it ends.
IDLE_SECONDS = 1.0

#: How long the calling thread yields the CPU in a loop while it waits for
#: the fork, before it sleeps. A fork takes 0.3-1 ms for a process of a few
#: tens of megabytes; much larger processes take longer, and their callers
#: end up asleep.
SPIN_SECONDS = 0.005

# How long a foreign fork waits at most for the OS to remove the ended
# forker thread (normally a fraction of a millisecond).
_GONE_WITHIN = 2.0


class Forker:
    """One thread that forks on behalf of every thread of this process, one child at a time."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        # Re-entrant for their owner check (see the module's docstring).
        self._serving = _locks.new()  # held by a caller from request to result
        self._state = _locks.new()  # guards _running against the idle timeout
        self._wake = _allocate_lock()
        self._wake.acquire()
        # A wake-up for the caller, released once _finished is set; the
        # caller relies on _finished, so a wake-up it misses costs nothing.
        self._done = _allocate_lock()
        self._done.acquire()
        self._finished = False
        # From the hand-over until the caller has the result.
        self._pending = False
        self._running = False
        self._caller: int | None = None
        self._ident: int | None = None
        self._native_id: int | None = None
        self._job: Callable[[], Any] | None = None
        self._result: Any = None
        #: threading's record of the forker thread, listed while it forks.
        self.record: _compat.ThreadRecord | None = None

    def fork(self, fork: Callable[[], int]) -> tuple[Any, BaseException | None]:
        """Run ``fork`` in the forker thread; return its result or the exception it raised.

        Once the job is handed over, waits for the thread to have run it also
        when a signal handler raises meanwhile; that exception comes second.
        A handler may raise at any call, function entry or backward jump, so
        every step from the hand-over to the result is inside the ``try``.
        Only a second exception, raised while the first is being caught,
        gets out with the job unsettled; the next call settles it (see
        :meth:`_settle_abandoned`).

        :raises GIPCError: if called from a signal handler that interrupted
            a start in this same thread: that start holds the forker until
            its fork is done, so waiting for it here would never end.
        """
        me = _get_ident()
        if self._caller == me:
            # Only this thread sets _caller to itself, while it holds _serving.
            raise GIPCError(
                "cannot start a fork child from code that interrupted a fork start in the same thread "
                "(a signal handler?): start it after that start returned"
            )
        interrupted: BaseException | None = None
        try:
            self._serving.acquire()
            self._caller = me
            if self._pending:
                self._settle_abandoned()
            while True:
                try:
                    if not self._pending:
                        self._hand_over(fork)
                    self._wait_finished(spin=interrupted is None)
                    break
                except BaseException as exc:
                    if not self._pending:
                        raise  # before the hand-over: no child
                    if interrupted is None:
                        interrupted = exc
            result, self._result = self._result, None
            self._pending = False
        finally:
            if self._caller == me:
                self._caller = None
            _locks.release(self._serving)
        return result, interrupted

    def _settle_abandoned(self) -> None:
        """Take down the child of a job whose caller left without its result.

        That caller was hit by a second exception while it caught a first.
        Its job still ran, or runs now; its child is killed and reaped here,
        as that caller would have done, instead of being handed to this one.
        """
        self._wait_finished(spin=False)
        left, self._result = self._result, None
        self._pending = False
        if isinstance(left, int):
            _kill_and_reap(left)

    def _hand_over(self, fork: Callable[[], int]) -> None:
        try:
            self._state.acquire()
            if not self._running:
                self._running = True
                try:
                    _start_new_thread(self._serve, ())
                except RuntimeError as exc:
                    self._running = False
                    raise OSError(f"cannot start the thread that forks the child: {exc}") from exc
            self._done.acquire(blocking=False)  # a wake-up left from the last child
            self._finished = False
            self._job = fork
            # Nothing can interrupt between these two: CPython runs signal
            # handlers only at calls, function entries and backward jumps.
            self._pending = True
            self._wake.release()
        finally:
            _locks.release(self._state)

    def _wait_finished(self, spin: bool) -> None:
        """Wait until the job ran: yield the CPU for up to ``SPIN_SECONDS``, then sleep.

        The loop checks :attr:`_finished`, never whether it got the lock: an
        exception raised just after ``acquire()`` returned must not leave
        the caller waiting for a second wake-up that never comes.
        """
        spin_until = _monotonic() + SPIN_SECONDS if spin and _sched_yield is not None else 0.0
        while not self._finished:
            if _sched_yield is not None and _monotonic() < spin_until:
                _sched_yield()
            else:
                self._done.acquire()

    def _serve(self) -> None:
        self._ident = _get_ident()
        self._native_id = _get_native_id()
        try:
            self.record = _compat.ThreadRecord()
        except Exception:  # noqa: BLE001 - only a faster child is lost: threading makes the record there
            self.record = None
        while True:
            if not self._wake.acquire(timeout=IDLE_SECONDS):
                with self._state:
                    # A request may have come in just as the wait timed out.
                    if not self._wake.acquire(blocking=False):
                        self._running = False
                        return
            job, self._job = self._job, None
            if job is None:
                return  # retired: _running was cleared by retire()
            try:
                self._result = job()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                self._result = exc
            # The job holds the process object: keep it no longer than its caller.
            del job
            self._finished = True
            self._done.release()

    def retire(self) -> None:
        """Before a fork that is not ours: end the forker thread if it is idle."""
        if _get_ident() in (self._ident, self._caller):
            return  # our own fork, or a signal handler forking while we wait for it
        native_id = None
        try:
            # A fork from a signal handler of the thread that just took
            # _serving (or is about to give it back) gets it again: nothing
            # is pending for that thread then.
            if not self._serving.acquire(blocking=False):
                return  # busy with a fork for another thread
            try:
                self._state.acquire()
                if not self._running or self._pending:
                    return  # gone, or its job still runs (its caller left: see _settle_abandoned)
                self._running = False
                self._job = None
                native_id = self._native_id
                self._wake.release()
            finally:
                _locks.release(self._state)
        finally:
            _locks.release(self._serving)
        if sys.platform.startswith("linux") and native_id is not None:
            # The thread ends right away; its task disappears shortly after.
            pause = 0.0001
            waited = 0.0
            while os.path.exists(f"/proc/self/task/{native_id}") and waited < _GONE_WITHIN:
                _sleep(pause)
                waited += pause
                pause = min(pause * 2, 0.01)


_forker = Forker()


def _current() -> Forker:
    global _forker
    if _forker._pid != os.getpid():
        # A forked child: the thread is not here, and its locks are copies.
        _forker = Forker()
    return _forker


def _before_any_fork() -> None:
    if _forker._pid == os.getpid():
        _forker.retire()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_any_fork)


def thread_record() -> _compat.ThreadRecord | None:
    """The calling forker thread's record for ``threading`` (None in any other thread)."""
    forker = _forker
    if forker._ident != _get_ident() or forker._pid != os.getpid():
        return None
    return forker.record


def fork_in_thread(fork: Callable[[], int]) -> int:
    """Call ``fork`` (which forks and returns the pid) in the forker thread; return the pid.

    The calling thread waits, as it would in ``os.fork()``.

    :raises OSError: if the thread cannot be started or ``fork`` fails.
    :raises GIPCError: if a signal handler calls this while it waits in the same thread.
    """
    result, interrupted = _current().fork(fork)
    if isinstance(result, BaseException):
        if interrupted is not None:
            raise interrupted
        raise result
    pid: int = result
    if interrupted is not None:
        _kill_and_reap(pid)
        raise interrupted
    return pid


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        _compat.os_waitpid(pid, 0)
    except OSError:
        pass
