"""Child processes under every start method, watched cooperatively."""

from __future__ import annotations

import os
import sys

import gevent
import gipc_process
import gipc_transport
import pytest


def _send_pid(writer: gipc_transport.Writer) -> None:
    writer.put(os.getpid())


def _exit_with(code: int) -> None:
    os._exit(code)


def test_child_talks_back_and_exits_cleanly(start_method: str) -> None:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_send_pid, args=(w,), start_method=start_method)
        assert w.closed, "a handle given to the child is closed in the parent"
        assert r.get() == p.pid
        p.join()
    assert p.exitcode == 0
    assert not p.is_alive()


def test_exit_code_is_reported(start_method: str) -> None:
    p = gipc_process.start_process(_exit_with, args=(3,), start_method=start_method)
    p.join()
    assert p.exitcode == 3


def test_join_lets_other_greenlets_run() -> None:
    ticks = []

    def ticker() -> None:
        for _ in range(5):
            ticks.append(1)
            gevent.sleep(0.01)

    g = gevent.spawn(ticker)
    p = gipc_process.start_process(gevent.sleep, args=(0.3,))
    p.join()
    g.join()
    assert len(ticks) == 5
    assert p.exitcode == 0


def test_args_must_be_tuple_and_kwargs_dict() -> None:
    with pytest.raises(TypeError):
        gipc_process.start_process(_exit_with, args=[0])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        gipc_process.start_process(_exit_with, kwargs=[("code", 0)])  # type: ignore[arg-type]


@pytest.mark.parametrize("code, exitcode", [(None, 0), (5, 5), ("a message", 1)])
def test_sys_exit_in_the_target_sets_the_exitcode(start_method: str, code: object, exitcode: int) -> None:
    # As multiprocessing: sys.exit(n) gives n, a message (printed) gives 1.
    p = gipc_process.start_process(sys.exit, args=(code,), start_method=start_method)
    p.join(timeout=60)
    assert p.exitcode == exitcode
