"""The inside of :class:`gipc.ProcessPool`: the queue, the workers, their faults.

:class:`PoolCore` holds the pool's state and decides which worker gets which
call, what happens to the calls of a worker that died and when the pool is
broken; :mod:`gipc._pool` adds the public :class:`~concurrent.futures.Executor`
API on top, and :mod:`gipc._pool_worker` serves one worker's pipe.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import gevent
import gevent.event
from gipc_process import _exit as _process_exit
from gipc_transport import GIPCError

from ._pool_worker import Worker
from ._result import decode_outcome
from ._result_errors import PoolBroken, PoolClosed, TaskTimeout, WorkerDied
from ._result_future import Future, _real_get_ident

# Calls a worker may hold at once: two while calls look long (one running, one
# waiting, so the worker never idles for a round trip), many while they look
# tiny (batches amortise system calls).
_SHALLOW = 2
_DEEP = 64
_TINY = 0.001

_live_pools: weakref.WeakSet[PoolCore] = weakref.WeakSet()
_exit_hook_registered = False


class WorkItem:
    """A submitted call: its future and its pickled ``(fn, args, kwargs)``."""

    __slots__ = ("future", "payload", "started")

    def __init__(self, future: Future, payload: bytes) -> None:
        self.future = future
        self.payload = payload
        self.started = False


class PoolCore(Executor):
    """The state and scheduling of a process pool, without its public API."""

    def __init__(
        self,
        max_workers: int,
        initializer: Callable[..., Any] | None,
        initargs: tuple[Any, ...],
        start_method: str | None,
        max_tasks_per_worker: int | None,
        task_timeout: float | None,
    ) -> None:
        self._max_workers = max_workers
        self._initializer = initializer
        self._initargs = initargs
        self._start_method = start_method
        self._max_tasks = max_tasks_per_worker
        self._task_timeout = task_timeout
        self._thread = _real_get_ident()
        self._pid = os.getpid()
        self._pending: collections.deque[WorkItem] = collections.deque()
        self._workers: set[Worker] = set()
        self._names = itertools.count(1)
        self._shutdown = False
        self._broken: PoolBroken | None = None
        self._killed = False
        self._ewma: float | None = None
        self._all_exited = gevent.event.Event()
        self._all_exited.set()
        _live_pools.add(self)

    def _check_usable(self) -> None:
        if _real_get_ident() != self._thread or os.getpid() != self._pid:
            raise GIPCError("a ProcessPool can only be used from the thread and process that created it")
        if self._broken is not None:
            raise PoolBroken(str(self._broken)) from self._broken.__cause__
        if self._shutdown:
            raise PoolClosed("cannot submit tasks to a ProcessPool that is shut down")

    def _spawn_workers(self) -> None:
        accepting = sum(1 for w in self._workers if w.accepting)
        while accepting < self._max_workers:
            self._start_worker()
            accepting += 1

    def _start_worker(self) -> None:
        try:
            worker = Worker(self, f"gipc.ProcessPool-worker-{next(self._names)}")
        except Exception as exc:
            self._break(PoolBroken(f"could not start a worker process: {exc}"), exc)
            raise self._broken from exc  # type: ignore[misc]
        self._workers.add(worker)
        self._all_exited.clear()
        _register_exit_hook()

    def _depth(self) -> int:
        return _DEEP if self._ewma is not None and self._ewma < _TINY else _SHALLOW

    def _kick(self) -> None:
        if not self._pending:
            return
        depth = self._depth()
        for w in self._workers:
            if w.accepting and len(w.inflight) < depth:
                w.wake.set()

    def _take(self, worker: Worker) -> list[bytes]:
        """Move calls from the queue to ``worker``; return their payloads."""
        payloads: list[bytes] = []
        if worker.accepting:
            room = self._depth() - len(worker.inflight)
            if self._max_tasks is not None:
                room = min(room, self._max_tasks - worker.sent)
            # An even share of the outstanding calls, so that one worker does
            # not queue calls that an idle one could run.
            accepting = [w for w in self._workers if w.accepting]
            outstanding = len(self._pending) + sum(len(w.inflight) for w in accepting)
            share = -(-outstanding // max(1, len(accepting)))
            n = min(room, max(1 if not worker.inflight else 0, share - len(worker.inflight)))
            was_idle = not worker.inflight
            pending = self._pending
            while n > 0 and pending:
                item = pending.popleft()
                if not item.started:
                    if not item.future.set_running_or_notify_cancel():
                        continue
                    item.started = True
                worker.inflight.append(item)
                payloads.append(item.payload)
                n -= 1
            worker.sent += len(payloads)
            if was_idle and worker.inflight:
                worker.new_head()
            if self._max_tasks is not None and worker.sent >= self._max_tasks:
                worker.retiring = True
                if not self._shutdown or self._pending:
                    self._start_worker()
        if worker.retiring:
            worker.stopping = True
        self._stop_idle()
        return payloads

    def _complete(self, worker: Worker, item: WorkItem, data: bytes) -> None:
        """An outcome arrived for ``item``, the oldest call ``worker`` held."""
        now = time.monotonic()
        took = now - worker.head_since
        self._ewma = took if self._ewma is None else 0.8 * self._ewma + 0.2 * took
        worker.new_head()
        ok, value = decode_outcome(data)
        if ok:
            item.future.set_result(value)
        else:
            item.future.set_exception(value)
        self._kick()

    def _undelivered(self, worker: Worker, count: int) -> None:
        """The last ``count`` calls given to ``worker`` never reached it: queue them again."""
        worker.stopping = True
        back = [worker.inflight.pop() for _ in range(min(count, len(worker.inflight)))]
        self._pending.extendleft(back)
        worker.new_head()
        self._kick()

    def _stop_idle(self) -> None:
        if self._shutdown and not self._pending:
            for w in self._workers:
                w.stop()

    def _gone(self, worker: Worker, exitcode: int | None) -> None:
        """``worker`` exited; settle the calls it held and replace it if needed."""
        self._workers.discard(worker)
        held = list(worker.inflight)
        worker.inflight.clear()
        if self._broken is None and not worker.ready:
            if worker.init_error is not None:
                message = f"the pool's initializer raised {worker.init_error!r}"
                self._break(PoolBroken(message), worker.init_error)
            elif not (self._killed or (self._shutdown and worker.stopping)):
                message = f"a worker process could not start (exit code {exitcode})"
                self._break(PoolBroken(message), None)
        if held:
            head, rest = held[0], held[1:]
            if self._broken is not None:
                _fail(head.future, self._broken)
            elif self._killed:
                for item in held:
                    _fail(item.future, WorkerDied("the pool's workers were killed", exitcode))
                rest = []
            elif head is worker.timed_out:
                _fail(head.future, TaskTimeout(f"the task ran longer than {self._task_timeout} seconds"))
            else:
                message = f"the worker running the task died (exit code {exitcode})"
                _fail(head.future, WorkerDied(message, exitcode))
            self._pending.extendleft(reversed(rest))
        if self._broken is not None:
            self._fail_pending(self._broken)
        elif not self._killed and (not self._shutdown or self._pending):
            try:
                self._spawn_workers()
            except PoolBroken:
                pass
        self._kick()
        self._stop_idle()
        if not self._workers:
            self._all_exited.set()

    def _break(self, error: PoolBroken, cause: BaseException | None) -> None:
        error.__cause__ = cause
        self._broken = error
        self._fail_pending(error)
        for w in list(self._workers):
            for item in w.inflight:
                _fail(item.future, error)
            w.inflight.clear()
            w.kill()

    def _fail_pending(self, error: BaseException) -> None:
        while self._pending:
            item = self._pending.popleft()
            if item.started or item.future.set_running_or_notify_cancel():
                _fail(item.future, error)

    def _kill_all(self) -> None:
        self._shutdown = True
        self._killed = True
        while self._pending:
            item = self._pending.popleft()
            if not item.future.cancel():
                _fail(item.future, WorkerDied("the pool was torn down before the task could run"))
        for w in list(self._workers):
            w.stopping = True
            w.kill()


def _fail(fut: Future, error: BaseException) -> None:
    if not fut.done():
        fut.set_exception(error)


def _register_exit_hook() -> None:
    global _exit_hook_registered
    if not _exit_hook_registered:
        _exit_hook_registered = True
        atexit.register(_shut_down_pools_at_exit)


def _shut_down_pools_at_exit() -> None:
    # Exit hooks run last registered first. This one is registered once a
    # worker's pipe exists, so it runs before multiprocessing's hook, which
    # joins every child (and the workers of a pool never shut down would wait
    # for tasks forever), and before weakref.finalize's, which closes the
    # pipes under the pool's feet. Pending tasks finish first, as with
    # concurrent.futures; a wait longer than a second is announced on stderr,
    # and an interrupt (another Ctrl-C) kills every pool's workers and ends
    # the other gipc children before it propagates.
    pools = [pool for pool in list(_live_pools) if pool._pid == os.getpid()]
    try:
        for pool in pools:
            if pool._thread != _real_get_ident():
                pool._kill_all()
                continue
            pool.shutdown(wait=False)
            if not pool._all_exited.wait(_process_exit.NOTICE_AFTER):
                tasks = len(pool._pending) + sum(len(w.inflight) for w in pool._workers)
                _process_exit.notice(f"{tasks} task{'s' if tasks != 1 else ''} of a ProcessPool to finish")
            pool.shutdown(wait=True)
    except KeyboardInterrupt:
        for pool in pools:
            pool._kill_all()
        _process_exit.end_children()
        raise
    except BaseException:  # noqa: BLE001 - at exit, killing is the only option left
        for pool in pools:
            pool._kill_all()
