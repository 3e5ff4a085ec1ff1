"""Exit statuses that gevent reaps: a gevent child watcher beside gipc's own.

Once gevent reaps children itself (its SIGCHLD handling is installed by the
first gevent child watcher, as after any use of gevent's ``subprocess`` or a
monkey-patched ``os.fork``), it collects every child's status, gipc's
included, and keeps it only for the pids it watches. So a gipc child also
gets a gevent child watcher when gevent reaps already, or will as soon as the
program forks or runs a subprocess because ``os`` is monkey-patched (gevent's
own model then: every child is gevent's to reap). Otherwise gipc installs no
SIGCHLD handling: that would take the statuses of children other code started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gevent import monkey

from . import _compat

# How long a status that gevent's reaper collected may take to reach the
# child watcher (libuv hands it over in a later loop callback) before it
# counts as lost to other code.
GRACE = 1.0


def gevent_will_reap(loop: Any) -> bool:
    """Whether gevent reaps, or will reap, the children of this process on ``loop``."""
    if not getattr(loop, "default", False):
        return False  # gevent reaps only on the default loop
    return monkey.is_module_patched("os") or _compat.gevent_sigchld_installed(loop)


class GeventReaped:
    """A gevent child watcher for one pid; ``on_status`` runs once gevent has its status."""

    def __init__(self, loop: Any, pid: int, on_status: Callable[[], None]) -> None:
        self.pid = pid
        #: Whether the status came from gevent (gevent reaped before gipc could).
        self.collected = False
        self._since: float | None = None
        self._watcher: Any = loop.child(pid, ref=False)
        self._watcher.start(on_status)

    def status(self) -> int | None:
        """The wait status gevent collected for the pid, once it has it."""
        if self._watcher.rpid == self.pid:
            rstatus: int = self._watcher.rstatus
            self.collected = True
            return rstatus
        return None

    def overdue(self) -> bool:
        """Whether the status was taken long enough ago to count as lost."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
        return now - self._since > GRACE

    def close(self) -> None:
        self._watcher.close()
