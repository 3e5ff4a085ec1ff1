"""Timeouts: turning a ``timeout`` argument into a deadline, and waiting on a watcher until one."""

from __future__ import annotations

from time import monotonic
from typing import Any

import gevent

from ._checks import check_number


def start_deadline(timeout: Any) -> tuple[float | None, gevent.Timeout | None]:
    """Turn a ``timeout`` argument into an absolute deadline or a legacy Timeout.

    :raises TypeError: if ``timeout`` is neither ``None``, a number nor a ``gevent.Timeout``.
    """
    if timeout is None:
        return None, None
    if isinstance(timeout, gevent.Timeout):
        return None, timeout
    if type(timeout) is not float and type(timeout) is not int:
        check_number(timeout, "timeout", unit="seconds")
    return monotonic() + max(float(timeout), 0.0), None


def wait_watcher(hub: Any, watcher: Any, seconds: float) -> bool:
    """Wait in ``hub`` until ``watcher`` fires; return ``False`` if ``seconds`` passed first.

    With ``seconds`` of 0 or less the loop still runs once, so a watcher
    that is ready by then may fire.
    """
    timer = gevent.Timeout(seconds, False)
    timer.start()
    try:
        hub.wait(watcher)
    except gevent.Timeout as t:
        if t is not timer:
            raise
        return False
    finally:
        timer.close()
    return True
