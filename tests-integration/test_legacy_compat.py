"""gipc 1.8.0's own test suite, ported: proof that gipc 2 is a drop-in replacement.

The cases follow ``test/test_gipc.py`` of gipc 1.8.0 (class by class, test by
test) and import what 1.8.0 code imports: the names in ``gipc`` and the
private names of the legacy module ``gipc.gipc``. They run under
multiprocessing's default start method, as 1.8.0 programs do (the CI runs the
suite once per default, see the root conftest).

Deliberate departures from the 1.8.0 expectations, each listed in
``docs/migration.rst``:

- a plain ``multiprocessing.Process`` keeps its real exit code (1.8.0 patched
  multiprocessing globally and reported ``None``);
- a child keeps the signals its parent ignores ignored (1.8.0 reset them);
- timing assertions (a 30 ms clock skew, "within 10 ms") became ordering
  assertions, and races on a child that exits after 10 ms became explicit
  synchronisation over a pipe, because the house rules forbid timed asserts.

Accesses to 1.8.0's private attributes (``_fd``, ``_closed``, ``_reader``)
use the public ``fileno()``, ``closed`` and ``handles()`` instead.
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import random
import signal
import sys
import time
import zlib
from collections.abc import Iterator
from typing import Any

import gevent
import gevent.queue
import gevent.socket
import gipc
import pytest
from gipc import GIPCClosed, GIPCError, GIPCLocked, pipe, start_process
from gipc.gipc import _get_all_handles as get_all_handles
from gipc.gipc import _GIPCDuplexHandle, _GIPCHandle, _GIPCReader, _GIPCWriter, _GProcess
from gipc.gipc import _signals_to_reset as signals_to_reset
from pytest import raises

LONG = 999999
SHORTTIME = 0.01
ALMOSTZERO = 0.00001
LONGERTHANBUFFER = "A" * 9999999
WAIT = 30  # the bound of every wait that 1.8.0 left unbounded or timed


def check_for_handles_left_open() -> None:
    assert get_all_handles() == [], "test case left open handles behind"


def closed_fd(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return True
    return False


@pytest.fixture
def bounded() -> Iterator[None]:
    """Fail instead of hanging: every cooperative wait in the test is bounded."""
    with gevent.Timeout(WAIT):
        yield


# -- the 1.8.0 names -----------------------------------------------------------------


def test_legacy_names_are_the_real_classes() -> None:
    with pipe() as (r, w):
        assert isinstance(r, _GIPCReader) and isinstance(r, _GIPCHandle)
        assert isinstance(w, _GIPCWriter) and isinstance(w, _GIPCHandle)
    with pipe(duplex=True) as (h1, h2):
        assert isinstance(h1, _GIPCDuplexHandle) and isinstance(h2, _GIPCDuplexHandle)
    p = start_process(p_child_a)
    assert isinstance(p, _GProcess) and isinstance(p, multiprocessing.process.BaseProcess)
    p.join(WAIT)
    assert p.exitcode == 0
    assert gipc.__version__.startswith("2.")


# -- TestComm ------------------------------------------------------------------------


@pytest.fixture
def comm() -> Iterator[tuple[_GIPCReader, _GIPCWriter]]:
    rh, wh = pipe()
    with gevent.Timeout(WAIT):
        yield rh, wh
    rh.close()
    wh.close()
    check_for_handles_left_open()


@pytest.mark.parametrize(
    "m",
    ["OK", [1], [1, True, False, None, Exception], "OK" * LONG, [1] * LONG],
    ids=["short_bin", "short_list", "short_list_commontypes", "long_bin", "long_list"],
)
def test_comm_singlemsg(comm: tuple[_GIPCReader, _GIPCWriter], m: Any) -> None:
    rh, wh = comm
    g = gevent.spawn(lambda r: r.get(), rh)
    wh.put(m)
    assert g.get() == m


def test_comm_singlemsg_between_greenlets(comm: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = comm
    m = [1] * LONG
    gw = gevent.spawn(lambda w: w.put(m), wh)
    gr = gevent.spawn(lambda r: r.get(), rh)
    assert m == gr.get()
    gw.get()


def test_comm_onewriter_two_readers(comm: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = comm
    m = [1] * LONG

    def gwrite(writer: _GIPCWriter) -> None:
        writer.put(m)
        writer.put(m)

    gw = gevent.spawn(gwrite, wh)
    gr1 = gevent.spawn(lambda r: r.get(), rh)
    gr2 = gevent.spawn(lambda r: r.get(), rh)
    assert m == gr1.get() == gr2.get()
    gw.get()


def test_comm_twowriters_one_reader(comm: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = comm
    m = [1] * LONG
    gw1 = gevent.spawn(lambda w: w.put(m), wh)
    gw2 = gevent.spawn(lambda w: w.put(m), wh)
    gr = gevent.spawn(lambda r: [r.get() for _ in range(2)], rh)
    assert [m, m] == gr.get()
    gw1.get()
    gw2.get()


def test_comm_all_handles_length(comm: tuple[_GIPCReader, _GIPCWriter]) -> None:
    assert len(get_all_handles()) == 2


# -- TestClose -------------------------------------------------------------------------


@pytest.fixture
def pair() -> Iterator[tuple[_GIPCReader, _GIPCWriter]]:
    rh, wh = pipe()
    with gevent.Timeout(WAIT):
        yield rh, wh
    check_for_handles_left_open()


def test_close_twoclose(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    wh.close()
    with raises(GIPCClosed):
        wh.close()
    rh.close()


def test_close_closewrite(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    wh.close()
    with raises(GIPCClosed):
        wh.put("")
    rh.close()


def test_close_closeread(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    rh.close()
    with raises(GIPCClosed):
        rh.get()
    wh.close()


def test_close_readclose_whileread(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    g = gevent.spawn(lambda r: r.get(), rh)
    gevent.sleep(SHORTTIME)
    with raises(GIPCLocked):
        rh.close()
    g.kill()
    wh.close()
    rh.close()


def test_close_closewrite_read(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    wh.close()
    with raises(EOFError):
        rh.get()
    rh.close()


def test_close_closeread_write(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    rh.close()
    with raises(OSError) as excinfo:
        wh.put("")
    assert_broken_pipe(excinfo.value)
    wh.close()


def test_close_write_closewrite_read(pair: tuple[_GIPCReader, _GIPCWriter]) -> None:
    rh, wh = pair
    wh.put("a")
    wh.close()
    assert rh.get() == "a"
    with raises(EOFError):
        rh.get()
    rh.close()


# -- TestProcess -------------------------------------------------------------------------


def p_child_a() -> None:
    gevent.sleep(SHORTTIME)


def p_child_b() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def p_child_c() -> None:
    sys.exit(1)


def p_child_e() -> None:
    i = start_process(p_child_e2)
    i.join(WAIT)
    assert i.exitcode == 0


def p_child_e2() -> None:
    ii = start_process(p_child_e3)
    ii.join(WAIT)
    assert ii.exitcode == 0


def p_child_e3() -> None:
    pass


def p_child_wait_for_eof(r: _GIPCReader) -> None:
    with raises(EOFError):
        r.get()


@pytest.mark.parametrize(
    ("target", "exitcode"), [(p_child_a, 0), (p_child_b, -signal.SIGKILL), (p_child_c, 1)],
    ids=["exitcode_0", "exitcode_sigkill", "exitcode_1"],
)
def test_process_exitcode(target: Any, exitcode: int) -> None:
    p = start_process(target)
    p.join(WAIT)
    assert not p.is_alive()
    assert p.pid is not None
    assert p.exitcode == exitcode
    p.close()


def test_process_is_alive_true_then_false(bounded: None) -> None:
    # 1.8.0 relied on a 10 ms child still running at the first check; a child
    # that waits for EOF is alive until told otherwise.
    r, w = pipe()
    p = start_process(p_child_wait_for_eof, args=(r,))
    assert p.is_alive()
    w.close()
    p.join(WAIT)
    assert not p.is_alive()
    assert p.exitcode == 0
    p.close()


def test_process_terminate() -> None:
    p = start_process(gevent.sleep, args=(WAIT,))
    assert "Process" in repr(p)
    gevent.sleep(0.1)
    p.terminate()
    p.join(WAIT)
    assert "stopped" in repr(p)
    assert p.exitcode == -signal.SIGTERM
    p.close()


def test_process_child_in_child_in_child() -> None:
    p = start_process(p_child_e)
    p.join(WAIT)
    assert p.exitcode == 0
    p.close()


def test_process_join_timeout(bounded: None) -> None:
    r, w = pipe()
    p = start_process(p_child_wait_for_eof, args=(r,))
    p.join(ALMOSTZERO)
    assert p.is_alive()
    w.close()
    p.join(WAIT)
    assert p.exitcode == 0
    p.close()


def test_process_close_method() -> None:
    p = start_process(p_child_a)
    p.terminate()
    p.join(WAIT)
    p.close()


def test_process_close_raises_if_called_prematurely(bounded: None) -> None:
    r, w = pipe()
    p = start_process(p_child_wait_for_eof, args=(r,))
    assert p.is_alive()
    with raises(ValueError, match="while it is still running"):
        p.close()
    p.terminate()
    p.join(WAIT)
    p.close()
    w.close()


def test_process_things_error_out_after_closed() -> None:
    p = start_process(p_child_a)
    p.terminate()
    p.join(WAIT)
    p.close()
    with raises(ValueError, match="process object is closed"):
        p.is_alive()
    with raises(ValueError, match="process object is closed"):
        p.join()
    with raises(ValueError, match="process object is closed"):
        p.exitcode  # noqa: B018


def test_process_typecheck_args() -> None:
    with raises(TypeError):
        start_process(gevent.sleep, args="peter")  # type: ignore[arg-type]


def test_process_typecheck_kwargs() -> None:
    with raises(TypeError):
        start_process(gevent.sleep, kwargs="peter")  # type: ignore[arg-type]


def test_process_exitcode_previous_to_join(bounded: None) -> None:
    r, w = pipe()
    p = start_process(p_child_wait_for_eof, args=(r,))
    assert p.exitcode is None
    w.close()
    # The exit is picked up by the loop without join(); bounded by `bounded`.
    while p.exitcode is None:
        gevent.sleep(ALMOSTZERO)
    assert p.exitcode == 0
    p.join()


# -- TestIPC -----------------------------------------------------------------------------


@pytest.fixture
def ipc() -> Iterator[tuple[_GIPCReader, _GIPCWriter, _GIPCReader, _GIPCWriter]]:
    rh, wh = pipe()
    rh2, wh2 = pipe()
    with gevent.Timeout(WAIT):
        yield rh, wh, rh2, wh2
    check_for_handles_left_open()


Quad = tuple[_GIPCReader, _GIPCWriter, _GIPCReader, _GIPCWriter]


def assert_broken_pipe(exc: BaseException) -> None:
    """What 1.8.0 code can rely on when the reader is gone: an EPIPE ``OSError``.

    1.8.0 checked for the text "Broken pipe" in the message; the error is also
    a ``GIPCError`` (docs/migration.rst).
    """
    assert "Broken pipe" in str(exc)
    assert isinstance(exc, BrokenPipeError)
    assert exc.errno == errno.EPIPE
    assert isinstance(exc, GIPCError)


def ipc_handlecounter1(r1: _GIPCReader, r2: _GIPCReader) -> None:
    assert len(get_all_handles()) == 2


def ipc_readchild(r: _GIPCReader, m: Any) -> None:
    assert r.get() == m


def ipc_writechild(w: _GIPCWriter, m: Any) -> None:
    w.put(m)


def ipc_child_boring_reader(r: _GIPCReader) -> None:
    pass


def ipc_child_b(r1: _GIPCReader, r2: _GIPCReader, m1: Any, m2: Any) -> None:
    assert r1.get() == m1
    assert r2.get() == m2


def ipc_child_c(r1: _GIPCReader, r2: _GIPCReader, m1: Any, m2: Any) -> None:
    assert r1.get() == m1
    local_reader, local_writer = pipe()
    testmsg = [1] * LONG
    gw = gevent.spawn(lambda w: w.put(testmsg), local_writer)
    gr = gevent.spawn(lambda r: r.get(), local_reader)
    assert testmsg == gr.get()
    gw.get()
    local_reader.close()
    local_writer.close()
    assert r2.get() == m2


def ipc_child_d(r: _GIPCReader) -> None:
    with raises(GIPCError):
        r.close()


def ipc_child_f(w: _GIPCWriter, m: Any) -> None:
    assert len(get_all_handles()) == 1
    i = start_process(ipc_child_f2, args=(w, m))
    i.join(WAIT)
    assert i.exitcode == 0
    with raises(GIPCClosed):
        w.close()


def ipc_child_f2(w: _GIPCWriter, m: Any) -> None:
    ii = start_process(ipc_child_f3, args=(w, m))
    ii.join(WAIT)
    assert ii.exitcode == 0


def ipc_child_f3(w: _GIPCWriter, m: Any) -> None:
    w.put(m)
    w.close()


def ipc_readonce_then_exit(r: _GIPCReader) -> None:
    r.get()


def ipc_endless_write_for_early_reader_exit(w: _GIPCWriter) -> None:
    with raises(OSError) as excinfo:
        while True:
            w.put(0)
    assert_broken_pipe(excinfo.value)


def test_ipc_handlecount(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    p = start_process(ipc_handlecounter1, args=(rh, rh2))
    p.join(WAIT)
    assert p.exitcode == 0
    assert len(get_all_handles()) == 2
    wh.close()
    wh2.close()


def test_ipc_singlemsg_long_list(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    m = [1] * LONG
    p = start_process(ipc_readchild, args=(rh, m))
    wh.put(m)
    p.join(WAIT)
    assert p.exitcode == 0
    with raises(GIPCClosed):
        rh.close()
    rh2.close()
    wh.close()
    wh2.close()


def test_ipc_twochannels_singlemsg(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    p = start_process(ipc_child_b, args=(rh, rh2, "OK", "FOO"))
    wh.put("OK")
    wh2.put("FOO")
    p.join(WAIT)
    assert p.exitcode == 0
    wh.close()
    wh2.close()


def test_ipc_childparentcomm_withinchildcomm(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    p = start_process(target=ipc_child_c, args=(rh, rh2, "OK", "FOO"))
    wh.put("OK")
    wh2.put("FOO")
    p.join(WAIT)
    assert p.exitcode == 0
    wh.close()
    wh2.close()


def test_ipc_childchildcomm(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    m = {("KLADUSCH",): "foo"}
    pr = start_process(ipc_readchild, args=(rh, m))
    pw = start_process(ipc_writechild, args=(wh, m))
    pr.join(WAIT)
    pw.join(WAIT)
    assert pr.exitcode == 0
    assert pw.exitcode == 0
    rh2.close()
    wh2.close()


def test_ipc_handler_after_transfer_to_child(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    p = start_process(ipc_child_boring_reader, args=(rh,))
    with raises(GIPCClosed):
        rh.close()
    p.join(WAIT)
    assert p.exitcode == 0
    rh2.close()
    wh.close()
    wh2.close()


def test_ipc_handler_in_nonregistered_process(ipc: Quad) -> None:
    """A handle inherited by a plain multiprocessing child is not usable there.

    Fork only: that is how a plain ``multiprocessing.Process`` inherits a handle
    without gipc's knowledge. 1.8.0 asserted ``exitcode is None`` because it
    patched multiprocessing globally; gipc 2 patches nothing, so the exit code
    is real (see docs/migration.rst).
    """
    rh, wh, rh2, wh2 = ipc
    p = multiprocessing.get_context("fork").Process(target=ipc_child_d, args=(rh,))
    p.start()
    p.join(WAIT)
    assert p.exitcode == 0
    rh.close()
    rh2.close()
    wh.close()
    wh2.close()


def test_ipc_child_in_child_in_child_comm(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    p = start_process(ipc_child_f, args=(wh, "RATZEPENG"))
    assert rh.get() == "RATZEPENG"
    p.join(WAIT)
    assert p.exitcode == 0
    rh.close()
    rh2.close()
    wh2.close()


def test_ipc_early_readchild_exit(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    p = start_process(ipc_readonce_then_exit, (rh,))
    with raises(OSError) as excinfo:
        while True:
            wh.put(0)
    assert_broken_pipe(excinfo.value)
    p.join(WAIT)
    wh.close()
    rh2.close()
    wh2.close()


def test_ipc_early_readchild_exit_write_from_child(ipc: Quad) -> None:
    rh, wh, rh2, wh2 = ipc
    pr = start_process(ipc_readonce_then_exit, (rh,))
    pw = start_process(ipc_endless_write_for_early_reader_exit, (wh,))
    pr.join(WAIT)
    pw.join(WAIT)
    assert pr.exitcode == 0
    assert pw.exitcode == 0
    rh2.close()
    wh2.close()


# -- TestContextManager ----------------------------------------------------------------


def test_context_combi() -> None:
    with pipe() as (r, w):
        fd1, fd2 = r.fileno(), w.fileno()
    assert closed_fd(fd1) and closed_fd(fd2)
    check_for_handles_left_open()


def test_context_single_writer() -> None:
    r, w = pipe()
    with w as foo:
        fd = foo.fileno()
    assert closed_fd(fd)
    assert len(get_all_handles()) == 1
    with raises(GIPCClosed):
        w.close()
    r.close()
    check_for_handles_left_open()


def test_context_single_reader() -> None:
    r, w = pipe()
    with r as foo:
        fd = foo.fileno()
    assert closed_fd(fd)
    assert len(get_all_handles()) == 1
    with raises(GIPCClosed):
        r.close()
    w.close()
    check_for_handles_left_open()


def test_context_close_in_context() -> None:
    with pipe() as (r, w):
        w.put("")
        r.get()
        r.close()
        w.close()
    check_for_handles_left_open()


def test_context_lock_out_of_context_single(bounded: None) -> None:
    r, w = pipe()
    g = gevent.spawn(lambda r: r.get(), r)
    gevent.sleep(SHORTTIME)
    with raises(GIPCLocked):
        with r:
            pass
    g.kill(block=False)
    gevent.sleep(-1)
    w.close()
    r.close()
    check_for_handles_left_open()


def test_context_lock_out_of_context_pair(bounded: None) -> None:
    with raises(GIPCLocked):
        with pipe() as (r, w):
            # More than the pipe holds: put() blocks, holding the writer's lock.
            gw = gevent.spawn(lambda w: w.put(LONGERTHANBUFFER), w)
            gevent.sleep(SHORTTIME)
            # Closing the writer fails; the reader must be closed nevertheless.
    assert r.closed
    gw.kill(block=False)
    gevent.sleep(-1)
    w.close()
    check_for_handles_left_open()


def test_context_lock_out_of_context_pair_2(bounded: None) -> None:
    with raises(GIPCLocked):
        with pipe() as (r, w):
            gr = gevent.spawn(lambda r: r.get(), r)
            gevent.sleep(SHORTTIME)
    assert w.closed
    gr.kill(block=False)
    gevent.sleep(-1)
    r.close()
    check_for_handles_left_open()


# -- TestGetTimeout (1.8.0's form: a started gevent.Timeout) --------------------------------


def test_timeout_simpletimeout_expires() -> None:
    with pipe() as (r, w):
        t = gevent.Timeout.start_new(SHORTTIME)
        with raises(gevent.Timeout) as excinfo:
            r.get(timeout=t)
        assert excinfo.value is t
        t.close()


def test_timeout_simpletimeout_expires_contextmanager() -> None:
    reached = False
    with pipe() as (r, w):
        with gevent.Timeout(SHORTTIME, False) as t:
            r.get(timeout=t)
            reached = True
    assert not reached


def test_timeout_simpletimeout_doesnt_expire() -> None:
    with pipe() as (r, w):
        with gevent.Timeout(WAIT, False) as t:
            w.put("")
            assert r.get(timeout=t) == ""
            return
    pytest.fail("the timeout expired although a message was waiting")


# -- TestDuplexHandleBasic -----------------------------------------------------------------


def test_duplex_simple() -> None:
    h1, h2 = pipe(duplex=True)
    assert len(get_all_handles()) == 4
    h1.put(1)
    h2.put(2)
    assert h2.get() == 1
    assert h1.get() == 2
    h1.close()
    h2.close()
    check_for_handles_left_open()


def test_duplex_context_simple() -> None:
    with pipe(duplex=True) as (h1, h2):
        h1.put(1)
        assert h2.get() == 1
        h2.put(2)
        assert h1.get() == 2
    check_for_handles_left_open()


def test_duplex_context_close() -> None:
    with pipe(duplex=True) as (h1, h2):
        fds = [h.fileno() for h in (*h1.handles(), *h2.handles())]
    assert all(closed_fd(fd) for fd in fds)
    check_for_handles_left_open()


def test_duplex_context_single_close() -> None:
    h1, h2 = pipe(duplex=True)
    with h1 as side1:
        fds = [h.fileno() for h in side1.handles()]
    assert all(closed_fd(fd) for fd in fds)
    with raises(GIPCClosed):
        h1.close()
    h2.close()
    check_for_handles_left_open()


def test_duplex_close_in_context() -> None:
    with pipe(duplex=True) as (h1, h2):
        h1.put("")
        h2.get()
        h1.close()
        h2.close()
    check_for_handles_left_open()


def test_duplex_lock_out_of_context_single(bounded: None) -> None:
    h1, h2 = pipe(True)
    g = gevent.spawn(lambda h: h.get(), h1)
    gevent.sleep(SHORTTIME)
    with raises(GIPCLocked):
        with h1:
            pass
    g.kill(block=False)
    gevent.sleep(-1)
    h2.close()
    reader1, writer1 = h1.handles()
    assert writer1.closed
    assert not reader1.closed
    h1.close()
    assert reader1.closed
    check_for_handles_left_open()


def test_duplex_lock_out_of_context_pair(bounded: None) -> None:
    with raises(GIPCLocked):
        with pipe(True) as (h1, h2):
            gw = gevent.spawn(lambda h: h.put(LONGERTHANBUFFER), h1)
            gevent.sleep(SHORTTIME)
    (r1, w1), (r2, w2) = h1.handles(), h2.handles()
    assert not w1.closed
    assert r1.closed and w2.closed and r2.closed
    gw.kill(block=False)
    gevent.sleep(-1)
    h1.close()
    assert w1.closed
    check_for_handles_left_open()


def test_duplex_lock_out_of_context_pair_2(bounded: None) -> None:
    with raises(GIPCLocked):
        with pipe(True) as (h1, h2):
            gr = gevent.spawn(lambda h: h.get(), h2)
            gevent.sleep(SHORTTIME)
    (r1, w1), (r2, w2) = h1.handles(), h2.handles()
    assert not r2.closed
    assert r1.closed and w2.closed and w1.closed
    gr.kill(block=False)
    gevent.sleep(-1)
    h2.close()
    check_for_handles_left_open()


def test_duplex_lock_out_of_context_pair_3(bounded: None) -> None:
    with raises(GIPCLocked):
        with pipe(True) as (h1, h2):
            gr1 = gevent.spawn(lambda h: h.get(), h1)
            gr2 = gevent.spawn(lambda h: h.get(), h2)
            gevent.sleep(SHORTTIME)
    (r1, w1), (r2, w2) = h1.handles(), h2.handles()
    assert not r2.closed and not r1.closed
    assert w2.closed and w1.closed
    gr1.kill(block=False)
    gr2.kill(block=False)
    gevent.sleep(-1)
    h2.close()
    h1.close()
    check_for_handles_left_open()


def test_duplex_lock_out_of_context_pair_4(bounded: None) -> None:
    with raises(GIPCLocked):
        with pipe(True) as (h1, h2):
            gw1 = gevent.spawn(lambda h: h.put(LONGERTHANBUFFER), h1)
            gw2 = gevent.spawn(lambda h: h.put(LONGERTHANBUFFER), h2)
            gevent.sleep(SHORTTIME)
    (r1, w1), (r2, w2) = h1.handles(), h2.handles()
    assert r2.closed and r1.closed
    assert not w2.closed and not w1.closed
    gw1.kill(block=False)
    gw2.kill(block=False)
    gevent.sleep(-1)
    h2.close()
    h1.close()
    check_for_handles_left_open()


def test_duplex_double_close() -> None:
    with pipe(True) as (h1, h2):
        pass
    with raises(GIPCClosed):
        h2.close()
    with raises(GIPCClosed):
        h1.close()


# -- TestDuplexHandleIPC --------------------------------------------------------------------


def duplchild_simple_echo(h: _GIPCDuplexHandle) -> None:
    h.put(h.get())


def duplchild_time_sync(cend: _GIPCDuplexHandle) -> None:
    with cend:
        assert cend.get() == "SYN"
        cend.put("ACK")
        cend.put(time.time())


def duplchild_circular_forward(receiver: _GIPCDuplexHandle, sender: _GIPCDuplexHandle) -> None:
    with receiver:
        with sender:
            msg = None
            while msg != "stop":
                msg = receiver.get()
                sender.put(msg)


def test_duplex_ipc_simple_echo(bounded: None) -> None:
    with pipe(True) as (hchild, hparent):
        p = start_process(duplchild_simple_echo, (hchild,))
        hparent.put("MSG")
        assert hparent.get() == "MSG"
        p.join(WAIT)
        assert p.exitcode == 0


def test_duplex_ipc_time_sync(bounded: None) -> None:
    # 1.8.0 also asserted a clock skew below 30 ms: a timed assert, dropped.
    with pipe(duplex=True) as (cend, pend):
        p = start_process(duplchild_time_sync, args=(cend,))
        pend.put("SYN")
        assert pend.get() == "ACK"
        ctime = pend.get()
        assert isinstance(ctime, float) and ctime <= time.time()
        p.join(WAIT)
        assert p.exitcode == 0


def test_duplex_ipc_circular_forward(bounded: None) -> None:
    with pipe(True) as (p11, p12):
        with pipe(True) as (p21, p22):
            with pipe(True) as (p31, p32):
                forwarder1 = start_process(duplchild_circular_forward, (p12, p21))
                forwarder2 = start_process(duplchild_circular_forward, (p22, p31))
                for h in (p12, p21, p22, p31):
                    with raises(GIPCClosed):
                        h.put(0)
                for _ in range(100):
                    p11.put("BABUUUZ")
                    assert p32.get() == "BABUUUZ"
                p11.put("stop")
                forwarder1.join(WAIT)
                forwarder2.join(WAIT)
                assert forwarder1.exitcode == forwarder2.exitcode == 0


# -- TestPipeCodecs ---------------------------------------------------------------------------


def _roundtrip(data: Any, **codecs: Any) -> Any:
    with pipe(**codecs) as (r, w):
        gw = gevent.spawn(w.put, data)
        gr = gevent.spawn(r.get)
        result = gr.get()
        gw.get()
    check_for_handles_left_open()
    return result


def test_codecs_default(bounded: None) -> None:
    assert _roundtrip([10], encoder="default", decoder="default") == [10]


def test_codecs_callable_raw(bounded: None) -> None:
    data = os.urandom(10000)
    assert _roundtrip(data, encoder=lambda x: x, decoder=lambda x: x) == data


def test_codecs_raw(bounded: None) -> None:
    data = os.urandom(10000)
    assert _roundtrip(data, encoder=None, decoder=None) == data


def test_codecs_json(bounded: None) -> None:
    data = {"a": 100}
    enc = lambda o: json.dumps(o).encode("ascii")  # noqa: E731
    dec = lambda b: json.loads(b.decode("ascii"))  # noqa: E731
    assert _roundtrip(data, encoder=enc, decoder=dec) == data


def test_codecs_zlib(bounded: None) -> None:
    data = os.urandom(10000)
    assert _roundtrip(data, encoder=zlib.compress, decoder=zlib.decompress) == data


def test_codecs_not_callable_encoder() -> None:
    with raises(GIPCError):
        with pipe(encoder=1, decoder=lambda x: x):  # type: ignore[arg-type]
            pass


def test_codecs_not_callable_decoder() -> None:
    with raises(GIPCError):
        with pipe(encoder=lambda x: x, decoder=1):  # type: ignore[arg-type]
            pass


def child_test_raw_pipe_across_processes(r: _GIPCReader) -> None:
    assert r.get() == b"abc"


def test_codecs_raw_pipe_across_processes(bounded: None) -> None:
    with pipe(encoder=None, decoder=None) as (r, w):
        p = start_process(child_test_raw_pipe_across_processes, (r,))
        w.put(b"abc")
        p.join(WAIT)
        assert p.exitcode == 0


# -- TestSimpleUseCases -----------------------------------------------------------------------


def usecase_child_a(writer: _GIPCWriter) -> None:
    with writer:
        while True:
            writer.put("SPLASH")
            gevent.sleep(ALMOSTZERO)


def usecase_child_b(writer: _GIPCWriter, syncreader: _GIPCReader) -> None:
    with syncreader:
        assert syncreader.get() == "SYN"
        writer.put("SYNACK")
    with writer:
        writer.put("CHICKEN")


def usecase_child_c(reader: _GIPCReader, syncwriter: _GIPCWriter) -> None:
    with syncwriter:
        syncwriter.put("SYN")
        assert reader.get() == "SYNACK"
    with reader:
        with gevent.Timeout(WAIT, False) as t:
            assert reader.get(timeout=t) == "CHICKEN"
        with raises(EOFError):
            reader.get()
    sys.exit(5)


def usecase_child_d(forthreader: _GIPCReader, backwriter: _GIPCWriter) -> None:
    recvqueue: gevent.queue.Queue[Any] = gevent.queue.Queue()

    def g_from_forthpipe_to_q(forthreader: _GIPCReader) -> None:
        while True:
            m = forthreader.get()
            recvqueue.put(m)
            if m == "STOP":
                break

    def g_from_q_to_backpipe(backwriter: _GIPCWriter) -> None:
        while True:
            m = recvqueue.get()
            backwriter.put(m)
            if m == "STOP":
                break

    g1 = gevent.spawn(g_from_forthpipe_to_q, forthreader)
    g2 = gevent.spawn(g_from_q_to_backpipe, backwriter)
    g1.get()
    g2.get()


def test_usecase_whatever_1(bounded: None) -> None:
    with pipe() as (r, w):

        def readgreenlet(reader: _GIPCReader) -> Any:
            with gevent.Timeout(WAIT, False) as t:
                return reader.get(timeout=t)

        p = start_process(usecase_child_a, args=(w,))
        r.get()
        g = gevent.spawn(readgreenlet, r)
        assert r.get() == "SPLASH"
        assert g.get() == "SPLASH"
        p.terminate()
        p.join(WAIT)
        assert p.exitcode == -signal.SIGTERM


def test_usecase_whatever_2(bounded: None) -> None:
    with pipe() as (syncreader, syncwriter):
        with pipe() as (r, w):
            pw = start_process(usecase_child_b, args=(w, syncreader))
            pr = start_process(usecase_child_c, args=(r, syncwriter))
            pw.join(WAIT)
            pr.join(WAIT)
            assert pw.exitcode == 0
            assert pr.exitcode == 5


def test_usecase_whatever_3(bounded: None) -> None:
    sendlist = [random.choice("UFTATA") for x in range(100)]
    sendlist.append("STOP")
    sendqueue: gevent.queue.Queue[Any] = gevent.queue.Queue()

    def g_from_list_to_sendq() -> None:
        for item in sendlist:
            sendqueue.put(item)

    def g_from_q_to_forthpipe(forthwriter: _GIPCWriter) -> None:
        while True:
            m = sendqueue.get()
            forthwriter.put(m)
            if m == "STOP":
                break

    def g_from_backpipe_to_recvlist(backreader: _GIPCReader) -> list[Any]:
        recvlist = []
        while True:
            m = backreader.get()
            recvlist.append(m)
            if m == "STOP":
                break
        return recvlist

    with pipe() as (forthr, forthw):
        with pipe() as (backr, backw):
            p = start_process(usecase_child_d, args=(forthr, backw))
            g1 = gevent.spawn(g_from_list_to_sendq)
            g2 = gevent.spawn(g_from_q_to_forthpipe, forthw)
            g3 = gevent.spawn(g_from_backpipe_to_recvlist, backr)
            g1.get()
            g2.get()
            p.join(WAIT)
            assert p.exitcode == 0
            assert g3.get() == sendlist


# -- TestComplexUseCases ------------------------------------------------------------------------


def complchild_test_multi_duplex(r: _GIPCReader, w: _GIPCWriter) -> None:
    w.put(r.get())


def complchild_test_wsgi_scenario_respgen(writer: _GIPCWriter) -> None:
    writer.put(b"response")


def complchild_test_wsgi_scenario_client(http_server_address: tuple[str, int]) -> None:
    import urllib.request

    result = urllib.request.urlopen("http://{}:{}/".format(*http_server_address), timeout=WAIT)
    assert result.read() == b"response"


def complchild_test_threadpool_resolver_mp() -> None:
    h = gevent.get_hub()
    assert h.threadpool is not None
    assert h.resolver is not None


def complchild_test_getaddrinfo_mp() -> None:
    return


def test_complex_getaddrinfo_mp() -> None:
    """A hub threadpool busy in the parent must not block the child's hub teardown."""
    gevent.socket.getaddrinfo("localhost", 21)
    p = start_process(target=complchild_test_getaddrinfo_mp)
    p.join(timeout=WAIT)
    assert p.exitcode == 0


