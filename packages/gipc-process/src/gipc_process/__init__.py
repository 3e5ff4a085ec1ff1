"""gevent-safe child processes with the :class:`multiprocessing.Process` API."""

from gipc_transport import GIPCError as GIPCError

from ._process import Process as Process
from ._process import start_process as start_process
from ._version import __version__ as __version__
from ._watch import LOST_EXITCODE as LOST_EXITCODE
from ._watch import StatusLostWarning as StatusLostWarning

# Entry points first, then errors: the API reference follows this order.
__all__ = (
    "start_process",
    "Process",
    "LOST_EXITCODE",
    "StatusLostWarning",
    "GIPCError",
    "__version__",
)

for _obj in (Process, StatusLostWarning, start_process):
    _obj.__module__ = __name__
del _obj
