"""Fault injection on the wire: forged and truncated frames, failing codecs, signals.

Frames are forged by writing bytes straight to the writer's descriptor, in
the format documented in ``gipc_transport._wire`` (an 8-byte little-endian
header: 62 bits of body length, 2 bits of frame kind). A reader facing them
must raise a clear ``GIPCError`` subclass, never allocate what a forged
header announces, and never hang. Codecs that raise or return the wrong type
must leave the channel usable. Signals firing thousands of times during a
64 MiB transfer (``EINTR`` for every system call they hit) must not damage it.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import signal
import sys
from importlib import import_module
from typing import Any

import gevent
import gipc
import pytest

H: Any = import_module("tests-integration._faults_helpers")
WAIT = H.WAIT
frame_header = H.frame_header


def write_all(w: gipc.Writer, data: bytes) -> None:
    """Write raw bytes to the writer's descriptor, cooperatively (it is non-blocking)."""
    fd = w.fileno()
    view = memoryview(data)
    while view:
        try:
            view = view[H.raw_write(fd, view) :]
        except BlockingIOError:
            gevent.sleep(0.001)


def feed(w: gipc.Writer, data: bytes, close: bool = True) -> gevent.Greenlet:
    def run() -> None:
        write_all(w, data)
        if close:
            w.close()

    return gevent.spawn(run)


# -- truncated frames -------------------------------------------------------


@pytest.mark.parametrize("body", [20, 70_000, 3 * 1024 * 1024])
def test_frame_cut_at_every_kind_of_offset_then_writer_closes(body: int) -> None:
    frame = frame_header(body) + bytes(range(256)) * (body // 256) + bytes(body % 256)
    cuts = sorted(
        {1, 4, 7, 8, 9, body // 2 + 8, body + 7} | set(random.Random(body).sample(range(1, body + 8), 5))
    )
    for cut in cuts:
        with gipc.pipe(encoder=None, decoder=None) as (r, w):
            g = feed(w, frame[:cut])
            with gevent.Timeout(WAIT, AssertionError(f"get() hung on a frame cut at {cut}")):
                with pytest.raises(gipc.GIPCTruncated, match="middle of a message"):
                    r.get()
                with pytest.raises(gipc.GIPCBroken):
                    r.get()
                g.get()


def test_whole_frames_then_close_is_eof_not_truncation() -> None:
    with gipc.pipe(encoder=None, decoder=None) as (r, w):
        g = feed(w, frame_header(3) + b"abc" + frame_header(0))
        with gevent.Timeout(WAIT):
            assert r.get() == b"abc"
            assert r.get() == b""
            with pytest.raises(EOFError):
                r.get()
            g.get()


def test_out_of_band_message_missing_its_buffers_is_truncated() -> None:
    stream = pickle.dumps(b"")
    # A PICKLE5 frame announcing two buffers, of which only one arrives.
    body = (2).to_bytes(4, "little") + stream
    data = frame_header(len(body), H.PICKLE5) + body + frame_header(5, H.BUFFER) + b"12345"
    with gipc.pipe() as (r, w):
        g = feed(w, data)
        with gevent.Timeout(WAIT):
            with pytest.raises(gipc.GIPCTruncated):
                r.get()
            g.get()


# -- forged frames ----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (frame_header(4, H.RESERVED) + b"abcd", "corrupt"),
        (frame_header(4, H.BUFFER) + b"abcd", "corrupt"),
        (frame_header(2, H.PICKLE5) + b"ab", "corrupt"),
        (
            frame_header(9, H.PICKLE5) + (1).to_bytes(4, "little") + b"abcde" + frame_header(1) + b"x",
            "corrupt",
        ),
    ],
    ids=["reserved-kind", "buffer-out-of-place", "short-pickle5", "data-inside-pickle5"],
)
def test_forged_frame_kinds_break_the_reader_with_a_reason(data: bytes, match: str) -> None:
    with gipc.pipe() as (r, w):
        g = feed(w, data + frame_header(1) + b"N", close=False)
        with gevent.Timeout(WAIT):
            with pytest.raises(gipc.GIPCBroken, match=match):
                r.get()
            # Broken for good: the bytes that follow cannot be trusted.
            with pytest.raises(gipc.GIPCBroken, match=match):
                r.get(timeout=1)
            g.get()


def test_garbage_pickle_in_a_whole_frame_leaves_the_channel_usable() -> None:
    with gipc.pipe() as (r, w):
        g = feed(w, frame_header(6) + b"\x80\x05junk", close=False)
        with gevent.Timeout(WAIT):
            with pytest.raises(pickle.UnpicklingError):
                r.get()
            g.get()
            w.put("after")
            assert r.get() == "after"


@pytest.mark.parametrize("declared", [1 << 30, (1 << 62) - 1])
def test_forged_huge_length_does_not_allocate_what_it_announces(declared: int) -> None:
    """Measured in a fresh interpreter (spawn) so that the peak RSS is the reader's alone."""
    sent = 8 * 1024 * 1024
    with gipc.pipe() as (report_r, report_w):
        p = gipc.start_process(
            H.child_forged_length_peak_rss, args=(report_w, declared, sent), start_method="spawn"
        )
        with gevent.Timeout(WAIT):
            outcome, grown = report_r.get()
        H.finish(p)
    assert outcome.startswith("gipc_transport.GIPCTruncated:"), outcome
    # What arrived, the growth step of the body buffer and interpreter noise;
    # far below the gigabyte (or exabyte) the header announced.
    assert grown < 4 * sent + 32 * 1024 * 1024, (
        f"peak RSS rose by {grown >> 20} MiB for {sent >> 20} MiB received"
    )


