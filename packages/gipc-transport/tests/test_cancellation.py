"""Timeouts and cancellation: the stream never desynchronises, nothing hangs."""

from __future__ import annotations

import os

import gevent
import gipc_transport
import pytest
from gipc_transport import GIPCError, GIPCLocked, GIPCTimeout
from transport_children import beyond_pipe, payload

MiB = 1024 * 1024
# Larger than a channel holds: a put() of it waits for the reader.
BIG = beyond_pipe(3 * MiB) + 11
FILL = beyond_pipe(4 * MiB)
HUGE = beyond_pipe(8 * MiB)
SENTINEL = ("sentinel", 42)


def big(i: int) -> bytes:
    return payload(i, BIG)


def next_loop_iteration() -> None:
    """Yield to the event loop until a zero-second timer fires.

    ``gevent.sleep(0)`` only queues a callback, and gevent's cffi loops
    (libuv, libev-cffi) run bursts of callbacks that queue more callbacks
    without polling for I/O in between: greenlets waiting for a pipe would
    not wake. Timers are run by the loop's own iterations, each of which
    polls for I/O.
    """
    hub = gevent.get_hub()
    timer = hub.loop.timer(0)
    try:
        hub.wait(timer)
    finally:
        timer.close()


def let_run(switches: int) -> None:
    """Let other greenlets run: one loop iteration, then ``switches - 1`` more switches.

    With ``switches == 0`` nothing runs. Otherwise the loop polls once, so a
    greenlet waiting for the pipe moves on by up to a pipe-full, and is then
    interrupted wherever the extra switches leave it.
    """
    for k in range(switches):
        if k == 0:
            next_loop_iteration()
        else:
            gevent.sleep(0)


