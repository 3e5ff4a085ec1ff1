"""The parent's side of one pool worker: its process, its pipe, its greenlets.

Three greenlets serve a worker. The sender writes batches of calls when the
pool wakes it. The receiver reads outcomes and hands them to the pool, in
order: the worker runs calls one after the other, so the oldest call without
an outcome is the one running. The watcher waits for the process to exit,
then tidies up and tells the pool which calls the worker still held.
"""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Any

import gevent
import gevent.event
from gipc_process import start_process
from gipc_transport import DuplexHandle, GIPCError, pipe

from ._pool_child import pack_batch, worker_main
from ._result import decode_outcome

if TYPE_CHECKING:
    from ._pool_core import PoolCore, WorkItem

# How long a worker that closed its pipe may take to exit before it is killed,
# and how long the receiver may take to read what a dead worker left in the pipe.
EXIT_GRACE = 3.0
DRAIN_GRACE = 1.0


class Worker:
    """One worker process and the greenlets that talk to it."""

    def __init__(self, pool: PoolCore, name: str) -> None:
        self.pool = pool
        self.inflight: collections.deque[WorkItem] = collections.deque()
        self.sent = 0
        self.ready = False
        self.retiring = False
        self.stopping = False
        self.dead = False
        self.init_error: BaseException | None = None
        self.timed_out: WorkItem | None = None
        self.head_since = 0.0
        self._timer: Any = None
        self.wake = gevent.event.Event()
        ours, theirs = pipe(duplex=True, encoder=None, decoder=None)
        try:
            self.process = start_process(
                worker_main,
                args=(theirs, pool._initializer, pool._initargs),
                name=name,
                start_method=pool._start_method,
            )
        except BaseException:
            for end in (ours, theirs):
                if not end.closed:
                    end.close()
            raise
        self.conn: DuplexHandle = ours
        self.sender = gevent.spawn(self._send)
        self.receiver = gevent.spawn(self._receive)
        self.watcher = gevent.spawn(self._watch)

    @property
    def accepting(self) -> bool:
        return not (self.retiring or self.stopping or self.dead)

    def stop(self) -> None:
        """Send no more calls; the worker exits once it has run those it holds."""
        if not self.stopping:
            self.stopping = True
            self.wake.set()

    def kill(self) -> None:
        if not self.dead and self.process.is_alive():
            self.process.kill()

    def new_head(self) -> None:
        """The oldest call held changed: restart its clock."""
        self.head_since = time.monotonic()
        timeout = self.pool._task_timeout
        if timeout is None:
            return
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        if self.ready and self.inflight and not self.dead:
            self._timer = gevent.get_hub().loop.timer(timeout)
            self._timer.start(self._expire, self.inflight[0])

    def _expire(self, item: WorkItem) -> None:
        if self.inflight and self.inflight[0] is item and not self.dead:
            self.timed_out = item
            self.kill()

    def _send(self) -> None:
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                if self.dead:
                    return
                payloads = self.pool._take(self)
                if payloads:
                    try:
                        self.conn.put(pack_batch(payloads))
                    except (GIPCError, OSError):
                        # Nobody reads the pipe any more: the worker never got these.
                        self.pool._undelivered(self, len(payloads))
                        raise
                if self.stopping:
                    self.conn.put(b"")
                    return
        except (GIPCError, OSError):
            # The worker is gone; the watcher settles its calls.
            return

    def _receive(self) -> None:
        try:
            ok, value = decode_outcome(self.conn.get())
            if not ok:
                self.init_error = value
                return
            self.ready = True
            if self.inflight:
                self.new_head()
            while True:
                data = self.conn.get()
                item = self.inflight.popleft()
                self.pool._complete(self, item, data)
        except (EOFError, GIPCError, OSError):
            pass
        finally:
            if self.process.is_alive():
                self.process.join(EXIT_GRACE)
                self.kill()

    def _watch(self) -> None:
        self.process.join()
        self.dead = True
        # A grandchild may hold the pipe open: do not wait for end of file forever.
        self.receiver.join(DRAIN_GRACE)
        self.receiver.kill()
        self.sender.kill()
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self.conn.close()
        exitcode = self.process.exitcode
        self.process.close()
        self.pool._gone(self, exitcode)
