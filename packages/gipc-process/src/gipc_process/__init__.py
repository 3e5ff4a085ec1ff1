"""gevent-safe child processes with the :class:`multiprocessing.Process` API."""

from gipc_transport import GIPCError as GIPCError

from ._api import set_public_module as _set_public_module
from ._process import Process as Process
from ._process import start_process as start_process
from ._status import LOST_EXITCODE as LOST_EXITCODE
from ._status import StatusLostWarning as StatusLostWarning
from ._version import __version__ as __version__

# Entry points first, then errors: the API reference follows this order.
__all__ = (
    "start_process",
    "Process",
    "LOST_EXITCODE",
    "StatusLostWarning",
    "GIPCError",
    "__version__",
)

_set_public_module(__name__, Process, StatusLostWarning, start_process)
del _set_public_module
