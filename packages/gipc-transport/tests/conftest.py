"""Make ``transport_children`` importable by name in spawned children.

Targets of ``spawn`` and ``forkserver`` children are unpickled by module
name; multiprocessing hands the parent's ``sys.path`` to the child, so this
directory on it is enough.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)
