"""The parent's side of one pool worker: its process, its pipe, its greenlets.

A worker carries calls from its pool to its child process and their outcomes
to their futures. Three greenlets serve it. The sender, when woken, asks the
pool for calls and writes them as one batch. The receiver reads the outcomes
and settles the futures, in order: the child runs calls one after the other,
so the oldest call without an outcome is the one running. The watcher waits
for the process to exit, tidies up and tells the pool which calls the worker
still held.

The worker owns the calls it holds and its own state; the pool asks through
:attr:`Worker.accepting` and :attr:`Worker.held`, and the worker reports
back through the small :class:`WorkerHost` interface.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import gevent
import gevent.event
from gipc_process import start_process
from gipc_transport import DuplexHandle, GIPCError, pipe

from ._pool_child import pack_batch, worker_main
from ._result import decode_outcome
from ._result_future import Future

# How long a worker that closed its pipe may take to exit before it is killed,
# and how long the receiver may take to read what a dead worker left in the pipe.
EXIT_GRACE = 3.0
DRAIN_GRACE = 1.0


class WorkItem:
    """A submitted call: its future and its pickled ``(fn, args, kwargs)``."""

    __slots__ = ("future", "payload", "started")

    def __init__(self, future: Future, payload: bytes) -> None:
        self.future = future
        self.payload = payload
        # Whether a worker took it (set by the pool, which then marks the future running).
        self.started = False


class WorkerSettings(NamedTuple):
    """What every worker of a pool is started with: the pool's arguments."""

    initializer: Callable[..., Any] | None
    initargs: tuple[Any, ...]
    start_method: str | None
    max_tasks: int | None
    task_timeout: float | None


class WorkerExit(NamedTuple):
    """What a worker reports when its process has exited."""

    exitcode: int | None
    #: It had reported ready: the initializer ran.
    ready: bool
    #: What the initializer raised, if it did.
    init_error: BaseException | None
    #: It had been told to exit (shutdown, retirement, a broken pipe).
    stopping: bool
    #: The calls it held, oldest (the one running) first; they are the pool's again.
    held: list[WorkItem]
    #: The oldest call outlived the task timeout: that is why it was killed.
    head_timed_out: bool


class WorkerHost(Protocol):
    """What a worker asks of its pool and tells it.

    :class:`gipc.ProcessPool` implements these as private methods: they are
    the pool's side of its conversation with its workers, not part of its
    :class:`~concurrent.futures.Executor` API.
    """

    def _calls_for(self, held: int, limit: int | None) -> list[WorkItem]:
        """Return queued calls, marked running, for a worker that holds ``held`` calls.

        ``limit`` is how many more it may be sent (``None``: no limit; ``0``:
        it takes no more calls, but its wake-up may matter to the pool).
        """

    def _calls_back(self, items: list[WorkItem]) -> None:
        """Calls that never reached the worker: queue them again, first, in this order."""

    def _call_done(self, took: float) -> None:
        """An outcome arrived for a call that was running for ``took`` seconds."""

    def _worker_retired(self) -> None:
        """The worker was sent its last calls (``max_tasks_per_worker``)."""

    def _worker_exited(self, worker: Worker, report: WorkerExit) -> None:
        """The worker's process exited and the worker is tidied up."""


def fail_future(future: Future, error: BaseException) -> None:
    """Fail ``future`` with ``error`` unless it is settled already."""
    if not future.done():
        future.set_exception(error)


