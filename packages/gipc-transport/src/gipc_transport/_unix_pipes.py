"""The pipe primitives on POSIX: non-blocking descriptors of ``os.pipe()``.

One of two platform modules behind :mod:`gipc_transport._pipes` (the other
is :mod:`gipc_transport._windows_pipes`). A channel is an OS pipe; its ends
are file descriptors, made non-blocking, read with ``readv`` into the
reader's buffers and written with ``write``/``writev``. The gevent loop
watches them for readiness.
"""

from __future__ import annotations

import os
import select
from typing import Any

from gevent.os import make_nonblocking

from ._compat import dup_fd, original_poll

#: ``readv(fd, buffers)``: read into ``buffers``; raises
#: :exc:`BlockingIOError` when nothing is there, returns 0 at end of file.
readv = os.readv
#: ``write(fd, data)``: write what fits; :exc:`BlockingIOError` when full.
write = os.write
#: ``writev(fd, segments)``: gather-write what fits.
writev = os.writev
#: Close a descriptor.
close = os.close
#: How many segments one ``writev`` call takes at most (``IOV_MAX`` on Linux).
IOV_MAX = 1024


def channel() -> tuple[int, int]:
    """Return the read and write descriptors of a new one-way channel."""
    return os.pipe()


def prepare(fd: int) -> None:
    """Make ``fd``, just given to a handle, ready for cooperative I/O."""
    make_nonblocking(fd)


def readable_now(fd: int) -> bool:
    """Whether ``fd`` has data or end of file to read right now (``False`` where that cannot be told)."""
    if original_poll is None:
        return False
    poller = original_poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def reduce_fd(fd: int, popen: Any) -> Any:
    """Return what gives the child being started by ``popen`` its own copy of ``fd``.

    multiprocessing's duplicate, passed by ``pass_fds`` (spawn) or
    ``SCM_RIGHTS`` (forkserver).
    """
    return dup_fd(fd)


def rebuild_fd(token: Any) -> int:
    """In the child: the descriptor behind a token made by :func:`reduce_fd`."""
    fd: int = token.detach()
    return fd
