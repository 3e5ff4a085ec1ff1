"""A gevent-cooperative process pool with the :class:`concurrent.futures.Executor` API."""

from __future__ import annotations

import collections
import itertools
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from types import TracebackType
from typing import Any

import gevent

from ._pool_child import run_chunk
from ._pool_core import PoolCore, WorkItem
from ._result_future import Future


class ProcessPool(PoolCore):
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
        if max_workers <= 0:
            raise ValueError(f"max_workers must be greater than 0, not {max_workers}")
        if initializer is not None and not callable(initializer):
            raise ValueError(f"initializer must be callable, not {initializer!r}")
        if max_tasks_per_worker is not None and max_tasks_per_worker <= 0:
            raise ValueError(f"max_tasks_per_worker must be greater than 0, not {max_tasks_per_worker}")
        if task_timeout is not None and task_timeout <= 0:
            raise ValueError(f"task_timeout must be greater than 0, not {task_timeout}")
        if start_method is not None:
            multiprocessing.get_context(start_method)
        super().__init__(
            max_workers, initializer, tuple(initargs), start_method, max_tasks_per_worker, task_timeout
        )

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
        :raises ValueError: if ``chunksize`` or ``buffersize`` is less than 1.
        """
        if chunksize < 1:
            raise ValueError(f"chunksize must be 1 or more, not {chunksize}")
        if buffersize is not None and buffersize < 1:
            raise ValueError(f"buffersize must be 1 or more, not {buffersize}")
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = _chunks(zip(*iterables, strict=False), chunksize)
        job = partial(run_chunk, fn)
        futures = collections.deque(
            self.submit(job, chunk) for chunk in itertools.islice(chunks, buffersize)
        )
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
        return any(me in (w.sender, w.receiver, w.watcher) for w in self._workers)

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


def _chunks(items: Iterator[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


ProcessPool.__module__ = "gipc"
