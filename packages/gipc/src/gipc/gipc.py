"""The gipc 1.x module ``gipc.gipc``: its names, kept for code that imports them.

New code uses the public names in :mod:`gipc`; these aliases stay for the
lifetime of gipc 2.
"""

from __future__ import annotations

from gipc_process import Process as _GProcess
from gipc_process import start_process as start_process
from gipc_process._child import signals_to_reset as _signals_to_reset
from gipc_transport import DuplexHandle as _GIPCDuplexHandle
from gipc_transport import GIPCClosed as GIPCClosed
from gipc_transport import GIPCError as GIPCError
from gipc_transport import GIPCLocked as GIPCLocked
from gipc_transport import Handle as _GIPCHandle
from gipc_transport import Reader as _GIPCReader
from gipc_transport import Writer as _GIPCWriter
from gipc_transport import pipe as pipe
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


def _get_all_handles() -> list[_GIPCHandle]:
    """Return a list of the handles open in this process (1.x name)."""
    return _live_handles()


def _set_all_handles(handles: list[_GIPCHandle]) -> None:
    """Forget every open handle not in ``handles``, without closing it (1.x name).

    gipc 1.x tests used this to reset bookkeeping; it only edits the registry.
    """
    from gipc_transport import _registry

    keep = {id(h) for h in handles}
    for key, h in list(_registry._live.items()):
        if id(h) not in keep:
            _registry.unregister(key)
