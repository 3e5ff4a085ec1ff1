"""How far gipc enlarges its pipes: within a quarter of the user's pipe budget, given back on release.

Linux only: ``F_SETPIPE_SZ`` and the per-user pipe budget are Linux's.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import gevent
import gipc_transport
import pytest
from gipc_transport import _pipesize

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
fcntl = pytest.importorskip("fcntl", reason="F_SETPIPE_SZ is Linux's")

KiB = 1024
F_GETPIPE_SZ = getattr(fcntl, "F_GETPIPE_SZ", 1032)
LARGE = 64 * KiB  # the smallest message that enlarges the pipe


@pytest.fixture
def budget() -> Iterator[None]:
    """A budget of one 1 MiB pipe plus one 256 KiB pipe, for this test only."""
    saved = _pipesize._budget[0], _pipesize._in_use[0]
    _pipesize._budget[0] = (1024 - 64) * KiB + (256 - 64) * KiB
    _pipesize._in_use[0] = 0
    try:
        yield
    finally:
        _pipesize._budget[0], _pipesize._in_use[0] = saved


def send_large(pair: tuple[gipc_transport.Reader, gipc_transport.Writer]) -> int:
    """Send one large message through ``pair``; return the pipe's size afterwards."""
    r, w = pair
    reader = gevent.spawn(r.get, timeout=10)
    w.put(b"x" * LARGE, timeout=10)
    assert len(reader.get(timeout=10)) == LARGE
    size: int = fcntl.fcntl(w.fileno(), F_GETPIPE_SZ)
    return size


def test_the_default_budget_is_a_quarter_of_the_users_soft_limit() -> None:
    with open("/proc/sys/fs/pipe-user-pages-soft") as f:
        pages = int(f.read())
    saved = _pipesize._budget[0]
    _pipesize._budget[0] = None
    try:
        assert _pipesize.budget() == (pages * 4096 // 4 if pages else sys.maxsize)
    finally:
        _pipesize._budget[0] = saved


def test_pipes_are_enlarged_until_the_budget_is_spent(budget: None) -> None:
    first, second, third = gipc_transport.pipe(), gipc_transport.pipe(), gipc_transport.pipe()
    try:
        assert send_large(first) == 1024 * KiB
        assert send_large(second) == 256 * KiB  # what is left of the budget
        assert send_large(third) == 64 * KiB  # nothing left: the default
        assert send_large(first) == 1024 * KiB  # still fine for the enlarged one
    finally:
        for r, w in (first, second, third):
            w.close()
            r.close()
    assert _pipesize._in_use[0] == 0


def test_closed_and_dropped_writers_give_their_share_back(budget: None) -> None:
    with gipc_transport.pipe() as first:
        assert send_large(first) == 1024 * KiB
    with gipc_transport.pipe() as again:
        assert send_large(again) == 1024 * KiB  # the closed one gave it back
        r, w = gipc_transport.pipe()
        assert send_large((r, w)) == 256 * KiB
        r.close()
        del w
        gc.collect()  # dropped without close(): its finalizer gives it back
        assert _pipesize._in_use[0] == (1024 - 64) * KiB
        with gipc_transport.pipe() as last:
            assert send_large(last) == 256 * KiB
