"""What runs first in a child process, before the user's target."""

from __future__ import annotations

import signal
from typing import Any, Callable

import gevent
import gevent.hub

from gipc_transport import lowlevel

# Every catchable signal but SIGPIPE, whose inherited disposition is kept.
signals_to_reset: list[int] = sorted(
    {
        getattr(signal, name)
        for name in dir(signal)
        if name.startswith("SIG") and not name.startswith("SIG_")
        and name not in ("SIGKILL", "SIGSTOP", "SIGPIPE")
    }
)


def reset_signal_handlers() -> None:
    """Restore default dispositions, except those the parent set to ``SIG_IGN``."""
    for signum in signals_to_reset:
        if signum >= signal.NSIG:
            continue
        try:
            if signal.getsignal(signum) is signal.SIG_IGN:
                continue
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def abandon_inherited_hub() -> None:
    """Drop the hub, loop and threadpool inherited through fork, start afresh."""
    hub = gevent.get_hub()
    gevent.reinit()
    pool = hub._threadpool
    hub._threadpool = None
    if pool is not None:
        del pool
    gevent.hub.set_hub(None)
    hub.loop.destroy()
    gevent.get_hub()


def child_main(target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], forked: bool) -> None:
    handles = lowlevel.find_handles(args, kwargs)
    if forked:
        reset_signal_handlers()
        abandon_inherited_hub()
        lowlevel.adopt_in_child(handles)
    try:
        target(*args, **kwargs)
    finally:
        for h in handles:
            if not h.closed:
                try:
                    h.close()
                except Exception:
                    pass
