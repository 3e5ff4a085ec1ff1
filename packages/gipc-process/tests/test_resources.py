"""Many short-lived children in a row leave descriptors and processes flat."""

from __future__ import annotations

import gc
import os
import sys

import gipc_process
import gipc_transport
import pytest

from _proc_accounting import thread_children

# Not the existence of /proc: under wine, Windows programs see the host's.
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts descriptors in /proc")


def _noop() -> None:
    pass


def _echo(r: gipc_transport.Reader, w: gipc_transport.Writer) -> None:
    w.put(r.get(timeout=60))


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _children() -> set[int]:
    return thread_children()


# A leak of one descriptor or process per child shows after the first few
# children; the counts keep each case to a few seconds (a forkserver child
# imports this module afresh: about as slow as a spawn child).
@pytest.mark.parametrize("method, count", [("fork", 300), ("spawn", 20), ("forkserver", 20)])
def test_many_children_in_a_row_leave_fds_and_processes_flat(method: str, count: int) -> None:
    # Warm up: the first start may launch multiprocessing's long-lived helpers.
    gipc_process.start_process(_noop, start_method=method).join(timeout=60)
    gc.collect()
    fds, children = _open_fds(), _children()
    for i in range(count):
        p = gipc_process.start_process(_noop, start_method=method)
        p.join(timeout=60)
        assert p.exitcode == 0, f"child {i}: {p!r}"
    del p
    gc.collect()
    assert _open_fds() == fds
    assert _children() == children


@pytest.mark.parametrize("method, count", [("fork", 200), ("spawn", 10)])
def test_many_children_with_handles_leave_fds_flat(method: str, count: int) -> None:
    gipc_process.start_process(_noop, start_method=method).join(timeout=60)
    gc.collect()
    fds = _open_fds()
    for i in range(count):
        with gipc_transport.pipe() as (r1, w1), gipc_transport.pipe() as (r2, w2):
            p = gipc_process.start_process(_echo, args=(r1, w2), start_method=method)
            w1.put(i)
            assert r2.get(timeout=60) == i
            p.join(timeout=60)
    del p
    gc.collect()
    assert _open_fds() == fds
