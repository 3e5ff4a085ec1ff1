"""What every watcher of a child shares, on every platform: the exit event and its one-time hand-off.

``_watch.ChildWatcher`` (POSIX: a descriptor in the event loop) and
``_windows.HandleWatcher`` (a thread awaiting the process handle) differ in
how they notice an exit; what follows it is the same and lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
import gevent.event

from ._start import ChildStart


class Watcher:
    """Sets :attr:`exited` once the child's exit status is collected.

    :param child: the start record of the child.
    :param on_exit: called once, in the event loop's thread, after the exit.
    """

    def __init__(self, child: ChildStart, on_exit: Callable[[], None]) -> None:
        #: The start record of the watched child.
        self.child = child
        #: Set once the child's exit status is collected.
        self.exited = gevent.event.Event()
        self._on_exit = on_exit
        self._loop: Any = gevent.get_hub().loop

    def start(self) -> None:
        """Start watching, once the child exists (the watcher is made before the launch)."""
        raise NotImplementedError

    def mark_exited(self) -> None:
        """Record that the status is collected; wake joiners; release the watchers."""
        if self.exited.is_set():
            return
        self.exited.set()
        self.close()
        self._on_exit()

    def close(self) -> None:
        """Release what the watcher holds in the event loop and the OS; idempotent."""
        raise NotImplementedError
