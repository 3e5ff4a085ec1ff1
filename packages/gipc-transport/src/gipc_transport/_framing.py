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
import os
from typing import Any

from . import _wire
from ._body import Body
from ._codecs import Decoder, default_decoder
from ._errors import GIPCBroken, GIPCClosedUnderneath, GIPCMessageTooLarge, GIPCTruncated
from ._handles import READ, Handle


class FrameReader(Handle):
    """The state machine below :class:`~gipc_transport.Reader`: frames in, messages out."""

    _direction = READ
    _decoder: Decoder
    _max: int | None

    def _setup(self) -> None:
        self._ring = bytearray(0)
        self._view = memoryview(self._ring)
        self._start = 0
        self._end = 0
        # Set by a duplex handle that sent a request: the next get() waits
        # for the reply before trying to read it.
        self._reply_due = False
        # Adaptive polling before a wait (see Reader._spin_for_data).
        self._spin_skip = 0
        self._spin_backoff = 0
        # Set once the program has taken the descriptor (fileno()): it may
        # select() on it, which only works if no whole frame sits in the
        # buffer unseen, so reads stop at the end of the current frame.
        self._exact = False
        # A large frame being received.
        self._body: Body | None = None
        # A PICKLE5 message waiting for its buffers: body, count, buffers, size,
        # and whether unpickling copies the buffers.
        self._msg: tuple[bytes | bytearray, int, list[Any], int, bool] | None = None
        # Watchers of poll() calls under way.
        self._pollers: set[Any] = set()

    def _frame_buffered(self) -> bool:
        avail = self._end - self._start
        if avail < _wire.HEADER_SIZE or self._body is not None or self._msg is not None:
            return False
        (h,) = _wire.HEADER.unpack_from(self._ring, self._start)
        length: int = h & _wire.LENGTH_MASK
        return (h >> _wire.KIND_SHIFT) == _wire.DATA and avail - _wire.HEADER_SIZE >= length

    def _receive(self, deadline: float | None) -> tuple[int, Any, list[Any]]:
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
                copies = bool(count & _wire.COPIED)
                count &= ~_wire.COPIED
                if count == 0:
                    return kind, body, []
                self._msg = (body, count, [], len(body), copies)
                continue
            if kind != _wire.BUFFER:
                raise self._break(GIPCBroken(f"corrupt stream on {self!r}: frame kind {kind} in a message"))
            stream, count, buffers, size, copies = msg
            buffers.append(body)
            if len(buffers) < count:
                self._msg = (stream, count, buffers, size + len(body), copies)
                continue
            self._msg = None
            return _wire.PICKLE5, stream, buffers

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
            start = self._start
            avail = self._end - start
            need = _wire.HEADER_SIZE
            if avail >= need:
                (h,) = _wire.HEADER.unpack_from(self._ring, start)
                kind = h >> _wire.KIND_SHIFT
                n = h & _wire.LENGTH_MASK
                self._check_size(n)
                if n <= _wire.SMALL:
                    need += n
                    if avail >= need:
                        self._start = start + need
                        if self._start == self._end:
                            self._start = self._end = 0
                        begin = start + _wire.HEADER_SIZE
                        if self._wants_bytes(kind):
                            return kind, self._view[begin : begin + n].tobytes()
                        return kind, self._ring[begin : begin + n]
                else:
                    self._begin_body(kind, n)
                    continue
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
            return self._decoder is not default_decoder
        msg = self._msg
        return kind == _wire.BUFFER and msg is not None and msg[4]

    def _check_size(self, n: int) -> None:
        limit = self._max
        if limit is None:
            return
        size = n + (self._msg[3] if self._msg is not None else 0)
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
        assert self._fd is not None
        try:
            return os.readv(self._fd, (view,))
        except BlockingIOError:
            return None
        except OSError as exc:
            if exc.errno == errno.EBADF:
                raise GIPCClosedUnderneath(errno.EBADF, f"{self!r}: descriptor closed underneath") from None
            raise

    def _transfer_state(self) -> dict[str, Any]:
        # Bytes already read ahead and a half-received message belong to the
        # next messages: they travel with the handle.
        body = None
        if self._body is not None:
            b = self._body
            body = (b.kind, b.length, b.as_bytes, b.received())
        return {
            "decoder": self._decoder,
            "max": self._max,
            "ahead": self._view[self._start : self._end].tobytes(),
            "body": body,
            "msg": self._msg,
        }

    def _restore_state(self, state: dict[str, Any]) -> None:
        self._decoder = state["decoder"]
        self._max = state["max"]
        self._setup()
        ahead = state["ahead"]
        if ahead:
            self._ring = bytearray(max(_wire.RING, len(ahead)))
            self._view = memoryview(self._ring)
            self._view[: len(ahead)] = ahead
            self._end = len(ahead)
        if state["body"] is not None:
            kind, length, as_bytes, data = state["body"]
            self._body = Body(kind, length, as_bytes, data)
        self._msg = state["msg"]
