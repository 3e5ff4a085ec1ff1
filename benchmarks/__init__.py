"""gipc's benchmark laboratory, kept out of every distribution.

Run it from a checkout with ``hatch run bench`` (``hatch run bench --help``
lists the options); docs/performance.rst shows what it measures and how.
"""

from ._cli import cli as cli

__all__ = ("cli",)
