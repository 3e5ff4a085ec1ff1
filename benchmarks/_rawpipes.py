"""The non-gipc pipe competitors: ``multiprocessing.Pipe`` and a plain ``os.pipe`` loop.

Their children are module-level functions, started through the ``fork``
context: a raw descriptor only reaches a child by inheritance. gipc's pipe
children use the same method (:data:`METHOD`), so that what differs between
competitors is the channel, never the process behind it. Each child sends its
own peak extra memory as a last 8-byte message.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import struct
import time
from multiprocessing.connection import Connection
from typing import Any

from ._gipccases import Result, Watch, mem_baseline, mem_peak_extra

_CHUNK = 1 << 16
_HEADER = struct.Struct("<I")


METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
"""Start method of every pipe section's children (the default where there is no fork)."""


def _ctx() -> Any:
    return multiprocessing.get_context(METHOD)


def max_pipe_size(fd: int) -> None:
    """Grow a pipe to the largest buffer Linux allows, as gipc and the C program do."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size") as f:
            size = int(f.read())
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size)
    except (ImportError, OSError, ValueError, AttributeError):
        pass


def _mp_sender(go: Connection, conn: Connection, count: int, size: int, pickled: bool) -> None:
    payload = b"x" * size
    base = mem_baseline()
    go.recv_bytes()
    if pickled:
        for _ in range(count):
            conn.send(payload)
    else:
        for _ in range(count):
            conn.send_bytes(payload)
    conn.send_bytes(mem_peak_extra(base).to_bytes(8, "little"))


def mp_stream(pickled: bool, count: int, size: int, watch: Watch) -> Result:
    """``multiprocessing.Pipe(duplex=False)``: ``send``/``recv`` or the ``_bytes`` pair."""
    reader, writer = multiprocessing.Pipe(duplex=False)
    go_r, go_w = multiprocessing.Pipe(duplex=False)
    p = _ctx().Process(target=_mp_sender, args=(go_r, writer, count, size, pickled))
    try:
        p.start()
        watch(p.pid)
        writer.close()
        go_r.close()
        base = mem_baseline()
        go_w.send_bytes(b"g")
        t0 = time.perf_counter()
        recv = reader.recv if pickled else reader.recv_bytes
        for _ in range(count):
            recv()
        seconds = time.perf_counter() - t0
        mem_parent = mem_peak_extra(base)
        mem_child = int.from_bytes(reader.recv_bytes(), "little")
    finally:
        for c in (reader, writer, go_r, go_w):
            c.close()
        if p.pid is not None:
            p.join(60)
    return {"count": count, "seconds": seconds, "mem_parent_kib": mem_parent, "mem_child_kib": mem_child}


def _write_all(fd: int, parts: list[bytes]) -> None:
    views = [memoryview(p) for p in parts]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views:
            views[0] = views[0][n:]


class RawReader:
    """Length-prefixed frames from a descriptor: big reads, many frames parsed per read."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.pos = 0

    def _need(self, n: int) -> None:
        while len(self.buf) - self.pos < n:
            chunk = os.read(self.fd, max(_CHUNK, n))
            if not chunk:
                raise EOFError("raw pipe closed mid-stream")
            self.buf = self.buf[self.pos :] + chunk
            self.pos = 0

    def get(self) -> bytes | bytearray:
        self._need(4)
        (n,) = _HEADER.unpack_from(self.buf, self.pos)
        self.pos += 4
        if n <= _CHUNK:
            self._need(n)
            self.pos += n
            return self.buf[self.pos - n : self.pos]
        # Large payloads go straight into their final buffer: no copy through ``buf``.
        out = bytearray(n)
        have = min(n, len(self.buf) - self.pos)
        out[:have] = self.buf[self.pos : self.pos + have]
        self.buf, self.pos = b"", 0
        view = memoryview(out)
        while have < n:
            got = os.readv(self.fd, [view[have:]])
            if not got:
                raise EOFError("raw pipe closed mid-message")
            have += got
        return out


def _raw_sender(go: int, fd: int, count: int, size: int, pickled: bool) -> None:
    payload = b"x" * size
    base = mem_baseline()
    os.read(go, 1)
    for _ in range(count):
        data = pickle.dumps(payload, pickle.HIGHEST_PROTOCOL) if pickled else payload
        if len(data) <= _CHUNK:
            _write_all(fd, [_HEADER.pack(len(data)) + data])
        else:
            _write_all(fd, [_HEADER.pack(len(data)), data])
    _write_all(fd, [_HEADER.pack(8), mem_peak_extra(base).to_bytes(8, "little")])


def raw_stream(pickled: bool, count: int, size: int, watch: Watch) -> Result:
    """A plain ``os.pipe`` loop with a 4-byte length prefix (``pickle`` if ``pickled``)."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    max_pipe_size(w)
    p = _ctx().Process(target=_raw_sender, args=(go_r, w, count, size, pickled))
    try:
        p.start()
        watch(p.pid)
        os.close(w)
        os.close(go_r)
        w = go_r = -1
        reader = RawReader(r)
        base = mem_baseline()
        os.write(go_w, b"g")
        t0 = time.perf_counter()
        if pickled:
            for _ in range(count):
                pickle.loads(reader.get())
        else:
            for _ in range(count):
                reader.get()
        seconds = time.perf_counter() - t0
        mem_parent = mem_peak_extra(base)
        mem_child = int.from_bytes(reader.get(), "little")
    finally:
        for fd in (r, w, go_r, go_w):
            if fd >= 0:
                os.close(fd)
        if p.pid is not None:
            p.join(60)
    return {"count": count, "seconds": seconds, "mem_parent_kib": mem_parent, "mem_child_kib": mem_child}


def _mp_echo(conn: Connection) -> None:
    while True:
        msg = conn.recv()
        if msg is None:
            break
        conn.send(msg)


def mp_roundtrip(count: int, watch: Watch) -> Result:
    """Ping-pong over a blocking duplex ``multiprocessing.Pipe()`` with ``send``/``recv``."""
    mine, theirs = multiprocessing.Pipe()
    p = _ctx().Process(target=_mp_echo, args=(theirs,))
    try:
        p.start()
        watch(p.pid)
        theirs.close()
        mine.send(b"w")
        mine.recv()
        t0 = time.perf_counter()
        for _ in range(count):
            mine.send(b"x")
            mine.recv()
        seconds = time.perf_counter() - t0
        mine.send(None)
    finally:
        mine.close()
        theirs.close()
        if p.pid is not None:
            p.join(60)
    return {"count": count, "seconds": seconds}
