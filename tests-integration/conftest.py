"""Make the integration test modules importable by name in child processes.

pytest (importlib mode) names these modules ``tests-integration.test_x``.
A child started with ``spawn`` or ``forkserver`` unpickles its target by that
name, so the repository root has to be on the ``sys.path`` that
multiprocessing hands to the child; with ``python -m pytest`` it already is,
with the ``pytest`` script it is not.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.append(_ROOT)
