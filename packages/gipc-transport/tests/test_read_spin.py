"""A get() that finds nothing to read polls briefly before it sleeps in the hub.

A duplex get() right after a put() (awaiting the reply) spins before its
first read. The spin is invisible in results (only in speed, which the
benchmark measures), so the single-process tests look at the reader's
backoff state to tell a spin that caught data from one that missed it or
never ran. Within one process nothing else can run during a spin: a message
written by another greenlet always misses it.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCTimeout, _contention, _reader, lowlevel
from gipc_transport._compat import original_sleep


@contextmanager
def read_spin(seconds: float) -> Iterator[None]:
    old = lowlevel.set_read_spin(seconds)
    try:
        yield
    finally:
        lowlevel.set_read_spin(old)


@pytest.fixture
def calm_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader's sense of a busy CPU says "calm", whatever else runs on the machine.

    The tests that count spins exactly would otherwise change with the load
    of the machine that runs them (see the tests of the sense below).
    """
    monkeypatch.setattr(_reader, "_CONTENTION", _contention.Contention())
    monkeypatch.setattr(_contention, "SHARE", math.inf)


@pytest.fixture
def spin(calm_cpu: None) -> Iterator[None]:
    # Milliseconds, not the default's microseconds: a preemption on a busy
    # machine must not make a spin that caught its data in time look late.
    with read_spin(0.005):
        yield


def backoff(h: gipc_transport.DuplexHandle | gipc_transport.Reader) -> tuple[int, int]:
    reader = h.handles()[0] if isinstance(h, gipc_transport.DuplexHandle) else h
    return reader._spin_backoff, reader._spin_skip  # type: ignore[attr-defined]


@contextmanager
def channel() -> Iterator[tuple[gipc_transport.DuplexHandle, gipc_transport.DuplexHandle]]:
    """A duplex pipe after one round trip: a reader's first get() takes the slow path."""
    with gipc_transport.pipe(duplex=True) as (a, b):
        a.put("warm up")
        b.put(b.get())
        assert a.get() == "warm up"
        assert backoff(a) == (0, 0)
        yield a, b


def reply_later(h: gipc_transport.DuplexHandle | gipc_transport.Writer, obj: object) -> gevent.Greenlet:
    """Reply from a greenlet that is already asleep, so nothing is ready to run."""
    g = gevent.spawn(lambda: (gevent.sleep(0.001), h.put(obj)))
    gevent.sleep(0)
    return g


def request_answered_late(a: gipc_transport.DuplexHandle, b: gipc_transport.DuplexHandle) -> None:
    """``a`` sends a request, which ``b`` answers with "reply" from a sleeping greenlet."""
    a.put("request")
    assert b.get() == "request"
    reply_later(b, "reply")


def test_set_read_spin_returns_the_old_value_and_refuses_nonsense() -> None:
    with read_spin(0.001):
        assert lowlevel.set_read_spin(0) == 0.001
        for bad in (-1e-6, 1.5):
            with pytest.raises(ValueError, match="read spin"):
                lowlevel.set_read_spin(bad)
        for bad in ("50us", None, True):
            with pytest.raises(TypeError, match="read spin"):
                lowlevel.set_read_spin(bad)  # type: ignore[arg-type]
        assert lowlevel.set_read_spin(0) == 0


def test_a_reply_already_there_is_caught_by_the_spin(spin: None) -> None:
    with channel() as (a, b):
        a.put("request")
        b.put(b.get())
        assert a.get() == "request"
        assert backoff(a) == (0, 0)


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="counts waits exactly; libuv on Windows may wake a wait with nothing to read yet, "
    "which consumes a skip (the spin is off by default there)",
)
def test_missed_replies_make_later_ones_skip_the_spin_exponentially(spin: None) -> None:
    with channel() as (a, b):

        def request(reply_ready: bool, n: int) -> None:
            a.put(n)
            assert b.get() == n
            if reply_ready:
                b.put(n)
            else:
                reply_later(b, n)
            assert a.get() == n

        request(False, 1)  # spins, misses
        assert backoff(a) == (1, 1)
        request(False, 2)  # skips
        assert backoff(a) == (1, 0)
        request(False, 3)  # spins, misses again
        assert backoff(a) == (2, 2)
        request(True, 4)  # skips, though the reply was there
        request(True, 5)  # skips
        assert backoff(a) == (2, 0)
        request(True, 6)  # spins and catches it: spinning is back for good
        assert backoff(a) == (0, 0)
        request(True, 7)
        assert backoff(a) == (0, 0)


