"""The write end: scatter/gather writes and the remainder of interrupted messages.

A message is written with ``os.writev`` of its headers and bodies as they
are, without joining them. If a ``put()`` is interrupted (timeout,
``greenlet.kill()``, any exception) after part of a message went out, the
unwritten rest is kept and written first by the next ``put()`` or
:meth:`~gipc_transport.Writer.flush`: the reader never sees a message cut short or two
messages merged.
"""

from __future__ import annotations

import errno
import os
import pickle
import weakref
from typing import Any

import gevent

from . import _pipesize, _wire
from ._codecs import PICKLED_BYTES_HEADS as _BYTES_HEADS
from ._codecs import PICKLED_BYTES_TAIL as _BYTES_TAIL
from ._codecs import Encoder, HasBuffers, Segments, refuse_buffers, resolve_encoder
from ._compat import BYTES_DATA as _BYTES_DATA
from ._deadline import start_deadline
from ._errors import (
    GIPCBrokenPipe,
    GIPCClosedUnderneath,
    GIPCError,
    GIPCMessageTooLarge,
    GIPCTimeout,
)
from ._handles import FAIR_BYTES as _FAIR_BYTES
from ._handles import FAIR_MIN as _FAIR_MIN
from ._handles import PID as _PID
from ._handles import WRITE, Handle
from ._pipes import IOV_MAX as _IOV_MAX
from ._pipes import write, writev

# The pipe is enlarged (see _pipesize) lazily, on the first large message or
# the first time it is full: every enlarged pipe counts against a per-user limit.
_JOIN = _wire.JOIN
_SMALL = _wire.SMALL
_HEADER_SIZE = _wire.HEADER_SIZE
_pack_header = _wire.HEADER.pack
_dumps = pickle.dumps
# The headers of the smallest frames, prebuilt: packing one is a sizeable
# part of the cost of putting a tiny message.
_HEADERS = tuple(_pack_header(n) for n in range(256))
_PROTOCOL = pickle.HIGHEST_PROTOCOL
_N_HEADS = len(_BYTES_HEADS)


# The kernel copies a pipe write into pages, filled from the write's first
# byte unless a short head is merged into the last page. On some CPUs that
# copy is several times slower when the source is a little behind the page
# it is copied to (4K aliasing), so the payload of a large message is sent
# in whole source pages: first the headers and up to the payload's first
# page boundary, then page multiples. Only bytes reveal where they lie
# (CPython: after the object header, at id() + _BYTES_DATA).
_PAGE = 4096


def _split_at_page(segments: Segments) -> bool:
    """Split the last segment, a large ``bytes`` payload, at its first page boundary.

    :returns: whether it was split (then write all but the last segment first).
    """
    big = segments[-1]
    obj = big.obj if type(big) is memoryview else big
    if type(obj) is not bytes or len(obj) < _SMALL or len(big) != len(obj):
        return False
    cut = -(id(obj) + _BYTES_DATA) % _PAGE
    view = memoryview(big)
    segments[-1:] = [view[:cut], view[cut:]]
    return True


def _immutable(segment: Any) -> Any:
    if isinstance(segment, bytes) or (isinstance(segment, memoryview) and isinstance(segment.obj, bytes)):
        return segment
    # The caller may change a mutable buffer after put() returned.
    return bytes(segment)


