"""gevent watchers garbage-collected without ``close()``: the leak that corrupts memory.

gevent's libuv loop links a watcher's native handle into the loop when the
watcher is made, and unlinks it only when ``close()`` is called. A watcher
that is garbage-collected without ``close()`` frees the handle's memory while
the loop still links it (gevent 26.9, libuv 1.51): the next handle linked or
unlinked beside it writes into freed memory. An expired or cancelled
``gevent.Timeout`` that is never closed is such a watcher. The damage shows
much later and elsewhere: glibc's "corrupted double-linked list", a crash in
an unrelated object, every later fork child dying.

:func:`install` gives gevent's libuv watchers a finalizer, as gevent's own
``GEVENT_DEBUG=debug`` mode does: it records the watcher, for the test that
dropped it to fail, and closes it, so that the run goes on with a sound
loop. libev's watchers are not linked while stopped: nothing to record.
"""

from __future__ import annotations

import sys
from typing import Any

#: ``repr()`` of the watchers dropped without ``close()`` since the last :func:`take`.
_dropped: list[str] = []


def on_libuv() -> bool:
    """Whether this thread's hub runs gevent's libuv loop (the only one that links stopped watchers)."""
    import gevent

    # Not gipc_process's helper: the transport's tests run without that layer.
    return type(gevent.get_hub().loop).__module__.startswith("gevent.libuv")


def install() -> bool:
    """Record and close the libuv watchers collected unclosed; ``False`` if the hub's loop is not libuv's."""
    if not on_libuv():
        return False
    from gevent.libuv import watcher as _watchers  # type: ignore[import-not-found,unused-ignore]

    base = _watchers.watcher
    if "__del__" in vars(base):
        return True  # installed already, or gevent's debug mode has its own

    def __del__(self: Any) -> None:
        if self.__dict__.get("_watcher") is None:
            return  # closed, or never initialised
        try:
            _dropped.append(f"{type(self).__name__} watcher (callback {self.__dict__.get('_callback')!r})")
            self.close()
        except Exception as exc:  # noqa: BLE001 - a finalizer must not raise
            print(f"could not close a dropped gevent watcher: {exc!r}", file=sys.stderr)

    base.__del__ = __del__
    return True


def take() -> list[str]:
    """The watchers dropped since the last call, and forget them."""
    found = _dropped[:]
    del _dropped[:]
    return found
