"""The read end: framing, read-ahead and resumable message assembly.

Bytes are read in large chunks into a read-ahead buffer and as many frames
are parsed out of it as it holds. A large body is read into a buffer of its
own with ``readinto``, which grows only as data arrives. Input is consumed
only when a whole frame is parsed, and partial state is kept on the handle,
so a ``get()`` interrupted at any point (timeout, ``greenlet.kill()``) is
simply resumed by the next one.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from pickle import loads as _loads
from typing import Any

import gevent
from gevent import get_hub

from . import _wire
from ._codecs import Decoder, decode_pickle5, default_decoder
from ._errors import GIPCBroken, GIPCClosed, GIPCError, GIPCMessageTooLarge, GIPCTruncated
from ._handles import PID as _PID
from ._handles import READ, Handle, start_deadline

_HEADER_SIZE = _wire.HEADER_SIZE
_SMALL = _wire.SMALL
_unpack_header = _wire.HEADER.unpack_from


class Reader(Handle):
    """The read end of a pipe: :meth:`get` returns one message at a time.

    Iterating over a reader yields messages until the writer closes its end.
    A reader reads ahead: after a :meth:`get`, further messages may already
    sit in its buffer while the descriptor reports nothing to read, so ask
    :meth:`poll` (or wait with :func:`gevent.wait`, which a reader supports)
    rather than ``select()`` on :meth:`fileno` alone.

    :param fd: the read end of a pipe; the handle owns it from now on.
    :param decoder: turns message bytes into an object.
    :param max_message_size: refuse messages longer than this many bytes.

    .. versionchanged:: 2.0
       ``max_message_size``, :meth:`poll`, iteration, ``get(timeout=seconds)``.
    """

    _direction = READ

    def __init__(self, fd: int, decoder: Decoder, max_message_size: int | None = None) -> None:
        super().__init__(fd)
        self._decoder = decoder
        self._max = max_message_size
        self._setup()

    def _setup(self) -> None:
        self._ring = bytearray(0)
        self._view = memoryview(self._ring)
        self._start = 0
        self._end = 0
        # A large frame being received: kind, announced length, body so far.
        self._body_kind = 0
        self._body_len = 0
        self._body: bytearray | None = None
        self._body_fill = 0
        # Bodies that are copied when decoded are read into a buffer kept from
        # message to message: fresh memory is costly (page faults), reused is not.
        self._scratch: bytearray | None = None
        self._body_scratch = False
        self._lent: tuple[bytearray, memoryview] | None = None
        # A PICKLE5 message waiting for its buffers: body, count, buffers, size,
        # and whether unpickling copies the buffers.
        self._msg: tuple[bytes | bytearray, int, list[Any], int, bool] | None = None
        self._links: dict[Callable[[Any], Any], Any] = {}

    def get(self, timeout: Any = None) -> Any:
        """Receive one message, decode it and return it.

        Blocks the calling greenlet only; other greenlets keep running, and
        several greenlets may call ``get()`` at once: each receives whole
        messages.

        :param timeout: ``None`` to wait as long as needed; a number of seconds,
            the deadline for receiving the whole message; or (the gipc 1.x form)
            a started :class:`gevent.Timeout`, which is cancelled as soon as the
            first byte of a message is available.
        :returns: the decoded message.
        :raises EOFError: if the writer was closed and no message is pending.
        :raises GIPCTimeout: if ``timeout`` seconds passed; nothing is lost, the
            next ``get()`` continues with the same message.
        :raises GIPCTruncated: if the writer went away in the middle of a message.
        :raises GIPCMessageTooLarge: if a message exceeds ``max_message_size``
            (the reader is broken then).
        :raises GIPCBroken: if an earlier error left the reader unusable.
        :raises GIPCClosed: if this handle is closed.
        """
        if self._closed or self._broken is not None or _PID[0] != self._legit_pid:
            self._validate()
        if timeout is None and self._msg is None and self._body is None and not self._lock.locked():
            # Fast path for a small message already read ahead: no greenlet
            # switch can happen here, so there is nobody to exclude.
            start = self._start
            avail = self._end - start - _HEADER_SIZE
            if avail >= 0:
                # For a DATA frame the header is the length itself.
                (n,) = _unpack_header(self._ring, start)
                if n <= avail and n <= _SMALL and (self._max is None or n <= self._max):
                    begin = start + _HEADER_SIZE
                    self._start = begin + n
                    if self._start == self._end:
                        self._start = self._end = 0
                    if self._decoder is default_decoder:
                        return _loads(self._ring[begin : begin + n])
                    return self._decoder(self._view[begin : begin + n].tobytes())
        deadline, legacy = start_deadline(timeout)
        self._acquire(deadline, "get()")
        try:
            if legacy is not None:
                if self._start == self._end and self._body is None and self._msg is None:
                    self._wait(None, "get()")
                legacy.cancel()
            kind, body, buffers = self._receive(deadline)
            lent, self._lent = self._lent, None
        finally:
            self._lock.release()
        if lent is None:
            return self._decode(kind, body, buffers)
        try:
            return self._decode(kind, body, buffers)
        finally:
            # Unpickling and bytes() copied what they needed: the buffer can
            # serve the next message, unless someone still holds a view of it.
            scratch, view = lent
            del body, buffers
            try:
                view.release()
            except BufferError:
                pass
            else:
                if self._scratch is None and len(scratch) <= _wire.BODY_MAX_STEP:
                    self._scratch = scratch

    def _decode(self, kind: int, body: Any, buffers: list[Any]) -> Any:
        if kind == _wire.DATA:
            if self._decoder is default_decoder:
                return _loads(body)
            # Other decoders get bytes, as in gipc 1.x: the one copy a large
            # message costs, because bytes cannot be read into in place.
            return self._decoder(body if type(body) is bytes else bytes(body))
        if self._decoder is not default_decoder:
            raise GIPCError(
                f"{self!r} received a message in gipc's out-of-band pickle format, which only "
                "decoder='default' reads; the message was skipped"
            )
        return decode_pickle5(body, buffers)

    def poll(self, timeout: float | None = None) -> bool:
        """Return whether a message (or the end of the stream) is ready to be received.

        ``True`` means that a whole message is buffered or that the pipe has
        data or EOF to read; the rest of a long message may still be on its way.

        :param timeout: seconds to wait at most; ``None`` waits as long as needed.
        :raises GIPCClosed: if this handle is closed.

        .. versionadded:: 2.0
        """
        self._validate()
        if self._frame_buffered():
            return True
        hub = get_hub()
        assert self._fd is not None
        watcher = hub.loop.io(self._fd, READ)
        timer = gevent.Timeout(timeout, False)
        timer.start()
        try:
            hub.wait(watcher)
        except gevent.Timeout as t:
            if t is not timer:
                raise
            return False
        finally:
            timer.close()
            watcher.close()
        return True

    def __iter__(self) -> Iterator[Any]:
        """Yield messages until the writer closes its end."""
        while True:
            try:
                yield self.get()
            except EOFError:
                return

    def rawlink(self, callback: Callable[[Any], Any]) -> None:
        """Call ``callback(self)`` once when :meth:`poll` would return ``True``.

        This is gevent's wait protocol: it makes readers usable with
        :func:`gevent.wait` and :func:`gevent.iwait`.

        .. versionadded:: 2.0
        """
        self._validate()
        self.unlink(callback)
        loop = get_hub().loop
        if self._frame_buffered():
            self._links[callback] = loop.run_callback(callback, self)
            return
        assert self._fd is not None
        watcher = loop.io(self._fd, READ)

        def ready() -> None:
            self._links.pop(callback, None)
            watcher.close()
            callback(self)

        watcher.start(ready)
        self._links[callback] = watcher

    def unlink(self, callback: Callable[[Any], Any]) -> None:
        """Undo :meth:`rawlink`.

        .. versionadded:: 2.0
        """
        link = self._links.pop(callback, None)
        if link is not None:
            link.stop()
            if hasattr(link, "close"):
                link.close()

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
            if self._body is not None:
                if self._body_fill == self._body_len:
                    body, self._body = self._body, None
                    if not self._body_scratch:
                        return self._body_kind, body
                    view = memoryview(body)[: self._body_len]
                    self._lent = (body, view)
                    return self._body_kind, view
                self._fill_body(deadline)
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
                        if self._decoder is default_decoder:
                            return kind, self._ring[begin : begin + n]
                        return kind, self._view[begin : begin + n].tobytes()
                else:
                    self._begin_body(kind, n)
                    continue
            self._fill_ring(need, deadline)

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
        size = min(n, max(take, _wire.BODY_START))
        msg = self._msg
        reuse = kind == _wire.DATA or (kind == _wire.BUFFER and msg is not None and msg[4])
        if reuse:
            body = self._scratch if self._scratch is not None else bytearray(0)
            self._scratch = None
            if len(body) < size:
                body.extend(bytes(size - len(body)))
        else:
            body = bytearray(size)
        self._body_scratch = reuse
        body[:take] = self._view[start : start + take]
        self._start = start + take
        if self._start == self._end:
            self._start = self._end = 0
        self._body_kind, self._body_len, self._body, self._body_fill = kind, n, body, take

    def _fill_body(self, deadline: float | None) -> None:
        body = self._body
        assert body is not None
        fill = self._body_fill
        if fill == len(body):
            body.extend(bytes(_wire.next_capacity(fill, self._body_len) - fill))
        got = self._read_into(memoryview(body)[fill : self._body_len])
        if got is None:
            self._wait(deadline, "get()")
        elif got == 0:
            raise self._truncated(fill + _wire.HEADER_SIZE, self._body_len + _wire.HEADER_SIZE)
        else:
            self._body_fill = fill + got

    def _fill_ring(self, need: int, deadline: float | None) -> None:
        if not self._ring:
            self._ring = bytearray(_wire.RING)
            self._view = memoryview(self._ring)
        start, end = self._start, self._end
        if start and (start + need > _wire.RING or _wire.RING - end < _wire.SMALL // 4):
            self._view[: end - start] = self._view[start:end]
            self._start, self._end = 0, end - start
        got = self._read_into(self._view[self._end :])
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
                raise GIPCClosed(f"{self!r}: descriptor closed underneath") from None
            raise

    def _transfer_state(self) -> dict[str, Any]:
        # Bytes already read ahead and a half-received message belong to the
        # next messages: they travel with the handle.
        body = None
        if self._body is not None:
            body = (self._body_kind, self._body_len, bytes(self._body[: self._body_fill]))
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
            self._body_kind, self._body_len, data = state["body"]
            self._body = bytearray(data)
            self._body_fill = len(data)
        self._msg = state["msg"]

