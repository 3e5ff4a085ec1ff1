"""Errors raised when running a function in a child process or a pool."""

from __future__ import annotations

import concurrent.futures
from concurrent.futures.process import BrokenProcessPool

from gipc_transport import GIPCBroken, GIPCClosed, GIPCError, GIPCTimeout

__all__ = (
    "PoolBroken",
    "PoolClosed",
    "ProcessDied",
    "RemoteError",
    "RemoteTraceback",
    "ResultTimeout",
    "TaskTimeout",
    "WorkerDied",
)


class RemoteTraceback(GIPCError):
    """The traceback of an exception raised in a child process, as text.

    It is never raised: it is the ``__cause__`` of the exception that a child
    raised and that gipc re-raises in the parent, so that the child's frames
    show in the parent's traceback (as :mod:`concurrent.futures` does).

    .. versionadded:: 2.0
    """

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


class RemoteError(GIPCError):
    """A child raised an exception that could not be carried to the parent.

    Raised instead of the original exception when it could not be pickled in
    the child or unpickled in the parent; the message names the original type
    and repeats its message, and ``__cause__`` holds the child's traceback.

    .. versionadded:: 2.0
    """


class ProcessDied(GIPCBroken):
    """The child process exited without sending the outcome of the call back.

    ``exitcode`` is the child's exit code if it is known: negative for a
    signal (``-9`` for ``SIGKILL``, ``-11`` for a segfault).

    .. versionadded:: 2.0
    """

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode


class WorkerDied(ProcessDied, BrokenProcessPool):
    """The pool worker running a task died: that task failed, the pool goes on.

    Only the task the worker was running fails; tasks queued behind it go to
    another worker, and the pool starts a replacement. It derives from
    :class:`~concurrent.futures.process.BrokenProcessPool` so that code written
    for :class:`~concurrent.futures.ProcessPoolExecutor` catches it, but unlike
    there the pool stays usable.

    .. versionadded:: 2.0
    """


class PoolBroken(GIPCBroken, BrokenProcessPool):
    """The pool cannot run tasks any more: a worker could not start.

    Raised when the initializer failed or a new worker died before it was
    ready. Every pending task fails with it and :meth:`ProcessPool.submit`
    raises it; shut the pool down and create a new one.

    .. versionadded:: 2.0
    """


class PoolClosed(GIPCClosed, RuntimeError):
    """A task was submitted to a pool that is shut down or shutting down.

    It is also a :class:`RuntimeError`, what :mod:`concurrent.futures` raises.

    .. versionadded:: 2.0
    """


class TaskTimeout(GIPCTimeout, concurrent.futures.TimeoutError):
    """A task ran longer than its time limit: its process was killed.

    .. versionadded:: 2.0
    """


class ResultTimeout(GIPCTimeout, concurrent.futures.TimeoutError):
    """Waiting for a result timed out; the task itself goes on.

    Raised by :meth:`Future.result`, :meth:`Future.exception` and the iterator
    of :meth:`ProcessPool.map`. It is also
    :class:`concurrent.futures.TimeoutError`.

    .. versionadded:: 2.0
    """
