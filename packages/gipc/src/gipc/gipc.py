"""The gipc 1.x module ``gipc.gipc``: its names, kept for code that imports them.

gipc 1.8.0 kept its whole implementation in this module, and programs (and
their tests) imported private names from it. Each of those names is here,
bound to the gipc 2 object that does the job now: ``_GIPCReader`` *is*
:class:`gipc_transport.Reader`, so ``isinstance`` checks, ``except`` clauses
and subclassing keep working. New code uses the public names in :mod:`gipc`;
these aliases stay for the lifetime of gipc 2.

See :doc:`/migration` for the behaviours that changed.
"""

from __future__ import annotations

import signal

from gipc_process import Process as _GProcess
from gipc_process import start_process as start_process
from gipc_transport import DuplexHandle as _GIPCDuplexHandle
from gipc_transport import GIPCClosed as GIPCClosed
from gipc_transport import GIPCError as GIPCError
from gipc_transport import GIPCLocked as GIPCLocked
from gipc_transport import Handle as _GIPCHandle
from gipc_transport import Reader as _GIPCReader
from gipc_transport import Writer as _GIPCWriter
from gipc_transport import pipe as pipe
from gipc_transport.lowlevel import forget as _forget
from gipc_transport.lowlevel import live_handles as _live_handles

__all__ = (
    "GIPCClosed",
    "GIPCError",
    "GIPCLocked",
    "_GIPCDuplexHandle",
    "_GIPCHandle",
    "_GIPCReader",
    "_GIPCWriter",
    "_GProcess",
    "_get_all_handles",
    "_set_all_handles",
    "_signals_to_reset",
    "pipe",
    "start_process",
)

# 1.8.0's definition, kept verbatim in meaning: every signal whose disposition
# a child may reset, that is all but SIGKILL, SIGSTOP (which cannot be caught)
# and SIGPIPE (which a child inherits). gipc 2 additionally leaves alone what
# the parent ignores; see the migration guide.
_signals_to_reset: list[int] = sorted(
    {
        getattr(signal, name)
        for name in dir(signal)
        if name.startswith("SIG")
        and not name.startswith("SIG_")
        and name not in ("SIGKILL", "SIGSTOP", "SIGPIPE")
    }
)


def _get_all_handles() -> list[_GIPCHandle]:
    """Return the handles open in this process, oldest first (1.x name).

    A new list each time, as in 1.x: changing it changes nothing.
    """
    return _live_handles()


def _set_all_handles(handles: list[_GIPCHandle]) -> None:
    """Make gipc forget every open handle that is not in ``handles`` (1.x name).

    The forgotten handles stay open and usable; they are only no longer
    listed, and a forked child no longer closes its inherited copy of them.
    1.x programs used this to reset gipc's bookkeeping in tests; there is no
    gipc 2 equivalent, because the registry is weak and needs no resetting.
    """
    keep = {id(h) for h in handles}
    for h in _live_handles():
        if id(h) not in keep:
            _forget(h)
