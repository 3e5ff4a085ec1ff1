"""The pipe primitives of this platform, picked once at import.

:mod:`gipc_transport._unix_pipes` on POSIX, :mod:`gipc_transport._windows_pipes`
on Windows: both provide ``channel``, ``prepare``, ``readv``, ``write``,
``writev``, ``close``, ``readable_now``, ``reduce_fd``, ``rebuild_fd``
and ``IOV_MAX`` with the same meaning.
"""

from __future__ import annotations

import sys

if sys.platform == "win32":
    from ._windows_pipes import IOV_MAX as IOV_MAX
    from ._windows_pipes import channel as channel
    from ._windows_pipes import close as close
    from ._windows_pipes import prepare as prepare
    from ._windows_pipes import readable_now as readable_now
    from ._windows_pipes import readv as readv
    from ._windows_pipes import rebuild_fd as rebuild_fd
    from ._windows_pipes import reduce_fd as reduce_fd
    from ._windows_pipes import write as write
    from ._windows_pipes import writev as writev
else:
    from ._unix_pipes import IOV_MAX as IOV_MAX
    from ._unix_pipes import channel as channel
    from ._unix_pipes import close as close
    from ._unix_pipes import prepare as prepare
    from ._unix_pipes import readable_now as readable_now
    from ._unix_pipes import readv as readv
    from ._unix_pipes import rebuild_fd as rebuild_fd
    from ._unix_pipes import reduce_fd as reduce_fd
    from ._unix_pipes import write as write
    from ._unix_pipes import writev as writev
