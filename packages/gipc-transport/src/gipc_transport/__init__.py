"""gevent-cooperative message transport over OS pipes.

The bottom layer of gipc, useful on its own: :func:`pipe` creates a channel
whose ends can be used from any greenlet and handed to child processes.
"""

from ._duplex import DuplexHandle as DuplexHandle
from ._duplex import HandlePair as HandlePair
from ._errors import GIPCBroken as GIPCBroken
from ._errors import GIPCBrokenPipe as GIPCBrokenPipe
from ._errors import GIPCClosed as GIPCClosed
from ._errors import GIPCClosedUnderneath as GIPCClosedUnderneath
from ._errors import GIPCError as GIPCError
from ._errors import GIPCLocked as GIPCLocked
from ._errors import GIPCMessageTooLarge as GIPCMessageTooLarge
from ._errors import GIPCTimeout as GIPCTimeout
from ._errors import GIPCTruncated as GIPCTruncated
from ._handles import Handle as Handle
from ._pipe import pipe as pipe
from ._public import publish as _publish
from ._reader import Reader as Reader
from ._version import __version__ as __version__
from ._writer import Writer as Writer

# Entry points first, then errors: the API reference follows this order.
__all__ = (
    "pipe",
    "Reader",
    "Writer",
    "DuplexHandle",
    "Handle",
    "HandlePair",
    "GIPCError",
    "GIPCClosed",
    "GIPCClosedUnderneath",
    "GIPCLocked",
    "GIPCTimeout",
    "GIPCBroken",
    "GIPCTruncated",
    "GIPCBrokenPipe",
    "GIPCMessageTooLarge",
    "__version__",
)

_publish(__name__, globals(), __all__)
