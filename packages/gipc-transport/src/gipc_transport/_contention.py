"""Whether this thread has been waiting for a CPU: the read spin's sense of a busy machine.

A spin pays on an idle machine, where the partner process runs on another
CPU and answers within microseconds. Where every CPU is busy, a spinning
process is a CPU hog to the scheduler: it never sleeps, so it earns no
wake-up preference, and each yield or preemption costs it a time slice of
someone else's. Linux counts the time a thread spent runnable but waiting
for a CPU (``/proc/thread-self/schedstat``, second field); when that is a
large share of the time that passed, spinning only makes things worse.
"""

from __future__ import annotations

import sys

from ._compat import thread_ident as _thread_id

#: Seconds between two looks at the run-queue wait (a look costs a few µs).
WINDOW = 0.05
#: A thread that waited for a CPU this share of the time since the last look
#: is on a contended CPU.
SHARE = 0.05

_SCHEDSTAT = "/proc/thread-self/schedstat"
_LINUX = sys.platform.startswith("linux")


def run_delay() -> float | None:
    """Seconds this thread has spent waiting for a CPU, or ``None`` where Linux does not say."""
    if not _LINUX:
        # Elsewhere the path means nothing (under wine, Windows Python would
        # even read the Linux host thread's figures through drive Z:).
        return None
    try:
        with open(_SCHEDSTAT, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class Contention:
    """How much of the recent time this thread waited for a CPU, looked at once a window.

    One per process: a reader asks :meth:`contended` before it spins. The
    share is measured between two looks, however long apart: after a long
    pause without spinning, the next look judges that whole pause. A look
    from another thread (or, after a fork, another process) starts afresh.
    """

    __slots__ = ("_available", "_delay", "_since", "_thread", "contended_now")

    def __init__(self) -> None:
        self._available = True
        self._since = 0.0
        self._delay = 0.0
        self._thread = -1
        #: The verdict of the last look.
        self.contended_now = False

    def contended(self, now: float) -> bool:
        """Whether the CPU was contended; ``now`` is ``time.monotonic()``, taken by the caller."""
        if now - self._since < WINDOW:
            return self.contended_now
        if not self._available:
            return False
        delay = run_delay()
        if delay is None:
            self._available = False
            return False
        thread = _thread_id()
        if self._since and thread == self._thread and delay >= self._delay:
            self.contended_now = delay - self._delay > SHARE * (now - self._since)
        else:
            self.contended_now = False
        self._since, self._delay, self._thread = now, delay, thread
        return self.contended_now
