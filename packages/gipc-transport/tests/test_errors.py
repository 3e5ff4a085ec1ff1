"""Failing codecs, unpicklable objects, a vanished reader, misuse of handles."""

from __future__ import annotations

import copy
import pickle
import threading

import gevent
import gipc_transport
import pytest
from gipc_transport import GIPCBroken, GIPCBrokenPipe, GIPCClosed, GIPCError
from transport_children import beyond_pipe


class Boom(Exception):
    pass


def failing_encoder(obj: object) -> bytes:
    if obj == "bad":
        raise Boom("encoder")
    return pickle.dumps(obj)


def failing_decoder(data: bytes) -> object:
    obj = pickle.loads(data)
    if obj == "bad":
        raise Boom("decoder")
    return obj


def test_encoder_raising_reaches_caller_channel_usable() -> None:
    with gipc_transport.pipe(encoder=failing_encoder, decoder=pickle.loads) as (r, w):
        with pytest.raises(Boom):
            w.put("bad")
        w.put("good")
        assert r.get(timeout=5) == "good"


@pytest.mark.parametrize("result", [42, "text", None, object()])
def test_encoder_returning_wrong_type_is_typeerror_channel_usable(result: object) -> None:
    with gipc_transport.pipe(encoder=lambda o: result if o == "bad" else pickle.dumps(o)) as (r, w):
        with pytest.raises(TypeError, match="bytes-like"):
            w.put("bad")
        w.put("good")
        assert r.get(timeout=5) == "good"


def test_unpicklable_object_channel_usable() -> None:
    with gipc_transport.pipe() as (r, w):
        with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
            w.put(threading.Lock())
        with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
            w.put({"nested": [lambda: None]})
        w.put("good")
        assert r.get(timeout=5) == "good"


def test_decoder_raising_reaches_caller_next_message_intact() -> None:
    with gipc_transport.pipe(decoder=failing_decoder) as (r, w):
        w.put("bad")
        w.put("good")
        with pytest.raises(Boom):
            r.get(timeout=5)
        assert r.get(timeout=5) == "good"


def test_unpickling_error_of_large_message_leaves_channel_in_sync() -> None:
    with gipc_transport.pipe(encoder=None) as (r, w):
        g = gevent.spawn(w.put, b"\x80\x05garbage" * 100_000)
        with pytest.raises(Exception) as info:
            r.get(timeout=10)
        assert not isinstance(info.value, GIPCError)
        g.get(timeout=10)
        w.put(pickle.dumps("good"))
        assert r.get(timeout=5) == "good"


def test_raw_put_of_non_bytes_is_typeerror() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        with pytest.raises(TypeError):
            w.put("text")
        w.put(memoryview(b"abc"))
        w.put(bytearray(b"def"))
        assert r.get(timeout=5) == b"abc"
        assert r.get(timeout=5) == b"def"


def test_reader_gone_is_gipcbrokenpipe_then_stays_broken() -> None:
    r, w = gipc_transport.pipe()
    r.close()
    with pytest.raises(GIPCBrokenPipe) as info:
        w.put("x")
    assert isinstance(info.value, BrokenPipeError)
    assert isinstance(info.value, GIPCBroken)
    with pytest.raises(GIPCBrokenPipe, match="reading end"):
        w.put("y")
    w.close()


def test_reader_gone_during_large_put_is_gipcbrokenpipe() -> None:
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    g = gevent.spawn(w.put, b"x" * beyond_pipe(8 * 1024 * 1024))
    gevent.sleep(0.01)
    r.close()
    with pytest.raises(GIPCBrokenPipe):
        g.get(timeout=10)
    w.close()


def test_pickling_a_handle_outside_a_child_start_is_gipcerror() -> None:
    with gipc_transport.pipe() as (r, w):
        for h in (r, w):
            with pytest.raises(GIPCError, match="only be pickled"):
                pickle.dumps(h)
            with pytest.raises(GIPCError):
                copy.copy(h)
        with gipc_transport.pipe() as (r2, w2):
            with pytest.raises(GIPCError):
                w.put(r2)
        w.put("still fine")
        assert r.get(timeout=5) == "still fine"


