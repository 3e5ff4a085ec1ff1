"""Every private detail of gevent, multiprocessing and CPython the transport relies on.

Each is reached through this module only, so that a new gevent or Python
that changes one breaks one place, and the oldest gevent gipc supports
(the ``oldest`` test environment) exercises all of them.
"""

from __future__ import annotations

import select
from collections.abc import Callable
from multiprocessing import context, reduction
from typing import Any

from gevent import monkey

#: ``select.poll`` as the standard library defines it, even under
#: ``monkey.patch_all()`` (whose cooperative version removes ``poll``), or
#: ``None`` where the platform has none. A zero-timeout poll of one
#: descriptor never blocks, so the original is safe in a greenlet.
original_poll: Callable[[], Any] | None = (
    monkey.get_original("select", "poll") if hasattr(select, "poll") else None
)

#: ``time.sleep`` as the standard library defines it, even under
#: ``monkey.patch_all()``: a spin gives up the CPU with it where
#: ``os.sched_yield`` is missing, without switching greenlets.
original_sleep: Callable[[float], None] = monkey.get_original("time", "sleep")

#: ``select.select`` as the standard library defines it, even under
#: ``monkey.patch_all()``: the Windows channels wait on their sockets with it
#: outside the event loop.
original_select: Callable[..., Any] = monkey.get_original("select", "select")

#: The OS thread's identity, even under ``monkey.patch_all()`` (where
#: ``threading.get_ident`` names the greenlet).
thread_ident: Callable[[], int] = monkey.get_original("threading", "get_ident")

#: The name of the queue of callbacks a gevent loop runs on its next turn,
#: in every loop backend (libev, libev-cffi, libuv). Read with ``getattr``
#: and a true default, so that a gevent without it counts as busy.
LOOP_CALLBACKS = "_callbacks"

#: Where CPython keeps the data of a ``bytes`` object: ``id(b) +
#: BYTES_DATA`` (after the object header; ``ob_sval`` is its last field).
BYTES_DATA = bytes.__basicsize__ - 1


def spawning_popen() -> Any:
    """Return the ``Popen`` object of the child multiprocessing is starting now, or ``None``.

    Set by multiprocessing while it pickles a child's arguments (``spawn``
    and ``forkserver``); the only way to tell that pickling hands something
    to a child.
    """
    return context.get_spawning_popen()


def dup_fd(fd: int) -> Any:
    """Return multiprocessing's picklable duplicate of ``fd`` for the child being started.

    Its ``detach()`` in the child returns the descriptor there.
    """
    return reduction.DupFd(fd)
