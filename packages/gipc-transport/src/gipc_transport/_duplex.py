"""Pairs of handles: the ``(reader, writer)`` tuple and the duplex handle."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any

from ._errors import GIPCClosed
from ._reader import Reader
from ._writer import Writer


class HandlePair(tuple):  # type: ignore[type-arg]
    """A 2-tuple of handles that closes both on context exit.

    The second element is closed first: it is the writer of a simplex pair,
    and closing the writer first lets a reader on the other side see EOF.
    """

    def __enter__(self) -> HandlePair:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self[1].__exit__(exc_type, exc, tb)
        finally:
            self[0].__exit__(exc_type, exc, tb)


class DuplexHandle:
    """One end of a bidirectional channel: a reader and a writer on two pipes.

    Created by ``pipe(duplex=True)``. Reading and writing are independent:
    one greenlet may wait in :meth:`get` while another one calls :meth:`put`.
    """

    def __init__(self, reader: Reader, writer: Writer) -> None:
        self._reader = reader
        self._writer = writer
        self._links: dict[Callable[[Any], Any], Callable[[Any], None]] = {}

    def get(self, timeout: Any = None) -> Any:
        """Receive one message from the other end (see :meth:`Reader.get`)."""
        msg = self._reader.get(timeout)
        # A reply that was already read ahead: the next get() awaits no reply.
        self._reader._expect_reply(False)
        return msg

    def put(self, obj: Any, timeout: Any = None) -> None:
        """Send one message to the other end (see :meth:`Writer.put`)."""
        self._writer.put(obj, timeout)
        self._reader._expect_reply()

    def poll(self, timeout: float | None = None) -> bool:
        """Return whether a message can be received (see :meth:`Reader.poll`).

        .. versionadded:: 2.0
        """
        return self._reader.poll(timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Finish sending an interrupted message (see :meth:`gipc_transport.Writer.flush`).

        .. versionadded:: 2.0
        """
        self._writer.flush(timeout)

    def fileno(self) -> int:
        """Return the descriptor of the receiving direction, for ``select``-like APIs.

        .. versionadded:: 2.0
        """
        return self._reader.fileno()

    def rawlink(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(self)`` once a message can be received (gevent's wait protocol).

        .. versionadded:: 2.0
        """
        self.unlink(callback)

        def relay(_: Any) -> None:
            callback(self)

        self._links[callback] = relay
        self._reader.rawlink(relay)

    def unlink(self, callback: Callable[[Any], Any]) -> None:
        """Undo :meth:`rawlink`.

        .. versionadded:: 2.0
        """
        relay = self._links.pop(callback, None)
        if relay is not None:
            self._reader.unlink(relay)

    def __iter__(self) -> Iterator[Any]:
        """Yield received messages until the other end closes its writer."""
        return iter(self._reader)

    @property
    def closed(self) -> bool:
        """``True`` once both directions are closed."""
        return self._reader.closed and self._writer.closed

    def handles(self) -> tuple[Reader, Writer]:
        """Return the underlying ``(reader, writer)``."""
        return self._reader, self._writer

    def close(self) -> None:
        """Close both directions.

        :raises GIPCClosed: if both were closed before.
        """
        if self.closed:
            raise GIPCClosed(f"{self!r} is closed")
        if not self._writer.closed:
            self._writer.close()
        if not self._reader.closed:
            self._reader.close()

    def __enter__(self) -> DuplexHandle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # As in gipc 1.x: the reader is closed even if closing the writer
        # fails (GIPCLocked), and the writer's error is raised afterwards.
        try:
            self._writer.__exit__(exc_type, exc, tb)
        finally:
            self._reader.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<gipc_transport.DuplexHandle reader={self._reader!r} writer={self._writer!r}>"
