"""The classic gipc scenarios, end to end through ``import gipc``.

Each test uses real child processes, real pipes and the real gevent loop.
Children run module-level functions, so that ``spawn`` and ``forkserver``
children can import them by name. Every blocking wait is bounded: a join is
given ``WAIT`` seconds and cooperative waits run under a ``gevent.Timeout``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import zlib
from typing import Any

import gevent
import gevent.pywsgi
import gevent.queue
import gevent.socket
import gipc
import pytest

import _wine

WAIT = 30

BIG = b"x" * (1 << 20)  # larger than any pipe buffer: writes and reads interleave


def finish(p: gipc.Process, exitcode: int = 0) -> None:
    """Join ``p`` within ``WAIT`` seconds and check how it ended; never leave it running."""
    p.join(WAIT)
    if p.is_alive():
        p.kill()
        p.join(WAIT)
        pytest.fail(f"{p!r} did not exit within {WAIT} s")
    assert p.exitcode == exitcode


# -- one writer, many readers; many writers, one reader ----------------------


def write_numbered(w: gipc.Writer, count: int) -> None:
    for i in range(count):
        w.put((i, BIG if i % 10 == 0 else b"small"))


def test_one_writer_child_many_reader_greenlets(start_method: str) -> None:
    count, readers = 100, 5
    got: list[int] = []

    def read_until_eof(r: gipc.Reader) -> None:
        while True:
            try:
                i, payload = r.get()
            except EOFError:
                return
            assert payload == (BIG if i % 10 == 0 else b"small"), "a message arrived damaged"
            got.append(i)

    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w):
            p = gipc.start_process(write_numbered, args=(w, count), start_method=start_method)
            greenlets = [gevent.spawn(read_until_eof, r) for _ in range(readers)]
            gevent.joinall(greenlets, raise_error=True)
            finish(p)
    assert sorted(got) == list(range(count)), "every message arrives exactly once"


def read_all_then_report(r: gipc.Reader, report: gipc.Writer) -> None:
    seen = []
    while True:
        try:
            sender, i, payload = r.get()
        except EOFError:
            break
        assert payload == BIG
        seen.append((sender, i))
    report.put(sorted(seen))


def test_many_writer_greenlets_one_reader_child(start_method: str) -> None:
    writers, each = 4, 10
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w), gipc.pipe() as (report_r, report_w):
            p = gipc.start_process(read_all_then_report, args=(r, report_w), start_method=start_method)

            def put_some(sender: int) -> None:
                for i in range(each):
                    w.put((sender, i, BIG))

            gevent.joinall([gevent.spawn(put_some, s) for s in range(writers)], raise_error=True)
            w.close()
            assert report_r.get() == sorted((s, i) for s in range(writers) for i in range(each))
            finish(p)


def put_from_greenlets(w: gipc.Writer, sender: int, each: int) -> None:
    def put_some(g: int) -> None:
        for i in range(each):
            w.put((sender, g, i))

    gevent.joinall([gevent.spawn(put_some, g) for g in range(3)], raise_error=True)


def test_many_writer_children_fan_in_to_one_reader_greenlet(start_method: str) -> None:
    children, each = 3, 20
    inbox: gevent.queue.Queue[Any] = gevent.queue.Queue()

    def drain(r: gipc.Reader) -> None:
        with r:
            for msg in iter_until_eof(r):
                inbox.put(msg)

    with gevent.Timeout(WAIT):
        procs, drains = [], []
        for sender in range(children):
            r, w = gipc.pipe()
            p = gipc.start_process(put_from_greenlets, args=(w, sender, each), start_method=start_method)
            procs.append(p)
            drains.append(gevent.spawn(drain, r))
        gevent.joinall(drains, raise_error=True)
        for p in procs:
            finish(p)
    got = sorted(inbox.get_nowait() for _ in range(inbox.qsize()))
    assert got == sorted((s, g, i) for s in range(children) for g in range(3) for i in range(each))


def iter_until_eof(r: gipc.Reader) -> Any:
    while True:
        try:
            yield r.get()
        except EOFError:
            return


# -- children talking to children ---------------------------------------------


def echo_once(r: gipc.Reader, w: gipc.Writer) -> None:
    w.put(r.get())


def test_child_to_child(start_method: str) -> None:
    msg = {("KLADUSCH",): "foo", "big": BIG}
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w), gipc.pipe() as (back_r, back_w):
            reader = gipc.start_process(echo_once, args=(r, back_w), start_method=start_method)
            writer = gipc.start_process(put_one, args=(w, msg), start_method=start_method)
            assert back_r.get() == msg
            finish(reader)
            finish(writer)


def put_one(w: gipc.Writer, msg: Any) -> None:
    w.put(msg)


def relay_down(w: gipc.Writer, depth: int, start_method: str) -> None:
    """Pass ``w`` down ``depth`` generations; the last one writes its lineage."""
    if depth == 0:
        w.put(("grandchild says hi", os.getpid(), os.getppid()))
        return
    p = gipc.start_process(relay_down, args=(w, depth - 1, start_method), start_method=start_method)
    assert w.closed, "the handle now belongs to the next generation"
    p.join(WAIT)
    assert p.exitcode == 0


def test_grandchild_messages_reach_the_grandparent(start_method: str) -> None:
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w):
            p = gipc.start_process(relay_down, args=(w, 2, start_method), start_method=start_method)
            text, pid, ppid = r.get()
            assert text == "grandchild says hi"
            assert pid not in (os.getpid(), p.pid)
            assert ppid not in (os.getpid(), p.pid), "two generations down"
            with pytest.raises(EOFError):
                r.get()
            finish(p)


def forward(receiver: gipc.DuplexHandle, sender: gipc.DuplexHandle) -> None:
    with receiver, sender:
        while True:
            hops, payload = receiver.get()
            sender.put((hops + 1, payload))
            if payload == "stop":
                return


def test_ring_of_children_forwarding_messages(start_method: str) -> None:
    size = 4
    with gevent.Timeout(WAIT):
        links = [gipc.pipe(duplex=True) for _ in range(size + 1)]
        procs = [
            gipc.start_process(forward, args=(links[i][1], links[i + 1][0]), start_method=start_method)
            for i in range(size)
        ]
        head, tail = links[0][0], links[size][1]
        for n in range(50):
            head.put((0, n))
            assert tail.get() == (size, n), "each child forwards every message once, in order"
        head.put((0, "stop"))
        assert tail.get() == (size, "stop")
        for p in procs:
            finish(p)
        head.close()
        tail.close()


# -- streaming and termination ---------------------------------------------------


def consume_forever(r: gipc.Reader, ready: gipc.Writer) -> None:
    ready.put(r.get())
    ready.close()
    while True:
        r.get()


def stream_forever(w: gipc.Writer) -> None:
    while True:
        w.put(b"chunk" * 100)


@_wine.keeps_sockets_of_terminated_children
def test_stream_to_child_then_terminate_it(start_method: str) -> None:
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w), gipc.pipe() as (ready_r, ready_w):
            p = gipc.start_process(consume_forever, args=(r, ready_w), start_method=start_method)
            w.put("first")
            assert ready_r.get() == "first"
            streamer = gevent.spawn(stream_forever, w)
            gevent.sleep(0.05)
            assert not streamer.dead, "the child keeps consuming"
            p.terminate()
            finish(p, -signal.SIGTERM)
            # The reader is gone: the streaming greenlet fails instead of blocking.
            streamer.join(WAIT)
            assert isinstance(streamer.exception, gipc.GIPCError), repr(streamer.exception)


def produce_forever(w: gipc.Writer) -> None:
    i = 0
    while True:
        w.put(i)
        i += 1


@_wine.keeps_sockets_of_terminated_children
def test_infinite_stream_from_child_stopped_by_terminate(start_method: str) -> None:
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w):
            p = gipc.start_process(produce_forever, args=(w,), start_method=start_method)
            assert [r.get() for _ in range(1000)] == list(range(1000))
            p.terminate()
            finish(p, -signal.SIGTERM)
            # What was written before the end is still readable, in order, then EOF.
            last = 999
            for i in iter_until_eof(r):
                assert i == last + 1
                last = i


def sync_writer(w: gipc.Writer, syncreader: gipc.Reader) -> None:
    with syncreader:
        assert syncreader.get() == "SYN"
        w.put("SYNACK")
    with w:
        w.put("CHICKEN")


def sync_reader(r: gipc.Reader, syncwriter: gipc.Writer) -> None:
    with syncwriter:
        syncwriter.put("SYN")
        assert r.get() == "SYNACK"
    with r:
        assert r.get() == "CHICKEN"
        try:
            r.get()
        except EOFError:
            sys.exit(5)


def test_two_children_synchronised_over_pipes(start_method: str) -> None:
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (syncreader, syncwriter), gipc.pipe() as (r, w):
            pw = gipc.start_process(sync_writer, args=(w, syncreader), start_method=start_method)
            pr = gipc.start_process(sync_reader, args=(r, syncwriter), start_method=start_method)
            finish(pw)
            finish(pr, 5)


# -- servers and many greenlets ----------------------------------------------------


def square_in_child(w: gipc.Writer, n: int) -> None:
    w.put((n * n, os.getpid()))


def test_wsgi_server_starts_a_child_per_request(start_method: str) -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        n = int(environ["PATH_INFO"].strip("/"))
        with gipc.pipe() as (r, w):
            p = gipc.start_process(square_in_child, args=(w, n), start_method=start_method)
            result, pid = r.get()
            finish(p)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{result} {pid}".encode()]

    def fetch(port: int, n: int) -> tuple[int, int]:
        # HTTP/1.0, loopback only, one bounded exchange per request.
        with gevent.socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            s.sendall(f"GET /{n} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        result, pid = body.split()
        return int(result), int(pid)

    server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        with gevent.Timeout(WAIT):
            port = server.address[1]
            jobs = [gevent.spawn(fetch, port, n) for n in range(6)]
            gevent.joinall(jobs, raise_error=True)
    finally:
        server.stop(timeout=WAIT)
    answers = [j.value for j in jobs]
    assert [a[0] for a in answers] == [n * n for n in range(6)]
    pids = {a[1] for a in answers}
    assert len(pids) == 6 and os.getpid() not in pids, "one fresh child per request"


def echo(h: gipc.DuplexHandle) -> None:
    with h:
        h.put(h.get())


def test_many_greenlets_each_running_a_child(start_method: str) -> None:
    def roundtrip(n: int) -> int:
        with gipc.pipe(duplex=True) as (mine, theirs):
            p = gipc.start_process(echo, args=(theirs,), start_method=start_method)
            mine.put(n)
            answer: int = mine.get()
            finish(p)
        return answer

    with gevent.Timeout(WAIT * 2):
        jobs = [gevent.spawn(roundtrip, n) for n in range(10)]
        gevent.joinall(jobs, raise_error=True)
    assert [j.value for j in jobs] == list(range(10))


# -- signals ---------------------------------------------------------------------


# Windows has no SIGUSR1, SIGUSR2 or SIGPIPE, and no dispositions a child
# could inherit: the tests of this section are POSIX's.
SIGNALS = (
    (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGPIPE, signal.SIGINT)
    if sys.platform != "win32"
    else ()
)
posix_signals = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals: Windows has no signal dispositions for a child to inherit"
)


def _handler(signum: int, frame: Any) -> None:
    pass


def report_dispositions(w: gipc.Writer) -> None:
    def name(h: Any) -> str:
        return {signal.SIG_DFL: "default", signal.SIG_IGN: "ignored"}.get(h, "handler")

    w.put({s: name(signal.getsignal(s)) for s in SIGNALS})


def dispositions_in_child(start_method: str) -> dict[int, str]:
    saved = {s: signal.getsignal(s) for s in SIGNALS}
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    signal.signal(signal.SIGUSR2, _handler)
    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGPIPE, _handler)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    r, w = gipc.pipe()
    try:
        p = gipc.start_process(report_dispositions, args=(w,), start_method=start_method)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    with r, gevent.Timeout(WAIT):
        found: dict[int, str] = r.get()
    finish(p)
    return found


@pytest.mark.skipif(sys.platform == "win32", reason="fork: Windows starts spawn children only")
def test_fork_child_signal_dispositions() -> None:
    """Handlers are reset to the default, SIG_IGN and SIGPIPE's disposition are inherited."""
    found = dispositions_in_child("fork")
    assert found[signal.SIGUSR1] == "ignored"
    assert found[signal.SIGUSR2] == "default"
    assert found[signal.SIGTERM] == "default"
    assert found[signal.SIGPIPE] == "handler", "SIGPIPE keeps the parent's disposition"
    assert found[signal.SIGINT] == "default", "the KeyboardInterrupt handler is a handler too"


