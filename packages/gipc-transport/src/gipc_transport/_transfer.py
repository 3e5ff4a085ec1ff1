"""Handing a handle to a child started with ``spawn`` or ``forkserver``.

Such a child receives its arguments pickled. A handle pickles to a stand-in
for its descriptor that multiprocessing passes to the child (on POSIX a
duplicate passed by ``pass_fds`` for spawn and ``SCM_RIGHTS`` for forkserver;
on Windows the socket shared with the child's pid), and unpickles to a new
handle there. Across ``fork`` nothing is pickled: the child inherits the
objects.
"""

from __future__ import annotations

from typing import Any

from . import _pipes
from ._compat import spawning_popen
from ._errors import GIPCError


def reduce_fd(fd: int) -> Any:
    """Return a picklable stand-in for ``fd`` that the child can turn back into a descriptor."""
    popen = spawning_popen()
    if popen is None:
        raise GIPCError(
            "a gipc handle can only be pickled while it is handed to a child process "
            "through start_process(); it cannot be sent through a pipe or stored"
        )
    return _pipes.reduce_fd(fd, popen)


def rebuild_fd(token: Any) -> int:
    """In the child: the descriptor behind a token made by :func:`reduce_fd`."""
    return _pipes.rebuild_fd(token)
