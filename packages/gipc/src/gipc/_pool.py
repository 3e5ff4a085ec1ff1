"""A gevent-cooperative process pool with the :class:`concurrent.futures.Executor` API.

:class:`ProcessPool` owns the queue of calls, the workers and the pool's
state. Its workers (:mod:`gipc._pool_worker`) carry calls to their child
processes and outcomes to the futures, and report back through the methods
of the :class:`~gipc._pool_worker.WorkerHost` interface; what to do is
decided by the pure functions of :mod:`gipc._pool_core`.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import os
import pickle
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from functools import partial
from types import TracebackType
from typing import Any

import gevent
import gevent.event
from gipc_transport import GIPCError

from ._api import check_callable, check_count, check_seconds, check_start_method
from ._compat import process_exit, real_get_ident
from ._pool_child import run_chunk
from ._pool_core import Pace, batch_size, judge_exit, keeps_workers
from ._pool_worker import Worker, WorkerExit, WorkerSettings, WorkItem, fail_future
from ._result_errors import PoolBroken, PoolClosed, TaskTimeout, WorkerDied
from ._result_future import Future

_live_pools: weakref.WeakSet[ProcessPool] = weakref.WeakSet()
_exit_hook_registered = False


class ProcessPool(Executor):
    """Run calls in a pool of child processes, waited on cooperatively.

    A :class:`concurrent.futures.Executor`: :meth:`submit` returns a
    :class:`Future` that greenlets wait on without blocking the event loop,
    with or without monkey-patching. Each worker is a gipc child process
    connected by a duplex pipe, served by greenlets of this process. Use the
    pool from the thread that created it.

    Faults are contained per task. If a worker dies (killed, ``os._exit()``,
    segfault), the task it was running fails with :class:`WorkerDied`, the
    tasks queued behind it go to other workers and a new worker replaces it:
    the pool stays usable. Only a worker that cannot start (the initializer
    raised, or it died before it was ready) breaks the pool: pending tasks
    fail and :meth:`submit` raises :class:`PoolBroken`. Arguments or return
    values that cannot be pickled fail their own future only.

    :param max_workers: number of worker processes; default ``os.cpu_count()``.
    :param initializer: called with ``initargs`` in each worker when it starts.
    :param initargs: arguments for ``initializer``.
    :param start_method: ``'fork'``, ``'spawn'``, ``'forkserver'`` or ``None``
        for multiprocessing's default.
    :param max_tasks_per_worker: replace a worker after it has run this many tasks.
    :param task_timeout: seconds a task may run; its worker is then killed and
        replaced, and the task fails with :class:`TaskTimeout`.
    :raises TypeError: for a number or start method of the wrong type.
    :raises ValueError: for a non-positive number, an unknown start method or
        an initializer that is not callable.

    .. versionadded:: 2.0
    """

    def __init__(
        self,
        max_workers: int | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        *,
        start_method: str | None = None,
        max_tasks_per_worker: int | None = None,
        task_timeout: float | None = None,
    ) -> None:
        if max_workers is None:
            max_workers = os.cpu_count() or 1
        check_count("max_workers", max_workers)
        check_callable("initializer", initializer)
        check_count("max_tasks_per_worker", max_tasks_per_worker, optional=True)
        check_seconds("task_timeout", task_timeout)
        check_start_method(start_method)
        self._max_workers = max_workers
        self._settings = WorkerSettings(
            initializer, tuple(initargs), start_method, max_tasks_per_worker, task_timeout
        )
        self._thread = real_get_ident()
        self._pid = os.getpid()
        self._pending: collections.deque[WorkItem] = collections.deque()
        self._workers: set[Worker] = set()
        self._names = itertools.count(1)
        self._shutdown = False
        self._broken: PoolBroken | None = None
        # Whether the workers were killed: an interrupted shutdown or exit.
        self._killed = False
        self._pace = Pace()
        self._all_exited = gevent.event.Event()
        self._all_exited.set()
        _live_pools.add(self)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Schedule ``fn(*args, **kwargs)`` in a worker; return its :class:`Future`.

        If ``fn``, ``args`` or ``kwargs`` cannot be pickled, the future fails
        with the pickling error.

        :raises PoolClosed: if the pool is shut down.
        :raises PoolBroken: if a worker could not start.
        :raises GIPCError: if called from another thread than the pool's.
        """
        self._check_usable()
        fut = Future()
        try:
            payload = pickle.dumps((fn, args, kwargs), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - the future carries any pickling error
            fut.set_running_or_notify_cancel()
            fut.set_exception(exc)
            return fut
        # Queued calls already woke the workers that had room; the others get
        # woken when an outcome frees room.
        kick = not self._pending
        self._pending.append(WorkItem(fut, payload))
        if len(self._workers) < self._max_workers:
            self._spawn_workers()
        if kick:
            self._kick()
        return fut

    def map(
        self,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        timeout: float | None = None,
        chunksize: int = 1,
        buffersize: int | None = None,
    ) -> Iterator[Any]:
        """Return an iterator over ``fn`` applied to the items of ``iterables``, in order.

        Calls are submitted right away, ``chunksize`` items per task. The
        iterator waits cooperatively.

        :param timeout: seconds from this call after which ``next()`` raises
            :class:`ResultTimeout` if the next result is not there.
        :param chunksize: items sent to a worker in one task.
        :param buffersize: at most this many tasks submitted ahead of the
            consumer; ``None`` submits them all at once.
        :raises TypeError: if ``chunksize`` or ``buffersize`` is not an ``int``.
        :raises ValueError: if ``chunksize`` or ``buffersize`` is less than 1.
        """
        check_count("chunksize", chunksize)
        check_count("buffersize", buffersize, optional=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = _chunks(zip(*iterables, strict=False), chunksize)
        job = partial(run_chunk, fn)
        futures = collections.deque(self.submit(job, chunk) for chunk in itertools.islice(chunks, buffersize))
        return self._results(futures, chunks, job, deadline)

    def _results(
        self,
        futures: collections.deque[Future],
        chunks: Iterator[list[tuple[Any, ...]]],
        job: Callable[..., Any],
        deadline: float | None,
    ) -> Iterator[Any]:
        try:
            while futures:
                fut = futures.popleft()
                for chunk in itertools.islice(chunks, 1):
                    futures.append(self.submit(job, chunk))
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                yield from fut.result(left)
        finally:
            for f in futures:
                f.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks; workers exit once the pending tasks are done.

        Workers that do not exit within a few seconds of being told to are
        killed. If the wait is interrupted (a :class:`gevent.Timeout`,
        ``KeyboardInterrupt``), every worker is killed before the exception
        propagates, so no child outlives the pool. Bound the tasks themselves
        with ``task_timeout``.

        :param wait: wait cooperatively until every worker has exited.
        :param cancel_futures: cancel the tasks no worker has started.
        """
        self._shutdown = True
        if cancel_futures:
            for item in list(self._pending):
                if not item.started:
                    item.future.cancel()
            self._pending = collections.deque(i for i in self._pending if i.started)
        self._stop_idle()
        if wait and os.getpid() == self._pid and not self._is_own_greenlet():
            try:
                self._all_exited.wait()
            except BaseException:
                self._kill_all()
                raise

    def _is_own_greenlet(self) -> bool:
        # A done-callback runs in a receiver greenlet: waiting there for every
        # worker to exit would wait for itself.
        me = gevent.getcurrent()
        return any(w.serves(me) for w in self._workers)

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None and not issubclass(exc_type, Exception):
            # Left by KeyboardInterrupt, SystemExit, a gevent.Timeout or a
            # killed greenlet: nobody is going to wait for the results.
            self._kill_all()
        self.shutdown(wait=True)

    def __repr__(self) -> str:
        state = "broken" if self._broken else "shut down" if self._shutdown else "running"
        return f"<gipc.ProcessPool max_workers={self._max_workers} workers={len(self._workers)} {state}>"

    # The pool's own bookkeeping.

    def _check_usable(self) -> None:
        if real_get_ident() != self._thread or os.getpid() != self._pid:
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
            worker = Worker(self, f"gipc.ProcessPool-worker-{next(self._names)}", self._settings)
        except Exception as exc:
            self._break(PoolBroken(f"could not start a worker process: {exc}"), exc)
            raise self._broken from exc  # type: ignore[misc]
        self._workers.add(worker)
        self._all_exited.clear()
        _register_exit_hook()

    def _kick(self) -> None:
        if not self._pending:
            return
        depth = self._pace.depth
        for w in self._workers:
            w.offer(depth)

    def _stop_idle(self) -> None:
        if self._shutdown and not self._pending:
            for w in self._workers:
                w.stop()

    def _break(self, error: PoolBroken, cause: BaseException | None) -> None:
        error.__cause__ = cause
        self._broken = error
        self._fail_pending(error)
        for w in list(self._workers):
            w.abandon(error)

    def _fail_pending(self, error: BaseException) -> None:
        while self._pending:
            item = self._pending.popleft()
            if item.started or item.future.set_running_or_notify_cancel():
                fail_future(item.future, error)

    def _kill_all(self) -> None:
        self._shutdown = True
        self._killed = True
        while self._pending:
            item = self._pending.popleft()
            if not item.future.cancel():
                fail_future(item.future, WorkerDied("the pool was torn down before the task could run"))
        for w in list(self._workers):
            w.halt()

    # The WorkerHost interface (see gipc._pool_worker): what the workers ask and report.

    def _calls_for(self, held: int, limit: int | None) -> list[WorkItem]:
        items: list[WorkItem] = []
        if limit != 0:
            pending = self._pending
            accepting = [w for w in self._workers if w.accepting]
            n = batch_size(
                depth=self._pace.depth,
                held=held,
                limit=limit,
                queued=len(pending),
                held_by_all=sum(w.held for w in accepting),
                workers=len(accepting),
            )
            while n > 0 and pending:
                item = pending.popleft()
                if not item.started:
                    if not item.future.set_running_or_notify_cancel():
                        continue
                    item.started = True
                items.append(item)
                n -= 1
        self._stop_idle()
        return items

    def _calls_back(self, items: list[WorkItem]) -> None:
        self._pending.extendleft(reversed(items))
        self._kick()

    def _call_done(self, took: float) -> None:
        self._pace.record(took)
        self._kick()

    def _worker_retired(self) -> None:
        if keeps_workers(shutdown=self._shutdown, queued=len(self._pending)):
            self._start_worker()

    def _worker_exited(self, worker: Worker, report: WorkerExit) -> None:
        self._workers.discard(worker)
        verdict = judge_exit(
            broken=self._broken is not None,
            killed=self._killed,
            shutdown=self._shutdown,
            ready=report.ready,
            init_failed=report.init_error is not None,
            stopping=report.stopping,
            head_timed_out=report.head_timed_out,
        )
        if verdict.breaks == "initializer":
            self._break(PoolBroken(f"the pool's initializer raised {report.init_error!r}"), report.init_error)
        elif verdict.breaks == "start":
            message = f"a worker process could not start (exit code {report.exitcode})"
            self._break(PoolBroken(message), None)
        if report.held:
            head, *rest = report.held
            fail_future(head.future, self._exit_error(verdict.head, report.exitcode))
            if verdict.fails_all:
                for item in rest:
                    fail_future(item.future, self._exit_error(verdict.head, report.exitcode))
            else:
                self._pending.extendleft(reversed(rest))
        if self._broken is not None:
            self._fail_pending(self._broken)
        elif not self._killed and keeps_workers(shutdown=self._shutdown, queued=len(self._pending)):
            try:
                self._spawn_workers()
            except PoolBroken:
                pass
        self._kick()
        self._stop_idle()
        if not self._workers:
            self._all_exited.set()

    def _exit_error(self, kind: str, exitcode: int | None) -> BaseException:
        # A new exception for each call: a raised exception collects its traceback.
        if kind == "broken" and self._broken is not None:
            return self._broken
        if kind == "killed":
            return WorkerDied("the pool's workers were killed", exitcode)
        if kind == "timeout":
            return TaskTimeout(f"the task ran longer than {self._settings.task_timeout} seconds")
        return WorkerDied(f"the worker running the task died (exit code {exitcode})", exitcode)


def _chunks(items: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


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
            if pool._thread != real_get_ident():
                pool._kill_all()
                continue
            pool.shutdown(wait=False)
            with process_exit.woken():  # so that another Ctrl-C is seen at once
                if not pool._all_exited.wait(process_exit.NOTICE_AFTER):
                    tasks = len(pool._pending) + sum(w.held for w in pool._workers)
                    process_exit.notice(f"{tasks} task{'s' if tasks != 1 else ''} of a ProcessPool to finish")
                pool.shutdown(wait=True)
    except KeyboardInterrupt:
        for pool in pools:
            pool._kill_all()
        process_exit.end_children()
        raise
    except BaseException:  # noqa: BLE001 - at exit, killing is the only option left
        for pool in pools:
            pool._kill_all()
