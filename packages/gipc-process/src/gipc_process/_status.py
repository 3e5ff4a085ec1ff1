"""The child's exit code, told to the parent through a pipe as well.

Normally the parent collects a child's exit status with ``waitpid(pid)``.
Other code in the parent can take it first: an ``os.waitpid(-1)`` loop, or
libev's SIGCHLD handler, which reaps every child once gevent's child watchers
are in use (gevent's ``subprocess`` under monkey-patching). So a child also
writes the code its target ended with to a pipe just before it exits. The
``fork`` launcher uses the sentinel pipe for that; a ``spawn`` child given
handles gets a pipe of its own. A ``forkserver`` child needs none: the
forkserver reports. Which applies is the start record's business (see
``_start.py``).
"""

from __future__ import annotations

import os
import struct
from multiprocessing import reduction
from typing import Any

STATUS = struct.Struct("<i")

#: The exit code reported when another part of the program collected the
#: child's exit status first (``os.waitpid``) and it cannot be recovered.
LOST_EXITCODE = 255


class StatusLostWarning(RuntimeWarning):
    """Another part of the program collected a gipc child's exit status."""


class StatusPipe:
    """The writing end of a status pipe, picklable for a spawned child."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        # Only while multiprocessing pickles the process for the child: the
        # descriptor then travels with it (pass_fds).
        return (_rebuild, (reduction.DupFd(self.fd),))


def _rebuild(dup: Any) -> StatusPipe:
    return StatusPipe(dup.detach())


def report(fd: int, code: int) -> None:
    """In the child: write ``code``; never fail the exit over it."""
    try:
        os.write(fd, STATUS.pack(code))
    except OSError:
        pass


def read_reported(fd: int) -> int | None:
    """In the parent: the code a child reported on ``fd``, if it did."""
    try:
        os.set_blocking(fd, False)
        data = os.read(fd, 64)
    except OSError:
        return None
    if len(data) < STATUS.size:
        return None
    (code,) = STATUS.unpack(data[-STATUS.size :])
    return int(code)
