"""The behaviour changes that docs/migration.rst promises, each checked for real.

The 1.8.0 behaviours that did *not* change are checked by
test_legacy_compat.py; this module checks the new ones, in the order of the
migration guide.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
from typing import Any

import gevent
import gipc
import pytest

import _wine

WAIT = 30


def finish(p: gipc.Process, exitcode: int = 0) -> None:
    p.join(WAIT)
    if p.is_alive():
        p.kill()
        p.join(WAIT)
        pytest.fail(f"{p!r} did not exit within {WAIT} s")
    assert p.exitcode == exitcode


# kill() is SIGKILL on POSIX; on Windows it is TerminateProcess, which
# multiprocessing reports as -SIGTERM (Windows has no SIGKILL).
KILLED = -signal.SIGTERM if sys.platform == "win32" else -signal.SIGKILL


# -- names ----------------------------------------------------------------------------


def test_import_gipc_patches_nothing_in_multiprocessing() -> None:
    # The Popen whose poll() 1.8.0 patched on POSIX; Windows has its own.
    popen = "popen_spawn_win32" if sys.platform == "win32" else "popen_fork"
    code = (
        f"import multiprocessing, multiprocessing.{popen} as pf, multiprocessing.process as mp\n"
        "before = (pf.Popen.poll, mp.BaseProcess.close, multiprocessing.Process.close,"
        " multiprocessing.get_start_method(allow_none=True))\n"
        "import gipc, gipc.gipc\n"
        "after = (pf.Popen.poll, mp.BaseProcess.close, multiprocessing.Process.close,"
        " multiprocessing.get_start_method(allow_none=True))\n"
        "assert before == after, (before, after)\n"
        "assert after[-1] is None, 'importing gipc must not fix the start method'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# -- pipes and messages -------------------------------------------------------------------


def test_seconds_timeout_raises_gipc_timeout_and_loses_nothing() -> None:
    with gipc.pipe() as (r, w):
        with pytest.raises(gipc.GIPCTimeout) as excinfo:
            r.get(timeout=0.05)
        assert isinstance(excinfo.value, TimeoutError)
        w.put("late")
        assert r.get(timeout=WAIT) == "late"


def put_forever_big(w: gipc.Writer, started: gipc.Writer) -> None:
    started.put("putting")
    started.close()
    w.put(b"x" * (64 << 20))  # far more than any pipe holds: put() blocks midway


@_wine.keeps_sockets_of_terminated_children
def test_writer_dying_mid_message_is_gipc_truncated_not_oserror(start_method: str) -> None:
    with gevent.Timeout(WAIT), gipc.pipe(encoder=None, decoder=None) as (r, w), gipc.pipe() as (sr, sw):
        p = gipc.start_process(put_forever_big, args=(w, sw), start_method=start_method)
        assert sr.get() == "putting"
        assert r.poll(WAIT), "the child started writing"
        # The message cannot have fit into the pipe: the child is blocked in put().
        p.kill()
        finish(p, KILLED)
        with pytest.raises(gipc.GIPCTruncated) as excinfo:
            r.get()
        assert isinstance(excinfo.value, gipc.GIPCBroken)
        assert not isinstance(excinfo.value, OSError), "1.8.0 raised IOError; gipc 2 does not"
        with pytest.raises(gipc.GIPCBroken):
            r.get()


def test_duplex_handle_is_not_a_tuple_but_has_its_pair() -> None:
    with gipc.pipe(duplex=True) as pair:
        assert isinstance(pair, tuple), "what pipe() returns is still a tuple"
        a, b = pair
        assert not isinstance(a, tuple)
        reader, writer = a.handles()
        assert isinstance(reader, gipc.Reader) and isinstance(writer, gipc.Writer)
        a.put("through a's writer")
        assert b.get() == "through a's writer"


def test_handles_cannot_be_pickled_outside_start_process() -> None:
    with gipc.pipe() as (r, w), gipc.pipe() as (r2, w2):
        with pytest.raises(gipc.GIPCError):
            pickle.dumps(r)
        with pytest.raises(gipc.GIPCError):
            w.put(r2)
        # Refusing the message left the channel usable.
        w.put("after")
        assert r.get(timeout=WAIT) == "after"


def test_a_dropped_handle_is_closed_when_collected() -> None:
    r, w = gipc.pipe()
    fd = r.fileno()
    del r
    gc.collect()
    with pytest.raises(OSError):
        os.fstat(fd)
    w.close()


# -- child processes -----------------------------------------------------------------------


def exit_with(code: int) -> None:
    sys.exit(code)


def test_plain_multiprocessing_and_subprocess_keep_real_exit_codes(start_method: str) -> None:
    p = gipc.start_process(exit_with, args=(3,), start_method=start_method)
    finish(p, 3)
    plain = multiprocessing.get_context(start_method).Process(target=exit_with, args=(7,))
    plain.start()
    plain.join(WAIT)
    assert plain.exitcode == 7
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(5)"])
    assert proc.wait(timeout=WAIT) == 5


def use_nested(arg: list[Any], *, box: dict[str, Any]) -> None:
    (r,) = arg
    box["w"].put(r.get())


def test_handles_nested_in_args_and_kwargs_go_to_the_child(start_method: str) -> None:
    with gevent.Timeout(WAIT), gipc.pipe() as (r, w), gipc.pipe() as (back_r, back_w):
        args, kwargs = ([r],), {"box": {"w": back_w}}
        p = gipc.start_process(use_nested, args=args, kwargs=kwargs, start_method=start_method)
        assert r.closed and back_w.closed, "transferred handles are closed in the parent"
        w.put("nested")
        assert back_r.get() == "nested"
        finish(p)


def join_sibling(sibling: gipc.Process, report: gipc.Writer) -> None:
    try:
        sibling.join(1)
    except gipc.GIPCError as exc:
        report.put(type(exc).__name__)
    else:
        report.put("no error")


def wait_for_eof(r: gipc.Reader) -> None:
    with pytest.raises(EOFError):
        r.get()


@pytest.mark.skipif(sys.platform == "win32", reason="fork: Windows starts spawn children only")
def test_join_from_another_process_is_a_gipc_error() -> None:
    # Fork only: a process object reaches another process only by inheritance.
    with gevent.Timeout(WAIT), gipc.pipe() as (r, w), gipc.pipe() as (rep_r, rep_w):
        sibling = gipc.start_process(wait_for_eof, args=(r,), start_method="fork")
        p = gipc.start_process(join_sibling, args=(sibling, rep_w), start_method="fork")
        assert rep_r.get() == "GIPCError"
        finish(p)
        w.close()
        finish(sibling)


def test_second_start_is_an_error_and_starts_nothing() -> None:
    with gipc.pipe() as (r, w):
        p = gipc.Process(target=wait_for_eof, args=(r,))
        p.start()
        pid = p.pid
        with pytest.raises(gipc.GIPCError, match="already started"):
            p.start()
        assert p.pid == pid
        w.close()
        finish(p)


def test_follows_set_start_method_at_call_time(start_method: str) -> None:
    """1.8.0 froze the start method at import; gipc 2 reads it at each call (Python 3.14 sets forkserver)."""
    previous = multiprocessing.get_start_method(allow_none=True)
    multiprocessing.set_start_method(start_method, force=True)
    try:
        bare = gipc.start_process(exit_with, args=(7,))
        with gevent.Timeout(WAIT), gipc.pipe() as (r, w), gipc.pipe() as (back_r, back_w):
            with_handles = gipc.start_process(echo_method, args=(r, back_w))
            w.put("which method?")
            assert back_r.get() == ("which method?", start_method)
    finally:
        multiprocessing.set_start_method(previous, force=True)
    finish(bare, 7)
    finish(with_handles)


def echo_method(r: gipc.Reader, w: gipc.Writer) -> None:
    w.put((r.get(), multiprocessing.get_start_method()))
