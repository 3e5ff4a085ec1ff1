"""Across processes: hand-over for every start method, dying peers, fork adoption."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCBrokenPipe, GIPCError, GIPCTruncated, lowlevel

WAIT = C.WAIT


def start(method: str, target: object, *args: object) -> multiprocessing.process.BaseProcess:
    """Start a plain multiprocessing child and give up this process's copies of its handles.

    Not through ``lowlevel.transferring()``: a plain multiprocessing child
    does not call ``lowlevel.adopt_in_child()``, so a forked one would
    inherit the handles locked.
    """
    handles = lowlevel.find_handles(args)
    p = multiprocessing.get_context(method).Process(target=target, args=args)
    p.start()
    for h in handles:
        h.close()
    return p


def finish(p: multiprocessing.process.BaseProcess, code: int = 0) -> None:
    p.join(WAIT)
    assert p.exitcode == code
    p.close()


# multiprocessing reports a child ended by TerminateProcess() on Windows as
# killed by SIGTERM.
KILLED = -signal.SIGKILL if hasattr(signal, "SIGKILL") else -signal.SIGTERM


def kill(p: multiprocessing.process.BaseProcess) -> None:
    p.kill()
    finish(p, KILLED)


def test_messages_of_all_sizes_from_child(start_method: str) -> None:
    sizes = [0, 1, 100, 70_000, 4 * 1024 * 1024 + 3, 5, 65536]
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    with r:
        p = start(start_method, C.send_many, w, sizes)
        got = list(r)
        finish(p)
    assert got == [C.payload(i, s) for i, s in enumerate(sizes)]


def test_duplex_echo(start_method: str) -> None:
    a, b = gipc_transport.pipe(duplex=True)
    with a:
        p = start(start_method, C.echo, b, 50)
        for i in range(50):
            msg = (i, C.payload(i, 10 if i % 10 else 300_000))
            a.put(msg, timeout=WAIT)
            assert a.get(timeout=WAIT) == msg
        finish(p)


def test_handles_carry_read_ahead_and_pending_state(start_method: str) -> None:
    r, w = gipc_transport.pipe()
    back_r, back_w = gipc_transport.pipe()
    with back_r:
        for i in range(5):
            w.put(i)
        assert r.get(timeout=5) == 0  # 1..4 now sit in r's read-ahead buffer
        # An interrupted put leaves the rest of a large message pending in w.
        with pytest.raises(gipc_transport.GIPCTimeout):
            w.put(C.payload(9, C.beyond_pipe(3 * C.MiB)), timeout=0.01)
        p = start(start_method, C.read_all_then_report, r, back_w)
        # The child reads 1..4 from what r carried; the rest of the big
        # message goes out from here, where w still lives.
        w.flush(timeout=WAIT)
        w.put("last", timeout=WAIT)
        w.close()
        got = back_r.get(timeout=WAIT)
        finish(p)
    assert got == [1, 2, 3, 4, C.payload(9, C.beyond_pipe(3 * C.MiB)), "last"]


@pytest.mark.parametrize("kind", ["raw", "bytes", "bytearray"])
def test_reader_carries_half_received_large_message(start_method: str, kind: str) -> None:
    codec = {"encoder": None, "decoder": None} if kind == "raw" else {}
    r, w = gipc_transport.pipe(**codec)  # type: ignore[arg-type]
    back_r, back_w = gipc_transport.pipe()
    data = C.payload(7, C.beyond_pipe(3 * C.MiB))
    msg = bytearray(data) if kind == "bytearray" else data
    with back_r:
        # The pipe takes a part of the message, the rest stays pending in w;
        # r receives that part and gives up in the middle of the body.
        with pytest.raises(gipc_transport.GIPCTimeout):
            w.put(msg, timeout=0.01)
        with pytest.raises(gipc_transport.GIPCTimeout):
            r.get(timeout=0.05)
        p = start(start_method, C.read_all_then_report, r, back_w)
        w.flush(timeout=WAIT)
        w.put(b"after", timeout=WAIT)
        w.close()
        got = back_r.get(timeout=WAIT)
        finish(p)
    assert got == [msg, b"after"]
    assert type(got[0]) is type(msg)


def test_writer_with_pending_remainder_travels(start_method: str) -> None:
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    with r:
        with pytest.raises(gipc_transport.GIPCTimeout):
            w.put(C.payload(1, C.beyond_pipe(3 * C.MiB)), timeout=0.01)
        p = start(start_method, C.send_many, w, [10])
        got = [r.get(timeout=WAIT), r.get(timeout=WAIT)]
        with pytest.raises(EOFError):
            r.get(timeout=WAIT)
        finish(p)
    assert got == [C.payload(1, C.beyond_pipe(3 * C.MiB)), C.payload(0, 10)]


def test_peer_killed_idle_is_eof(start_method: str) -> None:
    r, w = gipc_transport.pipe()
    ready_r, ready_w = gipc_transport.pipe()
    with r, ready_r:
        p = start(start_method, C.idle, w, ready_w)
        assert ready_r.get(timeout=WAIT) == "idle"
        kill(p)
        with pytest.raises(EOFError):
            r.get(timeout=WAIT)


@pytest.mark.parametrize("cut", [1, 7, 8, 9, 4096, 65536 + 5, 300_000])
def test_peer_killed_mid_frame_is_truncated(cut: int) -> None:
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    ready_r, ready_w = gipc_transport.pipe()
    with r, ready_r:
        p = start(C.ANY_METHOD, C.put_then_hang, w, cut, ready_w)
        got = gevent.spawn(r.get, timeout=WAIT)  # the reader is busy while the peer dies
        assert ready_r.get(timeout=WAIT) == "sent"
        kill(p)
        with pytest.raises(GIPCTruncated, match="went away"):
            got.get(timeout=WAIT)
        with pytest.raises(GIPCTruncated):
            r.get(timeout=WAIT)


def test_reader_process_gone_is_gipcbrokenpipe(start_method: str) -> None:
    r, w = gipc_transport.pipe()
    with w:
        p = start(start_method, C.close_reader, r)
        finish(p)
        with pytest.raises(GIPCBrokenPipe):
            w.put(b"x" * 1000, timeout=WAIT)
        with pytest.raises(GIPCBrokenPipe):
            w.put(1, timeout=WAIT)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX's; Windows has spawn only")
def test_handle_of_another_process_is_refused() -> None:
    with gipc_transport.pipe() as (r, w):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                w.put(1)
            except GIPCError:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX's; Windows has spawn only")
def test_adopt_in_child_after_hub_replacement_with_busy_parent_state() -> None:
    """os.fork() from inside a greenlet while other greenlets use handles."""
    r, w = gipc_transport.pipe()
    back_r, back_w = gipc_transport.pipe()
    with r, w, back_r, back_w:
        blocked = gevent.spawn(r.get)  # holds r's lock and watcher at fork time
        gevent.sleep(0.01)
        w.put("for child")
        blocked.kill()
        w.put("second")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                C.adopt(r, back_w)
                msgs = [r.get(timeout=WAIT), r.get(timeout=WAIT)]
                back_w.put(msgs, timeout=WAIT)
                code = 0
            finally:
                os._exit(code)
        w.close()
        back_w.close()
        r.close()
        assert back_r.get(timeout=WAIT) == ["for child", "second"]
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0


def _run(code: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_changes_no_multiprocessing_global() -> None:
    out = _run(
        """
        import copyreg, multiprocessing, multiprocessing.context as ctx, multiprocessing.reduction as red
        import multiprocessing.process as mpp
        def snap():
            return (
                multiprocessing.get_start_method(allow_none=True),
                dict(copyreg.dispatch_table),
                dict(red.ForkingPickler._extra_reducers),
                dict(vars(multiprocessing.Process)),
                dict(vars(mpp.BaseProcess)),
                {n: dict(vars(c)) for n, c in vars(ctx).items() if isinstance(c, type)},
                ctx._default_context._actual_context,
            )
        # The baseline includes gevent and typing: their imports are not ours
        # (typing registers reducers in copyreg on Python 3.13).
        import gevent, gevent.lock, gevent.os, typing
        before = snap()
        import gipc_transport, gipc_transport.lowlevel
        assert snap() == before, "import changed a multiprocessing global"
        print("unchanged")
        """
    )
    assert out.strip() == "unchanged"


def test_libuv_loop_roundtrip_with_child() -> None:
    # gevent's libuv loop is built on cffi, which gevent does not require.
    pytest.importorskip("_cffi_backend", reason="gevent's libuv loop needs cffi, not installed here")
    out = _run(
        f"""
        import sys; sys.path.append({os.path.dirname(C.__file__)!r})  # embedded Python ignores PYTHONPATH
        import multiprocessing, gevent, gipc_transport, transport_children as C
        from gipc_transport import lowlevel
        assert "libuv" in type(gevent.get_hub().loop).__module__
        a, b = gipc_transport.pipe(duplex=True)
        p = multiprocessing.get_context(C.ANY_METHOD).Process(target=C.echo, args=(b, 20))
        p.start()
        for h in lowlevel.find_handles(b):
            h.close()
        for i in range(20):
            m = C.payload(i, 200_000 if i % 5 == 0 else 3)
            a.put(m, timeout=30)
            assert a.get(timeout=30) == m
        try:
            a.get(timeout=30)
            raise AssertionError("a stray message after the echoes")
        except EOFError:
            pass
        a.close()
        p.join(30)
        assert p.exitcode == 0
        print("libuv ok")
        """,
        env={"GEVENT_LOOP": "libuv", "PYTHONPATH": os.path.dirname(C.__file__)},
    )
    assert out.strip() == "libuv ok"


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX's; Windows has spawn only")
def test_forgotten_handle_is_not_closed_by_a_forked_childs_adoption() -> None:
    """lowlevel.forget: unlisted and still usable here; a child's adoption leaves its fd open."""
    r, w = gipc_transport.pipe()
    back_r, back_w = gipc_transport.pipe()
    with r, w, back_r, back_w:
        lowlevel.forget(w)
        lowlevel.forget(w)  # twice is harmless
        assert w not in lowlevel.live_handles()
        r_fd, w_fd = r.fileno(), w.fileno()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                C.adopt(back_w)  # r is listed and not kept: closed; w is not listed
                back_w.put([_fd_open(r_fd), _fd_open(w_fd)], timeout=WAIT)
                code = 0
            finally:
                os._exit(code)
        back_w.close()
        assert back_r.get(timeout=WAIT) == [False, True]
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        w.put("still usable")
        assert r.get(timeout=WAIT) == "still usable"
    assert w.closed
