"""Framing: message sizes, out-of-band buffers, forged headers and size limits."""

from __future__ import annotations

import os
import pickle
import struct
import sys

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCBroken, GIPCError, GIPCMessageTooLarge, GIPCTruncated

MiB = 1024 * 1024


def header(length: int, kind: int = 0) -> bytes:
    return struct.pack("<Q", (kind << 62) | length)


def feed(w: gipc_transport.Writer, data: bytes) -> gevent.Greenlet:
    """Write ``data`` straight to the writer's descriptor in the background, then close it."""

    def run() -> None:
        fd = w.fileno()
        hub = gevent.get_hub()
        view = memoryview(data)
        while view:
            try:
                view = view[C.raw_write(fd, view) :]
            except BlockingIOError:
                watcher = hub.loop.io(fd, 2)
                hub.wait(watcher)
                watcher.close()
        w.close()

    return gevent.spawn(run)


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 4095, 65535, 65536, 65537, 200_000, 3 * MiB + 5])
def test_raw_sizes_roundtrip(size: int) -> None:
    data = os.urandom(size)
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        g = gevent.spawn(w.put, data)
        got = r.get(timeout=30)
        g.get(timeout=30)
        assert type(got) is bytes
        assert got == data


@pytest.mark.parametrize("size", [10, 70_000, 5 * MiB])
def test_default_codec_keeps_bytes_and_bytearray_types(size: int) -> None:
    b = os.urandom(size)
    ba = bytearray(os.urandom(size))
    nested = {"k": [b, ba], "n": 1}
    with gipc_transport.pipe() as (r, w):
        for obj in (b, ba, nested):
            g = gevent.spawn(w.put, obj)
            got = r.get(timeout=30)
            g.get(timeout=30)
            assert got == obj
            assert type(got) is type(obj)


def test_pickle_buffer_objects_travel_out_of_band() -> None:
    data = bytearray(os.urandom(300_000))
    with gipc_transport.pipe() as (r, w):
        g = gevent.spawn(w.put, [pickle.PickleBuffer(data), 5])
        got = r.get(timeout=30)
        g.get(timeout=30)
        assert bytes(got[0]) == bytes(data)
        assert got[1] == 5


def test_many_small_messages_parsed_from_few_reads() -> None:
    with gipc_transport.pipe() as (r, w):
        # Fewer bytes than the pipe holds: the writer never waits for the reader.
        for i in range(2000):
            w.put(i, timeout=5)
        assert [r.get(timeout=5) for _ in range(2000)] == list(range(2000))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's pipe ioctls")
def test_stream_of_small_messages_grows_a_full_pipe() -> None:
    import fcntl

    get_size = fcntl.F_GETPIPE_SZ  # type: ignore[attr-defined,unused-ignore]
    with gipc_transport.pipe() as (r, w):
        assert fcntl.fcntl(w.fileno(), get_size) < 256 * 1024
        # Four times what a default pipe holds, without a reader: a writer
        # that finds its pipe full enlarges it rather than waiting.
        msgs = [os.urandom(100) for _ in range(2600)]
        for m in msgs:
            w.put(m, timeout=5)
        assert fcntl.fcntl(w.fileno(), get_size) >= 256 * 1024
        assert [r.get(timeout=5) for _ in msgs] == msgs


def test_interleaved_sizes_keep_order() -> None:
    sizes = [1, 100_000, 3, 2 * MiB, 0, 65536, 17]
    msgs = [os.urandom(s) for s in sizes]
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        g = gevent.spawn(lambda: [w.put(m) for m in msgs])
        assert [r.get(timeout=30) for _ in msgs] == msgs
        g.get(timeout=30)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the resident set size from /proc")
@pytest.mark.parametrize("announced", [2**40, 2**62 - 1, 512 * MiB])
def test_forged_length_allocates_only_what_arrived(announced: int) -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        sent = 3 * MiB
        before = _rss()
        g = feed(w, header(announced) + b"z" * sent)
        with pytest.raises(GIPCTruncated):
            r.get(timeout=30)
        g.get(timeout=30)
        # What arrived plus a bounded step, nowhere near what was announced.
        assert _rss() - before < 64 * MiB
        with pytest.raises(GIPCBroken):
            r.get(timeout=1)


def test_eof_inside_header_is_truncated_not_eof() -> None:
    with gipc_transport.pipe() as (r, w):
        C.raw_write(w.fileno(), header(5)[:3])
        w.close()
        with pytest.raises(GIPCTruncated):
            r.get(timeout=5)


