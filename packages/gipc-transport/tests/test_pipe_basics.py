"""The transport on its own: one process, real pipes, real gevent loop."""

from __future__ import annotations

import gc
import sys

import gevent
import gipc_transport
import pytest
from gipc_transport import GIPCClosed, GIPCError, GIPCTimeout, _pipesize, lowlevel
from transport_children import beyond_pipe


def test_put_get_roundtrip_between_greenlets() -> None:
    with gipc_transport.pipe() as (r, w):
        g = gevent.spawn(w.put, {"a": [1, 2, 3]})
        assert r.get() == {"a": [1, 2, 3]}
        g.get()


def test_raw_bytes_without_codec() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        w.put(b"\x00\x01")
        assert r.get() == b"\x00\x01"


def test_duplex_both_directions() -> None:
    with gipc_transport.pipe(duplex=True) as (a, b):
        a.put("ping")
        assert b.get() == "ping"
        b.put("pong")
        assert a.get() == "pong"


def test_duplex_reply_awaited_after_put_can_be_eof() -> None:
    a, b = gipc_transport.pipe(duplex=True)
    with a:
        a.put("request")
        # get() after put() waits for the reply before reading: the peer
        # closing instead must end that wait too.
        g = gevent.spawn(b.close)
        with gevent.Timeout(10), pytest.raises(EOFError):
            a.get()
        g.get(timeout=10)


def test_capacity_is_what_a_channel_holds_with_nobody_reading() -> None:
    # Tests of puts that must wait for a reader size their messages with
    # beyond_pipe(), from the capacity.
    holds = _pipesize.capacity()
    assert holds >= 64 * 1024
    sent: list[bytes] = []
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        if sys.platform == "win32":
            # Measured there, not only an upper bound: half of it goes out at once.
            sent.append(b"h" * (holds // 2))
            w.put(sent[0], timeout=0)
        sent.append(b"x" * beyond_pipe(1))
        with pytest.raises(GIPCTimeout, match="rest goes out first"):
            w.put(sent[-1], timeout=0.2)
        reader = gevent.spawn(lambda: [r.get(timeout=10) for _ in sent])
        w.flush(timeout=10)
        assert reader.get(timeout=20) == sent


def test_eof_after_writer_closed() -> None:
    with gipc_transport.pipe() as (r, w):
        w.put(1)
        w.close()
        assert r.get() == 1
        with pytest.raises(EOFError):
            r.get()


def test_use_after_close_is_gipcclosed() -> None:
    r, w = gipc_transport.pipe()
    r.close()
    w.close()
    with pytest.raises(GIPCClosed):
        w.put(1)
    with pytest.raises(GIPCClosed):
        r.close()


def test_non_callable_codec_is_rejected() -> None:
    with pytest.raises(GIPCError):
        gipc_transport.pipe(encoder=42)  # type: ignore[arg-type]
    assert lowlevel.live_handles() == []


def test_context_exit_closes_both_and_unregisters() -> None:
    with gipc_transport.pipe() as (r, w):
        assert set(lowlevel.live_handles()) == {r, w}
    assert r.closed and w.closed
    assert lowlevel.live_handles() == []


def test_live_handles_are_listed_oldest_first_and_forget_dropped_ones() -> None:
    first = gipc_transport.pipe()
    second = gipc_transport.pipe()
    third = gipc_transport.pipe()
    assert lowlevel.live_handles() == [*first, *second, *third]
    second[0].close()
    del second
    gc.collect()  # the writer of the second pair, dropped without close()
    assert lowlevel.live_handles() == [*first, *third]
    for pair in (first, third):
        pair[0].close()
        pair[1].close()
    assert lowlevel.live_handles() == []
