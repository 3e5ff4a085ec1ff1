"""Closing the handles of a process at interpreter exit, without pulling descriptors from under watchers.

A handle dropped without ``close()`` is closed by its finalizer, but not at
exit: ``weakref.finalize`` would run the finalizers of handles that are still
alive then, closing descriptors behind their backs while greenlets wait on
them, with live event-loop watchers. The greenlets run again while the exit
hooks wait for child processes; the handle still knew the old number, and the
number had meanwhile been reused (a pidfd, a new pipe): a read of the wrong
descriptor, a second close of someone else's, or libev aborting the
interpreter ("I/O watcher with invalid fd found in epoll_ctl").

Instead, an exit hook closes the handles that nothing uses, through the
handle itself, so that a child waiting for end of file sees it, as before.
A handle that a greenlet is using (waiting on it for I/O, polling it, linked
to it by ``gevent.wait()``) stays open: the operating system closes it when
the process ends.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable

_registered = [False]


def register(hook: Callable[[], None]) -> None:
    """Register ``hook``, the closing of unused handles, with :mod:`atexit`, once.

    Called when the first handle is created. multiprocessing's own exit hook,
    which waits for non-daemon children, is registered before (at import), so
    it runs after this one: children waiting for end of file can exit.
    """
    if _registered[0]:
        return
    _registered[0] = True
    import multiprocessing.util  # noqa: F401 - its exit hook must be registered first

    atexit.register(hook)
