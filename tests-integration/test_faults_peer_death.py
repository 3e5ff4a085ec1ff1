"""Fault injection: the process at the other end of a pipe dies.

A writer killed with SIGKILL in the middle of a frame must make the reader
raise ``GIPCTruncated`` (a ``GIPCBroken``) once everything that did arrive is
consumed; killed between messages, the reader gets ``EOFError`` after the
last whole message. A writer whose reader died gets a ``GIPCError`` that is
also a ``BrokenPipeError``, even when it is blocked on a full pipe. A foreign
``os.waitpid()`` that steals a child's exit status must not make ``join()``
hang. Nothing here may hang: every wait is bounded.

Offsets are chosen by a seeded random generator whose seed is printed (replay
with ``GIPC_FAULTS_SEED``). The exact cut point of a frame is measured, not
guessed: the parent does not read while the child writes, kills the child
once the pipe holds a chosen number of bytes, and then asks the kernel how
many bytes of the stream made it into the pipe (``FIONREAD``).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from importlib import import_module
from typing import Any

import gevent
import gipc
import pytest

H: Any = import_module("tests-integration._faults_helpers")
WAIT = H.WAIT

BIG = 3 * 1024 * 1024  # larger than the largest pipe buffer (1 MiB): the writer blocks

# Counts and cut points are read from Linux interfaces: /proc, FIONREAD, F_GETPIPE_SZ.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs Linux's /proc and pipe ioctls"
)


def wait_for_fill(p: gipc.Process, fd: int, fraction: float) -> None:
    """Wait (bounded) until the pipe behind ``fd`` is filled to ``fraction`` or ``p`` died.

    The capacity is asked each time: the writer enlarges the pipe on its
    first large message, and Linux hands out one-page pipes once the user's
    pipe memory (``fs.pipe-user-pages-soft``) is used up by other pipes.
    Pages are not always filled completely, so at most half of it is awaited.
    """
    with gevent.Timeout(WAIT, AssertionError(f"the pipe was never filled to {fraction:.2f}")):
        while p.is_alive() and H.pipe_fill(fd) < max(1, int(fraction * H.pipe_capacity(fd) / 2)):
            gevent.sleep(0.001)


@pytest.mark.parametrize("codec", ["raw", "pickle-data", "pickle-out-of-band"])
def test_writer_killed_mid_frame_reader_raises_truncated(request: pytest.FixtureRequest, codec: str) -> None:
    rng, seed = H.make_rng(request)
    iterations = 8
    for it in range(iterations):
        # Whole small messages in front of the big one move the cut point
        # through the big message's frames, header bytes included.
        prefix = [H.payload(i, rng.randrange(0, 3000)) for i in range(rng.randrange(0, 40))]
        if codec == "raw":
            big: Any = H.payload(-1, BIG)
            kwargs: dict[str, Any] = {"encoder": None, "decoder": None}
        elif codec == "pickle-data":
            big = [H.payload(-1, BIG // 4) for _ in range(4)]  # pickled in-band: one DATA frame
            kwargs = {}
        else:
            big = H.payload(-1, BIG)  # top-level bytes travel as PICKLE5 + BUFFER frames
            kwargs = {}
        with gipc.pipe(**kwargs) as (r, w):
            p = gipc.start_process(H.child_put_then_hang, args=(w, [*prefix, big]))
            fd = r.fileno()
            prefix_bytes = sum(len(m) + 8 for m in prefix) if codec == "raw" else None
            wait_for_fill(p, fd, rng.random())
            H.kill_and_reap(p)
            in_pipe = H.pipe_fill(fd)
            got = []
            with gevent.Timeout(WAIT, AssertionError("get() hung after the writer died")):
                with pytest.raises((gipc.GIPCTruncated, EOFError)) as info:
                    while True:
                        got.append(r.get())
            where = f"iteration {it}, seed {seed}: {len(got)}/{len(prefix)} messages, {in_pipe} B in pipe"
            assert got == prefix[: len(got)], f"{where}: messages arrived damaged"
            if info.type is EOFError:
                # Only possible if the kill came before the first byte of a message.
                assert len(got) <= len(prefix), where
                if prefix_bytes is not None:
                    assert in_pipe == sum(len(m) + 8 for m in prefix[: len(got)]), where
            else:
                assert isinstance(info.value, gipc.GIPCBroken), where
                if prefix_bytes is not None and len(got) == len(prefix):
                    assert 0 < in_pipe - prefix_bytes < BIG + 8, where
                # Broken for good, and it says so.
                with pytest.raises(gipc.GIPCBroken):
                    r.get()


def test_writer_killed_between_messages_reader_gets_eof(start_method: str) -> None:
    messages = [H.payload(i, size) for i, size in enumerate((0, 1, 70_000, 2 * 1024 * 1024, 5))]
    with gipc.pipe() as (r, w):
        p = gipc.start_process(H.child_ready_then_put, args=(w, messages), start_method=start_method)
        with gevent.Timeout(WAIT):
            assert r.get() == "ready"
            received = [r.get() for _ in messages]
            H.kill_and_reap(p)
            with pytest.raises(EOFError):
                r.get()
            # EOF is not an error state: it stays EOF.
            with pytest.raises(EOFError):
                r.get()
    assert received == messages
    assert p.exitcode == -9


def test_writer_killed_while_reader_is_reading(request: pytest.FixtureRequest) -> None:
    """The parent reads concurrently and the kill lands at a random moment of the transfer."""
    rng, seed = H.make_rng(request)
    outcomes: dict[str, int] = {}
    for it in range(10):
        big = H.payload(it, rng.choice((4, 16, 32)) * 1024 * 1024)
        with gipc.pipe() as (r, w):
            p = gipc.start_process(H.child_ready_then_put, args=(w, [big]))
            with gevent.Timeout(WAIT, AssertionError(f"iteration {it}, seed {seed}: hang")):
                assert r.get() == "ready"
                killer = gevent.spawn_later(rng.uniform(0, 0.03), p.kill)
                try:
                    got = r.get()
                    assert got == big, f"iteration {it}, seed {seed}: message arrived damaged"
                    outcome = "intact"
                except gipc.GIPCTruncated:
                    outcome = "truncated"
                    with pytest.raises(gipc.GIPCBroken):
                        r.get()
                except EOFError:
                    # The kill landed before the child wrote the frame's first
                    # byte (pickling 32 MiB takes a while under load): that is
                    # a peer gone between messages, a clean EOF, and stays so.
                    outcome = "eof-before-frame"
                    with pytest.raises(EOFError):
                        r.get()
                killer.join()
                p.join(WAIT)
                assert not p.is_alive()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(f"seed {seed}: {outcomes}")


def test_reader_killed_while_writer_blocked_on_full_pipe(start_method: str) -> None:
    with gipc.pipe() as (r, w):
        with gipc.pipe() as (status_r, status_w):
            p = gipc.start_process(H.child_hold_reader, args=(r, status_w), start_method=start_method)
            with gevent.Timeout(WAIT, AssertionError("a write to a dead reader hung")):
                assert status_r.get() == "holding"
                # Fills the pipe and blocks, since the child never reads.
                putter = gevent.spawn(w.put, H.payload(0, BIG))
                with pytest.raises(gevent.Timeout):
                    putter.get(timeout=0.2)
                H.kill_and_reap(p)
                with pytest.raises(gipc.GIPCError) as info:
                    putter.get()
                assert isinstance(info.value, BrokenPipeError), repr(info.value)
                assert isinstance(info.value, gipc.GIPCBroken), repr(info.value)
                # The writer stays broken and says why, without blocking.
                with pytest.raises(gipc.GIPCBroken, match="reading end"):
                    w.put(b"x")


def test_reader_killed_idle_small_put_raises_broken_pipe() -> None:
    with gipc.pipe() as (r, w), gipc.pipe() as (status_r, status_w):
        p = gipc.start_process(H.child_hold_reader, args=(r, status_w))
        with gevent.Timeout(WAIT, AssertionError("a write to a dead reader hung")):
            assert status_r.get() == "holding"
            H.kill_and_reap(p)
            with pytest.raises(gipc.GIPCError) as info:
                w.put("small")
            assert isinstance(info.value, BrokenPipeError)


# -- a foreign waitpid() steals the exit status ----------------------------


def _steal(pid: int, result: list[Any]) -> None:
    try:
        result.append(os.waitpid(pid, 0))
    except ChildProcessError as exc:
        result.append(exc)


@pytest.mark.parametrize("hard", [False, True], ids=["sys.exit", "os._exit"])
def test_foreign_waitpid_in_a_thread_races_the_watcher(start_method: str, hard: bool) -> None:
    """Another thread reaps the child with a blocking ``os.waitpid()`` while gipc watches it.

    ``join()`` must return (bounded) and the process must count as dead. The
    exit code then depends on who got the status. A ``forkserver`` child is
    not ours: the thread cannot steal it (``ChildProcessError``) and the
    forkserver reports the real code, 7. Under ``fork`` and ``spawn``, if gipc
    reaped first the code is the real one. If the thread won, a ``fork``
    child that exited normally wrote its code to the sentinel, so it is still
    7; otherwise gipc reports 255 (``LOST_EXITCODE``) with a
    ``StatusLostWarning``. Never another code, never a hang.
    """
    for _ in range(5):
        p = gipc.start_process(H.child_exit, args=(7, hard), start_method=start_method)
        result: list[Any] = []
        thief = threading.Thread(target=_steal, args=(p.pid, result), daemon=True)
        thief.start()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with gevent.Timeout(WAIT, AssertionError("join() hung after a foreign waitpid()")):
                p.join(WAIT)
            thief.join(WAIT)
            code = p.exitcode
        assert not thief.is_alive()
        assert not p.is_alive()
        stolen = not isinstance(result[0], ChildProcessError)
        if start_method == "forkserver":
            assert not stolen
        if stolen:
            pid, status = result[0]
            assert pid == p.pid and os.waitstatus_to_exitcode(status) == 7
            if start_method == "fork" and not hard:
                assert code == 7
            else:
                assert code in (7, 255)
        else:
            assert code == 7, "gipc reaped the child: it knows the real code"
        if code == 255:
            assert any(str(p.pid) in str(w.message) for w in caught), [str(w.message) for w in caught]
        p.close()


@pytest.mark.parametrize("hard", [False, True], ids=["sys.exit", "os._exit"])
def test_process_closable_after_its_status_was_stolen(start_method: str, hard: bool) -> None:
    """The status is taken by a foreign ``waitpid()`` before gipc looks: ``join()`` returns.

    A ``forkserver`` child is not ours to reap: the real code (7) arrives
    through the forkserver. A ``fork`` child that exited normally wrote its
    code to the sentinel: 7 as well. Otherwise the code may be lost: then it
    is 255, with a ``StatusLostWarning``. The process is over either way: ``is_alive()`` is
    false and ``close()`` releases it.
    """
    p = gipc.start_process(H.child_exit, args=(7, hard), start_method=start_method)
    try:
        pid, status = os.waitpid(p.pid, 0)
    except ChildProcessError:
        assert start_method == "forkserver"
        expected = 7
    else:
        assert os.waitstatus_to_exitcode(status) == 7
        expected = 7 if start_method == "fork" and not hard else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with gevent.Timeout(WAIT, AssertionError("join() hung after a foreign waitpid()")):
            p.join(WAIT)
        assert not p.is_alive()
        code = p.exitcode
    if expected is not None:
        assert code == expected
    else:
        assert code in (7, 255), "the real code if gipc could learn it, else 255"
    if code == 255:
        assert any(str(p.pid) in str(w.message) for w in caught), [str(w.message) for w in caught]
    p.close()


def test_foreign_waitpid_any_child_loop_does_not_hang_join() -> None:
    """A SIGCHLD-style ``waitpid(-1, WNOHANG)`` loop in a greenlet reaps whatever exits.

    Exit codes are real (3) or, where the loop won the race and the code was
    not written to the sentinel, 255 (lost, with a ``StatusLostWarning``).
    """
    pending = set()

    def reap_loop() -> None:
        while pending:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid:
                pending.discard(pid)
            gevent.sleep(0.001)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        procs = [gipc.start_process(H.child_exit, args=(3, i % 2 == 0)) for i in range(6)]
        pending.update(p.pid for p in procs)
        reaper = gevent.spawn(reap_loop)
        with gevent.Timeout(WAIT, AssertionError("join() hung after a foreign waitpid(-1)")):
            for p in procs:
                p.join(WAIT)
                assert not p.is_alive()
                assert p.exitcode in (3, 255)
            pending.clear()
            reaper.join()
    for p in procs:
        p.close()
