"""The gevent-cooperative process object and :func:`start_process`."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.process
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any, SupportsIndex

from gipc_transport import GIPCError, Handle, lowlevel

from . import _api, _child, _compat, _exit, _start, _status, _watch
from ._watcher import Watcher

StartMethod = str | multiprocessing.context.BaseContext

# Start methods of POSIX platforms that others (Windows) lack.
_POSIX_ONLY = ("fork", "forkserver")


# The contexts of the start methods named so far: multiprocessing's own
# singletons, looked up once (a start touches as little memory as it can).
_by_name: dict[str, multiprocessing.context.BaseContext] = {}


def _resolve(start_method: StartMethod | None) -> multiprocessing.context.BaseContext | None:
    if start_method is None:
        return None
    if type(start_method) is str:
        known = _by_name.get(start_method)
        if known is not None:
            return known
    if isinstance(start_method, multiprocessing.context.BaseContext):
        return start_method
    _api.check_type("start_method", start_method, str, "a start method name or a multiprocessing context")
    try:
        ctx = _by_name[start_method] = multiprocessing.get_context(start_method)
        return ctx
    except ValueError:
        methods = multiprocessing.get_all_start_methods()
        if start_method in _POSIX_ONLY:
            # As gipc 1.x on Windows: spawn only, and a clear word about it.
            raise ValueError(
                f"start method {start_method!r} is not available on {sys.platform}: use one of {methods}"
            ) from None
        raise ValueError(f"unknown start method {start_method!r}: use one of {methods}") from None


class Process(multiprocessing.process.BaseProcess):
    """A child process with the API of :class:`multiprocessing.Process`, gevent-cooperative.

    :meth:`join` blocks only the calling greenlet. The child's exit is noticed
    by a greenlet that waits on the process's sentinel, and only this child's
    exit status is ever collected, so other code's children (``subprocess``,
    plain ``multiprocessing``) keep theirs. Children that are never joined are
    reaped too. gipc handles anywhere in ``args`` and ``kwargs`` are handed to
    the child when it starts and closed in the parent.

    Under the ``fork`` start method the child is forked from an OS thread of gipc's
    and starts with a new hub: no greenlet, loop or threadpool of the parent
    ever runs in the child, not even from an ``os.register_at_fork`` hook.
    Signal handlers are reset to the default there, except for signals the
    parent ignores (``SIG_IGN``) and SIGPIPE; gipc handles the child was not
    given are closed.

    :param target: the callable the child runs, as ``target(*args, **kwargs)``.
    :param name: the process name; multiprocessing picks one if ``None``.
    :param args: a tuple of positional arguments for ``target``.
    :param kwargs: a dict of keyword arguments for ``target``.
    :param daemon: whether the child is killed when the parent exits
        (see :attr:`multiprocessing.Process.daemon`); inherited if ``None``.
    :param start_method: ``'fork'``, ``'spawn'``, ``'forkserver'``, a
        :mod:`multiprocessing` context, or ``None`` for multiprocessing's
        default at :meth:`start` time.
    :raises TypeError: if ``args`` is not a tuple or ``kwargs`` not a dict.
    :raises ValueError: if ``start_method`` names no start method of this platform.

    .. versionadded:: 2.0
    """

    # Read by multiprocessing's bootstrap in the child, which makes it the
    # child's default start method, as a context's Process class does.
    _start_method: str | None = None
    # What a Process rebuilt in a spawn or forkserver child has unless
    # __reduce_ex__ sent otherwise.
    _gipc_ctx: multiprocessing.context.BaseContext | None = None
    #: The handles handed to the child, found once per start.
    _gipc_given: list[Handle] | None = None
    #: In the child: where to report the exit code (a spawn child given handles).
    _gipc_status: _status.StatusPipe | None = None
    #: In the parent: the record of the start.
    _gipc_start: _start.ChildStart | None = None
    _gipc_started_for_caller = False
    _popen: Any
    _args: tuple[Any, ...]
    _kwargs: dict[str, Any]
    _parent_pid: int
    _closed: bool
    _watcher: Watcher

    def __init__(
        self,
        group: None = None,
        target: Callable[..., object] | None = None,
        name: str | None = None,
        args: tuple[Any, ...] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
        start_method: StartMethod | None = None,
    ) -> None:
        if kwargs is None:
            kwargs = {}
        if type(args) is not tuple or type(kwargs) is not dict:
            _api.check_type("args", args, tuple, "a tuple")
            _api.check_type("kwargs", kwargs, dict, "a dict")
        ctx = _resolve(start_method)
        super().__init__(group, target, name, args, kwargs, daemon=daemon)
        if ctx is not None:
            self._gipc_ctx = ctx
            self._start_method = ctx.get_start_method()

    def _gipc_handles(self) -> list[Handle]:
        """The handles this process hands (or, in the child, was handed) to its child."""
        given = self._gipc_given
        if given is not None:
            return given
        # Never started: look in the arguments (start() drops them, as
        # multiprocessing does).
        return lowlevel.find_handles(getattr(self, "_args", ()), getattr(self, "_kwargs", {}))

    @staticmethod
    def _Popen(process_obj: Process) -> Any:
        start = process_obj._gipc_start
        assert start is not None, "started through Process.start()"
        return start.launch(process_obj)

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        # How the process travels to a spawn or forkserver child.
        state = {k: v for k, v in vars(self).items() if not k.startswith("_gipc_")}
        given = self._gipc_handles()
        if not given:
            # Nothing for gipc to do there: send a plain multiprocessing
            # process, so that the child need not import gipc (and gevent)
            # before it runs the target. The class attribute does not travel
            # with vars(); multiprocessing's bootstrap reads it in the child.
            state["_start_method"] = self._start_method
            return (_compat.reconstruct, (multiprocessing.process.BaseProcess, object, None), state)
        # The list travels in the same pickle as the arguments: it holds the
        # very handles the child finds there, and the child needs no search.
        state["_gipc_given"] = given
        start = self._gipc_start
        if start is not None and start.status_pipe is not None:
            state["_gipc_status"] = start.status_pipe
        return (_compat.reconstruct, (type(self), object, None), state)

    def _bootstrap(self, parent_sentinel: int | None = None) -> int:
        code: int = super()._bootstrap(parent_sentinel)  # type: ignore[misc]
        if self._gipc_status is not None:
            _status.report(self._gipc_status.fd, code)
        return code

    def start(self) -> None:
        """Start the child; hand it the gipc handles in ``args`` and ``kwargs``.

        :raises GIPCError: if the process was started before (a process runs
            once; create a new one), or was closed. On a process that
            :func:`start_process` returned, a second call only warns
            (:exc:`RuntimeWarning`), as in gipc 1.x.
        :raises GIPCLocked: if a handle to hand over is busy with I/O in
            another greenlet; no child is created then.
        :raises GIPCClosed: if a handle to hand over is closed.
        """
        if self._closed:
            raise GIPCError(f"{self!r} is closed")
        if self._popen is not None and self._gipc_started_for_caller:
            # gipc 1.x programs call start() on what start_process() returned,
            # which 1.8.0 tolerated with a warning: keep them working.
            warnings.warn(f"Redundant call to start() of {self!r}: it is running already", RuntimeWarning, 2)
            return
        if self._popen is not None:
            raise GIPCError(f"{self!r} was already started: a process can only be started once")
        # The one search for handles of this start: the child, the pickle
        # sent to it and the launcher all use this list.
        args, kwargs = self._args, self._kwargs
        given = self._gipc_given = lowlevel.find_handles(args, kwargs) if args or kwargs else []
        start = self._gipc_start = _start.start_for(self._gipc_ctx or multiprocessing.get_context(), given)
        # Made before the launch, started once the child exists (after a
        # fork, every page the parent writes is copied first).
        watcher = _watch.watcher_for(start, self)
        started = False
        try:
            if given:
                with lowlevel.transferring(given) as transfer:
                    super().start()
                    started = True
                    transfer.child_pid = self.pid
            else:
                # Nothing to reserve: no context manager before the launch.
                super().start()
                started = True
        finally:
            # A child that exists is watched, also if closing the parent's
            # copies of its handles failed.
            if started:
                watcher.start()
                self._watcher = watcher
                _exit.register(Process)

    def run(self) -> None:
        """Run the target in the child, then close the handles it was given."""
        handles = self._gipc_handles()
        try:
            super().run()
        finally:
            _child.close_handles(handles)

    def join(self, timeout: float | None = None) -> None:
        """Wait until the child exits or ``timeout`` seconds pass; other greenlets run meanwhile.

        :param timeout: seconds to wait at most; ``None`` waits as long as it takes.
        :raises GIPCError: if the process was never started, or is not a
            child of the calling process.
        :raises ValueError: if the process was closed.
        """
        self._check_closed()  # type: ignore[attr-defined]
        self._check_parent("join")
        if self._watcher.exited.wait(timeout):
            _compat.started_children().discard(self)

    def _check_parent(self, action: str) -> None:
        if self._popen is None:
            raise GIPCError(f"cannot {action} {self!r}: it was never started")
        if self._parent_pid != os.getpid():
            raise GIPCError(
                f"cannot {action} {self!r} from process {os.getpid()}: only its parent {self._parent_pid} can"
            )

    def _poll(self) -> int | None:
        if self._popen is None:
            return None
        if self._watcher.exited.is_set():
            code: int | None = self._popen.returncode
            return code
        code = self._watcher.child.collect()
        if code is not None:
            self._watcher.mark_exited()
        return code

    def is_alive(self) -> bool:
        """Return whether the child is running (``False`` before start and after exit)."""
        self._check_closed()  # type: ignore[attr-defined]
        if self is multiprocessing.process.current_process():
            return True
        if self._popen is None:
            return False
        self._check_parent("test")
        return self._poll() is None

    @property
    def exitcode(self) -> int | None:
        """The exit code; ``None`` while running, ``-N`` if killed by signal ``N``.

        If other code collected the child's exit status first (an
        ``os.waitpid()``, or libev's SIGCHLD handler once gevent's child
        watchers are in use), the code the target ended with is reported as
        the child told it through a pipe (``fork`` children, and ``spawn``
        children given gipc handles), else :data:`~gipc_process.LOST_EXITCODE`
        (255); a :class:`~gipc_process.StatusLostWarning` is issued either way.

        :raises ValueError: if the process was closed, as in multiprocessing.
        """
        self._check_closed()  # type: ignore[attr-defined]
        return self._poll()

    def close(self) -> None:
        """Release the resources of an exited child (its sentinel).

        :raises ValueError: if the child is still running.
        """
        if self._popen is not None:
            if self._poll() is None:
                raise ValueError(
                    # multiprocessing's wording, which programs match on.
                    f"Cannot close a process while it is still running ({self!r}); "
                    "join() or terminate() it first"
                )
            self._popen.close()
            self._popen = None
            self._watcher.child.close()
        super().close()

    def __repr__(self) -> str:
        if self._closed:
            status = "closed"
        elif self._popen is None:
            status = "initial"
        else:
            code = self._popen.returncode
            status = "started" if code is None else f"stopped exitcode={code}"
        daemon = " daemon" if self.daemon else ""
        pid = f" pid={self.pid}" if self._popen is not None else ""
        return f"<gipc_process.Process name={self.name!r}{pid} {status}{daemon}>"


def start_process(
    target: Callable[..., object],
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
    daemon: bool | None = None,
    name: str | None = None,
    start_method: StartMethod | None = None,
) -> Process:
    """Start a child process that runs ``target(*args, **kwargs)``; return it, started.

    gipc handles anywhere in ``args`` and ``kwargs`` (also nested in lists,
    tuples, dicts and sets) are handed to the child and closed here. See
    :class:`Process` for what the child can rely on.

    :param target: the callable to run in the child (importable by name under
        ``spawn`` and ``forkserver``).
    :param args: a tuple of positional arguments for ``target``.
    :param kwargs: a dict of keyword arguments for ``target``.
    :param daemon: whether the child is killed when the parent exits; inherited if ``None``.
    :param name: the process name.
    :param start_method: ``'fork'``, ``'spawn'``, ``'forkserver'``, a
        :mod:`multiprocessing` context, or ``None`` for multiprocessing's default.
    :returns: the started :class:`Process`.
    :raises TypeError: if ``args`` is not a tuple or ``kwargs`` not a dict.
    :raises ValueError: if ``start_method`` names no start method of this platform.
    :raises GIPCLocked: if a handle to hand over is busy with I/O in another
        greenlet; no child is created then.
    :raises GIPCClosed: if a handle to hand over is closed.

    .. versionchanged:: 2.0
       Returns a :class:`Process`; ``start_method`` added.
    """
    p = Process(target=target, name=name, args=args, kwargs=kwargs, daemon=daemon, start_method=start_method)
    p.start()
    p._gipc_started_for_caller = True
    return p
