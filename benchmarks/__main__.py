"""``python benchmarks`` (what ``hatch run bench`` runs) or ``python -m benchmarks`` from the root."""

from __future__ import annotations

import sys
from pathlib import Path

if not __package__:
    # Run as a directory, this directory is sys.path[0]: put the repository
    # root there instead, so that the harness's modules have one name, which
    # spawn and forkserver children (given this sys.path) import too.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from benchmarks import cli  # noqa: E402

if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
