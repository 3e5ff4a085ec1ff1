"""Hygiene under stress: descriptors, processes and memory return to baseline.

Counts are read from the kernel (``/proc/self/fd``, ``/proc/*/stat``) and
must come back exactly; resident memory may keep a sane slack for
allocator caches. Counts scale with ``GIPC_STRESS_SCALE`` (a factor, default
1). ``spawn`` and ``forkserver`` children cost about 0.1 s of CPU each to
start (a fresh interpreter importing gevent), so under those start methods
the default run uses a twentieth of the children (and a quarter of the
greenlets); ``GIPC_STRESS_SCALE=20`` runs the full counts there too.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from importlib import import_module
from typing import Any

import gevent
import gevent.lock
import gipc
import pytest

H: Any = import_module("tests-integration._faults_helpers")
WAIT = H.WAIT
SCALE = float(os.environ.get("GIPC_STRESS_SCALE", "1"))
MiB = 1024 * 1024

# Counts and cut points are read from Linux interfaces: /proc, FIONREAD, F_GETPIPE_SZ.
pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs Linux's /proc and pipe ioctls"
)


def scaled(fork_count: int, divisor: int = 20) -> int:
    """``fork_count`` for fork children, less for children that start a fresh interpreter."""
    base = fork_count if multiprocessing.get_start_method() == "fork" else fork_count // divisor
    return max(1, int(base * SCALE))


def test_thousand_short_lived_children_joined_and_not_joined() -> None:
    count = scaled(1000)
    # Warm up: the first children load modules and grow caches for good.
    for _ in range(10):
        H.finish(gipc.start_process(H.child_exit))
    base = H.Baseline()
    unjoined = 0
    with gevent.Timeout(WAIT * 3, AssertionError(f"{count} children did not finish")):
        for i in range(count):
            code = i % 3
            p = gipc.start_process(H.child_exit, args=(code,))
            if i % 2:
                H.finish(p, code)
            else:
                # Dropped without join(): gipc must still reap it and release its descriptors.
                unjoined += 1
            del p
            if i % 50 == 0:
                # Bound the number of unjoined children alive at once.
                gevent.sleep(0.05)
    base.assert_back(f"{count} children ({unjoined} never joined)", rss_slack=24 * MiB)


def test_hundred_greenlets_each_running_children() -> None:
    fork = multiprocessing.get_start_method() == "fork"
    greenlets, rounds = scaled(100, 4), max(1, int((3 if fork else 1) * SCALE))
    # A fresh interpreter per child: bound how many start at once so that 2 cores are not swamped.
    gate = gevent.lock.BoundedSemaphore(100 if fork else 16)
    H.finish(gipc.start_process(H.child_exit))
    base = H.Baseline()
    results: list[Any] = []

    def run(n: int) -> None:
        for k in range(rounds):
            with gate:
                with gipc.pipe() as (r, w), gipc.pipe() as (r2, w2):
                    p = gipc.start_process(H.child_echo_once, args=(r, w2))
                    w.put((n, k, b"x" * (n * 1000)))
                    results.append(r2.get())
                    H.finish(p)

    with gevent.Timeout(WAIT * 3, AssertionError("100 greenlets running children did not finish")):
        gevent.joinall([gevent.spawn(run, n) for n in range(greenlets)], raise_error=True)
    assert sorted(results) == sorted(
        (n, k, b"x" * (n * 1000)) for n in range(greenlets) for k in range(rounds)
    )
    base.assert_back(f"{greenlets} greenlets x {rounds} children", rss_slack=32 * MiB)


def test_five_hundred_pipes_dropped_without_close() -> None:
    count = max(1, int(500 * SCALE))
    for _ in range(5):
        gipc.pipe()
    base = H.Baseline()
    with gevent.Timeout(WAIT):
        for i in range(count):
            kind = i % 5
            if kind == 0:
                gipc.pipe()
            elif kind == 1:
                a, b = gipc.pipe(duplex=True)
                a.put(i)
                assert b.get() == i
            elif kind == 2:
                # Messages still unread when the pipe is dropped.
                r, w = gipc.pipe()
                w.put(b"y" * 1000)
                w.put(i)
            elif kind == 3:
                # A reader holding read-ahead state and a half-received large frame.
                r, w = gipc.pipe(encoder=None, decoder=None)
                os.write(w.fileno(), H.frame_header(200_000) + b"z" * 50_000)
                try:
                    r.get(timeout=0.001)
                except gipc.GIPCTimeout:
                    pass
            else:
                # A writer holding the remainder of an interrupted message.
                r, w = gipc.pipe()
                try:
                    w.put(b"w" * (4 * MiB), timeout=0.001)
                except gipc.GIPCTimeout:
                    pass
            del kind
        # Loop variables hold the last pipe: let go of it too.
        a = b = r = w = None
    base.assert_back(f"{count} pipes dropped without close()", rss_slack=16 * MiB)


def test_pipes_given_to_unjoined_children_and_dropped() -> None:
    count = scaled(200)
    H.finish(gipc.start_process(H.child_exit))
    base = H.Baseline()
    with gevent.Timeout(WAIT * 3):
        for i in range(count):
            r, w = gipc.pipe()
            r2, w2 = gipc.pipe()
            gipc.start_process(H.child_echo_once, args=(r, w2))
            w.put(i)
            assert r2.get() == i
            # Neither the process nor the parent's pipe ends are closed or joined.
            del r, w, r2, w2
    base.assert_back(f"{count} children given pipes, all dropped", rss_slack=16 * MiB)
