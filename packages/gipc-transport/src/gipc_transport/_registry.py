"""Bookkeeping of the handles that are open in this process."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._handles import Handle

# Weak, so that a handle dropped without close() can be finalized; ordered by
# creation so that listings are stable.
_live: weakref.WeakValueDictionary[int, Handle] = weakref.WeakValueDictionary()
_counter = 0


def register(handle: Handle) -> int:
    """Record ``handle`` as open in this process; return its key for :func:`unregister`."""
    global _counter
    _counter += 1
    _live[_counter] = handle
    return _counter


def unregister(key: int) -> None:
    """Forget the handle recorded under ``key`` (no error if it is gone)."""
    _live.pop(key, None)


def live_handles() -> list[Handle]:
    """Return the open handles of this process, oldest first.

    After ``fork()`` this includes the handles inherited from the parent
    until :func:`~gipc_transport.lowlevel.adopt_in_child` closed them.
    """
    return [h for _, h in sorted(_live.items())]
