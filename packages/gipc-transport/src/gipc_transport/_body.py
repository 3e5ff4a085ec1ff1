"""The body of a large frame, read straight into the object that becomes the message.

A large body is never read into a temporary buffer and copied out: it is
read into its final object. If the message is to be ``bytes`` (the raw and
custom codecs, a pickled top-level ``bytes``), that is the buffer of an
:class:`io.BytesIO`, whose :meth:`~io.BytesIO.getvalue` hands its buffer over
as ``bytes`` without a copy when no view of it is left. Otherwise it is a
``bytearray`` (a pickle stream, an out-of-band buffer that unpickles in
place). Either starts at most at ``_wire.BODY_START`` (1 MiB; 16 MiB on
Windows) and grows only as data arrives (see :func:`_wire.next_capacity`),
so a forged length costs at most that start.
"""

from __future__ import annotations

import io
from typing import Any

from . import _wire

# Appended while a bytearray grows: bytes(k) would allocate k at once.
_ZEROS = bytes(1024 * 1024)


class Body:
    """A large frame body being received, resumable at any offset."""

    __slots__ = ("_array", "_bio", "_cap", "fill", "kind", "length")

    def __init__(self, kind: int, length: int, as_bytes: bool, first: Any) -> None:
        self.kind = kind
        self.length = length
        self._bio: io.BytesIO | None = io.BytesIO() if as_bytes else None
        self._array: bytearray | None = None if as_bytes else bytearray()
        self.fill = len(first)
        if self._bio is not None:
            self._bio.write(first)
        else:
            assert self._array is not None
            self._array += first
        self._cap = self.fill

    @property
    def as_bytes(self) -> bool:
        """Whether the message is received as ``bytes`` (else as ``bytearray``)."""
        return self._bio is not None

    @property
    def complete(self) -> bool:
        """Whether every byte of the body arrived."""
        return self.fill == self.length

    def space(self) -> memoryview:
        """Return a writable view of the part of the buffer that is still to be filled.

        The buffer grows when it is full. Release the view before calling
        again: a buffer cannot grow while a view of it exists.
        """
        if self.fill == self._cap:
            self._grow(_wire.next_capacity(self.fill, self.length))
        if self._bio is not None:
            return self._bio.getbuffer()[self.fill : self._cap]
        assert self._array is not None
        return memoryview(self._array)[self.fill : self._cap]

    def _grow(self, cap: int) -> None:
        if self._bio is not None:
            # Writing past the end zero-fills the gap: the buffer grows to cap.
            self._bio.seek(cap - 1)
            self._bio.write(b"\0")
        else:
            assert self._array is not None
            extra = cap - len(self._array)
            while extra > 0:
                chunk = min(extra, len(_ZEROS))
                self._array += memoryview(_ZEROS)[:chunk]
                extra -= chunk
        self._cap = cap

    def result(self) -> bytes | bytearray:
        """Return the received body (call once, when :attr:`complete`)."""
        if self._bio is not None:
            bio, self._bio = self._bio, None
            return bio.getvalue()
        array, self._array = self._array, None
        assert array is not None
        return array

    def received(self) -> bytes:
        """Return a copy of what arrived so far (to hand a half-received body to a child)."""
        if self._bio is not None:
            with self._bio.getbuffer() as view:
                return view[: self.fill].tobytes()
        assert self._array is not None
        return bytes(self._array[: self.fill])