class Writer(Handle):
    """The write end of a pipe: :meth:`put` sends one message at a time.

    :param fd: the write end of a pipe; the handle owns it from now on.
    :param encoder: turns an object into a bytes-like message: ``'default'``,
        ``None`` or a callable, as for :func:`~gipc_transport.pipe`.
    :param max_message_size: refuse to send messages longer than this many bytes.
    :raises GIPCError: if ``encoder`` is neither callable, ``None`` nor ``'default'``.

    .. versionchanged:: 2.0
       ``max_message_size``, ``put(timeout=seconds)``, :meth:`flush`;
       ``encoder`` may be ``'default'`` or ``None``.
    """

    _direction = WRITE

    def __init__(self, fd: int, encoder: Encoder | str | None, max_message_size: int | None = None) -> None:
        # Resolved before the handle owns fd: a bad encoder leaves it alone.
        encoding = resolve_encoder(encoder)
        super().__init__(fd)
        self._encoding = encoding
        # What put() asks for each message: whether it pickles small
        # messages itself, whether bytes pass as they are, and how any other
        # message becomes frames.
        self._pickles = encoding.pickles
        self._raw = encoding.raw
        self._frames = encoding.frames
        self._max = max_message_size
        # put() writes messages up to this size itself, without the checks
        # of _put(): never more than max_message_size.
        self._direct = _JOIN if max_message_size is None else min(_JOIN, max_message_size)
        # The unwritten rest of an interrupted message.
        self._pending: Segments = []
        self._grown = False
        self._give_back: weakref.finalize[[int], Writer] | None = None

    def put(self, obj: Any, timeout: Any = None) -> None:
        """Encode ``obj`` and write it to the pipe as one message.

        Blocks the calling greenlet only, until the whole message is in the
        pipe. Several greenlets may call ``put()`` at once; their messages do
        not interleave.

        If ``put()`` is interrupted after part of the message was written,
        the message is not lost: its remainder goes out first with the next
        ``put()`` or :meth:`flush`. If nothing was written, nothing is sent.

        ``put()`` waits only when the pipe is full. So that a greenlet
        putting in a loop to a reader that keeps up cannot starve the other
        greenlets of its thread, ``put()`` yields to the event loop once
        after about 1 MiB (or 1,024 small messages) sent without waiting,
        before it writes anything.

        :param obj: the object to send.
        :param timeout: ``None`` to wait as long as needed, or the deadline in
            seconds for writing the whole message.
        :raises TypeError: if the encoder does not return a bytes-like object.
        :raises GIPCMessageTooLarge: if the encoded message exceeds
            ``max_message_size``; nothing was written.
        :raises GIPCTimeout: if ``timeout`` seconds passed.
        :raises GIPCBrokenPipe: if the reading end was closed.
        :raises GIPCClosed: if this handle is closed.
        """
        if self._credit < 0:
            # Before anything is written: an exception here sends nothing.
            # The others may close the handle meanwhile: checked after.
            self._credit = _FAIR_BYTES
            gevent.sleep(0)
        if self._closed or self._broken is not None or _PID[0] != self._legit_pid:
            self._validate()
        if timeout is not None:
            return self._put(obj, None, start_deadline(timeout)[0])
        # The fast path: the common cases of small messages are encoded and
        # written right here, because for them every further call is a large
        # share of the cost. Whatever it does not cover, _put() does, with
        # the frames the codec makes.
        tp = type(obj)
        if self._pickles:
            if tp is bytes and len(obj) < _N_HEADS:
                data = _BYTES_HEADS[len(obj)] + obj + _BYTES_TAIL
            elif (tp is bytes or tp is bytearray) and len(obj) >= _SMALL:
                return self._put(obj, None, None)
            else:
                try:
                    # Most objects have no out-of-band buffers: pickle them
                    # without collecting any (the codec starts over if they
                    # have some).
                    data = _dumps(obj, _PROTOCOL, buffer_callback=refuse_buffers)
                except HasBuffers:
                    return self._put(obj, None, None)
        elif self._raw and tp is bytes:
            data = obj
        else:
            return self._put(obj, None, None)
        n = len(data)
        if n > self._direct or self._pending or self._lock.locked():
            return self._put(obj, [_pack_header(n), data], None, n)
        # No greenlet switch can happen until the write is done, so there is
        # nobody to exclude and no lock to take.
        frame = (_HEADERS[n] if n < 256 else _pack_header(n)) + data
        try:
            written = write(self._descriptor, frame)  # type: ignore[arg-type]
        except OSError:
            written = 0
        if written == n + _HEADER_SIZE:
            self._credit -= n + _FAIR_MIN
            return None
        if written:
            # The rest goes out first, under the lock, whatever happens next.
            self._pending = [memoryview(frame)[written:]]
            return self._put(obj, [], None, n)
        return self._put(obj, [frame], None, n)

    def _put(self, obj: Any, segments: Segments | None, deadline: float | None, n: int = 0) -> None:
        """The general case of :meth:`put`: any message, any timeout, a busy handle."""
        if segments is None:
            segments, n = self._frames(obj)
        if self._max is not None and n > self._max:
            raise GIPCMessageTooLarge(
                f"can't put a message of {n} bytes on {self!r}: max_message_size is {self._max}"
            )
        if len(segments) == 1 and not self._pending and not self._lock.locked():
            frame = segments[0]
            try:
                written = write(self._descriptor, frame)  # type: ignore[arg-type]
            except OSError:
                written = 0
            if written == len(frame):
                self._credit -= n + _FAIR_MIN
                return
            if written:
                segments[0] = memoryview(frame)[written:]
                self._pending = segments
                segments = []
        self._acquire(deadline, "put()")
        try:
            if self._pending:
                self._write(self._pending, deadline, "put()")
            if n >= _SMALL and not self._grown:
                self._grow_pipe()
            if segments:
                aligned = n >= _SMALL and _split_at_page(segments)
                self._write(segments, deadline, "put()", aligned)
        finally:
            self._lock.release()
        self._credit -= n + _FAIR_MIN

    def flush(self, timeout: float | None = None) -> None:
        """Write the remainder of a message whose ``put()`` was interrupted, if any.

        :param timeout: ``None`` or the deadline in seconds.
        :raises GIPCTimeout: if ``timeout`` seconds passed.
        :raises GIPCBrokenPipe: if the reading end was closed.
        :raises GIPCClosed: if this handle is closed.

        .. versionadded:: 2.0
        """
        self._validate()
        deadline, _ = start_deadline(timeout)
        self._acquire(deadline, "flush()")
        try:
            if self._pending:
                self._write(self._pending, deadline, "flush")
        finally:
            self._lock.release()

    def _write(self, segments: Segments, deadline: float | None, what: str, aligned: bool = False) -> None:
        """Write all ``segments``; on interruption keep what is left in ``self._pending``.

        If ``aligned``, the last segment starts at a page boundary (see
        :func:`_split_at_page`): it is written alone, in page multiples.
        """
        assert self._descriptor is not None
        fd = self._descriptor
        started = segments is self._pending
        try:
            while segments:
                try:
                    if len(segments) == 1:
                        segment = segments[0]
                        size = len(segment)
                        if aligned and size > _PAGE:
                            segment = memoryview(segment)[: size - size % _PAGE]
                        n = write(fd, segment)
                    else:
                        n = writev(fd, segments[: min(len(segments) - aligned, _IOV_MAX)])
                except BlockingIOError:
                    if not self._grown:
                        self._grow_pipe()
                    else:
                        self._wait(deadline, what)
                    continue
                started = True
                # Empty segments (an empty out-of-band buffer) are dropped here too.
                while segments:
                    size = len(segments[0])
                    if n < size:
                        if n:
                            segments[0] = memoryview(segments[0])[n:]
                        break
                    n -= size
                    del segments[0]
        except BaseException as exc:
            if started:
                self._pending = [_immutable(s) for s in segments]
            if isinstance(exc, GIPCError):
                if started and isinstance(exc, GIPCTimeout):
                    raise GIPCTimeout(
                        f"{exc}; part of the message was written, the rest goes out "
                        "first with the next put() or flush()"
                    ) from None
                raise
            if isinstance(exc, BrokenPipeError):
                raise self._break(
                    GIPCBrokenPipe(
                        errno.EPIPE,
                        # The standard wording first: programs match on "Broken pipe".
                        f"{os.strerror(errno.EPIPE)}: the reading end of {self!r} was closed, "
                        "nothing more can be sent",
                    )
                ) from None
            if isinstance(exc, OSError) and exc.errno == errno.EBADF:
                raise GIPCClosedUnderneath(errno.EBADF, f"{self!r}: descriptor closed underneath") from None
            raise

    def _grow_pipe(self) -> None:
        self._grown = True
        assert self._descriptor is not None
        extra = _pipesize.enlarge(self._descriptor)
        if extra:
            # Given back when the handle is released, or dropped without that.
            self._give_back = weakref.finalize(self, _pipesize.give_back, extra)

    def _release(self, why: str = "") -> None:
        try:
            super()._release(why)
        finally:
            if self._give_back is not None:
                self._give_back()

    def _carry(self) -> tuple[Any, ...]:
        # The remainder of an interrupted message must go out from wherever
        # the writer lives on.
        return (self._encoding.spec, self._max, [bytes(s) for s in self._pending])

    @classmethod
    def _rebuilt(cls, fd: int, *carried: Any) -> Writer:
        encoder, max_message_size, pending = carried
        writer = cls(fd, encoder, max_message_size)
        writer._pending = pending
        return writer
