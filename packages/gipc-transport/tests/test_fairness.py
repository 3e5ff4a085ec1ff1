"""A greenlet that puts in a loop lets the other greenlets of its thread run.

``put()`` does not wait while the pipe has room. With a reader in another
process that keeps up (it polls before it sleeps), a producer loop would
never wait, and timers and other greenlets of its process would starve.
"""

from __future__ import annotations

import multiprocessing
import pickle
import select

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCClosed, _writer


def test_a_greenlet_streaming_to_a_fast_reader_lets_the_others_run() -> None:
    with gipc_transport.pipe() as (r, w):
        p = multiprocessing.get_context("fork").Process(target=C.consume_until_eof, args=(r,))
        p.start()
        r.close()
        sent = [0]

        def stream() -> None:
            while True:
                w.put(b"chunk" * 100)
                sent[0] += 1

        streamer = gevent.spawn(stream)
        try:
            # Twenty short sleeps: each returns once the streamer yields. A
            # starved loop took seconds for one of them (the bound is wide).
            with gevent.Timeout(20):
                for _ in range(20):
                    gevent.sleep(0.01)
            assert sent[0] > 0, "the streamer ran too"
        finally:
            streamer.kill()
        w.close()
        p.join(C.WAIT)
        assert p.exitcode == 0


def readable(r: gipc_transport.Reader) -> bool:
    """Whether the pipe has data, asked without switching greenlets."""
    return bool(select.select([r.fileno()], [], [], 0)[0])


def test_put_yields_before_writing_once_its_allowance_is_spent() -> None:
    with gipc_transport.pipe() as (r, w):
        seen: list[bool] = []
        w._credit = -1  # type: ignore[attr-defined]
        gevent.spawn(lambda: seen.append(readable(r)))
        w.put("message")
        # The other greenlet ran inside put(), before anything was written:
        # an exception raised into the yield would have sent nothing.
        assert seen == [False]
        assert r.get(timeout=5) == "message"
        assert w._credit == _writer._FAIR_BYTES - len(pickle.dumps("message", 5)) - _writer._FAIR_MIN  # type: ignore[attr-defined]
        # With allowance left, put() does not switch.
        gevent.spawn(lambda: seen.append(readable(r)))
        w.put("again")
        assert seen == [False]
        gevent.sleep(0)
        assert seen == [False, True]
        assert r.get(timeout=5) == "again"


def test_a_writer_closed_while_put_yields_raises_gipcclosed() -> None:
    with gipc_transport.pipe() as (r, w):
        w._credit = -1  # type: ignore[attr-defined]
        gevent.spawn(w.close)
        with pytest.raises(GIPCClosed):
            w.put("message")
        with pytest.raises(EOFError):
            r.get(timeout=5)  # nothing was sent
