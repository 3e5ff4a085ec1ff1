"""Run one function in a new child process and get its outcome back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from gipc_process import Process, start_process
from gipc_transport import GIPCError, Writer, pipe

from ._api import check_seconds
from ._result import decode_outcome, run_call
from ._result_errors import ProcessDied, TaskTimeout

# How long a child that has sent its outcome, or closed its end of the pipe
# without one, may take to exit by itself before it is killed. A child that
# failed before running ``fn`` (a target it cannot import, say) is still
# writing its traceback to stderr when the pipe reaches end of file: killing
# it then cut the traceback off and replaced its exit code with -9.
_EXIT_GRACE = 5.0


def _call_child(
    writer: Writer, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    writer.put(run_call(fn, args, kwargs))


def call_in_process(
    fn: Callable[..., Any],
    /,
    *args: Any,
    start_method: str | None = None,
    timeout: float | None = None,
    **kwargs: Any,
) -> Any:
    """Call ``fn(*args, **kwargs)`` in a new child process; return what it returns.

    Only the calling greenlet waits; the event loop keeps running. An
    exception raised by ``fn`` is raised here, with the child's traceback
    attached as its ``__cause__`` (a :class:`RemoteTraceback`). The child is
    reaped before this returns. For many calls, a :class:`ProcessPool` avoids
    starting a process per call.

    :param fn: a picklable callable for ``spawn`` and ``forkserver``; any
        callable for ``fork``.
    :param start_method: ``'fork'``, ``'spawn'``, ``'forkserver'`` or ``None``
        for multiprocessing's default.
    :param timeout: seconds the call may take; the child is then killed.
    :returns: the value ``fn`` returned, unpickled.
    :raises TaskTimeout: if the call took longer than ``timeout``.
    :raises ProcessDied: if the child exited without an outcome (a crash,
        ``os._exit()``, a signal).
    :raises RemoteError: if ``fn`` raised an exception that could not be
        pickled or unpickled.
    :raises TypeError: if ``timeout`` is not a number.
    :raises ValueError: if ``timeout`` is not greater than 0.

    .. versionadded:: 2.0
    """
    check_seconds("timeout", timeout)
    reader, writer = pipe(encoder=None, decoder=None)
    try:
        proc = start_process(_call_child, args=(writer, fn, args, kwargs), start_method=start_method)
    except BaseException:
        writer.close()
        reader.close()
        raise
    outcome: bytes | None = None
    timed_out = False
    # Whether the child closed its end without an outcome: it is exiting.
    ended = False
    code: int | None = None
    try:
        try:
            with gevent.Timeout(timeout, False):
                outcome = reader.get()
            timed_out = outcome is None
        except (EOFError, GIPCError):
            ended = True
    finally:
        reader.close()
        code = _reap(proc, kill=outcome is None and not ended)
    if timed_out:
        raise TaskTimeout(f"the call ran longer than {timeout} seconds; its process was killed")
    if outcome is None:
        raise ProcessDied(
            f"the child process exited without returning (exit code {code}); "
            "what it wrote to standard error may say why",
            code,
        )
    ok, value = decode_outcome(outcome)
    if ok:
        return value
    raise value


def _reap(proc: Process, kill: bool) -> int | None:
    if kill and proc.is_alive():
        proc.kill()
    proc.join(_EXIT_GRACE)
    if proc.is_alive():
        proc.kill()
        proc.join()
    code = proc.exitcode
    proc.close()
    return code
