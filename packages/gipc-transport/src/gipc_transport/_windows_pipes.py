"""The pipe primitives on Windows (not implemented yet).

Windows has no ``os.readv``/``os.writev``, no ``fcntl`` and no non-blocking
anonymous pipes, and gevent's loop there (libuv) cannot watch pipe handles:
the mechanism is still to be chosen. Until then the package imports, and
creating a channel says plainly that it does not work.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from ._errors import GIPCError

IOV_MAX = 1024


def _missing(*args: Any) -> NoReturn:
    raise GIPCError("gipc pipes are not implemented on Windows yet")


def channel() -> tuple[int, int]:
    _missing()


def prepare(fd: int) -> None:
    _missing()


def readv(fd: int, buffers: Sequence[Any]) -> int:
    _missing()


def write(fd: int, data: Any) -> int:
    _missing()


def writev(fd: int, segments: Sequence[Any]) -> int:
    _missing()


def close(fd: int) -> None:
    _missing()


def readable_now(fd: int) -> bool:
    _missing()