def test_the_backoff_is_bounded(spin: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # A spin that outlasts twice its budget counts as contended, with the
    # larger bound (the test below). On a loaded machine a preemption during
    # one of these spins made it so (seen in CI: 256). Here the reader's clock
    # advances a quarter of the budget at each look, so every spin that finds
    # nothing ends in time, whatever the load: the bound of such spins is
    # what this test checks.
    looks = itertools.count()
    quarter = _reader.READ_SPIN[0] / 4
    monkeypatch.setattr(_reader, "_clock", lambda: next(looks) * quarter)
    with channel() as (a, b):
        for n in range(300):
            a.put(n)
            assert b.get() == n
            g = reply_later(b, n) if n % 2 == 0 else gevent.spawn(b.put, n)
            assert a.get() == n
            g.join()
        assert backoff(a)[0] == 64


@pytest.mark.skipif(
    sys.platform == "win32",
    reason="counts waits exactly; libuv on Windows may wake a wait with nothing to read yet, "
    "which consumes a skip (the spin is off by default there)",
)
def test_a_reply_that_came_while_the_cpu_was_taken_counts_as_a_miss(
    spin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a busy machine, the yield inside a spin hands the CPU to other
    # processes for a time slice: the reply is there when the spin reads
    # again, but a wake-up would have brought it no later. Here the "other
    # processes" are the partner answering and a real sleep of three spin
    # budgets inside the yield.
    budget = lowlevel.set_read_spin(0.005)
    lowlevel.set_read_spin(budget)
    with channel() as (a, b):
        pending: list[int] = []

        def taken_cpu() -> None:
            if pending:
                b.put(pending.pop())
            original_sleep(3 * budget)

        yield_cpu = _reader._yield_cpu
        monkeypatch.setattr(_reader, "_yield_cpu", taken_cpu)
        late_spins = 0
        for n in range(300):
            a.put(n)
            assert b.get() == n
            if backoff(a)[1]:
                b.put(n)  # the spin is skipped: the reply waits in the pipe
            else:
                pending.append(n)  # the spin runs: the reply comes during its yield
                late_spins += 1
            assert a.get() == n
            assert not pending
            if n == 0:
                assert backoff(a) == (1, 1)
        # Each late spin doubles the skip, past the bound of 64 for spins
        # that found nothing: 9 of the 300 waits spin (the 1st, 3rd, 6th,
        # 11th, 20th, 37th, 70th, 135th and 264th).
        assert late_spins == 9 and backoff(a)[0] == 256
        monkeypatch.setattr(_reader, "_yield_cpu", yield_cpu)
        # Spinning resumes once a spin catches a reply in time.
        while backoff(a)[1]:
            a.put("skip")
            b.put(b.get())
            assert a.get() == "skip"
        a.put("in time")
        b.put(b.get())
        assert a.get() == "in time"
        assert backoff(a) == (0, 0)


@pytest.mark.skipif(_contention.run_delay() is None, reason="needs Linux's per-thread schedstat")
def test_no_spin_while_the_cpu_is_contended(spin: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sense of contention is forced: any wait for a CPU counts, at every look.
    monkeypatch.setattr(_contention, "WINDOW", 0.0)
    with channel() as (a, b):
        a.put("first")
        b.put(b.get())
        assert a.get() == "first"  # the first look only starts the count: it spins
        assert backoff(a) == (0, 0)
        monkeypatch.setattr(_contention, "SHARE", -1.0)
        a.put("request")
        b.put(b.get())
        # The reply is there, but the contended CPU stops the spin before it reads.
        assert a.get() == "request"
        assert backoff(a) == (1, 1)
        for n in range(3000):
            a.put(n)
            b.put(b.get())
            assert a.get() == n
        assert backoff(a)[0] == 1024  # the bound for a contended CPU
        monkeypatch.setattr(_contention, "SHARE", math.inf)
        while backoff(a)[1]:
            a.put("skip")
            b.put(b.get())
            assert a.get() == "skip"
        for _ in range(2):  # spin again and catch the reply
            a.put("again")
            b.put(b.get())
            assert a.get() == "again"
        assert backoff(a) == (0, 0)


def _busy_forever() -> None:
    while True:
        pass


@pytest.mark.skipif(_contention.run_delay() is None, reason="needs Linux's per-thread schedstat")
def test_the_sense_of_contention_sees_a_cpu_shared_with_a_busy_process() -> None:
    cpu = min(os.sched_getaffinity(0))
    old = os.sched_getaffinity(0)
    ctx = multiprocessing.get_context("fork")
    hog = ctx.Process(target=_busy_forever, daemon=True)
    os.sched_setaffinity(0, {cpu})
    try:
        hog.start()  # inherits the one CPU
        sense = _contention.Contention()
        assert not sense.contended(time.monotonic())  # the first look starts the count
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.3:
            pass  # runnable all along: about half of it waiting for the CPU
        assert sense.contended(time.monotonic())
    finally:
        hog.kill()
        hog.join(C.WAIT)
        os.sched_setaffinity(0, old)
    # Asleep, a thread does not wait for a CPU (one wake-up aside).
    original_sleep(0.5)
    assert not sense.contended(time.monotonic())


def test_no_spin_while_other_greenlets_are_ready(spin: None) -> None:
    with channel() as (a, b):
        a.put("request")
        assert b.get() == "request"
        g = gevent.spawn(b.put, "reply")  # ready to run: get() must let it
        assert a.get() == "reply"
        g.join()
        assert backoff(a) == (0, 0)


def test_spin_zero_turns_it_off(calm_cpu: None) -> None:
    with read_spin(0):
        with channel() as (a, b):
            request_answered_late(a, b)
            assert a.get() == "reply"
            assert backoff(a) == (0, 0)


def test_get_with_a_timeout_spins_too(spin: None) -> None:
    with channel() as (a, b):
        request_answered_late(a, b)
        assert a.get(timeout=5) == "reply"
        assert backoff(a) == (1, 1)
        for _ in range(2):  # skip once, then catch a reply that is there
            a.put("again")
            b.put(b.get())
            assert a.get(timeout=5) == "again"
        assert backoff(a) == (0, 0)


def test_get_with_a_legacy_timeout_spins_too(spin: None) -> None:
    with channel() as (a, b):
        request_answered_late(a, b)
        with gevent.Timeout(5) as t:
            assert a.get(timeout=t) == "reply"
        assert backoff(a) == (1, 1)


def test_the_spin_ends_at_the_deadline_of_get(calm_cpu: None) -> None:
    with read_spin(1.0):
        with channel() as (a, b):
            a.put("request")
            assert b.get() == "request"
            t0 = time.monotonic()
            with pytest.raises(GIPCTimeout):
                a.get(timeout=0.05)
            # Not the spin's second: the deadline ended it (wide margin).
            assert time.monotonic() - t0 < 0.5
            b.put("reply")
            assert a.get(timeout=5) == "reply"


def test_a_simplex_get_spins_when_the_pipe_is_empty(spin: None) -> None:
    with gipc_transport.pipe() as (r, w):
        w.put("warm up")
        assert r.get() == "warm up"
        w.put("there")
        assert r.get() == "there"  # read at once, no spin needed
        assert backoff(r) == (0, 0)
        reply_later(w, "later")
        assert r.get() == "later"  # the spin found nothing
        assert backoff(r) == (1, 1)
        reply_later(w, "later")
        assert r.get(timeout=5) == "later"  # skipped
        assert backoff(r) == (1, 0)
        w.put("there")
        assert r.get(timeout=5) == "there"  # the spin's first read finds it
        assert backoff(r) == (0, 0)


@pytest.mark.parametrize("spin_seconds", [0.0, 50e-6, 0.002])
def test_a_stream_with_pauses_arrives_whole_and_in_order(start_method: str, spin_seconds: float) -> None:
    pauses = [0.0] * 50 + [0.003, 0.0, 0.0001, 0.0, 0.01, 0.0005] * 30
    with read_spin(spin_seconds):
        with gipc_transport.pipe() as (r, w):
            ctx = multiprocessing.get_context(start_method)
            p = ctx.Process(target=C.send_with_pauses, args=(w, pauses))
            p.start()
            w.close()
            assert [r.get() for _ in pauses] == list(range(len(pauses)))
            with pytest.raises(EOFError):
                r.get(timeout=C.WAIT)
            p.join(C.WAIT)
            assert p.exitcode == 0


@pytest.mark.parametrize("spin_seconds", [0.0, 50e-6, 0.002])
def test_round_trips_with_a_partner_of_changing_speed(start_method: str, spin_seconds: float) -> None:
    # Quick and slow replies mixed, so spins hit, miss and skip; every
    # reply must still be the right one, in order, and nothing is left over.
    pauses = [0.0, 0.0, 0.003, 0.0, 0.0001, 0.0, 0.0, 0.01, 0.0005] * 40
    with read_spin(spin_seconds):
        with gipc_transport.pipe(duplex=True) as (a, b):
            ctx = multiprocessing.get_context(start_method)
            p = ctx.Process(target=C.echo_with_pauses, args=(b, pauses))
            p.start()
            b.close()
            for i in range(len(pauses)):
                a.put((i, b"x" * (i % 7)))
                assert a.get() == (i, b"x" * (i % 7))
            with pytest.raises(EOFError):
                a.get(timeout=C.WAIT)
            p.join(C.WAIT)
            assert p.exitcode == 0
