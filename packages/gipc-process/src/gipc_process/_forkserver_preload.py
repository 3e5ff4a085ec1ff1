"""Imported in multiprocessing's forkserver process, after the program's ``__main__``.

See :mod:`gipc_process._forkserver`: gipc names this module among the
forkserver's preload modules while it starts a child of a patched program.
"""

from ._forkserver import unpatch_server

unpatch_server()
