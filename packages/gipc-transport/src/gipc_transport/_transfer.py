"""Handing a handle to a child started with ``spawn`` or ``forkserver``.

Such a child receives its arguments pickled. A handle pickles to a duplicate
of its descriptor that multiprocessing passes to the child (``pass_fds`` for
spawn, ``SCM_RIGHTS`` for forkserver), and unpickles to a new handle there.
Across ``fork`` nothing is pickled: the child inherits the objects.
"""

from __future__ import annotations

import sys
from typing import Any

from ._compat import dup_fd, spawning_popen
from ._errors import GIPCError


def reduce_fd(fd: int) -> Any:
    """Return a picklable stand-in for ``fd`` that the child can turn back into a descriptor."""
    if spawning_popen() is None:
        raise GIPCError(
            "a gipc handle can only be pickled while it is handed to a child process "
            "through start_process(); it cannot be sent through a pipe or stored"
        )
    if sys.platform == "win32":
        from ._windows import reduce_fd as reduce_fd_windows

        return reduce_fd_windows(fd)
    return dup_fd(fd)


def rebuild_fd(token: Any) -> int:
    """In the child: the descriptor behind a token made by :func:`reduce_fd`."""
    if sys.platform == "win32":
        from ._windows import rebuild_fd as rebuild_fd_windows

        return rebuild_fd_windows(token)
    fd: int = token.detach()
    return fd