@posix_signals
def test_spawn_child_signal_dispositions() -> None:
    """A spawned child is a fresh interpreter: ignored signals stay ignored, handlers do not carry over."""
    found = dispositions_in_child("spawn")
    assert found[signal.SIGUSR1] == "ignored"
    assert found[signal.SIGUSR2] == "default"
    assert found[signal.SIGTERM] == "default"
    # CPython ignores SIGPIPE at startup, so that writes to a closed pipe raise,
    # and installs its KeyboardInterrupt handler for SIGINT.
    assert found[signal.SIGPIPE] == "ignored"
    assert found[signal.SIGINT] == "handler"


def write_to_closed_pipe(ready: gipc.Writer) -> None:
    r, w = gipc.pipe()
    r.close()
    try:
        w.put("nobody listens")
    except gipc.GIPCError as exc:
        ready.put(type(exc).__name__)
    finally:
        w.close()


def test_sigpipe_ignored_in_child_so_broken_pipe_is_an_error(start_method: str) -> None:
    with gevent.Timeout(WAIT), gipc.pipe() as (r, w):
        p = gipc.start_process(write_to_closed_pipe, args=(w,), start_method=start_method)
        assert isinstance(r.get(), str), "the child survived the broken pipe and reported it"
        finish(p)


def wait_for_sigterm(ready: gipc.Writer) -> None:
    ready.put(os.getpid())
    ready.close()
    gevent.sleep(WAIT)


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="POSIX signals: os.kill() on Windows is TerminateProcess, no signal to handle",
)
def test_sigterm_kills_child_even_if_parent_handles_it(start_method: str) -> None:
    watcher = gevent.signal_handler(signal.SIGTERM, lambda: None)
    try:
        with gevent.Timeout(WAIT), gipc.pipe() as (r, w):
            p = gipc.start_process(wait_for_sigterm, args=(w,), start_method=start_method)
            assert r.get() == p.pid
            os.kill(p.pid, signal.SIGTERM)
            finish(p, -signal.SIGTERM)
    finally:
        watcher.cancel()


