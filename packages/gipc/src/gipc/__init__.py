"""gipc: child processes and inter-process communication for gevent.

``import gipc`` gives the gipc 1.x API on top of the two layers it is built
from: :mod:`gipc_transport` (cooperative pipes) and :mod:`gipc_process`
(gevent-safe child processes).
"""

from gipc_process import Process as Process
from gipc_process import start_process as start_process
from gipc_transport import DuplexHandle as DuplexHandle
from gipc_transport import GIPCBroken as GIPCBroken
from gipc_transport import GIPCBrokenPipe as GIPCBrokenPipe
from gipc_transport import GIPCClosed as GIPCClosed
from gipc_transport import GIPCClosedUnderneath as GIPCClosedUnderneath
from gipc_transport import GIPCError as GIPCError
from gipc_transport import GIPCLocked as GIPCLocked
from gipc_transport import GIPCMessageTooLarge as GIPCMessageTooLarge
from gipc_transport import GIPCTimeout as GIPCTimeout
from gipc_transport import GIPCTruncated as GIPCTruncated
from gipc_transport import Handle as Handle
from gipc_transport import Reader as Reader
from gipc_transport import Writer as Writer
from gipc_transport import pipe as pipe

# 1.x's __init__ imported from its gipc.gipc module, so `import gipc` alone made
# `gipc.gipc` available; programs rely on that.
from . import gipc as gipc
from ._api import publish as _publish
from ._pool import ProcessPool as ProcessPool
from ._result_call import call_in_process as call_in_process
from ._result_errors import PoolBroken as PoolBroken
from ._result_errors import PoolClosed as PoolClosed
from ._result_errors import ProcessDied as ProcessDied
from ._result_errors import RemoteError as RemoteError
from ._result_errors import RemoteTraceback as RemoteTraceback
from ._result_errors import ResultTimeout as ResultTimeout
from ._result_errors import TaskTimeout as TaskTimeout
from ._result_errors import WorkerDied as WorkerDied
from ._result_future import Future as Future
from ._version import __version__ as __version__

# Entry points first, then errors: the API reference follows this order.
__all__ = (
    "pipe",
    "start_process",
    "call_in_process",
    "ProcessPool",
    "Reader",
    "Writer",
    "Process",
    "DuplexHandle",
    "Handle",
    "Future",
    "GIPCError",
    "GIPCClosed",
    "GIPCClosedUnderneath",
    "GIPCLocked",
    "GIPCTimeout",
    "GIPCBroken",
    "GIPCTruncated",
    "GIPCBrokenPipe",
    "GIPCMessageTooLarge",
    "ProcessDied",
    "WorkerDied",
    "TaskTimeout",
    "ResultTimeout",
    "PoolBroken",
    "PoolClosed",
    "RemoteError",
    "RemoteTraceback",
    "__version__",
)

# Tracebacks, pickles and the API reference name gipc.ProcessPool, not gipc._pool.ProcessPool.
_publish(__name__, [globals()[name] for name in __all__])
del _publish