def test_use_after_close_everywhere_is_gipcclosed() -> None:
    r, w = gipc_transport.pipe()
    r.close()
    w.close()
    for call in (r.get, r.poll, r.fileno, lambda: w.put(1), w.flush, w.fileno, r.close, w.close):
        with pytest.raises(GIPCClosed):
            call()
    assert r.closed and w.closed


def test_reader_closed_by_the_greenlet_before_in_line_is_gipcclosed() -> None:
    # B waits for the reader while A's get() has it; A closes it right after.
    with gipc_transport.pipe() as (r, w):
        outcome: list[object] = []

        def first() -> None:
            outcome.append(r.get(timeout=5))
            r.close()

        def second() -> None:
            try:
                outcome.append(r.get(timeout=5))
            except GIPCError as exc:
                outcome.append(exc)

        a, b = gevent.spawn(first), gevent.spawn(second)
        gevent.sleep(0.05)  # A waits for data, B for A
        w.put("only")
        gevent.joinall([a, b], timeout=10, raise_error=True)
        assert outcome[0] == "only"
        assert type(outcome[1]) is GIPCClosed


def test_writer_closed_by_the_greenlet_before_in_line_is_gipcclosed() -> None:
    # B waits for the writer while A's put() waits for room; A closes it after.
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        fill = b"x" * beyond_pipe(4 * 1024 * 1024)  # more than any pipe holds
        outcome: list[object] = []

        def first() -> None:
            w.put(fill, timeout=10)
            w.close()

        def second() -> None:
            try:
                w.put(b"late", timeout=10)
                outcome.append("sent")
            except GIPCError as exc:
                outcome.append(exc)

        a, b = gevent.spawn(first), gevent.spawn(second)
        gevent.sleep(0.05)  # A waits for room, B for A
        assert r.get(timeout=10) == fill
        gevent.joinall([a, b], timeout=10, raise_error=True)
        assert [type(x) for x in outcome] == [GIPCClosed]
        with pytest.raises(EOFError):
            r.get(timeout=5)  # nothing but the first message was sent


def test_duplex_closed_twice_is_gipcclosed() -> None:
    a, b = gipc_transport.pipe(duplex=True)
    a.close()
    b.close()
    with pytest.raises(GIPCClosed):
        a.close()
    with pytest.raises(GIPCClosed):
        a.put(1)


def test_broken_pipe_error_carries_epipe_every_time() -> None:
    import errno

    r, w = gipc_transport.pipe()
    r.close()
    for _ in range(2):
        with pytest.raises(GIPCBrokenPipe) as info:
            w.put("x")
        assert info.value.errno == errno.EPIPE
    w.close()


def test_duplex_exit_closes_reader_even_if_writer_is_locked() -> None:
    h1, h2 = gipc_transport.pipe(duplex=True, encoder=None, decoder=None)
    g = gevent.spawn(h1.put, b"x" * beyond_pipe(4 * 1024 * 1024))
    gevent.sleep(0.01)
    with pytest.raises(gipc_transport.GIPCLocked):
        h1.__exit__(None, None, None)
    r1, w1 = h1.handles()
    assert r1.closed and not w1.closed
    h2.close()
    with pytest.raises(GIPCBrokenPipe):
        g.get(timeout=10)
    h1.close()
    assert w1.closed


def test_broken_handle_keeps_no_caller_frames_alive() -> None:
    import gc
    import weakref

    class Marker:
        pass

    r, w = gipc_transport.pipe()
    r.close()

    def fail_once() -> weakref.ref[Marker]:
        marker = Marker()  # referenced only by this frame
        with pytest.raises(GIPCBrokenPipe):
            w.put("x")
        return weakref.ref(marker)

    ref = fail_once()
    gc.collect()
    assert ref() is None, "the broken writer keeps the failed call's frame alive"
    w.close()
