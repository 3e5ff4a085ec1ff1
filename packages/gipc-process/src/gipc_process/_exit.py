"""What the end of the interpreter waits for: say so, and let another Ctrl-C end it.

At exit, multiprocessing joins every non-daemon child, as long as each
takes; a program that was interrupted with Ctrl-C, or that simply ended,
then seems to hang with nothing on the screen. This hook runs before
multiprocessing's: it waits for this process's non-daemon gipc children
itself, and once the wait has lasted :data:`NOTICE_AFTER` seconds it says on
stderr what it waits for. An interrupt (another Ctrl-C) during the wait
terminates those children, kills the ones that do not exit promptly, reaps
them and propagates: no child is left running.

Daemon children are ended here too, before multiprocessing's hook would
terminate and join them: with SIGTERM, as multiprocessing does, but waited
for without the event loop. A cooperative join at this point would run the
program's greenlets after the program has ended, and a greenlet reading from
a daemon child would then fail on the pipe that the termination closed and
print its traceback (gipc 1.8.0 printed nothing).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from . import _compat

# Seconds an exit-time wait goes on silently before it is announced.
NOTICE_AFTER = 1.0
# Seconds a terminated child has to exit before it is killed.
TERMINATE_GRACE = 1.0
# How often the exit looks whether terminated daemon children are gone.
_POLL_SECONDS = 0.002
# How often, at most, a cooperative exit wait wakes the event loop (see woken()).
WAKE_EVERY = 0.1

# The class of the processes the exit waits for, once registered.
_waits_for: list[type] = []


def register(kind: type) -> None:
    """Register :func:`wait_for_children` with :mod:`atexit`, once per interpreter.

    The exit waits for the started instances of ``kind`` (gipc's
    ``Process``; other code's multiprocessing children are theirs to join).
    multiprocessing's own exit hook is registered when ``multiprocessing.util``
    is imported, before this one, so this one runs first (hooks run last
    registered first).
    """
    if _waits_for:
        return
    _waits_for.append(kind)
    import multiprocessing.util  # noqa: F401 - its exit hook must be registered first

    atexit.register(wait_for_children)


def notice(what: str) -> None:
    """Print one line saying what the exit waits for."""
    try:
        line = f"gipc: waiting for {what} before exit; press Ctrl-C again to stop waiting"
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # stderr closed or gone
        pass


@contextlib.contextmanager
def woken() -> Iterator[None]:
    """Wake this thread's event loop every :data:`WAKE_EVERY` seconds while the block runs.

    Python runs a signal's handler in the main thread, between two bytecodes.
    A Ctrl-C that reaches another thread of the program, or the main thread
    just before its event loop blocks, only marks the handler due; libev then
    sleeps on until its next event, and an exit wait has none for as long as
    its children run (libuv looks every 0.3 s). "Press Ctrl-C again" must
    work at once: a timer that does nothing gives the loop that next event.
    It holds no reference on the loop, and is closed after the block (an
    unclosed libuv watcher that is collected corrupts the loop).
    """
    hub = _compat.hub_if_exists()
    if hub is None or hub.dead:
        yield
        return
    timer = hub.loop.timer(WAKE_EVERY, WAKE_EVERY, ref=False)
    try:
        timer.start(_nothing)
        yield
    finally:
        timer.close()


def _nothing() -> None:
    pass


def _ours() -> list[Any]:
    if not _waits_for:
        return []
    kind = _waits_for[0]
    pid = os.getpid()
    ours: list[Any] = [p for p in list(_compat.started_children()) if isinstance(p, kind)]
    return [p for p in ours if p._popen is not None and p._parent_pid == pid and _alive(p)]


def _describe(children: list[Any], kind: str = "non-daemon ") -> str:
    left = [p for p in children if _alive(p)]
    pids = ", ".join(str(p.pid) for p in left)
    return f"{len(left)} {kind}child process{'es' if len(left) > 1 else ''} to exit (pid {pids})"


def wait_for_children() -> None:
    """Join this process's live non-daemon gipc children, then end the daemon ones.

    A long wait is announced; an interrupt ends every child.
    """
    _wait_for_non_daemons()
    _end_daemons()


def _wait_for_non_daemons() -> None:
    children = [p for p in _ours() if not p.daemon]
    if not children:
        return
    try:
        if _hub_dead():
            # Nothing cooperative works any more (see end_children).
            _wait_blocking_announced(children, "non-daemon ")
            return
        with woken():
            deadline = time.monotonic() + NOTICE_AFTER
            for p in children:
                if _alive(p):
                    p.join(max(0.0, deadline - time.monotonic()))
            left = [p for p in children if _alive(p)]
            if left:
                notice(_describe(left))
                for p in left:
                    if _alive(p):
                        p.join()
    except BaseException:
        end_children()
        raise


def _hub_dead() -> bool:
    hub = _compat.hub_if_exists()
    return hub is not None and bool(hub.dead)


def _end_daemons() -> None:
    # Without the event loop: no greenlet of the program runs again (see above).
    children = [p for p in _ours() if p.daemon]
    if not children:
        return
    try:
        for p in children:
            if _alive(p):
                p.terminate()
        _wait_blocking_announced(children, "daemon ")
    except BaseException:
        for p in children:
            if _alive(p):
                p.kill()
        _wait_blocking(children, None)
        raise
    started = _compat.started_children()
    for p in children:
        started.discard(p)


def _wait_blocking(children: list[Any], timeout: float | None) -> bool:
    """Wait until none of ``children`` is alive, or ``timeout`` seconds pass, without the hub."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while any(_alive(p) for p in children):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        _compat.sleep(_POLL_SECONDS)
    return True


def _wait_blocking_announced(children: list[Any], kind: str) -> None:
    """Wait without the hub until none of ``children`` is alive; announce a long wait."""
    if not _wait_blocking(children, NOTICE_AFTER):
        notice(_describe(children, kind))
        _wait_blocking(children, None)


def end_children() -> None:
    """Terminate this process's live gipc children, kill those that linger, reap them all.

    Waited for without the event loop, like the daemon children: this runs
    while an interrupt propagates, and the interrupt may have ended the hub.
    A Ctrl-C whose ``KeyboardInterrupt`` is raised in the hub's own code,
    rather than in a callback the hub guards, kills the hub greenlet and
    reaches the main greenlet as the hub's exit; every cooperative wait after
    that switches to the dead hub and fails at once (gevent's
    ``InvalidSwitchError``), which left the children running.
    """
    children = _ours()
    for p in children:
        if _alive(p):
            p.terminate()
    if not _wait_blocking(children, TERMINATE_GRACE):
        for p in children:
            if _alive(p):
                p.kill()
        _wait_blocking(children, None)


def _alive(p: Any) -> bool:
    # Whoever started a child may close() it once it has exited, while this
    # waits for the others (a pool reaps its workers so).
    return not p._closed and p.is_alive()
