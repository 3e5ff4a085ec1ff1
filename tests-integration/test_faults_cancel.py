"""Fault injection: ``put()`` and ``get()`` interrupted at random points.

An interruption is a ``timeout=`` deadline, a ``gevent.Timeout`` around the
call or ``greenlet.kill()``. Afterwards the channel must be resumable (the
interrupted message arrives whole, or not at all if none of it was written,
and a sentinel message sent afterwards arrives intact) or explicitly broken
(every later call raises a ``GIPCBroken`` that says why). Never garbage,
never a merged or lost message, never a hang.

The scenarios that interrupt greenlets of one process run in a child
process (``run_isolated``): should the parent's event loop ever stop waking
greenlets up, no ``gevent.Timeout`` could end the test, and only a process
boundary keeps the hang bounded and reported as a failure.

Interruption points come from a seeded random generator (the seed is
printed; replay with ``GIPC_FAULTS_SEED``): a number of hub iterations to
let pass, or a deadline of a few hundred microseconds, against messages of
several MiB that need many pipe-fulls.
"""

from __future__ import annotations

import random
from importlib import import_module
from typing import Any

import gevent
import gipc
import pytest

H: Any = import_module("tests-integration._faults_helpers")
WAIT = H.WAIT

SIZES = [2 * 1024 * 1024, 100, 3 * 1024 * 1024 + 7, 70_000]
SENTINEL = ("sentinel", b"\x00" * 1000)
KINDS = ("timeout-arg", "gevent-timeout", "kill")


def interrupt(rng: random.Random, call: Any, kind: str) -> tuple[bool, Any]:
    """Run ``call(timeout)`` and interrupt it as ``kind`` says; return (completed, result)."""
    if kind == "timeout-arg":
        try:
            return True, call(rng.uniform(0, 0.002))
        except gipc.GIPCTimeout as exc:
            assert isinstance(exc, TimeoutError)
            return False, None
    if kind == "gevent-timeout":
        try:
            with gevent.Timeout(rng.uniform(0, 0.002)):
                return True, call(None)
        except gevent.Timeout:
            return False, None
    g = gevent.spawn(call, None)
    for _ in range(rng.randrange(0, 6)):
        # On gevent's cffi loops (libuv, libev-cffi) sleep(0) runs callbacks
        # without polling for I/O: a loop of nothing but sleep(0) and kill()
        # would starve the writer greenlet for ever. Short timed sleeps poll.
        gevent.sleep(rng.choice((0, 0, 0.0005)))
    g.kill(block=True, timeout=WAIT)
    assert g.dead
    if g.exception is not None:
        raise g.exception
    if g.successful() and not isinstance(g.value, gevent.GreenletExit):
        return True, g.value
    return False, None


@pytest.mark.parametrize("kind", KINDS)
def test_interrupted_put_in_process_then_sentinel(request: pytest.FixtureRequest, kind: str) -> None:
    """A reader greenlet drains the pipe while puts of large messages are interrupted."""
    _, seed = H.make_rng(request, kind)
    H.run_isolated(put_in_process_scenario, seed, kind)


