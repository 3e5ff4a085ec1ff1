"""Bookkeeping of the handles that are open in this process."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._handles import Handle

# Weak references, so that a handle dropped without close() can be
# finalized; a plain dict in creation order (keys only grow), because a
# forked child walks it first thing, and in a fresh child every piece of
# Python touched costs a copy-on-write page fault (a WeakValueDictionary
# costs ~60 us there even when empty).
_live: dict[int, weakref.ref[Handle]] = {}
_counter = 0


def register(handle: Handle) -> int:
    """Record ``handle`` as open in this process; return its key for :func:`unregister`."""
    global _counter
    _counter += 1
    key = _counter
    _live[key] = weakref.ref(handle, lambda _, key=key: _live.pop(key, None))  # type: ignore[misc]
    return key


def unregister(key: int) -> None:
    """Forget the handle recorded under ``key`` (no error if it is gone)."""
    _live.pop(key, None)


def live_handles() -> list[Handle]:
    """Return the open handles of this process, oldest first.

    After ``fork()`` this includes the handles inherited from the parent
    until :func:`~gipc_transport.lowlevel.adopt_in_child` closed them.
    """
    if not _live:
        return []
    # A copy first: a handle collected meanwhile removes its entry.
    return [h for ref in list(_live.values()) if (h := ref()) is not None]
