"""Windows handle duplication for ``spawn`` children.

Isolated here because it cannot run on the Linux machines gipc is tested on.
A C runtime descriptor is turned into its OS handle, which multiprocessing's
spawning Popen duplicates into the child; the child turns it back into a
descriptor with the same access mode.

Only the hand-over lives here, and it is untested: no Windows machine runs
gipc's tests. Cooperative I/O itself is not implemented for Windows
(gevent cannot watch anonymous pipe handles, and handles make their
descriptor non-blocking with ``fcntl``), so creating a handle fails there.
"""

from __future__ import annotations

import os
from typing import Any

from ._compat import spawning_popen


def reduce_fd(fd: int) -> Any:  # pragma: no cover - Windows only
    import msvcrt

    popen = spawning_popen()
    assert popen is not None
    handle = msvcrt.get_osfhandle(fd)  # type: ignore[attr-defined]
    return (popen.duplicate_for_child(handle), _access_mode(fd))


def rebuild_fd(token: Any) -> int:  # pragma: no cover - Windows only
    import msvcrt

    handle, mode = token
    fd: int = msvcrt.open_osfhandle(handle, mode)  # type: ignore[attr-defined]
    return fd


def _access_mode(fd: int) -> int:  # pragma: no cover - Windows only
    # Windows pipes from os.pipe() are one-way; probing with a zero-length
    # read tells the read end from the write end.
    try:
        os.read(fd, 0)
    except OSError:
        return os.O_WRONLY
    return os.O_RDONLY
