"""The exception hierarchy shared by every gipc layer.

Defined once here, in the bottom layer, so that ``except gipc.GIPCError``
catches what any layer raises on purpose.
"""

from __future__ import annotations

__all__ = (
    "GIPCError",
    "GIPCClosed",
    "GIPCClosedUnderneath",
    "GIPCLocked",
    "GIPCTimeout",
    "GIPCBroken",
    "GIPCTruncated",
    "GIPCBrokenPipe",
    "GIPCMessageTooLarge",
)


class GIPCError(Exception):
    """Root of every error gipc raises on purpose."""


class GIPCClosed(GIPCError):
    """An operation was attempted on a handle that has been closed."""


class GIPCClosedUnderneath(GIPCClosed, OSError):
    """The handle's descriptor was closed by other code while the handle was open.

    Also an :exc:`OSError` with ``errno`` :data:`errno.EBADF`, the error gipc
    1.8.0 let through there, so that ``except OSError`` keeps catching it.

    .. versionadded:: 2.0
    """


class GIPCLocked(GIPCError):
    """A handle could not be closed or transferred: another greenlet is doing I/O on it."""


class GIPCTimeout(GIPCError, TimeoutError):
    """A ``get()`` or ``put()`` did not complete within its deadline.

    .. versionadded:: 2.0
    """


class GIPCBroken(GIPCError):
    """The channel cannot be used any more; the message says why.

    .. versionadded:: 2.0
    """


class GIPCTruncated(GIPCBroken):
    """The peer went away in the middle of a message: the message is lost.

    .. versionadded:: 2.0
    """


class GIPCBrokenPipe(GIPCBroken, BrokenPipeError):
    """The reading end of the pipe was closed: nothing written can arrive any more.

    The writer is broken from then on. Also a :exc:`BrokenPipeError`, the
    error a plain pipe write would raise.

    .. versionadded:: 2.0
    """


class GIPCMessageTooLarge(GIPCError):
    """A message is larger than the ``max_message_size`` of the pipe.

    Raised by ``put()`` before anything is written (the channel stays
    usable), and by ``get()`` when a frame header announces more than the
    limit; the reader is broken then, because the bytes that follow cannot be
    trusted.

    .. versionadded:: 2.0
    """
