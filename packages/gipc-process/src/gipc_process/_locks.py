"""OS locks that an exception raised by a signal handler cannot leave held.

A signal handler runs in the main thread at the next call, function entry
or backward jump, and whatever it raises (``KeyboardInterrupt``) comes out
there. Python 3.14 checks for pending signals right after a ``with``
statement's ``__enter__()`` returns, before the block is protected: a lock
taken with ``with`` in a thread that handles signals could stay held for
good, and whoever waits for it next (a ``join()``, the next start) would
wait forever. ``lock.acquire()`` followed by ``try`` has the same gap on
every Python.

So such locks are re-entrant locks, which know their owner, acquired inside
``try`` and released in ``finally`` by :func:`release`, which leaves a lock
this thread does not hold alone::

    lock = _locks.new()
    try:
        lock.acquire()
        ...
    finally:
        _locks.release(lock)

Threads of gipc's own, where no handler ever runs, may use ``with``.
"""

from __future__ import annotations

from typing import Any

from . import _compat

#: A new re-entrant OS lock: the real one, also under monkey-patching.
new = _compat.rlock


def release(lock: Any) -> None:
    """Release ``lock`` if this thread holds it; otherwise do nothing.

    It is not held when the ``acquire()`` was interrupted before it took the
    lock, or (a non-blocking one) did not get it.
    """
    try:
        lock.release()
    except RuntimeError:
        pass