def test_complex_threadpool_resolver_mp() -> None:
    h = gevent.get_hub()
    assert h.threadpool is not None and h.resolver is not None
    p = start_process(target=complchild_test_threadpool_resolver_mp)
    p.join(timeout=WAIT)
    assert p.exitcode == 0


def test_complex_wsgi_scenario(bounded: None) -> None:
    from gevent.pywsgi import WSGIServer

    def hello_world(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with pipe() as (reader, writer):
            start_response("200 OK", [("Content-Type", "text/html")])
            rg = start_process(target=complchild_test_wsgi_scenario_respgen, args=(writer,))
            response = reader.get()
            rg.join(WAIT)
            assert rg.exitcode == 0
        return [response]

    http_server = WSGIServer(("127.0.0.1", 0), hello_world, log=None)
    servelet = gevent.spawn(http_server.serve_forever)
    while http_server.address[1] == 0:
        gevent.sleep(0.05)
    client = start_process(target=complchild_test_wsgi_scenario_client, args=(http_server.address,))
    client.join(WAIT)
    assert client.exitcode == 0
    http_server.stop(timeout=WAIT)
    servelet.kill()
    servelet.get()


def test_complex_multi_duplex(bounded: None) -> None:
    def duplex() -> None:
        with pipe() as (r, w):
            with pipe() as (r2, w2):
                p = start_process(complchild_test_multi_duplex, (r, w2))
                w.put("msg")
                assert r2.get() == "msg"
                p.join(WAIT)
                assert p.exitcode == 0

    duplexlets = [gevent.spawn(duplex) for _ in range(10)]
    for g in duplexlets:
        g.get()


# -- TestSignals ------------------------------------------------------------------------------------


def signals_test_sigterm_handler() -> None:
    sys.exit(20)


def signals_test_child_a(w: _GIPCWriter) -> None:
    w.put(os.getpid())
    w.close()
    # 1.8.0 slept 10 ms here and raced the parent's kill; wait for it instead.
    gevent.sleep(WAIT)
    sys.exit(0)


def signals_test_child_defaulthandlers(ignored_in_parent: list[int]) -> None:
    for s in signals_to_reset:
        expected = signal.SIG_IGN if s in ignored_in_parent else signal.SIG_DFL
        assert signal.getsignal(s) is expected, (s, signal.getsignal(s))


def test_signals_orphaned_signal_watcher(bounded: None) -> None:
    s = gevent.signal_handler(signal.SIGTERM, signals_test_sigterm_handler)
    try:
        with pipe() as (r, w):
            p = start_process(signals_test_child_a, (w,))
            assert r.get() == p.pid
            os.kill(p.pid, signal.SIGTERM)
            p.join(WAIT)
            assert p.exitcode == -signal.SIGTERM
    finally:
        s.cancel()


def test_signals_signal_handlers_default() -> None:
    """Every handler is the default in the child, except what the parent ignores.

    1.8.0 reset ignored signals too; gipc 2 leaves ``SIG_IGN`` as inherited, as
    ``fork()``/``exec()`` do (see docs/migration.rst). CPython itself ignores
    SIGXFSZ, so the list is not empty.
    """
    ignored = [s for s in signals_to_reset if s < signal.NSIG and signal.getsignal(s) is signal.SIG_IGN]
    assert ignored, "the test needs at least one ignored signal"
    # Inherited handlers are a fork matter: a spawn or forkserver child is a
    # fresh interpreter whatever the default start method of this run is.
    p = start_process(signals_test_child_defaulthandlers, args=(ignored,), start_method="fork")
    p.join(WAIT)
    assert p.exitcode == 0
