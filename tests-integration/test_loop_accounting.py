"""The suite's check for gevent watchers dropped unclosed (``tests-support/_loop_accounting.py``)."""

from __future__ import annotations

import gc
from typing import Any

import gevent
import pytest

import _loop_accounting

LIBUV = _loop_accounting.on_libuv()


def address(cdata: Any) -> int:
    from gevent.libuv import _corecffi

    return int(_corecffi.ffi.cast("uintptr_t", cdata))


def linked(loop: Any) -> set[int]:
    """The addresses of the handles the libuv loop links."""
    from gevent.libuv import _corecffi

    ffi, lib = _corecffi.ffi, _corecffi.lib
    found: set[int] = set()
    callback = ffi.callback("void(*)(uv_handle_t*,void*)", lambda h, _: found.add(address(h)))
    lib.uv_walk(loop.ptr, callback, ffi.NULL)
    return found


def expire_and_drop(loop: Any) -> Any:
    """Let a ``gevent.Timeout`` expire and drop it unclosed, as 1.8.0's tests did; return its native timer."""
    t = gevent.Timeout.start_new(0.001)
    try:
        gevent.sleep(5)
    except gevent.Timeout as exc:
        assert exc is t
    native = t.timer._watcher
    assert address(native) in linked(loop)
    return native


@pytest.mark.skipif(not LIBUV, reason="libev links no stopped watcher: dropping one is harmless")
def test_an_expired_timeout_dropped_unclosed_is_reported_and_unlinked() -> None:
    loop = gevent.get_hub().loop
    # Kept here, the timer's memory stays valid to look for in the loop.
    native = expire_and_drop(loop)
    gevent.sleep(0.01)  # the loop lets go of the expired timer (its keep-alive set)
    gc.collect()
    assert _loop_accounting.take() == ["timer watcher (callback None)"]
    gevent.sleep(0.01)  # libuv unlinks a closed handle in its next iteration
    assert address(native) not in linked(loop), "the dropped watcher was closed: the loop no longer links it"
