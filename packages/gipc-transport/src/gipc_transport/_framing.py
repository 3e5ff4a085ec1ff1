"""Frame assembly for the read end: read-ahead, large bodies, partial messages.

Bytes are read in large chunks into a read-ahead buffer and as many frames
are parsed out of it as it holds. A large body is read with ``readinto``
straight into the object that becomes the message (see ``_body``), which
grows only as data arrives. Input is consumed only when a whole frame is
parsed and partial state lives on the handle, so a ``get()`` interrupted at
any point (timeout, ``greenlet.kill()``) is resumed by the next one.
"""

from __future__ import annotations

import errno
from typing import Any

from . import _wire
from ._body import Body
from ._errors import GIPCBroken, GIPCClosedUnderneath, GIPCMessageTooLarge, GIPCTruncated
from ._handles import READ, Handle
from ._pipes import readv


class PendingMessage:
    """A PICKLE5 message whose out-of-band buffers are still arriving."""

    __slots__ = ("buffers", "copies", "count", "size", "stream")

    def __init__(self, stream: bytes | bytearray, count: int, copies: bool) -> None:
        #: The PICKLE5 body (count prefix included).
        self.stream = stream
        #: How many BUFFER frames belong to it.
        self.count = count
        #: The BUFFER bodies received so far.
        self.buffers: list[Any] = []
        #: The message length so far, checked against ``max_message_size``.
        self.size = len(stream)
        #: Whether unpickling copies the buffers (so they may be ``bytes``).
        self.copies = copies

    def add(self, buffer: Any) -> bool:
        """Add a received buffer; return whether the message is complete."""
        self.buffers.append(buffer)
        self.size += len(buffer)
        return len(self.buffers) == self.count


