"""Bookkeeping of the objects (handles) that are open in this process."""

from __future__ import annotations

import weakref
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Weak references to live objects, oldest first.

    Weak, so that a handle dropped without ``close()`` can be finalized; a
    plain dict in creation order (keys only grow), because a forked child
    walks it first thing, and in a fresh child every piece of Python touched
    costs a copy-on-write page fault (a ``WeakValueDictionary`` costs ~60 us
    there even when empty).
    """

    def __init__(self) -> None:
        self._live: dict[int, weakref.ref[T]] = {}
        self._counter = 0

    def add(self, obj: T) -> int:
        """Record ``obj``; return its key for :meth:`discard`."""
        self._counter += 1
        key = self._counter
        live = self._live
        live[key] = weakref.ref(obj, lambda _, key=key: live.pop(key, None))  # type: ignore[misc]
        return key

    def discard(self, key: int) -> None:
        """Forget the object recorded under ``key`` (no error if it is gone)."""
        self._live.pop(key, None)

    def items(self) -> list[T]:
        """Return the live objects, oldest first."""
        if not self._live:
            return []
        # A copy first: an object collected meanwhile removes its entry.
        return [obj for ref in list(self._live.values()) if (obj := ref()) is not None]
