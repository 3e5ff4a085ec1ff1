"""Starting ``forkserver`` children without stalling the event loop, also under monkey-patching.

Three things of :mod:`multiprocessing.forkserver` do not fit gevent:

- Its client, ``connect_to_new_process()``, blocks the thread until the
  forkserver answers: for its authentication challenge (Python 3.14+) and
  for the new child's pid. The first start also starts the forkserver,
  which answers only once it has imported the program's ``__main__``, a
  second or so in which no greenlet would run.
- Under monkey-patching that client cannot work at all on Python 3.14+: it
  opens its socket with ``socket.socket``, calls ``setblocking(True)`` and
  runs the challenge with ``os.read``/``os.write`` on ``client.fileno()``; a
  gevent socket keeps its descriptor non-blocking at the OS level
  (``setblocking`` only changes its timeout), so the challenge fails with
  ``BlockingIOError``.
- The forkserver process imports the program's ``__main__`` (its preload),
  which monkey-patches too when the program does so at import. The server
  then accepts gevent sockets, whose challenge fails the same way; and
  ``BlockingIOError`` is not among the errors it survives, so the server dies.

While gipc starts a ``forkserver`` child, :func:`starting` gives
``multiprocessing.forkserver`` a view of the socket module whose ``socket``
is the unpatched class and waits in the event loop for the challenge, and a
``read_signed`` that waits in the event loop for the pid. In a patched
program it also adds ``gipc_process._forkserver_preload`` to the
forkserver's preload modules; that module (run in the server after
``__main__``) gives the server unpatched views of ``socket``, ``selectors``,
``signal`` and ``os``: the server's loop is written for the plain standard
library, and with gevent's it would run a hub and gevent's child watchers
(libev's SIGCHLD handler) in the server, for its children to inherit. The
server's children get the real modules back.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import signal
import socket
import types
from collections.abc import Iterator
from typing import Any

import gevent.socket
from greenlet import getcurrent

from . import _compat, _locks

PRELOAD = "gipc_process._forkserver_preload"

_original_socket: Any = _compat.socket_class
# Taken by any thread that starts a child, never with a with-statement (see _locks).
_lock = _locks.new()
# How many greenlets (or threads) are inside starting() now; the first one in
# installs the replacements, the last one out restores what it found.
_users = 0
_installed: _Installed | None = None


class _Socket(_original_socket):  # type: ignore[misc]
    # socket.socket.accept() builds the accepted socket from the socket
    # module's global name, which gevent patched: accept unpatched sockets.
    def accept(self) -> tuple[Any, Any]:
        fd, addr = _compat.accept_descriptor(self)
        return _original_socket(self.family, self.type, self.proto, fileno=fd), addr


class _ClientSocket(_Socket):
    # The server sends its challenge once it is up: wait for that in the
    # event loop, so that the blocking read that follows returns at once.
    # Without a challenge (before Python 3.14) the server sends nothing.
    def connect(self, address: Any) -> None:
        super().connect(address)
        if _compat.forkserver_authenticates():
            _wait_readable(self.fileno())


def _wait_readable(fd: int) -> None:
    # In the event loop, when a greenlet other than the hub asks. The hub
    # itself (gipc's exit watcher reads a forkserver child's status with
    # read_signed once the sentinel is readable) cannot wait, and a thread
    # without a hub (plain multiprocessing code elsewhere while gipc starts a
    # child) blocks as it would have, rather than get a hub of its own.
    hub = _compat.hub_if_exists()
    if hub is None or getcurrent() is hub:
        return
    poller = _compat.select_poll()
    poller.register(fd, select.POLLIN)
    if not poller.poll(0):
        gevent.socket.wait_read(fd)


def _view(module: types.ModuleType, **originals: Any) -> types.ModuleType:
    """A stand-in for ``module`` whose ``originals`` replace gevent's patched names."""
    view = types.ModuleType(module.__name__, module.__doc__)
    view.__dict__.update(originals)
    view.__getattr__ = lambda name: getattr(module, name)  # type: ignore[method-assign]
    return view


def _socket_patched() -> bool:
    return socket.socket is not _original_socket


class _Installed:
    """What :func:`starting` replaced in ``multiprocessing.forkserver``, to put back."""

    def __init__(self, patched: bool) -> None:
        self.socket = _compat.forkserver_global("socket")
        self.read_signed = _compat.forkserver_global("read_signed")
        self.preload = _compat.forkserver_preload()
        self.socket_view = _view(socket, socket=_ClientSocket)

        def read_signed(fd: int) -> Any:
            # The pid comes once the forkserver has forked the child.
            _wait_readable(fd)
            return self.read_signed(fd)

        self.read_signed_view = read_signed
        _compat.set_forkserver_global("socket", self.socket_view)
        _compat.set_forkserver_global("read_signed", read_signed)
        # An empty list means no preload at all: the server imports nothing
        # of the program, so nothing there is patched.
        if patched and self.preload and PRELOAD not in self.preload:
            _compat.set_forkserver_preload([*self.preload, PRELOAD])
        self.preload_view = _compat.forkserver_preload()

    def restore(self) -> None:
        # Leave alone what other code set meanwhile.
        if _compat.forkserver_global("socket") is self.socket_view:
            _compat.set_forkserver_global("socket", self.socket)
        if _compat.forkserver_global("read_signed") is self.read_signed_view:
            _compat.set_forkserver_global("read_signed", self.read_signed)
        if _compat.forkserver_preload() is self.preload_view:
            _compat.set_forkserver_preload(self.preload)


@contextlib.contextmanager
def starting() -> Iterator[None]:
    """Let multiprocessing's forkserver start a child cooperatively in this block.

    Safe for greenlets (and threads) that start children at the same time,
    and for plain multiprocessing code running meanwhile, which gets the same
    cooperative waits.
    """
    global _users, _installed
    entered = False
    try:
        try:
            _lock.acquire()
            if _users == 0:
                _installed = _Installed(_socket_patched())
            _users += 1
            entered = True
        finally:
            _locks.release(_lock)
        yield
    finally:
        try:
            _lock.acquire()
            if entered:
                _users -= 1
            if _users == 0 and _installed is not None:
                _installed.restore()
                _installed = None
        finally:
            _locks.release(_lock)


def _after_fork_in_child() -> None:
    # Greenlets or threads inside starting() do not exist in a forked child:
    # put the module back as they would have, and start counting afresh.
    global _users, _installed, _lock
    _lock = _locks.new()
    _users = 0
    if _installed is not None:
        _installed.restore()
        _installed = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


_SERVER_NAMES = ("socket", "selectors", "signal", "os")


def unpatch_server() -> None:
    """In the forkserver process: run its loop on the unpatched standard library."""
    if not _socket_patched():
        return
    real = {name: _compat.forkserver_global(name) for name in _SERVER_NAMES}
    views = {
        "socket": _view(socket, socket=_Socket),
        "selectors": _view(selectors, DefaultSelector=_compat.default_selector),
        "signal": _view(signal, signal=_compat.signal_signal),
        "os": _view(os, fork=_compat.os_fork, waitpid=_compat.os_waitpid),
    }
    for name, view in views.items():
        _compat.set_forkserver_global(name, view)

    def restore() -> None:
        # The server's children run the program: they get the real modules.
        for name, module in real.items():
            _compat.set_forkserver_global(name, module)

    os.register_at_fork(after_in_child=restore)