def test_get_timeout_is_gipc_and_builtin_timeout() -> None:
    with gipc_transport.pipe() as (r, w):
        with pytest.raises(GIPCTimeout) as info:
            r.get(timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        assert isinstance(info.value, GIPCError)
        w.put("after")
        assert r.get(timeout=5) == "after"


def test_put_timeout_when_pipe_full() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        with pytest.raises(GIPCTimeout, match="rest goes out first"):
            w.put(b"x" * HUGE, timeout=0.05)
        with pytest.raises(GIPCTimeout):
            w.put(b"sentinel", timeout=0)  # The remainder goes first; the pipe is still full.
        reader = gevent.spawn(lambda: [r.get(timeout=10), r.get(timeout=10)])
        w.put(b"sentinel", timeout=10)
        first, second = reader.get(timeout=20)
        assert first == b"x" * HUGE
        assert second == b"sentinel"


def test_put_that_wrote_nothing_sends_nothing() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        blocker = gevent.spawn(w.put, b"b" * FILL)
        gevent.sleep(0.01)
        with pytest.raises(GIPCTimeout):
            w.put(b"never", timeout=0.01)  # Waits for the lock, writes nothing.
        got = [r.get(timeout=10)]
        blocker.get(timeout=10)
        w.put(b"sentinel", timeout=5)
        got.append(r.get(timeout=5))
        assert got == [b"b" * FILL, b"sentinel"]


def test_legacy_gevent_timeout_fires_while_idle() -> None:
    with gipc_transport.pipe() as (r, w):
        with gevent.Timeout(0.05, False) as t:
            r.get(timeout=t)
            pytest.fail("get() returned without a message")
        w.put(1)
        assert r.get(timeout=5) == 1


def test_legacy_gevent_timeout_cancelled_by_first_byte() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        payload = os.urandom(beyond_pipe(6 * MiB))
        g = gevent.spawn(w.put, payload)
        # The Timeout may fire until the first byte is there; then never again.
        assert r.poll(timeout=10)
        t = gevent.Timeout(0.0001)
        t.start()
        try:
            # The message takes many pipe-fulls; the Timeout must not fire midway.
            assert r.get(timeout=t) == payload
        finally:
            t.close()
        assert not t.pending
        g.get(timeout=10)


def test_timeout_argument_type_is_checked() -> None:
    with gipc_transport.pipe() as (r, w):
        with pytest.raises(TypeError):
            r.get(timeout="1")
        with pytest.raises(TypeError):
            w.put(1, timeout=[1])


@pytest.mark.parametrize("how", ["timeout", "kill", "outer-timeout"])
def test_interrupted_gets_at_many_offsets_resume(how: str) -> None:
    msgs = [big(i) for i in range(3)] + [SENTINEL]
    with gipc_transport.pipe() as (r, w):
        writer = gevent.spawn(lambda: [w.put(m, timeout=30) for m in msgs])
        got: list[object] = []
        tries = 0
        while len(got) < len(msgs):
            tries += 1
            assert tries < 10_000
            if how == "timeout":
                try:
                    got.append(r.get(timeout=0.0002 * (tries % 7)))
                except GIPCTimeout:
                    pass
            elif how == "outer-timeout":
                with gevent.Timeout(0.0002 * (tries % 7), False):
                    got.append(r.get())
            else:
                g = gevent.spawn(lambda: got.append(r.get()))
                let_run(tries % 5)
                g.kill(timeout=10)
        writer.get(timeout=10)
        assert got == msgs


@pytest.mark.parametrize("how", ["timeout", "kill", "outer-timeout"])
def test_interrupted_puts_at_many_offsets_never_garble(how: str) -> None:
    received: list[object] = []
    with gipc_transport.pipe() as (r, w):

        def drain() -> None:
            for msg in r:
                received.append(msg)
                if msg == SENTINEL:
                    return

        reader = gevent.spawn(drain)
        attempted = []
        for i in range(24):
            attempted.append(i)
            msg = (i, big(i))
            if how == "timeout":
                try:
                    w.put(msg, timeout=0.0003 * (i % 6))
                except GIPCTimeout:
                    pass
            elif how == "outer-timeout":
                with gevent.Timeout(0.0003 * (i % 6), False):
                    w.put(msg)
            else:
                g = gevent.spawn(w.put, msg)
                let_run(i % 6)
                g.kill(timeout=10)
        w.put(SENTINEL, timeout=30)
        reader.get(timeout=30)
    assert received[-1] == SENTINEL
    indices = [m[0] for m in received[:-1]]  # type: ignore[index]
    assert indices == sorted(set(indices))
    for i, data in received[:-1]:  # type: ignore[misc]
        assert data == big(i)
    # Interruptions happen: some but not all messages made it.
    assert 0 < len(indices) <= len(attempted)


def test_interrupted_put_of_mutable_buffer_sends_what_put_was_given() -> None:
    data = bytearray(b"a" * FILL)
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        with pytest.raises(GIPCTimeout):
            w.put(data, timeout=0.01)
        data[:] = b"b" * len(data)  # Changing it afterwards must not change the message.
        reader = gevent.spawn(r.get, timeout=10)
        w.flush(timeout=10)
        assert reader.get(timeout=10) == b"a" * FILL


def test_many_greenlets_share_both_ends() -> None:
    n_writers, per_writer = 8, 40
    sizes = [1, 1000, 70_000, 300_000]
    with gipc_transport.pipe() as (r, w):

        def produce(k: int) -> None:
            for j in range(per_writer):
                w.put((k, j, bytes([k]) * sizes[j % len(sizes)]), timeout=30)

        results: list[tuple[int, int, bytes]] = []

        def consume() -> None:
            while True:
                msg = r.get(timeout=30)
                if msg is None:
                    return
                results.append(msg)

        consumers = [gevent.spawn(consume) for _ in range(4)]
        producers = [gevent.spawn(produce, k) for k in range(n_writers)]
        gevent.joinall(producers, timeout=60, raise_error=True)
        for _ in consumers:
            w.put(None, timeout=5)
        gevent.joinall(consumers, timeout=60, raise_error=True)
    assert len(results) == n_writers * per_writer
    for k, j, data in results:
        assert data == bytes([k]) * sizes[j % len(sizes)]
    for k in range(n_writers):
        mine = sorted(j for kk, j, _ in results if kk == k)
        assert mine == list(range(per_writer))


def test_close_while_another_greenlet_waits_is_gipclocked() -> None:
    with gipc_transport.pipe() as (r, w):
        g = gevent.spawn(r.get)
        gevent.sleep(0.01)
        with pytest.raises(GIPCLocked):
            r.close()
        w.put("wake")
        assert g.get(timeout=5) == "wake"
