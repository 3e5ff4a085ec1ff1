"""What the layers above need from the transport's insides.

Like ``trio.lowlevel``: small, documented, stable within a major version, and
a facade only: everything here is defined in the transport's private modules
(the handle does the work on its own lock and flags) and re-exported.

A process layer uses it to hand handles over to a child: it finds them in
the child's arguments (:func:`find_handles`), reserves them while the child
starts and closes them in the parent once it exists (:func:`transferring`),
and in a forked child keeps them and closes every other inherited handle
(:func:`adopt_in_child`).
"""

from ._handles import live_handles as live_handles
from ._handover import Transfer as Transfer
from ._handover import adopt_in_child as adopt_in_child
from ._handover import find_handles as find_handles
from ._handover import forget as forget
from ._handover import transferring as transferring
from ._public import publish as _publish
from ._reader import set_read_spin as set_read_spin

__all__ = (
    "Transfer",
    "live_handles",
    "find_handles",
    "transferring",
    "adopt_in_child",
    "forget",
    "set_read_spin",
)

_publish(__name__, globals(), __all__)
