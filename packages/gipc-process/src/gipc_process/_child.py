"""What runs first in a forked child, before multiprocessing's bootstrap and the target."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable
from typing import Any

from gipc_transport import Handle, lowlevel

from . import _compat

# The OS thread's identity, even when threading is monkey-patched.
_thread_ident = _compat.thread_ident
# The raw dispositions (see _compat.c_signal for why).
_c_signal = _compat.c_signal

# Every catchable signal but SIGPIPE, whose inherited disposition is kept.
signals_to_reset: list[int] = sorted(
    {
        getattr(signal, name)
        for name in dir(signal)
        if name.startswith("SIG")
        and not name.startswith("SIG_")
        and name not in ("SIGKILL", "SIGSTOP", "SIGPIPE")
        and getattr(signal, name) < signal.NSIG
    }
)


# Plain ints: the enum members would be touched (and their pages copied) in the child.
_to_reset = tuple(int(s) for s in signals_to_reset)


def reset_signal_handlers() -> None:
    """Restore default dispositions, except those the parent set to ``SIG_IGN``.

    Handlers installed by the parent (Python's or the event loop's) belong to
    objects the child abandons; a signal must not land in them.
    """
    ignored, default = _c_signal.SIG_IGN, _c_signal.SIG_DFL
    for signum in _to_reset:
        try:
            if _c_signal.getsignal(signum) is ignored:
                continue
            _c_signal.signal(signum, default)
        except (OSError, ValueError):
            # Signals reserved by the C library (e.g. SIGRTMIN's neighbours).
            pass


class InheritedHub:
    """The hub of the thread that forks, and how the child gets rid of it.

    The child runs in the thread that forked, so ``gevent.get_hub()`` there
    never returns this hub: its greenlets, threadpool and watchers are
    unreachable. What remains, before the child's first hub, is telling
    gevent that the forking thread is the main one now, and freeing the
    inherited default event loop so that the new hub gets a fresh default
    loop (child and signal watchers need it). A libuv loop cannot be freed
    in the child, only cut off: the new hub gets a new loop that gevent
    treats as the default one (see ``_compat.cut_off_libuv_loop``).

    :meth:`install` runs in the forking thread before the fork, so that the
    child's first hub, whether an ``os.register_at_fork`` hook inside
    ``os.fork()`` or the target asks for it, is a proper one: the first
    ``get_hub()`` in the child abandons the inherited loop first. Until then
    the loop is left alone, untouched: a child that never uses gevent does
    not pay for freeing it (0.1-0.5 ms, mostly copy-on-write faults). In the
    parent, :meth:`uninstall` follows right after the fork.
    """

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        self._hub_class = _compat.hub_class()
        self._parent_pid = os.getpid()
        self._forking_thread: int | None = None
        self._abandoned = False
        #: A hub that a fork hook created in the parent's forking thread.
        self.stray: Any = None

    def _make_hub(self, *args: Any) -> Any:
        # gevent caches a thread's hub class on first use, so in a child that
        # forks again, the class recorded for the grandchild may be this
        # method of the child's own InheritedHub: arguments are passed on.
        if os.getpid() == self._parent_pid:
            # In the parent while the fork is under way: a fork hook yielding
            # in the forking thread (its hub is freed after the fork), or
            # another thread's first hub, made as it would have been.
            hub = self._hub_class(*args)
            if _thread_ident() == self._forking_thread:
                self.stray = hub
            return hub
        fresh_loop = self.abandon()
        if fresh_loop is not None:
            args = (fresh_loop,)
        sigchld = _c_signal.getsignal(signal.SIGCHLD)
        hub = self._hub_class(*args)
        # Recreating libev's default loop installs its SIGCHLD handler, which
        # reaps every child with waitpid(-1); gevent removes it only the
        # first time. Give the disposition back: the child's own children
        # (subprocess, gipc, multiprocessing) must keep their statuses.
        if sigchld is not None:
            _c_signal.signal(signal.SIGCHLD, sigchld)
            # And tell the loop so, as gevent's own signal.signal(SIGCHLD)
            # does: if the parent had installed libev's handler (its patched
            # subprocess did), the child inherits gevent's note that it is
            # installed, and the child's first child watcher (a patched
            # subprocess.run()) would wait for a SIGCHLD that never comes.
            _compat.forget_gevent_sigchld(hub.loop)
        self.uninstall()
        return hub

    def install(self) -> None:
        """Around ``os.fork()``: let hubs created meanwhile go through :meth:`abandon` in the child.

        gevent creates a thread's first hub from a process-wide default hub
        class, so the class differs for the duration of the fork; other
        threads of the parent that make their first hub meanwhile get the
        hub they would have got.
        """
        self._forking_thread = _thread_ident()
        _compat.set_hub_class(self._make_hub)

    def uninstall(self) -> None:
        """Restore gevent's default hub class."""
        _compat.set_hub_class(self._hub_class)

    def abandon(self) -> Any:
        """In the child: free the inherited loop, once, before the first hub is made.

        The child's first hub is still made by :meth:`_make_hub`, which
        restores gevent's default hub class afterwards. Returns the loop that
        hub must use, or None for a fresh default loop (see below).
        """
        if self._abandoned:
            return None
        self._abandoned = True
        # gevent records the main thread once, at import; after a fork from
        # another thread the forking thread (same ident in the child) is the
        # process's main thread, whichever thread makes the first hub.
        _compat.set_main_thread(self._forking_thread)
        loop = getattr(self._hub, "loop", None)
        if loop is None:
            return None
        if _compat.is_libuv_loop(loop):
            # libuv's default loop cannot be closed here (see
            # _compat.cut_off_libuv_loop), so it stays libuv's default: the
            # child's hub gets a new loop that gevent treats as the default.
            try:
                _compat.cut_off_libuv_loop(loop)
            except Exception:  # noqa: BLE001 - a half-dead inherited loop is still abandoned
                pass
            return _compat.fresh_default_libuv_loop(loop)
        try:
            loop.destroy()
        except Exception:  # noqa: BLE001 - a half-dead inherited loop is still abandoned
            pass
        return None


def after_fork(keep: Iterable[Handle], caller: int) -> None:
    """Prepare a freshly forked child for the target: imports, signals, handles.

    ``caller`` is the thread that asked for the fork: the modules it was
    importing are the child's to finish importing, as after a fork from
    that thread. The inherited hub is dealt with when the child first needs
    one (see :class:`InheritedHub`).
    """
    _compat.adopt_module_locks(caller)
    reset_signal_handlers()
    lowlevel.adopt_in_child(keep)


def close_handles(handles: Iterable[Handle]) -> None:
    """Close the handles the target was given, once it has returned."""
    for h in handles:
        if h.closed:
            continue
        try:
            h.close()
        except Exception as exc:  # noqa: BLE001 - the target's outcome matters more
            sys.stderr.write(f"gipc: could not close {h!r} after the target returned: {exc!r}\n")
