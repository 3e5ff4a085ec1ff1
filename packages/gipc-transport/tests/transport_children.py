"""Child-process targets for the transport tests (module-level: picklable by name).

A child started by plain multiprocessing is not a gipc child: it replaces
the hub it may have inherited and adopts its handles itself, the documented
child-side step (``lowlevel.adopt_in_child``), which is also needed after
``spawn``/``forkserver`` to drop the other handles it does not own.
"""

from __future__ import annotations

import multiprocessing
import os
import struct
import sys
import threading
from typing import Any

import gevent
import gevent.hub
from gipc_transport import _pipesize, lowlevel

WAIT = 30.0
MiB = 1024 * 1024
#: The start method of tests that need any child: fork where there is one
#: (the quickest), spawn on Windows.
START_METHODS = multiprocessing.get_all_start_methods()
ANY_METHOD = "fork" if "fork" in START_METHODS else "spawn"

# Bytes straight on a handle's descriptor, bypassing the handle: on POSIX the
# pipe's descriptor; on Windows the channel's socket (see _windows_pipes).
if sys.platform == "win32":
    import _socket

    from gipc_transport._windows_pipes import _SOCKETS, socket_of

    def raw_write(fd: int, data: Any) -> int:
        n: int = socket_of(fd).send(data)
        return n

    def raw_read(fd: int, n: int) -> bytes:
        data: bytes = socket_of(fd).recv(n)
        return data

    def set_blocking(fd: int, blocking: bool) -> None:
        socket_of(fd).setblocking(blocking)

    def close_underneath(fd: int) -> None:
        """Close the OS socket behind the handle's back (the object still holds its number)."""
        _socket.close(fd)  # type: ignore[attr-defined,unused-ignore]

    def open_descriptors() -> set[int]:
        """The channel sockets open in this process (Windows has no /proc)."""
        return set(_SOCKETS)

else:
    raw_write = os.write
    raw_read = os.read
    set_blocking = os.set_blocking
    close_underneath = os.close

    def open_descriptors() -> set[int]:
        """The descriptors open in this process, from /proc."""
        return {int(fd) for fd in os.listdir("/proc/self/fd")}


def beyond_pipe(size: int) -> int:
    """Return ``size``, or more where a channel may hold ``size`` bytes with nobody reading.

    Tests of a put() that cannot complete without a reader take messages of
    this size: at least 1 MiB beyond what a channel holds (on Linux at most
    1 MiB, so every size the tests ask for stands; on Windows what the
    socket pair takes, measured).
    """
    return max(size, _pipesize.capacity() + MiB)


def adopt(*objs: Any) -> None:
    """The child-side step: fresh hub, own the given handles, close the others."""
    hub = gevent.get_hub()
    gevent.reinit()
    gevent.hub.set_hub(None)
    hub.loop.destroy()
    gevent.get_hub()
    lowlevel.adopt_in_child(lowlevel.find_handles(objs))


def payload(i: int, size: int) -> bytes:
    """Deterministic, position-dependent content, so that a shifted byte shows."""
    block = struct.pack("<QQ", i, size) * 4
    return (block * (size // len(block) + 1))[:size]


def echo(h: Any, n: int) -> None:
    adopt(h)
    for _ in range(n):
        h.put(h.get(timeout=WAIT), timeout=WAIT)
    h.close()


def send_many(w: Any, sizes: list[int]) -> None:
    adopt(w)
    for i, size in enumerate(sizes):
        w.put(payload(i, size), timeout=WAIT)
    w.close()


def read_all_then_report(r: Any, w: Any) -> None:
    """Receive messages until EOF and report what arrived on ``w``."""
    adopt(r, w)
    got = [m for m in r]
    w.put(got, timeout=WAIT)
    r.close()
    w.close()


def put_then_hang(w: Any, nbytes: int, ready: Any) -> None:
    """Send the first ``nbytes`` of a 4 MiB message, then wait to be killed."""
    adopt(w, ready)
    fd = w.fileno()
    set_blocking(fd, True)
    header = struct.pack("<Q", 4 * MiB)
    data = (header + payload(0, 4 * MiB))[:nbytes]
    raw_write(fd, data)
    ready.put("sent", timeout=WAIT)
    threading.Event().wait()


def idle(w: Any, ready: Any) -> None:
    adopt(w, ready)
    ready.put("idle", timeout=WAIT)
    threading.Event().wait()


def close_reader(r: Any) -> None:
    adopt(r)
    r.close()


def echo_with_pauses(h: Any, pauses: list[float]) -> None:
    """Echo one message per pause, sleeping that long before each reply.

    Plain ``get()`` and ``put()``: the fast paths where a due reply is polled for.
    """
    adopt(h)
    for pause in pauses:
        msg = h.get()
        if pause:
            gevent.sleep(pause)
        h.put(msg)
    h.close()


def send_with_pauses(w: Any, pauses: list[float]) -> None:
    """Send 0, 1, 2, ..., pausing before each message as told."""
    adopt(w)
    for i, pause in enumerate(pauses):
        if pause:
            gevent.sleep(pause)
        w.put(i)
    w.close()


def consume_until_eof(r: Any) -> None:
    """Read as fast as possible until the writer closes (plain get(): the read spin on)."""
    adopt(r)
    try:
        while True:
            r.get()
    except EOFError:
        pass
    r.close()


def echo_one(r: Any, w: Any, *_ignored: Any) -> None:
    """Read one message from ``r`` and send it back through ``w``."""
    adopt(r, w)
    w.put(r.get(timeout=WAIT))
    r.close()
    w.close()


def reply_after(d: Any, delay: float) -> None:
    """Receive one message, wait ``delay`` seconds, send it back."""
    adopt(d)
    msg = d.get(timeout=WAIT)
    gevent.sleep(delay)
    d.put(msg, timeout=WAIT)
    d.close()


def drain_after(r: Any, back: Any, delay: float) -> None:
    """Wait ``delay`` seconds, then receive until EOF; report the bytes received."""
    adopt(r, back)
    gevent.sleep(delay)
    total = 0
    try:
        while True:
            total += len(r.get(timeout=WAIT))
    except EOFError:
        pass
    back.put(total, timeout=WAIT)
    r.close()
    back.close()


def send_one(w: Any, size: int) -> None:
    """Send one message of ``size`` bytes (``payload(5, size)``)."""
    adopt(w)
    w.put(payload(5, size), timeout=10 * WAIT)
    w.close()


def via_grandchild(w: Any) -> None:
    """Hand ``w`` on to a grandchild that sends ``payload(0, 10)`` and ``payload(1, 100_000)``."""
    adopt(w)
    p = multiprocessing.get_context(ANY_METHOD).Process(target=send_many, args=(w, [10, 100_000]))
    with lowlevel.transferring([w]):
        p.start()
    p.join(WAIT)
    if p.exitcode != 0:
        raise SystemExit(f"the grandchild failed: exit code {p.exitcode}")
