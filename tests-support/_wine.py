"""Telling wine from Windows, for what wine's emulation of Windows does differently."""

from __future__ import annotations

import sys

import pytest


def under_wine() -> bool:
    """Whether this is Windows Python under wine (its ntdll has ``wine_get_version``)."""
    if sys.platform != "win32":
        return False
    import ctypes

    return hasattr(ctypes.WinDLL("ntdll"), "wine_get_version")  # type: ignore[attr-defined,unused-ignore]


# Wine 8 keeps the socket of a process it terminated open while that process
# waited on it (its pending poll outlives it): the other end never sees the
# end of the stream or a broken pipe. Windows closes a terminated process's
# sockets. Whether the child was waiting at that moment is timing: a test
# that kills a child blocked in put() or get() is left to Windows.
keeps_sockets_of_terminated_children = pytest.mark.skipif(
    under_wine(), reason="wine 8: a terminated child's socket stays open, its peer never sees it close"
)
