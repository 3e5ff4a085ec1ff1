"""What gipc takes from the private insides of gevent, the standard library and its layers.

Everything ``gipc`` relies on that is nobody's public API is reached here and
nowhere else, so that a new gevent or Python (or a change in a layer below)
breaks one module, which the oldest-gevent environment exercises too:

- gevent's unpatched ``_thread.get_ident``, to tell threads apart whether or
  not the program is monkey-patched;
- a :class:`concurrent.futures.Future`'s state and waiter list, so that
  :class:`gipc.Future` can wait cooperatively;
- :mod:`gipc_process`'s exit-time helpers (``gipc_process._exit``), shared
  with the pool's exit hook.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED
from typing import Any

import gevent.monkey
from gipc_process import _exit as process_exit

__all__ = ("future_is_done", "process_exit", "real_get_ident", "replace_future_waiters")

#: The thread identity of the calling OS thread, even under monkey-patching
#: (patched, ``threading.get_ident`` names the greenlet).
real_get_ident: Callable[[], int] = gevent.monkey.get_original("_thread", "get_ident")

_DONE = frozenset({FINISHED, CANCELLED, CANCELLED_AND_NOTIFIED})


def future_is_done(future: concurrent.futures.Future[Any]) -> bool:
    """Whether ``future`` is finished or cancelled: ``done()`` without taking its lock.

    Every :meth:`gipc.Future.result` asks this first.
    """
    return future._state in _DONE


def replace_future_waiters(future: concurrent.futures.Future[Any], waiters: list[Any]) -> None:
    """Give ``future`` the list that :func:`concurrent.futures.wait` appends its waiters to."""
    future._waiters = waiters
