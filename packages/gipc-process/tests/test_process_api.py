"""The process object behaves like multiprocessing.Process, cooperatively."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator

import gevent
import gipc_process
import gipc_transport
import pytest
from gipc_process import _process
from gipc_transport import lowlevel


def _wait_for_word(r: gipc_transport.Reader) -> None:
    r.get(timeout=60)


def _exit_with(code: int) -> None:
    os._exit(code)


def _raise() -> None:
    raise RuntimeError("the target failed on purpose")


def _report_start_method(w: gipc_transport.Writer) -> None:
    w.put(multiprocessing.get_start_method())


def test_attributes_of_a_running_and_an_exited_child(start_method: str) -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,), name="worker", start_method=start_method)
        assert isinstance(p, multiprocessing.process.BaseProcess)
        assert p.name == "worker"
        assert p.daemon is False
        assert isinstance(p.pid, int) and p.pid > 0
        assert isinstance(p.sentinel, int)
        assert p.is_alive()
        assert p.exitcode is None
        assert repr(p) == f"<gipc_process.Process name='worker' pid={p.pid} started>"
        assert p in multiprocessing.active_children()
        p.join(timeout=0.05)
        assert p.is_alive(), "join() with a timeout returns while the child runs"
        w.put("go")
        p.join(timeout=60)
    assert not p.is_alive()
    assert p.exitcode == 0
    assert repr(p) == f"<gipc_process.Process name='worker' pid={p.pid} stopped exitcode=0>"
    assert p not in multiprocessing.active_children()
    p.close()
    assert repr(p) == "<gipc_process.Process name='worker' closed>"
    with pytest.raises(ValueError):
        p.is_alive()


def test_daemon_flag_is_passed_on() -> None:
    p = gipc_process.start_process(_exit_with, args=(0,), daemon=True)
    assert p.daemon is True
    assert repr(p).endswith(" daemon>")
    p.join(timeout=60)
    assert p.exitcode == 0


# On Windows, multiprocessing's kill() is terminate(): TerminateProcess, reported as -SIGTERM.
_KILLED_BY = getattr(signal, "SIGKILL", signal.SIGTERM)
_NO_FORK = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork start method: POSIX only")


@pytest.mark.parametrize("how, signum", [("terminate", signal.SIGTERM), ("kill", _KILLED_BY)])
def test_killed_child_has_negative_exitcode(start_method: str, how: str, signum: int) -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,), start_method=start_method)
        getattr(p, how)()
        p.join(timeout=60)
    assert p.exitcode == -signum
    assert f"exitcode={-signum}" in repr(p)


def test_exception_in_target_gives_exitcode_1(start_method: str) -> None:
    p = gipc_process.start_process(_raise, start_method=start_method)
    p.join(timeout=60)
    assert p.exitcode == 1


def test_second_start_is_refused_without_a_second_child() -> None:
    # A Process the program started itself; what start_process() returned
    # only warns, as in gipc 1.x (tests-integration/test_dropin_fidelity.py).
    p = gipc_process.Process(target=_exit_with, args=(0,))
    p.start()
    pid = p.pid
    with pytest.raises(gipc_process.GIPCError, match="only be started once"):
        p.start()
    assert p.pid == pid
    p.join(timeout=60)
    assert p.exitcode == 0


@_NO_FORK
def test_process_object_can_be_created_then_started() -> None:
    p = gipc_process.Process(target=_exit_with, args=(4,), start_method="fork")
    assert repr(p) == f"<gipc_process.Process name={p.name!r} initial>"
    assert not p.is_alive()
    assert p.exitcode is None
    with pytest.raises(gipc_process.GIPCError, match="never started"):
        p.join()
    p.start()
    p.join(timeout=60)
    assert p.exitcode == 4


def test_close_refuses_a_running_child() -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,))
        with pytest.raises(ValueError, match="still running"):
            p.close()
        w.put("go")
        p.join(timeout=60)
    p.close()


def test_exitcode_of_a_closed_process_is_an_error() -> None:
    p = gipc_process.start_process(_exit_with, args=(5,))
    p.join(timeout=60)
    assert p.exitcode == 5
    p.close()
    with pytest.raises(ValueError, match="process object is closed"):
        p.exitcode  # noqa: B018


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_start_method_by_name_or_context(method: str) -> None:
    for choice in (method, multiprocessing.get_context(method)):
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(_report_start_method, args=(w,), start_method=choice)
            # The chosen method becomes the child's default, as with a context's Process.
            assert r.get(timeout=60) == method
            p.join(timeout=60)
        assert p.exitcode == 0


_SPAWNING = [m for m in ("spawn", "forkserver") if m in multiprocessing.get_all_start_methods()]


@pytest.mark.parametrize("method", _SPAWNING)
def test_default_start_method_set_globally_without_handles(method: str) -> None:
    # set_start_method() is process-wide, so in a fresh interpreter. A child
    # without handles travels as a plain multiprocessing process, which must
    # still carry what multiprocessing's bootstrap reads.
    script = (
        "import multiprocessing, sys, gipc_process\n"
        "if __name__ == '__main__':\n"
        f"    multiprocessing.set_start_method({method!r})\n"
        "    p = gipc_process.start_process(sys.exit, args=(3,))\n"
        "    p.join(timeout=60)\n"
        "    print(p.exitcode)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stderr == ""
    assert done.stdout.strip() == "3"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="args must be a tuple"):
        gipc_process.start_process(_exit_with, args=[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="kwargs must be a dict"):
        gipc_process.start_process(_exit_with, kwargs=[("code", 0)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown start method 'vfork'"):
        gipc_process.start_process(_exit_with, args=(0,), start_method="vfork")
    with pytest.raises(TypeError, match="start_method"):
        gipc_process.start_process(_exit_with, args=(0,), start_method=3)  # type: ignore[arg-type]


def test_join_from_several_greenlets_at_once(start_method: str) -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_wait_for_word, args=(r,), start_method=start_method)
        joiners = [gevent.spawn(p.join, 60) for _ in range(3)]
        gevent.sleep(0.05)
        assert not any(g.ready() for g in joiners)
        w.put("go")
        gevent.joinall(joiners, timeout=60, raise_error=True)
    assert all(g.successful() for g in joiners)
    assert p.exitcode == 0


def test_start_and_join_from_another_greenlet(start_method: str) -> None:
    def run() -> int | None:
        p = gipc_process.start_process(_exit_with, args=(9,), start_method=start_method)
        p.join(timeout=60)
        return p.exitcode

    g = gevent.spawn(run)
    assert g.get(timeout=60) == 9


def _exit_zero(w: gipc_transport.Writer) -> None:
    pass


def test_a_child_is_watched_when_closing_its_handles_here_fails(
    start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Closing the parent's copies fails only if a descriptor was closed
    # behind a handle's back; start() reports it, and the child it created
    # is still joined and reaped.
    real = lowlevel.transferring

    @contextlib.contextmanager
    def failing_after_the_start(handles: Iterable[gipc_transport.Handle]) -> Iterator[lowlevel.Transfer]:
        with real(handles) as transfer:
            yield transfer
        raise OSError("closing a handle failed")

    monkeypatch.setattr(_process.lowlevel, "transferring", failing_after_the_start)
    r, w = gipc_transport.pipe()
    p = gipc_process.Process(target=_exit_zero, args=(w,), start_method=start_method)
    with pytest.raises(OSError, match="closing a handle failed"):
        p.start()
    assert w.closed
    p.join(timeout=60)
    assert p.exitcode == 0
    r.close()


def test_a_handle_used_after_start_process_names_the_child_that_has_it() -> None:
    r, w = gipc_transport.pipe()
    p = gipc_process.start_process(_put_one, (w,))
    closed = rf"is closed: it was handed to child process {p.pid}$"
    with pytest.raises(gipc_transport.GIPCClosed, match=closed):
        w.put("from the parent")
    assert r.get(timeout=60) == "from the child"
    p.join(60)
    assert p.exitcode == 0
    p.close()
    r.close()


def _put_one(w: object) -> None:
    w.put("from the child")  # type: ignore[attr-defined]