def test_reserved_frame_kind_breaks_reader_clearly() -> None:
    with gipc_transport.pipe() as (r, w):
        C.raw_write(w.fileno(), header(1, kind=3) + b"x")
        with pytest.raises(GIPCBroken, match="corrupt"):
            r.get(timeout=5)
        with pytest.raises(GIPCBroken):
            r.get(timeout=5)


def test_stray_buffer_frame_breaks_reader() -> None:
    with gipc_transport.pipe() as (r, w):
        C.raw_write(w.fileno(), header(2, kind=2) + b"xy")
        with pytest.raises(GIPCBroken, match="corrupt"):
            r.get(timeout=5)


def test_out_of_band_message_needs_default_decoder() -> None:
    with gipc_transport.pipe(decoder=lambda b: b) as (r, w):
        g = gevent.spawn(w.put, b"q" * 100_000)
        with pytest.raises(GIPCError, match="decoder='default'"):
            r.get(timeout=10)
        g.get(timeout=10)
        w.put(b"small")
        assert pickle.loads(r.get(timeout=5)) == b"small"


def test_max_message_size_on_put_leaves_channel_usable() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None, max_message_size=1000) as (r, w):
        with pytest.raises(GIPCMessageTooLarge):
            w.put(b"x" * 1001)
        w.put(b"x" * 1000)
        assert r.get(timeout=5) == b"x" * 1000


def test_max_message_size_counts_out_of_band_buffers() -> None:
    with gipc_transport.pipe(max_message_size=100_000) as (r, w):
        with pytest.raises(GIPCMessageTooLarge):
            w.put(b"x" * 100_001)
        w.put("ok")
        assert r.get(timeout=5) == "ok"


def test_max_message_size_on_get_breaks_reader() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None, max_message_size=10) as (r, w):
        C.raw_write(w.fileno(), header(11) + b"y" * 11)
        with pytest.raises(GIPCMessageTooLarge):
            r.get(timeout=5)
        with pytest.raises(GIPCBroken, match="max_message_size"):
            r.get(timeout=5)


def test_max_message_size_rejects_forged_huge_header_without_reading() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None, max_message_size=MiB) as (r, w):
        C.raw_write(w.fileno(), header(2**61))
        with pytest.raises(GIPCMessageTooLarge):
            r.get(timeout=5)


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("10", TypeError)],
)
def test_invalid_max_message_size_is_rejected(bad: object, error: type[Exception]) -> None:
    # A new argument of 2.0: a bad value is a TypeError or ValueError, as for builtins.
    with pytest.raises(error, match="max_message_size must be an integer of at least 1"):
        gipc_transport.pipe(max_message_size=bad)  # type: ignore[arg-type]


def _read_exactly(fd: int, n: int) -> bytes:
    data = b""
    while len(data) < n:
        data += C.raw_read(fd, n - len(data))
    return data


def test_short_bytes_are_pickled_exactly_as_pickle_does() -> None:
    # put() builds the pickle of a short bytes object itself: what reaches
    # the pipe must be the frame of pickle.dumps(), for every length.
    with gipc_transport.pipe() as (r, w):
        for k in [*range(300), 65535]:
            payload = os.urandom(k)
            w.put(payload)
            stream = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL)
            assert _read_exactly(r.fileno(), 8 + len(stream)) == header(len(stream)) + stream, k


def test_short_bytes_respect_max_message_size() -> None:
    limit = len(pickle.dumps(b"x" * 10, pickle.HIGHEST_PROTOCOL))
    with gipc_transport.pipe(max_message_size=limit) as (r, w):
        with pytest.raises(GIPCMessageTooLarge):
            w.put(b"x" * 11)
        w.put(b"x" * 10)
        assert r.get(timeout=5) == b"x" * 10


def test_a_bytes_subclass_keeps_its_class() -> None:
    with gipc_transport.pipe() as (r, w):
        w.put(Tagged(b"abc"))
        got = r.get(timeout=5)
        assert type(got) is Tagged
        assert got == b"abc"


class Tagged(bytes):
    pass


def test_short_bytes_heads_only_where_pickle_matches_them() -> None:
    from gipc_transport import _codecs

    heads, tail = _codecs._pickled_bytes_heads(pickle.dumps)
    assert len(heads) == 256
    assert all(
        heads[k] + b"z" * k + tail == pickle.dumps(b"z" * k, pickle.HIGHEST_PROTOCOL) for k in range(256)
    )

    def content_dependent(obj: object, protocol: int) -> bytes:
        # A pickler whose output around the bytes depends on their content.
        stream = pickle.dumps(obj, protocol)
        return stream[:-1] + bytes([len(set(obj)) % 2]) + stream[-1:] if isinstance(obj, bytes) else stream  # type: ignore[arg-type]

    assert _codecs._pickled_bytes_heads(content_dependent) == ((), b"")
