"""How far the write end's pipe is enlarged: Linux's ``F_SETPIPE_SZ``, within a budget.

Larger pipes mean fewer system calls and wake-ups for large messages and
for streams of small ones. Unprivileged processes may grow a pipe up to
``/proc/sys/fs/pipe-max-size`` (1 MiB by default), but every enlarged pipe
counts against the user's ``/proc/sys/fs/pipe-user-pages-soft``: past it the
kernel gives every *new* pipe of that user, in any program, two pages. So
one process's gipc pipes use at most a quarter of that budget; beyond it
pipes keep the default size.
"""

from __future__ import annotations

import sys

_SIZES = (1024 * 1024, 256 * 1024)
_DEFAULT = 64 * 1024
_PAGE = 4096
_SHARE = 4

# Bytes beyond the default held by this process's enlarged pipes, and what
# they may add up to (read from /proc on first use).
_in_use = [0]
_budget: list[int | None] = [None]


def budget() -> int:
    """Return how many bytes beyond the default this process's pipes may hold."""
    limit = _budget[0]
    if limit is None:
        try:
            with open("/proc/sys/fs/pipe-user-pages-soft") as f:
                pages = int(f.read())
        except (OSError, ValueError):
            pages = 16384  # the kernel's default
        # 0 means no soft limit at all.
        limit = _budget[0] = pages * _PAGE // _SHARE if pages else sys.maxsize
    return limit


def enlarge(fd: int) -> int:
    """Enlarge the pipe of ``fd`` as far as allowed; return the bytes added (0: unchanged)."""
    if not sys.platform.startswith("linux"):
        return 0
    import fcntl

    for size in _SIZES:
        extra = size - _DEFAULT
        if _in_use[0] + extra > budget():
            continue
        try:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)  # type: ignore[attr-defined,unused-ignore]
        except OSError:
            continue  # above pipe-max-size, or the kernel's own per-user limit
        _in_use[0] += extra
        return extra
    return 0


def capacity() -> int:
    """Return the most bytes one of this platform's channels holds with nobody reading.

    On Linux the largest pipe :func:`enlarge` makes (whether a pipe is
    enlarged that far depends on the budget); on Windows what a socket pair
    of :mod:`~gipc_transport._windows_pipes` takes, measured once; elsewhere
    the usual pipe size. Tests derive from it the size of a message that
    cannot go out without a reader.
    """
    if sys.platform == "win32":
        from ._windows_pipes import capacity as socket_pair_capacity

        return socket_pair_capacity()
    return _SIZES[0] if sys.platform.startswith("linux") else _DEFAULT


def give_back(extra: int) -> None:
    """Record that a pipe enlarged by ``extra`` bytes is no longer ours."""
    _in_use[0] -= extra
