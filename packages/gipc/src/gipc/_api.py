"""How gipc's own API presents itself: argument checks and public names.

Bad arguments to gipc's own functions and classes are refused here, at the
call, with :exc:`TypeError` for a wrong kind of value and :exc:`ValueError`
for a wrong value, so that every message reads the same way. (The names gipc
1.x had, ``gipc.pipe`` and ``gipc.start_process``, are the layers' own and
keep raising :exc:`~gipc.GIPCError` where 1.x did.)
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ("check_callable", "check_count", "check_seconds", "check_start_method", "publish")


def check_count(name: str, value: object, *, optional: bool = False, minimum: int = 1) -> None:
    """Refuse ``value`` unless it is an ``int`` of at least ``minimum`` (or ``None`` if ``optional``).

    :raises TypeError: if it is not an ``int`` (a ``bool`` is not a count).
    :raises ValueError: if it is less than ``minimum``.
    """
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be {minimum} or more, not {value}")


def check_seconds(name: str, value: object) -> None:
    """Refuse ``value`` unless it is ``None`` or a number of seconds greater than 0.

    :raises TypeError: if it is not a number.
    :raises ValueError: if it is not greater than 0 (or is not a number, NaN).
    """
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be greater than 0, not {value}")


def check_callable(name: str, value: object) -> None:
    """Refuse ``value`` unless it is ``None`` or callable.

    :raises ValueError: if it is neither (ValueError, as ``ProcessPool`` has
        raised since it was added).
    """
    if value is not None and not callable(value):
        raise ValueError(f"{name} must be callable, not {value!r}")


def check_start_method(value: object) -> None:
    """Refuse ``value`` unless it is ``None`` or a start method this platform has.

    :raises TypeError: if it is not a string.
    :raises ValueError: if this platform has no such start method.
    """
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"start_method must be a str or None, not {type(value).__name__}")
    methods = multiprocessing.get_all_start_methods()
    if value not in methods:
        have = ", ".join(methods)
        if value in ("fork", "forkserver"):
            # As gipc 1.x on Windows: spawn only, and a clear word about it.
            raise ValueError(f"start method {value!r} is not available on {sys.platform}; it has {have}")
        raise ValueError(f"unknown start method {value!r}; this platform has {have}")


def publish(module: str, objects: Iterable[Any]) -> None:
    """Show the objects defined in ``module``'s private modules under ``module``.

    Tracebacks, pickles and the API reference then name ``gipc.ProcessPool``,
    not ``gipc._pool.ProcessPool``. Objects of other packages are left alone.
    """
    for obj in objects:
        if getattr(obj, "__module__", "").startswith(module + "._"):
            obj.__module__ = module