def test_forged_length_above_max_message_size_is_refused() -> None:
    with gipc.pipe(encoder=None, decoder=None, max_message_size=1000) as (r, w):
        g = feed(w, frame_header(1001) + b"x" * 1001 + frame_header(1) + b"y", close=False)
        with gevent.Timeout(WAIT):
            with pytest.raises(gipc.GIPCError, match="max_message_size") as info:
                r.get()
            assert isinstance(info.value, gipc.GIPCError)
            with pytest.raises(gipc.GIPCError, match="max_message_size"):
                r.get()
            g.get()


def test_put_above_max_message_size_is_refused_and_nothing_is_written() -> None:
    with gipc.pipe(encoder=None, decoder=None, max_message_size=1000) as (r, w):
        with gevent.Timeout(WAIT):
            with pytest.raises(gipc.GIPCError, match="max_message_size"):
                w.put(b"x" * 1001)
            w.put(b"y" * 1000)
            assert r.get() == b"y" * 1000


# -- codecs that fail -------------------------------------------------------


class Boom(Exception):
    pass


def failing_encoder(obj: Any) -> Any:
    if obj == "boom":
        raise Boom("encoder failed")
    if obj == "int":
        return 42
    if obj == "str":
        return "text"
    if obj == "strided":
        return memoryview(b"abcdef")[::2]
    return pickle.dumps(obj)


def failing_decoder(data: Any) -> Any:
    obj = pickle.loads(data)
    if obj == "undecodable":
        raise Boom("decoder failed")
    return obj


@pytest.mark.parametrize(
    ("bad", "error"), [("boom", Boom), ("int", TypeError), ("str", TypeError), ("strided", TypeError)]
)
def test_encoder_that_raises_or_returns_the_wrong_type_leaves_channel_usable(bad: str, error: type) -> None:
    with gipc.pipe(encoder=failing_encoder, decoder=failing_decoder) as (r, w):
        with gevent.Timeout(WAIT):
            w.put("before")
            with pytest.raises(error):
                w.put(bad)
            w.put("after")
            assert r.get() == "before"
            assert r.get() == "after"


def test_decoder_that_raises_leaves_channel_usable_for_the_next_message() -> None:
    with gipc.pipe(encoder=failing_encoder, decoder=failing_decoder) as (r, w):
        with gevent.Timeout(WAIT):
            for m in ("a", "undecodable", "b", "undecodable", "c"):
                w.put(m)
            got = []
            for _ in range(5):
                try:
                    got.append(r.get())
                except Boom:
                    got.append("<boom>")
    assert got == ["a", "<boom>", "b", "<boom>", "c"]


def test_unpicklable_object_leaves_channel_usable() -> None:
    with gipc.pipe() as (r, w):
        with gevent.Timeout(WAIT):
            with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
                w.put(lambda: None)
            with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
                w.put([b"x" * 100_000, lambda: None])
            w.put("after")
            assert r.get() == "after"


# -- signals during large transfers ----------------------------------------

SIXTY_FOUR_MIB = 64 * 1024 * 1024
# SIGALRM timers and SIGUSR1 interrupt the transfers (EINTR): POSIX's.
posix_signals = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals: SIGALRM timers and SIGUSR1 interrupt the transfer"
)


def _counting(counter: list[int]) -> Any:
    def handler(signum: int, frame: Any) -> None:
        counter[0] += 1

    return handler


@posix_signals
def test_signals_during_64mib_child_to_parent(start_method: str) -> None:
    """Both sides take a signal every half millisecond while 64 MiB move; the parent also pelts the child."""
    seed = 8
    expected = hashlib.sha256(random.Random(seed).randbytes(SIXTY_FOUR_MIB)).hexdigest()
    counter = [0]
    old = signal.signal(signal.SIGALRM, _counting(counter))
    try:
        with gipc.pipe() as (r, w):
            p = gipc.start_process(
                H.child_put_under_signals, args=(w, SIXTY_FOUR_MIB, seed), start_method=start_method
            )
            with gevent.Timeout(WAIT, AssertionError("a transfer under signals hung")):
                assert r.get() == "ready"

                def pelt() -> None:
                    while True:
                        try:
                            os.kill(p.pid, signal.SIGUSR1)
                        except ProcessLookupError:
                            return
                        gevent.sleep(0.001)

                pelter = gevent.spawn(pelt)
                signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
                try:
                    data = r.get()
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    pelter.kill()
                child_signals = r.get()
            H.finish(p)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert len(data) == SIXTY_FOUR_MIB
    assert hashlib.sha256(data).hexdigest() == expected, "64 MiB arrived damaged under signals"
    assert counter[0] > 0 and child_signals > 0, "the signals did not fire: the test exercised nothing"


@posix_signals
def test_signals_during_64mib_parent_to_child() -> None:
    data = random.Random(9).randbytes(SIXTY_FOUR_MIB)
    counter = [0]
    old = signal.signal(signal.SIGALRM, _counting(counter))
    try:
        with gipc.pipe() as (r, w), gipc.pipe() as (report_r, report_w):
            p = gipc.start_process(H.child_get_under_signals, args=(r, report_w))
            with gevent.Timeout(WAIT, AssertionError("a transfer under signals hung")):
                assert report_r.get() == "ready"
                signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
                try:
                    w.put(data)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                size, digest, child_signals = report_r.get()
            H.finish(p)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert (size, digest) == (SIXTY_FOUR_MIB, hashlib.sha256(data).hexdigest()), "64 MiB arrived damaged"
    assert counter[0] > 0 and child_signals > 0, "the signals did not fire: the test exercised nothing"
