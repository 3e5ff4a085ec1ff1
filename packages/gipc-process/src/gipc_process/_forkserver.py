"""``forkserver`` children in a program that gevent monkey-patched.

Two places of :mod:`multiprocessing.forkserver` cannot work with gevent's
patched standard library since Python 3.14, which added an authentication
challenge to the forkserver's socket:

- The client, ``connect_to_new_process()``, opens its socket with
  ``socket.socket``, calls ``setblocking(True)`` and runs the authentication
  challenge with ``os.read``/``os.write`` on ``client.fileno()``. A gevent
  socket keeps its descriptor non-blocking at the OS level (``setblocking``
  only changes its timeout), so the challenge fails with ``BlockingIOError``.
- The forkserver process imports the program's ``__main__`` (its preload),
  which monkey-patches too when the program does so at import. The server
  then accepts gevent sockets, whose challenge fails the same way; and
  ``BlockingIOError`` is not among the errors it survives, so the server dies.

While gipc starts a ``forkserver`` child in a patched program,
:func:`starting` gives ``multiprocessing.forkserver`` a view of the socket
module whose ``socket`` is the unpatched class, and adds
``gipc_process._forkserver_preload`` to the forkserver's preload modules; that
module (run in the server after ``__main__``) gives the server unpatched views
of ``socket``, ``selectors``, ``signal`` and ``os``: the server's loop is
written for the plain standard library, and with gevent's it would run a hub
and gevent's child watchers (libev's SIGCHLD handler) in the server, for its
children to inherit. The server's children get the real modules back.
Nothing changes when gevent did not patch ``socket``.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import socket
import types
from collections.abc import Iterator
from typing import Any

from gevent import monkey

PRELOAD = "gipc_process._forkserver_preload"

_original_socket: Any = monkey.get_original("socket", "socket")
_lock = monkey.get_original("_thread", "allocate_lock")()
# How many greenlets (or threads) are inside starting() now; the first one in
# installs the views, the last one out restores what it found.
_users = 0
_saved: tuple[Any, Any, Any] | None = None


class _Socket(_original_socket):  # type: ignore[misc]
    # socket.socket.accept() builds the accepted socket from the socket
    # module's global name, which gevent patched: accept unpatched sockets.
    def accept(self) -> tuple[Any, Any]:
        fd, addr = self._accept()
        return _original_socket(self.family, self.type, self.proto, fileno=fd), addr


def _view(module: types.ModuleType, **originals: Any) -> types.ModuleType:
    """A stand-in for ``module`` whose ``originals`` replace gevent's patched names."""
    view = types.ModuleType(module.__name__, module.__doc__)
    view.__dict__.update(originals)
    view.__getattr__ = lambda name: getattr(module, name)  # type: ignore[method-assign]
    return view


def _socket_patched() -> bool:
    return socket.socket is not _original_socket


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """Let multiprocessing's forkserver work while this block starts a child.

    Safe for greenlets (and threads) that start children at the same time,
    and for plain multiprocessing code running meanwhile: the views only ever
    replace what cannot work under gevent.
    """
    if not _socket_patched():
        yield
        return
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = _install()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _saved is not None:
                _uninstall(*_saved)
                _saved = None


def _install() -> tuple[Any, Any, Any]:
    from multiprocessing import forkserver

    server: Any = forkserver._forkserver
    preload = server._preload_modules
    saved_socket = forkserver.socket  # type: ignore[attr-defined]
    view = _view(socket, socket=_Socket)
    forkserver.socket = view  # type: ignore[attr-defined]
    # An empty list means no preload at all: the server imports nothing of
    # the program, so nothing there is patched.
    if preload and PRELOAD not in preload:
        server._preload_modules = [*preload, PRELOAD]
    return saved_socket, view, (preload, server._preload_modules)


def _uninstall(saved_socket: Any, view: Any, preloads: tuple[Any, Any]) -> None:
    from multiprocessing import forkserver

    # Leave alone what other code set meanwhile.
    if forkserver.socket is view:  # type: ignore[attr-defined]
        forkserver.socket = saved_socket  # type: ignore[attr-defined]
    server: Any = forkserver._forkserver
    preload, ours = preloads
    if server._preload_modules is ours:
        server._preload_modules = preload


_SERVER_NAMES = ("socket", "selectors", "signal", "os")


def unpatch_server() -> None:
    """In the forkserver process: run its loop on the unpatched standard library."""
    if not _socket_patched():
        return
    from multiprocessing import forkserver

    real = {name: getattr(forkserver, name) for name in _SERVER_NAMES}
    views = {
        "socket": _view(socket, socket=_Socket),
        "selectors": _view(selectors, DefaultSelector=monkey.get_original("selectors", "DefaultSelector")),
        "signal": _view(signal, signal=monkey.get_original("signal", "signal")),
        "os": _view(
            os,
            fork=monkey.get_original("os", "fork"),
            waitpid=monkey.get_original("os", "waitpid"),
        ),
    }
    for name, view in views.items():
        setattr(forkserver, name, view)

    def restore() -> None:
        # The server's children run the program: they get the real modules.
        for name, module in real.items():
            setattr(forkserver, name, module)

    os.register_at_fork(after_in_child=restore)