class Worker:
    """One worker process and the greenlets that talk to it."""

    def __init__(self, host: WorkerHost, name: str, settings: WorkerSettings) -> None:
        self._host = host
        self._max_tasks = settings.max_tasks
        self._task_timeout = settings.task_timeout
        self._inflight: collections.deque[WorkItem] = collections.deque()
        self._sent = 0
        self._ready = False
        self._retiring = False
        self._stopping = False
        self._dead = False
        self._init_error: BaseException | None = None
        self._timed_out: WorkItem | None = None
        self._head_since = 0.0
        self._timer: Any = None
        self._wake = gevent.event.Event()
        ours, theirs = pipe(duplex=True, encoder=None, decoder=None)
        try:
            self.process = start_process(
                worker_main,
                args=(theirs, settings.initializer, settings.initargs),
                name=name,
                start_method=settings.start_method,
            )
        except BaseException:
            for end in (ours, theirs):
                if not end.closed:
                    end.close()
            raise
        self._conn: DuplexHandle = ours
        self._sender = gevent.spawn(self._send)
        self._receiver = gevent.spawn(self._receive)
        self._watcher = gevent.spawn(self._watch)

    @property
    def accepting(self) -> bool:
        """Whether the worker takes calls: it is not retiring, stopping or dead."""
        return not (self._retiring or self._stopping or self._dead)

    @property
    def held(self) -> int:
        """How many calls it holds: sent to the child, no outcome yet."""
        return len(self._inflight)

    def offer(self, depth: int) -> None:
        """Calls are queued: wake the sender if the worker has room for them."""
        if len(self._inflight) < depth and self.accepting:
            self._wake.set()

    def serves(self, greenlet: Any) -> bool:
        """Whether ``greenlet`` is one of this worker's."""
        return greenlet in (self._sender, self._receiver, self._watcher)

    def stop(self) -> None:
        """Send no more calls; the worker exits once it has run those it holds."""
        if not self._stopping:
            self._stopping = True
            self._wake.set()

    def kill(self) -> None:
        """Kill the process; the watcher then reports the exit."""
        if not self._dead and self.process.is_alive():
            self.process.kill()

    def halt(self) -> None:
        """Send no more calls and kill the process now."""
        self._stopping = True
        self.kill()

    def abandon(self, error: BaseException) -> None:
        """Fail the calls held with ``error`` and kill the process: the pool broke."""
        for item in self._inflight:
            fail_future(item.future, error)
        self._inflight.clear()
        self.kill()

    def _new_head(self, now: float) -> None:
        # The oldest call held changed: restart its clock.
        self._head_since = now
        timeout = self._task_timeout
        if timeout is None:
            return
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        if self._ready and self._inflight and not self._dead:
            self._timer = gevent.get_hub().loop.timer(timeout)
            self._timer.start(self._expire, self._inflight[0])

    def _expire(self, item: WorkItem) -> None:
        if self._inflight and self._inflight[0] is item and not self._dead:
            self._timed_out = item
            self.kill()

    def _send(self) -> None:
        host = self._host
        inflight = self._inflight
        max_tasks = self._max_tasks
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._dead:
                    return
                if not self.accepting:
                    limit: int | None = 0
                else:
                    limit = None if max_tasks is None else max_tasks - self._sent
                items = host._calls_for(len(inflight), limit)
                if items:
                    was_idle = not inflight
                    inflight.extend(items)
                    self._sent += len(items)
                    if was_idle:
                        self._new_head(time.monotonic())
                    if max_tasks is not None and self._sent >= max_tasks:
                        self._retiring = True
                        host._worker_retired()
                if self._retiring:
                    self._stopping = True
                if items:
                    try:
                        self._conn.put(pack_batch([item.payload for item in items]))
                    except (GIPCError, OSError):
                        # Nobody reads the pipe any more: the worker never got these.
                        self._undelivered(len(items))
                        raise
                if self._stopping:
                    self._conn.put(b"")
                    return
        except (GIPCError, OSError):
            # The worker is gone; the watcher settles its calls.
            return

    def _undelivered(self, count: int) -> None:
        self._stopping = True
        back = [self._inflight.pop() for _ in range(min(count, len(self._inflight)))]
        back.reverse()
        self._new_head(time.monotonic())
        self._host._calls_back(back)

    def _receive(self) -> None:
        host = self._host
        inflight = self._inflight
        conn = self._conn
        monotonic = time.monotonic
        try:
            ok, value = decode_outcome(conn.get())
            if not ok:
                self._init_error = value
                return
            self._ready = True
            if inflight:
                self._new_head(monotonic())
            while True:
                data = conn.get()
                item = inflight.popleft()
                now = monotonic()
                took = now - self._head_since
                self._new_head(now)
                host._call_done(took)
                ok, value = decode_outcome(data)
                if ok:
                    item.future.set_result(value)
                else:
                    item.future.set_exception(value)
        except (EOFError, GIPCError, OSError):
            pass
        except IndexError:
            # An outcome for a call the pool failed already: it broke.
            pass
        finally:
            if self.process.is_alive():
                self.process.join(EXIT_GRACE)
                self.kill()

    def _watch(self) -> None:
        self.process.join()
        self._dead = True
        # A grandchild may hold the pipe open: do not wait for end of file forever.
        self._receiver.join(DRAIN_GRACE)
        self._receiver.kill()
        self._sender.kill()
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._conn.close()
        exitcode = self.process.exitcode
        self.process.close()
        held = list(self._inflight)
        self._inflight.clear()
        timed_out = bool(held) and held[0] is self._timed_out
        report = WorkerExit(exitcode, self._ready, self._init_error, self._stopping, held, timed_out)
        self._host._worker_exited(self, report)
