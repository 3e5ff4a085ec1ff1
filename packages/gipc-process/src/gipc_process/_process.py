"""The gevent-cooperative process object and :func:`start_process`."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import sys
from typing import Any, Callable

import gevent
import gevent.event
import gevent.hub

from gipc_transport import GIPCError, lowlevel

from ._child import child_main

_ctx_of = multiprocessing.get_context


class Process(multiprocessing.process.BaseProcess):
    """A child process compatible with :class:`multiprocessing.Process`.

    Created and started by :func:`start_process`. ``join()`` waits
    cooperatively: other greenlets run meanwhile.
    """

    _start_method: str | None = None

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        ctx = _ctx_of(process_obj._start_method)
        return ctx.Process._Popen(process_obj)

    def start(self) -> None:
        if self._popen is not None:
            sys.stderr.write(f"gipc warning: redundant call to {self!r}.start() ignored\n")
            return
        super().start()
        self._exited = gevent.event.Event()
        self._watcher = gevent.spawn(self._watch)

    def _watch(self) -> None:
        hub = gevent.get_hub()
        io = hub.loop.io(self._popen.sentinel, 1)
        try:
            hub.wait(io)
        finally:
            io.close()
        self._popen.wait()
        self._exited.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait cooperatively until the child exits or ``timeout`` seconds pass."""
        self._check_closed()
        if self._parent_pid != os.getpid():
            raise GIPCError(f"{self!r} can only be joined by its parent process {self._parent_pid}")
        if self._popen is None:
            raise GIPCError(f"{self!r} was never started")
        if self._exited.wait(timeout):
            multiprocessing.process._children.discard(self)

    def is_alive(self) -> bool:
        self._check_closed()
        if self._popen is None:
            return False
        return not self._exited.is_set()

    @property
    def exitcode(self) -> int | None:
        if self._popen is None:
            return None
        return self._popen.returncode  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._popen is not None and not self._exited.is_set():
            raise ValueError(f"cannot close {self!r}: it is still running; join() or terminate() it first")
        super().close()

    def __repr__(self) -> str:
        status = "initial"
        if self._popen is not None:
            code = self.exitcode
            status = "started" if code is None else ("stopped" if code == 0 else f"stopped[{code}]")
        return f"<gipc_process.Process name={self._name!r} pid={self.pid} {status}{' daemon' if self.daemon else ''}>"


def start_process(
    target: Callable[..., Any],
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
    daemon: bool | None = None,
    name: str | None = None,
    start_method: str | None = None,
) -> Process:
    """Start a child process that runs ``target(*args, **kwargs)``; return it started.

    Handles found in ``args`` and ``kwargs`` are handed to the child and closed
    here.

    :param start_method: ``'fork'``, ``'spawn'``, ``'forkserver'`` or ``None``
        for multiprocessing's current default.
    :raises TypeError: if ``args`` is not a tuple or ``kwargs`` not a dict.
    :raises GIPCLocked: if a handle to transfer is busy with I/O in another greenlet.
    """
    if kwargs is None:
        kwargs = {}
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple, not {type(args).__name__}")
    if not isinstance(kwargs, dict):
        raise TypeError(f"kwargs must be a dict, not {type(kwargs).__name__}")
    handles = lowlevel.find_handles(args, kwargs)
    lowlevel.check_transferable(handles)
    method = start_method or multiprocessing.get_start_method()
    p = Process(
        target=child_main,
        name=name,
        kwargs={"target": target, "args": args, "kwargs": kwargs, "forked": method == "fork"},
    )
    p._start_method = method
    if daemon is not None:
        p.daemon = daemon
    p.start()
    lowlevel.release_transferred(handles)
    return p
