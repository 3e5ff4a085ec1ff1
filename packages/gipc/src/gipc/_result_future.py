"""A :class:`concurrent.futures.Future` that greenlets can wait on.

The standard future waits on a :class:`threading.Condition`. Without
monkey-patching that blocks the whole thread, hub included, so the greenlets
that would complete the future never run. This one waits on a
:class:`gevent.event.Event` when asked from the thread whose hub completes
it, and plugs the same kind of event into the waiters that
:func:`concurrent.futures.wait` and :func:`~concurrent.futures.as_completed`
install, so those cooperate too.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import gevent
import gevent.event

from ._compat import future_is_done, real_get_ident, replace_future_waiters
from ._result_errors import ResultTimeout


class _CooperativeEvent:
    """Stands in for the :class:`threading.Event` of a ``concurrent.futures`` waiter.

    Waited on in the hub's thread, set from it or, for futures of other
    executors, from any thread.
    """

    __slots__ = ("_event", "_thread", "_hub")

    def __init__(self, thread: int, hub: Any) -> None:
        self._event = gevent.event.Event()
        self._thread = thread
        self._hub = hub

    def set(self) -> None:
        if real_get_ident() == self._thread:
            self._event.set()
        else:
            self._hub.loop.run_callback_threadsafe(self._event.set)

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return bool(self._event.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        return bool(self._event.wait(timeout))


class _Waiters(list):  # type: ignore[type-arg]
    """The future's waiter list: cooperative events for waits from the hub's thread."""

    __slots__ = ("_thread", "_hub")

    def __init__(self, thread: int, hub: Any) -> None:
        super().__init__()
        self._thread = thread
        self._hub = hub

    def append(self, waiter: Any) -> None:
        event = getattr(waiter, "event", None)
        if (
            event is not None
            and not isinstance(event, _CooperativeEvent)
            and real_get_ident() == self._thread
        ):
            replacement = _CooperativeEvent(self._thread, self._hub)
            if event.is_set():
                replacement.set()
            waiter.event = replacement
        super().append(waiter)


class Future(concurrent.futures.Future):  # type: ignore[type-arg]
    """The result of a call running in a child process.

    A :class:`concurrent.futures.Future` whose :meth:`result` and
    :meth:`exception` block only the calling greenlet, with or without
    monkey-patching; :func:`concurrent.futures.wait` and
    :func:`concurrent.futures.as_completed` cooperate too. Waits from another
    thread fall back to the standard blocking wait. Done-callbacks run in the
    greenlet that completes the future: they should be quick and not block.

    Created by :meth:`ProcessPool.submit`; not meant to be created directly.

    .. versionadded:: 2.0
    """

    def __init__(self) -> None:
        super().__init__()
        self._gipc_thread = real_get_ident()
        self._gipc_hub = gevent.get_hub()
        self._gipc_done = gevent.event.Event()
        replace_future_waiters(self, _Waiters(self._gipc_thread, self._gipc_hub))

    def _gipc_mark_done(self) -> None:
        if real_get_ident() == self._gipc_thread:
            self._gipc_done.set()
        else:
            self._gipc_hub.loop.run_callback_threadsafe(self._gipc_done.set)

    def _gipc_wait(self, timeout: float | None) -> None:
        # Done-callbacks run before the event is set: a callback asking for
        # the result must not wait for it.
        if future_is_done(self):
            return
        if not self._gipc_done.wait(timeout):
            raise ResultTimeout(f"no result within {timeout} seconds; the task goes on")

    def cancel(self) -> bool:
        """Cancel the call if it has not started; return ``True`` if it is cancelled."""
        cancelled = super().cancel()
        if cancelled:
            self._gipc_mark_done()
        return cancelled

    def set_result(self, result: Any) -> None:
        super().set_result(result)
        self._gipc_mark_done()

    def set_exception(self, exception: BaseException | None) -> None:
        super().set_exception(exception)
        self._gipc_mark_done()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the call to finish and return its value or raise its exception.

        An exception raised in the child has the child's traceback attached as
        a :class:`RemoteTraceback` ``__cause__``.

        :param timeout: seconds to wait at most; ``None`` waits as long as it takes.
        :raises ResultTimeout: if the call did not finish within ``timeout``.
        :raises concurrent.futures.CancelledError: if the future was cancelled.
        """
        if real_get_ident() != self._gipc_thread:
            return super().result(timeout)
        self._gipc_wait(timeout)
        return super().result(0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """Wait for the call to finish and return its exception, or ``None``.

        :param timeout: seconds to wait at most; ``None`` waits as long as it takes.
        :raises ResultTimeout: if the call did not finish within ``timeout``.
        :raises concurrent.futures.CancelledError: if the future was cancelled.
        """
        if real_get_ident() != self._gipc_thread:
            return super().exception(timeout)
        self._gipc_wait(timeout)
        return super().exception(0)
