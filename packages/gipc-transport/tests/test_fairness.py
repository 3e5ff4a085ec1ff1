"""A greenlet that puts or gets in a loop lets the other greenlets of its thread run.

``put()`` does not wait while the pipe has room, ``get()`` while it has
data. With a reader in another process that keeps up (it polls before it
sleeps), a producer loop would never wait, nor would a consumer loop behind
a faster producer, and timers and other greenlets of its process would
starve.
"""

from __future__ import annotations

import multiprocessing
import pickle
import select

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCClosed, _handles


def test_a_greenlet_streaming_to_a_fast_reader_lets_the_others_run() -> None:
    with gipc_transport.pipe() as (r, w):
        p = multiprocessing.get_context(C.ANY_METHOD).Process(target=C.consume_until_eof, args=(r,))
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
        # Killed in the middle of a put() (on Windows even a small message
        # may be half sent: socket writes are not atomic as small pipe writes
        # are), the rest goes out first, before the end of the stream.
        w.flush(timeout=C.WAIT)
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
        assert w._credit == _handles.FAIR_BYTES - len(pickle.dumps("message", 5)) - _handles.FAIR_MIN  # type: ignore[attr-defined]
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


def test_a_greenlet_reading_a_full_pipe_lets_the_others_run() -> None:
    count = 3000  # 1-byte messages count 1 KiB each: about three yields' worth
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        for _ in range(count):
            w.put(b"x")
        order: list[str] = []

        def consume() -> None:
            for _ in range(count):
                r.get()
            order.append("consumer done")

        consumer = gevent.spawn(consume)
        gevent.spawn(order.append, "other ran")
        consumer.join(timeout=30)
        # The pipe never ran dry, so get() never waited; it yielded anyway.
        assert order == ["other ran", "consumer done"]


def test_get_yields_before_taking_a_message_once_its_allowance_is_spent() -> None:
    with gipc_transport.pipe() as (r, w):
        w.put("message")
        seen: list[bool] = []
        r._credit = -1  # type: ignore[attr-defined]
        gevent.spawn(lambda: seen.append(r.poll(0)))
        assert r.get() == "message"
        # The other greenlet ran inside get(), before the message was taken:
        # an exception raised into the yield would have lost nothing.
        assert seen == [True]
        expected = _handles.FAIR_BYTES - len(pickle.dumps("message", 5)) - _handles.FAIR_MIN
        assert r._credit == expected  # type: ignore[attr-defined]
        # With allowance left, get() does not switch.
        w.put("again")
        poller = gevent.spawn(lambda: seen.append(r.poll(0)))
        assert r.get() == "again"
        assert seen == [True]
        poller.join(timeout=5)
        assert seen == [True, False]


def test_a_reader_closed_while_get_yields_raises_gipcclosed() -> None:
    with gipc_transport.pipe() as (r, w):
        w.put("message")
        r._credit = -1  # type: ignore[attr-defined]
        gevent.spawn(r.close)
        with pytest.raises(GIPCClosed):
            r.get()


def test_waiting_restores_the_allowance() -> None:
    with gipc_transport.pipe() as (r, w):
        r._credit = 10  # type: ignore[attr-defined]
        gevent.spawn_later(0.05, w.put, "late")
        assert r.get(timeout=5) == "late"  # waited for it
        expected = _handles.FAIR_BYTES - len(pickle.dumps("late", 5)) - _handles.FAIR_MIN
        assert r._credit == expected  # type: ignore[attr-defined]
