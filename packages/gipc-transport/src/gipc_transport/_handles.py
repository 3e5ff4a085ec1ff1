"""Reader and writer handles on the two ends of an OS pipe."""

from __future__ import annotations

import errno
import os
import struct
import weakref
from types import TracebackType
from typing import Any

import gevent
import gevent.lock
import gevent.os

from . import _registry
from ._codecs import Decoder, Encoder
from ._errors import GIPCClosed, GIPCError, GIPCLocked, GIPCTruncated
from ._transfer import rebuild_fd, reduce_fd

# Wire format: an 8-byte little-endian payload length, then the payload.
_HEADER = struct.Struct("<Q")
_READ_CHUNK = 65536


def _close_fd(fd: int, pid: int) -> None:
    # A finalizer must never close a descriptor number in a process that did
    # not open it: after fork() the number may mean something else there.
    if os.getpid() == pid:
        try:
            os.close(fd)
        except OSError:
            pass


class Handle:
    """One end of a gipc pipe: owns a file descriptor in one process.

    Handles are created by :func:`gipc_transport.pipe`; they are usable as
    context managers, which close them on exit.
    """

    _fd: int | None

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._legit_pid = os.getpid()
        self._closed = False
        self._lock = gevent.lock.Semaphore(1)
        gevent.os.make_nonblocking(fd)
        self._key = _registry.register(self)
        self._finalizer = weakref.finalize(self, _close_fd, fd, self._legit_pid)

    def fileno(self) -> int:
        """Return the file descriptor, for ``select``-like APIs.

        :raises GIPCClosed: if the handle is closed.
        """
        self._validate()
        assert self._fd is not None
        return self._fd

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` has been called."""
        return self._closed

    def close(self) -> None:
        """Close the file descriptor and unregister the handle.

        :raises GIPCClosed: if the handle was closed before.
        :raises GIPCLocked: if another greenlet is doing I/O on it.
        """
        self._validate()
        if not self._lock.acquire(blocking=False):
            raise GIPCLocked(f"can't close {self!r}: another greenlet is doing I/O on it")
        try:
            self._release()
        finally:
            self._lock.release()

    def _release(self) -> None:
        self._finalizer.detach()
        fd, self._fd = self._fd, None
        self._closed = True
        _registry.unregister(self._key)
        if fd is not None:
            os.close(fd)

    def _validate(self) -> None:
        if self._closed:
            raise GIPCClosed(f"{self!r} is closed")
        if os.getpid() != self._legit_pid:
            raise GIPCError(
                f"{self!r} belongs to process {self._legit_pid}, not to {os.getpid()}: "
                "pass it to the child through start_process() to use it there"
            )

    def __enter__(self) -> Handle:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.close()
        except GIPCClosed:
            pass

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__qualname__} fd={self._fd}>"

    def _transfer_state(self) -> dict[str, Any]:
        return {}

    def __reduce__(self) -> tuple[Any, ...]:
        self._validate()
        return (_rebuild, (type(self), reduce_fd(self.fileno()), self._transfer_state()))


def _rebuild(cls: type[Handle], token: Any, state: dict[str, Any]) -> Handle:
    handle = cls.__new__(cls)
    Handle.__init__(handle, rebuild_fd(token))
    handle.__dict__.update(state)
    return handle


class Reader(Handle):
    """The read end of a pipe: :meth:`get` returns one message at a time."""

    def __init__(self, fd: int, decoder: Decoder) -> None:
        super().__init__(fd)
        self._decoder = decoder
        self._buf = bytearray()

    def _transfer_state(self) -> dict[str, Any]:
        # Bytes already read ahead belong to the next messages: they travel too.
        return {"_decoder": self._decoder, "_buf": bytearray(self._buf)}

    def _fill(self) -> int:
        assert self._fd is not None
        data = gevent.os.nb_read(self._fd, _READ_CHUNK)
        self._buf += data
        return len(data)

    def get(self, timeout: Any = None) -> Any:
        """Receive one message, decode it and return it.

        Blocks the calling greenlet only; other greenlets keep running.

        :raises EOFError: if the writer was closed and no message is pending.
        :raises GIPCTruncated: if the writer went away in the middle of a message.
        :raises GIPCClosed: if this handle is closed.
        """
        self._validate()
        with self._lock:
            size = self._take(_HEADER.size, first=True)
            (length,) = _HEADER.unpack(size)
            payload = self._take(length, first=False) if length else b""
        return self._decoder(payload)

    def _take(self, n: int, first: bool) -> bytes:
        while len(self._buf) < n:
            if self._fill() == 0:
                if first and not self._buf:
                    raise EOFError("the writing end of the pipe was closed")
                raise GIPCTruncated(
                    f"the writer went away after {len(self._buf)} of {n} bytes of a message"
                )
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data


class Writer(Handle):
    """The write end of a pipe: :meth:`put` sends one message at a time."""

    def __init__(self, fd: int, encoder: Encoder) -> None:
        super().__init__(fd)
        self._encoder = encoder

    def _transfer_state(self) -> dict[str, Any]:
        return {"_encoder": self._encoder}

    def put(self, obj: Any) -> None:
        """Encode ``obj`` and write it to the pipe as one message.

        :raises TypeError: if the encoder does not return a bytes-like object.
        :raises GIPCClosed: if this handle is closed.
        """
        self._validate()
        with self._lock:
            data = self._encoder(obj)
            try:
                view = memoryview(data)
            except TypeError:
                raise TypeError(
                    f"the encoder must return a bytes-like object, not {type(data).__name__}"
                ) from None
            frame = memoryview(_HEADER.pack(view.nbytes) + view.cast("B"))
            while frame:
                assert self._fd is not None
                try:
                    written = gevent.os.nb_write(self._fd, frame)
                except BrokenPipeError:
                    raise GIPCError(f"{self!r}: the reading end of the pipe was closed") from None
                except OSError as exc:
                    if exc.errno == errno.EBADF:
                        raise GIPCClosed(f"{self!r}: descriptor closed underneath") from None
                    raise
                frame = frame[written:]
