"""The pipe primitives on Windows: a connected pair of loopback TCP sockets per channel.

One of two platform modules behind :mod:`gipc_transport._pipes` (the other
is :mod:`gipc_transport._unix_pipes`). Windows has no non-blocking anonymous
pipes, and gevent's loop there (libuv) can only watch sockets, so a channel
is a connected pair of TCP sockets on 127.0.0.1, each used in one direction
only: non-blocking ``recv_into``/``send`` move the bytes of the same wire
format as on POSIX, and the gevent loop watches the sockets for readiness,
so timeouts, cancellation and closing while another greenlet waits work
exactly as on POSIX. Why sockets rather than pipe handles in threads or
overlapped named pipes, with the measurements, is in docs/architecture.rst.

A handle keeps the socket's number (``SOCKET``, what ``fileno()`` returns
and ``select.select`` accepts); this module keeps the socket object behind
each number in :data:`_SOCKETS`. The read end closes abortively (a reset,
``SO_LINGER`` 0), so that the writer's next ``send`` fails at once, as a
POSIX write to a pipe without reader does; the write end closes gracefully,
so that bytes it sent still arrive.
"""

from __future__ import annotations

import _socket
import errno
import struct
from collections.abc import Sequence
from typing import Any

from ._compat import original_select as _select

#: How many segments :func:`writev` sends in one call (each is one ``send``).
IOV_MAX = 1024
# Socket buffers (SO_SNDBUF and SO_RCVBUF of both sockets): every send and
# recv moves at most about this much, and each costs a trip into the kernel
# (under wine: a round trip to the wine server), as does each wait in the
# loop. Under wine a channel holds about 0.6 MiB with nobody reading (the
# Linux kernel underneath doubles the sizes asked for; see capacity()).
# Larger buffers (1 MiB) saved some calls for 16 MiB messages, but then a
# greenlet streaming small messages to a fast reader hardly ever waits in
# the loop, and under wine timers of the other greenlets starved for
# seconds (test_fairness): see docs/architecture.rst.
_BUFFER = 256 * 1024
# Segments up to this total are joined and sent in one call.
_JOIN = 256 * 1024
_ABORT = struct.pack("hh", 1, 0)  # struct linger {u_short l_onoff; u_short l_linger;}

# Winsock's errors for a number that is no (longer a) socket: EBADF to the
# reader and writer, as on POSIX.
_NOT_A_SOCKET = (10038, 10009)  # WSAENOTSOCK, WSAEBADF

# The socket object behind each number handed out.
_SOCKETS: dict[int, Any] = {}


def _connected_pair() -> tuple[Any, Any]:
    listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        a = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        try:
            a.connect(listener.getsockname())
            fd, peer = listener._accept()  # type: ignore[attr-defined]
            b = _socket.socket(fileno=fd)
            # Another local program may have connected first: only our own
            # connecting socket is accepted.
            if peer != a.getsockname() or b.getpeername() != a.getsockname():
                b.close()
                raise ConnectionError("gipc: an unexpected connection reached the channel's listener")
        except BaseException:
            a.close()
            raise
    finally:
        listener.close()
    return a, b


def channel() -> tuple[int, int]:
    """Return the read and write socket numbers of a new one-way channel."""
    reader, writer = _connected_pair()
    try:
        for s in (reader, writer):
            s.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, _BUFFER)
            s.setsockopt(_socket.SOL_SOCKET, _socket.SO_SNDBUF, _BUFFER)
        # Small messages go out at once, not held back for an acknowledgement.
        writer.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        reader.setsockopt(_socket.SOL_SOCKET, _socket.SO_LINGER, _ABORT)
    except BaseException:
        reader.close()
        writer.close()
        raise
    _SOCKETS[reader.fileno()] = reader
    _SOCKETS[writer.fileno()] = writer
    return reader.fileno(), writer.fileno()


def adopt(sock: Any) -> int:
    """Keep ``sock`` (received from another process) behind its number; return the number."""
    fd: int = sock.fileno()
    _SOCKETS[fd] = sock
    return fd


def socket_of(fd: int) -> Any:
    """Return the socket object behind ``fd``.

    :raises OSError: (``EBADF``) if ``fd`` is no open channel socket.
    """
    try:
        return _SOCKETS[fd]
    except KeyError:
        raise OSError(errno.EBADF, f"{fd} is not an open gipc channel socket") from None


def prepare(fd: int) -> None:
    """Make ``fd``, just given to a handle, ready for cooperative I/O."""
    socket_of(fd).setblocking(False)


