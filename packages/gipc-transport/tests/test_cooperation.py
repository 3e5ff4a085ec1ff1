"""Greenlets run while one waits in get() or put() on a child's pipe; a very large message; grandchildren."""

from __future__ import annotations

import multiprocessing

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import lowlevel

WAIT = C.WAIT


def start(target: object, *args: object) -> multiprocessing.process.BaseProcess:
    handles = lowlevel.find_handles(args)
    p = multiprocessing.get_context(C.ANY_METHOD).Process(target=target, args=args)
    with lowlevel.transferring(handles):
        p.start()
    return p


def finish(p: multiprocessing.process.BaseProcess) -> None:
    p.join(WAIT)
    assert p.exitcode == 0
    p.close()


class Ticker:
    """A greenlet that counts 5 ms sleeps: it only counts while the loop runs."""

    def __init__(self) -> None:
        self.ticks = 0
        self._g = gevent.spawn(self._run)

    def _run(self) -> None:
        while True:
            gevent.sleep(0.005)
            self.ticks += 1

    def stop(self) -> None:
        self._g.kill()


def test_other_greenlets_run_while_get_waits() -> None:
    a, b = gipc_transport.pipe(duplex=True)
    with a:
        p = start(C.reply_after, b, 0.5)
        ticker = Ticker()
        try:
            a.put("ping", timeout=WAIT)
            before = ticker.ticks
            assert a.get(timeout=WAIT) == "ping"  # waits at least the child's 0.5 s
            during = ticker.ticks - before
        finally:
            ticker.stop()
        finish(p)
    # A get() that blocked the loop would leave the ticker at 0 or 1.
    assert during >= 3, during


def test_other_greenlets_run_while_put_waits() -> None:
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    back_r, back_w = gipc_transport.pipe()
    with w, back_r:
        p = start(C.drain_after, r, back_w, 0.5)
        ticker = Ticker()
        try:
            before = ticker.ticks
            # More than any pipe or socket buffer holds: put() waits for the
            # child, which starts reading after 0.5 s.
            w.put(b"x" * C.beyond_pipe(8 * C.MiB), timeout=WAIT)
            during = ticker.ticks - before
        finally:
            ticker.stop()
        w.close()
        assert back_r.get(timeout=WAIT) == C.beyond_pipe(8 * C.MiB)
        finish(p)
    assert during >= 3, during


def test_a_256_mib_message_from_a_child_arrives_whole() -> None:
    size = 256 * C.MiB
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    with r:
        p = start(C.send_one, w, size)
        got = r.get(timeout=10 * WAIT)
        finish(p)
    assert len(got) == size
    assert got == C.payload(5, size)


def test_a_handle_travels_on_to_a_grandchild() -> None:
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    with r:
        p = start(C.via_grandchild, w)
        assert r.get(timeout=WAIT) == C.payload(0, 10)
        assert r.get(timeout=WAIT) == C.payload(1, 100_000)
        finish(p)
        # Every copy is closed (here after the start, in the child after
        # its hand-over, in the grandchild by close()): the end of the stream.
        with pytest.raises(EOFError):
            r.get(timeout=WAIT)
