"""poll(), iteration, gevent.select and gevent.wait, finalizers."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import warnings

import gevent
import gevent.select
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCClosed, lowlevel


def test_poll_false_then_true() -> None:
    with gipc_transport.pipe() as (r, w):
        assert r.poll(0) is False
        assert r.poll(0.02) is False
        gevent.spawn_later(0.01, w.put, "x")
        assert r.poll(10) is True
        assert r.get(timeout=5) == "x"
        assert r.poll(0) is False


def test_poll_sees_messages_already_read_ahead() -> None:
    with gipc_transport.pipe() as (r, w):
        for i in range(3):
            w.put(i)
        assert r.get(timeout=5) == 0
        # The other two sit in the read-ahead buffer, not in the pipe.
        assert gevent.select.select([r], [], [], 0)[0] == []
        assert r.poll(0) is True
        assert r.get(timeout=5) == 1
        assert r.poll(0) is True
        assert r.get(timeout=5) == 2
        assert r.poll(0) is False


def test_poll_true_at_eof() -> None:
    with gipc_transport.pipe() as (r, w):
        w.close()
        assert r.poll(5) is True
        with pytest.raises(EOFError):
            r.get(timeout=5)


@pytest.mark.parametrize("get_timeout", [None, 30.0], ids=["get", "get-timeout"])
def test_poll_alongside_a_get_waiting_in_another_greenlet(get_timeout: float | None) -> None:
    # A get() waits on the reader's watcher while holding its lock; poll()
    # neither waits for that lock nor disturbs that wait.
    with gipc_transport.pipe() as (r, w):
        getter = gevent.spawn(r.get, timeout=get_timeout)
        gevent.sleep(0)
        try:
            assert r.poll(0) is False
            assert r.poll(0.02) is False
            poller = gevent.spawn(r.poll, 10)
            gevent.sleep(0)
            w.put("x")
            assert getter.get(timeout=10) == "x"
            assert poller.get(timeout=10) is True
        finally:
            getter.kill(block=True, timeout=10)


def test_get_alongside_a_poll_waiting_in_another_greenlet() -> None:
    with gipc_transport.pipe() as (r, w):
        poller = gevent.spawn(r.poll, 10)
        gevent.sleep(0)
        getter = gevent.spawn(r.get)
        gevent.sleep(0)
        try:
            w.put("x")
            assert getter.get(timeout=10) == "x"
            assert poller.get(timeout=10) is True
        finally:
            getter.kill(block=True, timeout=10)
            poller.kill(block=True, timeout=10)


def test_iteration_until_eof() -> None:
    with gipc_transport.pipe() as (r, w):

        def produce() -> None:
            for i in range(100):
                w.put(i, timeout=5)
            w.close()

        g = gevent.spawn(produce)
        assert list(r) == list(range(100))
        g.get(timeout=5)


def test_duplex_iteration_and_poll() -> None:
    with gipc_transport.pipe(duplex=True) as (a, b):
        a.put("one")
        assert b.poll(5)
        a.put("two")
        a.close()
        assert list(b) == ["one", "two"]


def test_select_on_fileno() -> None:
    with gipc_transport.pipe() as (r1, w1), gipc_transport.pipe() as (r2, w2):
        gevent.spawn_later(0.01, w2.put, "second")
        ready, _, _ = gevent.select.select([r1, r2], [], [], 10)
        assert ready == [r2]
        assert r2.get(timeout=5) == "second"
        _, writable, _ = gevent.select.select([], [w1], [], 10)
        assert writable == [w1]


def test_gevent_wait_returns_ready_handles() -> None:
    with gipc_transport.pipe() as (r1, w1), gipc_transport.pipe(duplex=True) as (a, b):
        assert gevent.wait([r1, b], timeout=0.02) == []
        gevent.spawn_later(0.01, a.put, "to b")
        ready = gevent.wait([r1, b], timeout=10, count=1)
        assert ready == [b]
        assert b.get(timeout=5) == "to b"
        w1.put(1)
        w1.put(2)
        assert gevent.wait([r1], timeout=10) == [r1]
        assert r1.get(timeout=5) == 1
        # The second message is buffered already: wait must not block on the fd.
        assert gevent.wait([r1], timeout=10) == [r1]
        assert r1.get(timeout=5) == 2


def test_dropped_handles_release_their_descriptors() -> None:
    before = C.open_descriptors()
    r, w = gipc_transport.pipe()
    a, b = gipc_transport.pipe(duplex=True)
    assert len(C.open_descriptors() - before) == 6
    assert len(lowlevel.live_handles()) == 6
    del r, w, a, b
    gc.collect()
    assert C.open_descriptors() - before == set()
    assert lowlevel.live_handles() == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX's; Windows has spawn only")
def test_finalizer_in_a_forked_child_leaves_parent_descriptor_alone() -> None:
    with gipc_transport.pipe() as (r, w):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                # Not adopted: dropping the inherited objects must not close anything.
                del r, w
                gc.collect()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        w.put("still open")
        assert r.get(timeout=5) == "still open"


@pytest.mark.parametrize("timeout", [None, 10.0])
def test_close_during_poll_in_another_greenlet_raises_closed_there(timeout: float | None) -> None:
    r, w = gipc_transport.pipe()
    poller = gevent.spawn(r.poll, timeout)
    gevent.sleep(0.01)
    r.close()
    poller.join(5)
    assert poller.dead
    assert isinstance(poller.exception, GIPCClosed), poller.exception
    # The descriptor's number is reused at once; the old watcher is gone.
    with gipc_transport.pipe() as (r2, w2):
        w2.put("fresh")
        assert r2.poll(5)
        assert r2.get(timeout=5) == "fresh"
    w.close()


def test_close_during_gevent_wait_wakes_the_waiter() -> None:
    r, w = gipc_transport.pipe()
    waiter = gevent.spawn(gevent.wait, [r], 10)
    gevent.sleep(0.01)
    r.close()
    # Woken by the close: the reader is returned as ready (its get() now
    # raises GIPCClosed), rather than nothing after the timeout.
    assert waiter.get(timeout=5) == [r]
    with pytest.raises(GIPCClosed):
        r.get()
    w.close()


def test_close_of_a_duplex_handle_during_poll() -> None:
    a, b = gipc_transport.pipe(duplex=True)
    poller = gevent.spawn(a.poll)
    gevent.sleep(0.01)
    a.close()
    poller.join(5)
    assert isinstance(poller.exception, GIPCClosed), poller.exception
    b.close()


def test_poll_zero_sees_data_and_eof_waiting_in_the_pipe() -> None:
    # Whatever the loop backend: poll(0) must not depend on whether one
    # turn of the event loop happens to report the descriptor.
    with gipc_transport.pipe() as (r, w):
        w.put("x")
        assert r.poll(0) is True
        assert r.get(timeout=5) == "x"
        assert r.poll(0) is False
        w.close()
        assert r.poll(0) is True
        with pytest.raises(EOFError):
            r.get(timeout=5)


def _fill(w: gipc_transport.Writer) -> None:
    # Straight on the descriptor, so that the writer itself keeps nothing
    # pending; until a write fails even after a pause (on Windows a full
    # socket's send buffer goes on draining into the peer's for a moment).
    while True:
        wrote = False
        while True:
            try:
                C.raw_write(w.fileno(), b"x" * 65536)
            except BlockingIOError:
                break
            wrote = True
        if not wrote:
            return
        gevent.sleep(0.05)


def test_gevent_wait_on_a_writer_returns_it_once_the_pipe_has_room() -> None:
    with gipc_transport.pipe(encoder=None, decoder=None) as (r, w):
        assert gevent.wait([w], timeout=10) == [w], "an empty pipe has room"
        _fill(w)
        assert gevent.wait([w], timeout=0.05) == []
        gevent.spawn_later(0.01, C.raw_read, r.fileno(), 1 << 20)
        assert gevent.wait([w], timeout=10) == [w]


def test_close_during_gevent_wait_on_a_writer_wakes_the_waiter() -> None:
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    _fill(w)
    waiter = gevent.spawn(gevent.wait, [w], 10)
    gevent.sleep(0.01)
    w.close()
    assert waiter.get(timeout=5) == [w]
    with pytest.raises(GIPCClosed):
        w.put(b"late")
    r.close()


def test_a_dropped_handle_warns_with_resource_warning() -> None:
    r, w = gipc_transport.pipe()
    fd = w.fileno()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del w
        gc.collect()
    assert [str(c.message) for c in caught if c.category is ResourceWarning] == [
        f"unclosed gipc handle <gipc_transport.Writer fd={fd}>"
    ]
    r.close()


def test_a_closed_handle_does_not_warn() -> None:
    r, w = gipc_transport.pipe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r.close()
        w.close()
        del r, w
        gc.collect()
    assert [c for c in caught if c.category is ResourceWarning] == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX's; Windows has spawn only")
def test_a_forked_child_dropping_inherited_handles_does_not_warn() -> None:
    with gipc_transport.pipe() as (r, w):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 1
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    del r, w
                    gc.collect()
                code = 10 + len(caught)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 10, "the child warned about handles it does not own"


def test_resource_warning_shows_with_dev_mode() -> None:
    # What a user sees: python -X dev on a program that drops a handle.
    script = (
        "import gc, gipc_transport\n"
        "r, w = gipc_transport.pipe()\n"
        "r.close()\n"
        "del w\n"
        "gc.collect()\n"
        "print('done')\n"
    )
    out = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout == "done\n"
    assert "ResourceWarning: unclosed gipc handle <gipc_transport.Writer fd=" in out.stderr
    quiet = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "ResourceWarning" not in quiet.stderr, "hidden without -X dev, as for files"