class FrameReader(Handle):
    """The frame parser below :class:`~gipc_transport.Reader`: bytes in, frames and messages out.

    It owns the read-ahead buffer (``_ring`` and its view, the parsed
    ``_start`` and filled ``_end``), a large body being received (``_body``)
    and a PICKLE5 message waiting for its buffers (``_msg``). The reader's
    fast path takes small DATA frames out of the buffer itself.
    """

    _direction = READ

    def __init__(self, fd: int, max_message_size: int | None, data_as_bytes: bool) -> None:
        super().__init__(fd)
        self._max = max_message_size
        # Whether a DATA body is to be handed over as bytes (see _wants_bytes).
        self._data_as_bytes = data_as_bytes
        # Allocated on first read: a reader may never be read from here.
        self._ring = bytearray(0)
        self._view = memoryview(self._ring)
        self._start = 0
        self._end = 0
        # Set once the program has taken the descriptor (fileno(), _fd): it
        # may select() on it, which only works if no whole frame sits in the
        # buffer unseen, so reads stop at the end of the current frame.
        self._exact = False
        self._body: Body | None = None
        self._msg: PendingMessage | None = None

    def _header(self) -> tuple[int, int] | None:
        """Return the kind and body length of the frame at the read position, if its header is buffered.

        The one place that parses a header, but for the reader's fast path,
        which takes a small DATA frame (kind 0: the header is the length).
        """
        start = self._start
        if self._end - start < _wire.HEADER_SIZE:
            return None
        (h,) = _wire.HEADER.unpack_from(self._ring, start)
        return h >> _wire.KIND_SHIFT, h & _wire.LENGTH_MASK

    def _frame_buffered(self) -> bool:
        """Whether a whole message is in the read-ahead buffer."""
        if self._body is not None or self._msg is not None:
            return False
        header = self._header()
        if header is None:
            return False
        kind, length = header
        return kind == _wire.DATA and self._end - self._start - _wire.HEADER_SIZE >= length

    def _receive(self, deadline: float | None) -> tuple[int, Any, list[Any]]:
        """Return the next message as its kind, body and out-of-band buffers."""
        while True:
            kind, body = self._frame(deadline)
            msg = self._msg
            if msg is None:
                if kind == _wire.DATA:
                    return kind, body, []
                if kind != _wire.PICKLE5:
                    raise self._break(GIPCBroken(f"corrupt stream on {self!r}: unexpected frame kind {kind}"))
                if len(body) < _wire.COUNT.size:
                    raise self._break(GIPCBroken(f"corrupt stream on {self!r}: short PICKLE5 frame"))
                (count,) = _wire.COUNT.unpack_from(body)
                if count & ~_wire.COPIED == 0:
                    return kind, body, []
                self._msg = PendingMessage(body, count & ~_wire.COPIED, bool(count & _wire.COPIED))
                continue
            if kind != _wire.BUFFER:
                raise self._break(GIPCBroken(f"corrupt stream on {self!r}: frame kind {kind} in a message"))
            if msg.add(body):
                self._msg = None
                return _wire.PICKLE5, msg.stream, msg.buffers

    def _frame(self, deadline: float | None) -> tuple[int, Any]:
        """Return the next complete frame, reading as much as it takes."""
        while True:
            body = self._body
            if body is not None:
                if body.complete:
                    self._body = None
                    return body.kind, body.result()
                self._fill_body(body, deadline)
                continue
            need = _wire.HEADER_SIZE
            header = self._header()
            if header is not None:
                kind, n = header
                if self._max is not None:
                    self._check_size(n)
                if n > _wire.SMALL:
                    self._begin_body(kind, n)
                    continue
                need += n
                start = self._start
                if self._end - start >= need:
                    self._start = start + need
                    if self._start == self._end:
                        self._start = self._end = 0
                    begin = start + _wire.HEADER_SIZE
                    if self._data_as_bytes if kind == _wire.DATA else self._wants_bytes(kind):
                        return kind, self._view[begin : begin + n].tobytes()
                    return kind, self._ring[begin : begin + n]
            self._fill_ring(need, deadline)

    def _wants_bytes(self, kind: int) -> bool:
        """Whether the body of a frame of ``kind`` is to be received as ``bytes``.

        Decoders other than pickle take bytes, and so does a pickled top-level
        bytes object, which unpickles to the very buffer it is given if that is
        bytes. Every other body stays a bytearray: a pickle stream, a buffer
        that unpickles in place, and the frames of a pickle-5 message that a
        decoder other than pickle refuses anyway (copying those is wasted).
        """
        if kind == _wire.DATA:
            return self._data_as_bytes
        msg = self._msg
        return kind == _wire.BUFFER and msg is not None and msg.copies

    def _check_size(self, n: int) -> None:
        limit = self._max
        assert limit is not None
        size = n + (self._msg.size if self._msg is not None else 0)
        if size > limit:
            raise self._break(
                GIPCMessageTooLarge(
                    f"{self!r} received the header of a message of at least {size} bytes, more than "
                    f"max_message_size={limit}; the reader is broken, the rest of the stream is unusable"
                )
            )

    def _begin_body(self, kind: int, n: int) -> None:
        start = self._start + _wire.HEADER_SIZE
        take = min(self._end - start, n)
        self._body = Body(kind, n, self._wants_bytes(kind), self._view[start : start + take])
        self._start = start + take
        if self._start == self._end:
            self._start = self._end = 0

    def _fill_body(self, body: Body, deadline: float | None) -> None:
        view = body.space()
        try:
            got = self._read_into(view)
        finally:
            view.release()
        if got is None:
            self._wait(deadline, "get()")
        elif got == 0:
            raise self._truncated(body.fill + _wire.HEADER_SIZE, body.length + _wire.HEADER_SIZE)
        else:
            body.fill += got

    def _fill_ring(self, need: int, deadline: float | None) -> None:
        if not self._ring:
            self._ring = bytearray(_wire.RING)
            self._view = memoryview(self._ring)
        start, end = self._start, self._end
        if start and (start + need > _wire.RING or _wire.RING - end < _wire.SMALL // 4):
            self._view[: end - start] = self._view[start:end]
            self._start, self._end = 0, end - start
        limit = self._start + need if self._exact else _wire.RING
        got = self._read_into(self._view[self._end : max(limit, self._end + 1)])
        if got is None:
            self._wait(deadline, "get()")
        elif got == 0:
            avail = self._end - self._start
            if avail or self._msg is not None:
                raise self._truncated(avail, need)
            raise EOFError(f"the writing end of {self!r} was closed")
        else:
            self._end += got

    def _truncated(self, have: int, need: int) -> GIPCTruncated:
        exc = GIPCTruncated(
            f"the writer of {self!r} went away in the middle of a message "
            f"({have} of {need} bytes of a frame arrived); the message is lost"
        )
        self._break(exc)
        return exc

    def _read_into(self, view: memoryview) -> int | None:
        assert self._descriptor is not None
        try:
            return readv(self._descriptor, (view,))
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise GIPCClosedUnderneath(errno.EBADF, f"{self!r}: descriptor closed underneath") from None
            raise

    def _carried_frames(self) -> tuple[Any, ...]:
        """What a child needs to continue the stream where this reader is (see :meth:`_resume`)."""
        # Bytes already read ahead and a half-received message belong to the
        # next messages: they travel with the handle.
        body = None
        if self._body is not None:
            b = self._body
            body = (b.kind, b.length, b.as_bytes, b.received())
        return (self._view[self._start : self._end].tobytes(), body, self._msg)

    def _resume(
        self, ahead: bytes, body: tuple[int, int, bool, bytes] | None, msg: PendingMessage | None
    ) -> None:
        """In a child: continue the stream with what :meth:`_carried_frames` returned in the parent."""
        if ahead:
            self._ring = bytearray(max(_wire.RING, len(ahead)))
            self._view = memoryview(self._ring)
            self._view[: len(ahead)] = ahead
            self._end = len(ahead)
        if body is not None:
            self._body = Body(*body)
        self._msg = msg