def put_in_process_scenario(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    received: list[Any] = []

    with gipc.pipe() as (r, w):

        def drain() -> None:
            for msg in r:
                received.append(msg)
                if msg == SENTINEL:
                    return

        with gevent.Timeout(WAIT, AssertionError(f"seed {seed}: hang")):
            reader = gevent.spawn(drain)
            completed = []
            for i in range(30):
                msg = (i, H.payload(i, SIZES[i % len(SIZES)]))
                try:
                    done, _ = interrupt(rng, lambda t, m=msg: w.put(m, timeout=t), kind)
                except gipc.GIPCBroken:
                    break
                if done:
                    completed.append(i)
            try:
                w.put(SENTINEL)
                broken = None
            except gipc.GIPCBroken as exc:
                broken = exc
            if broken is None:
                reader.get()
            else:
                # A broken writer must say so every time, and the reader gets
                # only whole messages before the end.
                with pytest.raises(gipc.GIPCBroken):
                    w.put(SENTINEL)
                reader.kill()
    if broken is None:
        assert received[-1] == SENTINEL, f"seed {seed}: sentinel lost"
        received.pop()
    indices = [i for i, _ in received]
    assert indices == sorted(set(indices)), f"seed {seed}: messages duplicated or reordered: {indices}"
    for i, data in received:
        H.check_payload(i, data, SIZES[i % len(SIZES)])
    assert set(completed) <= set(indices), (
        f"seed {seed}: completed puts lost: {set(completed) - set(indices)}"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_interrupted_get_in_process_then_sentinel(request: pytest.FixtureRequest, kind: str) -> None:
    """A writer greenlet sends numbered large messages while gets are interrupted."""
    _, seed = H.make_rng(request, kind)
    # The scenario takes a second; the bound only keeps a hang short.
    H.run_isolated(get_in_process_scenario, seed, kind, bound=20)


def get_in_process_scenario(seed: int, kind: str) -> None:
    rng = random.Random(seed)
    count = 20

    with gipc.pipe() as (r, w):

        def send() -> None:
            for i in range(count):
                w.put((i, H.payload(i, SIZES[i % len(SIZES)])))
            w.put(SENTINEL)

        with gevent.Timeout(WAIT, AssertionError(f"seed {seed}: hang")):
            writer = gevent.spawn(send)
            expected = 0
            while True:
                try:
                    done, msg = interrupt(rng, lambda t: r.get(timeout=t), kind)
                except gipc.GIPCBroken as exc:
                    # Allowed, if it stays broken and says so.
                    with pytest.raises(gipc.GIPCBroken):
                        r.get()
                    writer.kill()
                    pytest.fail(f"seed {seed}: get() interrupted by {kind} broke the reader: {exc}")
                if not done:
                    continue
                if msg == SENTINEL:
                    break
                i, data = msg
                assert i == expected, f"seed {seed}: expected message {expected}, got {i}"
                H.check_payload(i, data, SIZES[i % len(SIZES)])
                expected += 1
            writer.get()
    assert expected == count


@pytest.mark.parametrize("kind", KINDS)
def test_interrupted_get_from_child_loses_nothing(request: pytest.FixtureRequest, kind: str) -> None:
    """The reader resumes: every message a child sends arrives once, whole, in order."""
    rng, seed = H.make_rng(request, kind)
    count = 24
    with gipc.pipe() as (r, w):
        p = gipc.start_process(H.child_put_numbered, args=(w, count, SIZES))
        with gevent.Timeout(WAIT, AssertionError(f"seed {seed}: hang")):
            expected = 0
            while expected < count:
                done, msg = interrupt(rng, lambda t: r.get(timeout=t), kind)
                if not done:
                    continue
                i, data = msg
                assert i == expected, f"seed {seed}: expected message {expected}, got {i}"
                H.check_payload(i, data, SIZES[i % len(SIZES)])
                expected += 1
            with pytest.raises(EOFError):
                r.get()
        H.finish(p)


@pytest.mark.parametrize("kind", KINDS)
def test_interrupted_put_to_child_delivers_whole_messages(request: pytest.FixtureRequest, kind: str) -> None:
    """A child checks every message it receives; interrupted puts are delivered whole or not at all."""
    rng, seed = H.make_rng(request, kind)
    with gipc.pipe() as (r, w), gipc.pipe() as (report_r, report_w):
        p = gipc.start_process(H.child_check_numbered, args=(r, report_w, SIZES))
        completed = []
        with gevent.Timeout(WAIT, AssertionError(f"seed {seed}: hang")):
            for i in range(24):
                msg = (i, H.payload(i, SIZES[i % len(SIZES)]))
                done, _ = interrupt(rng, lambda t, m=msg: w.put(m, timeout=t), kind)
                if done:
                    completed.append(i)
            # The remainder of an interrupted message goes out before EOF.
            w.flush(timeout=WAIT)
            w.close()
            seen = report_r.get()
        H.finish(p)
    assert seen == sorted(set(seen)), f"seed {seed}: duplicated or reordered: {seen}"
    assert set(completed) <= set(seen), f"seed {seed}: completed puts lost: {set(completed) - set(seen)}"


def test_concurrent_greenlets_with_random_kills_keep_messages_whole(request: pytest.FixtureRequest) -> None:
    """Many writer and reader greenlets on one duplex channel, some killed at random moments."""
    _, seed = H.make_rng(request)
    H.run_isolated(concurrent_scenario, seed)


def concurrent_scenario(seed: int) -> None:
    rng = random.Random(seed)
    with gipc.pipe(duplex=True) as (a, b):
        sent_ok: list[int] = []
        got: list[int] = []

        def writer(base: int) -> None:
            for k in range(10):
                i = base + k
                a.put((i, H.payload(i, SIZES[i % len(SIZES)])))
                sent_ok.append(i)

        def reader() -> None:
            while True:
                msg = b.get()
                if msg == SENTINEL:
                    return
                i, data = msg
                H.check_payload(i, data, SIZES[i % len(SIZES)])
                got.append(i)

        with gevent.Timeout(WAIT, AssertionError(f"seed {seed}: hang")):
            writers = [gevent.spawn(writer, 100 * n) for n in range(6)]
            readers = [gevent.spawn(reader) for _ in range(3)]
            for _ in range(8):
                for _ in range(rng.randrange(1, 20)):
                    gevent.sleep(0)
                victim = rng.choice(writers + readers)
                victim.kill(block=True, timeout=WAIT)
                if victim in readers:
                    readers.remove(victim)
                    readers.append(gevent.spawn(reader))
            gevent.joinall(writers, timeout=WAIT)
            a.flush(timeout=WAIT)
            for _ in readers:
                a.put(SENTINEL)
            gevent.joinall(readers, timeout=WAIT, raise_error=True)
    assert len(got) == len(set(got)), f"seed {seed}: a message arrived twice"
    assert set(sent_ok) <= set(got), f"seed {seed}: completed puts lost: {set(sent_ok) - set(got)}"