def readv(fd: int, buffers: Sequence[Any]) -> int:
    """Receive into the first of ``buffers``; 0 at the end of the stream.

    :raises BlockingIOError: if nothing is there to receive.
    """
    try:
        n: int = _SOCKETS[fd].recv_into(buffers[0])
    except KeyError:
        raise OSError(errno.EBADF, f"{fd} is not an open gipc channel socket") from None
    except (ConnectionResetError, ConnectionAbortedError):
        # The writing end went away abruptly (its process ended): for the
        # reader, the end of the stream, as for a pipe.
        return 0
    except OSError as exc:
        if getattr(exc, "winerror", None) in _NOT_A_SOCKET:
            raise OSError(errno.EBADF, f"{fd} was closed underneath") from None
        raise
    return n


def write(fd: int, data: Any) -> int:
    """Send what fits of ``data``.

    :raises BlockingIOError: if nothing fits.
    :raises BrokenPipeError: if the reading end was closed.
    """
    try:
        n: int = _SOCKETS[fd].send(data)
    except KeyError:
        raise OSError(errno.EBADF, f"{fd} is not an open gipc channel socket") from None
    except (ConnectionResetError, ConnectionAbortedError) as exc:
        raise BrokenPipeError(errno.EPIPE, f"the reading end was closed ({exc})") from None
    except OSError as exc:
        if getattr(exc, "winerror", None) in _NOT_A_SOCKET:
            raise OSError(errno.EBADF, f"{fd} was closed underneath") from None
        raise
    return n


def writev(fd: int, segments: Sequence[Any]) -> int:
    """Send what fits of ``segments``, in order; return the bytes sent.

    Windows sockets have no gather write in Python: small segments are
    joined, large ones sent one by one until one does not go out whole.

    :raises BlockingIOError: if nothing fits.
    :raises BrokenPipeError: if the reading end was closed.
    """
    total = sum(len(s) for s in segments)
    if total <= _JOIN:
        return write(fd, b"".join(segments))
    sent = 0
    for segment in segments:
        try:
            n = write(fd, segment)
        except BlockingIOError:
            if sent:
                return sent
            raise
        sent += n
        if n < len(segment):
            break
    return sent


# What capacity() measured.
_capacity: list[int] = []


def capacity() -> int:
    """Return how many bytes a channel takes with nobody reading, measured once.

    A fresh channel is filled with non-blocking sends of the size the
    buffers have until no room appears for 0.1 s: what a socket pair holds depends
    on the system (Windows, or wine over Linux's TCP stack, which doubles
    the buffer sizes asked for and keeps data in flight besides).
    """
    if not _capacity:
        reader, writer = channel()
        try:
            prepare(reader)
            prepare(writer)
            chunk = memoryview(bytes(_BUFFER))
            sock = socket_of(writer)
            total = 0
            # Until no room appears for a while: sent data moves on to the
            # reader's buffer after the call returns, making room again.
            while _select([], [sock], [], 0.1)[1]:
                try:
                    total += write(writer, chunk)
                except BlockingIOError:
                    pass
        finally:
            close(writer)
            close(reader)
        _capacity.append(total)
    return _capacity[0]


def close(fd: int) -> None:
    """Close the socket behind ``fd``.

    :raises OSError: (``EBADF``) if it was closed before.
    """
    try:
        sock = _SOCKETS.pop(fd)
    except KeyError:
        raise OSError(errno.EBADF, f"{fd} is not an open gipc channel socket") from None
    sock.close()


def readable_now(fd: int) -> bool:
    """Whether ``fd`` has data or the end of the stream to receive right now."""
    readable, _, _ = _select([socket_of(fd)], [], [], 0)
    return bool(readable)


def reduce_fd(fd: int, popen: Any) -> Any:
    """Return what gives the child being started by ``popen`` its own socket for ``fd``.

    ``WSADuplicateSocket`` (``socket.share``) for the child's pid: the child
    makes its socket from it with ``socket.fromshare``. Handle duplication
    (``DuplicateHandle``) is not what Windows documents for sockets, and wine
    does not support it.
    """
    return socket_of(fd).share(popen.pid)


def rebuild_fd(token: Any) -> int:
    """In the child: the socket number behind a token made by :func:`reduce_fd`."""
    # socket.fromshare(token) is socket(0, 0, 0, token); the C type directly,
    # so that gevent's patching cannot hand back a wrapper.
    return adopt(_socket.socket(0, 0, 0, token))