# -- codecs ----------------------------------------------------------------------


def json_encode(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def json_decode(data: bytes) -> Any:
    return json.loads(data)


def echo_all(r: gipc.Reader, w: gipc.Writer) -> None:
    with r, w:
        for msg in iter_until_eof(r):
            w.put(msg)


CODECS = {
    "pickle": ("default", "default", [{"a": (1, 2)}, None, BIG]),
    "raw": (None, None, [b"", b"\x00\xff", BIG]),
    "json": (json_encode, json_decode, [{"a": [1, 2]}, "text", 3.5]),
    "zlib": (zlib.compress, zlib.decompress, [b"", BIG, os.urandom(10000)]),
}


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_codecs_across_processes(codec: str, start_method: str) -> None:
    encoder, decoder, messages = CODECS[codec]
    with gevent.Timeout(WAIT):
        with (
            gipc.pipe(encoder=encoder, decoder=decoder) as (r, w),
            gipc.pipe(encoder=encoder, decoder=decoder) as (back_r, back_w),
        ):
            p = gipc.start_process(echo_all, args=(r, back_w), start_method=start_method)
            for m in messages:
                w.put(m)
            w.close()
            assert list(iter_until_eof(back_r)) == messages
            finish(p)


def test_raw_codec_refuses_non_bytes() -> None:
    with gipc.pipe(encoder=None, decoder=None) as (r, w):
        with pytest.raises(TypeError):
            w.put("text is not bytes")
        w.put(b"still usable")
        assert r.get() == b"still usable"


# -- context managers ----------------------------------------------------------------


def test_context_manager_tolerates_handles_given_to_a_child(start_method: str) -> None:
    with gevent.Timeout(WAIT):
        with gipc.pipe() as (r, w):
            p = gipc.start_process(put_one, args=(w, "hello"), start_method=start_method)
            assert w.closed
            assert r.get() == "hello"
        assert r.closed
        finish(p)


def test_duplex_context_manager_closes_all_four_descriptors() -> None:
    with gipc.pipe(duplex=True) as (a, b):
        fds = [h.fileno() for h in (*a.handles(), *b.handles())]
        a.put(1)
        assert b.get() == 1
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    assert a.closed and b.closed


def test_context_manager_exits_cleanly_on_error_inside() -> None:
    with pytest.raises(ZeroDivisionError):
        with gipc.pipe() as (r, w):
            w.put(1)
            1 / 0  # noqa: B018
    assert r.closed and w.closed
