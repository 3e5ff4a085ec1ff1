"""Soak: every fault of the fault-injection tests, mixed, for minutes.

Opt-in: runs only when ``GIPC_SOAK_SECONDS`` is set (the number of seconds
to keep going), e.g. ``GIPC_SOAK_SECONDS=120 python -m pytest -m soak -s
tests-integration/test_soak.py``. Rounds pick a scenario at random from a
seeded generator (replay with ``GIPC_FAULTS_SEED``), several scenarios run
at once in greenlets, and a summary of what was exercised and found is
printed at the end: messages and bytes moved, kills, children, and every
outcome by type. Any unexpected outcome (damaged message, wrong error, hang,
leaked descriptor or process) fails the test after the summary.
"""

from __future__ import annotations

import collections
import hashlib
import multiprocessing
import os
import pickle
import random
import signal
import sys
import time
import traceback
from importlib import import_module
from typing import Any

import gevent
import gipc
import pytest

H: Any = import_module("tests-integration._faults_helpers")
WAIT = H.WAIT
SECONDS = float(os.environ.get("GIPC_SOAK_SECONDS", "0") or 0)
MiB = 1024 * 1024

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not SECONDS, reason="opt-in soak test: set GIPC_SOAK_SECONDS to the seconds to run"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc for its accounting"),
    pytest.mark.timeout(int(SECONDS) + 300),
]


class Tally:
    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] += n


def kill_mid_transfer(rng: random.Random, t: Tally) -> None:
    big = H.payload(rng.randrange(1000), rng.choice((1, 4, 16)) * MiB)
    with gipc.pipe() as (r, w):
        p = gipc.start_process(H.child_ready_then_put, args=(w, [big]))
        t.add("children")
        assert r.get(timeout=WAIT) == "ready"
        killer = gevent.spawn_later(rng.uniform(0, 0.02), p.kill)
        try:
            got = r.get(timeout=WAIT)
            assert got == big, "message damaged"
            t.add("kill-mid-transfer: arrived intact")
            t.add("bytes", len(big))
        except gipc.GIPCTruncated:
            t.add("kill-mid-transfer: GIPCTruncated")
        killer.join(WAIT)
        t.add("kills")
        p.join(WAIT)
        assert not p.is_alive(), "killed child not reaped"


def interrupted_traffic(rng: random.Random, t: Tally) -> None:
    sizes = [rng.choice((10, 70_000, MiB, 3 * MiB)) for _ in range(4)]
    with gipc.pipe() as (r, w):
        p = gipc.start_process(H.child_put_numbered, args=(w, 12, sizes))
        t.add("children")
        expected = 0
        while expected < 12:
            how = rng.choice(("timeout", "kill"))
            if how == "timeout":
                try:
                    i, data = r.get(timeout=rng.uniform(0, 0.003))
                except gipc.GIPCTimeout:
                    t.add("get interrupted: GIPCTimeout")
                    continue
            else:
                g = gevent.spawn(r.get, WAIT)
                for _ in range(rng.randrange(4)):
                    gevent.sleep(0)
                g.kill(block=True, timeout=WAIT)
                if not g.successful() or isinstance(g.value, gevent.GreenletExit):
                    if g.exception is not None:
                        raise g.exception
                    t.add("get interrupted: kill")
                    continue
                i, data = g.value
            assert i == expected, f"expected message {expected}, got {i}"
            H.check_payload(i, data, sizes[i % len(sizes)])
            t.add("messages")
            t.add("bytes", len(data))
            expected += 1
        with pytest.raises(EOFError):
            r.get(timeout=WAIT)
        H.finish(p)


def interrupted_puts(rng: random.Random, t: Tally) -> None:
    sizes = [rng.choice((10, 70_000, MiB, 3 * MiB)) for _ in range(4)]
    with gipc.pipe() as (r, w), gipc.pipe() as (report_r, report_w):
        p = gipc.start_process(H.child_check_numbered, args=(r, report_w, sizes))
        t.add("children")
        completed = []
        for i in range(12):
            try:
                w.put((i, H.payload(i, sizes[i % len(sizes)])), timeout=rng.uniform(0, 0.003))
                completed.append(i)
            except gipc.GIPCTimeout:
                t.add("put interrupted: GIPCTimeout")
        w.flush(timeout=WAIT)
        w.close()
        seen = report_r.get(timeout=WAIT)
        H.finish(p)
        assert seen == sorted(set(seen)) and set(completed) <= set(seen), (
            f"completed {completed}, seen {seen}"
        )
        t.add("messages", len(seen))


def forged_frame(rng: random.Random, t: Tally) -> None:
    body = rng.choice((5, 5000, 200_000))
    frame = H.frame_header(body) + bytes(body)
    cut = rng.randrange(0, len(frame) + 1)
    with gipc.pipe(encoder=None, decoder=None) as (r, w):

        def feed() -> None:
            view = memoryview(frame[:cut])
            while view:
                try:
                    view = view[os.write(w.fileno(), view) :]
                except BlockingIOError:
                    gevent.sleep(0.001)
            w.close()

        g = gevent.spawn(feed)
        try:
            data = r.get(timeout=WAIT)
            assert cut == len(frame) and data == bytes(body)
            t.add("forged frame: whole")
        except EOFError:
            assert cut == 0
            t.add("forged frame: EOFError")
        except gipc.GIPCTruncated:
            assert 0 < cut < len(frame)
            t.add("forged frame: GIPCTruncated")
        g.get(timeout=WAIT)


def dead_reader(rng: random.Random, t: Tally) -> None:
    with gipc.pipe() as (r, w), gipc.pipe() as (status_r, status_w):
        p = gipc.start_process(H.child_hold_reader, args=(r, status_w))
        t.add("children")
        assert status_r.get(timeout=WAIT) == "holding"

        def put() -> BaseException | None:
            # Returned, not raised: gevent would print every expected failure.
            try:
                w.put(b"p" * rng.choice((10, 3 * MiB)))
            except gipc.GIPCError as exc:
                return exc
            return None

        putter = gevent.spawn(put)
        gevent.sleep(rng.uniform(0, 0.01))
        H.kill_and_reap(p)
        t.add("kills")
        putter.join(WAIT)
        assert putter.dead, "put() to a dead reader hung"
        error = putter.get()
        if error is None:
            t.add("dead reader: put completed before the kill")
            with pytest.raises(gipc.GIPCBroken):
                w.put(b"more")
        else:
            assert isinstance(error, gipc.GIPCBroken) and isinstance(error, BrokenPipeError), repr(error)
            t.add(f"dead reader: put() raised {type(error).__name__}")


def codec_failures(rng: random.Random, t: Tally) -> None:
    with gipc.pipe() as (r, w):
        with pytest.raises((pickle.PicklingError, AttributeError, TypeError)) as info:
            w.put([b"x" * rng.randrange(100_000), lambda: None])
        t.add(f"codec: {type(info.value).__name__}")
        w.put("after")
        assert r.get(timeout=WAIT) == "after"
        t.add("messages")


def children_burst(rng: random.Random, t: Tally) -> None:
    procs = [gipc.start_process(H.child_exit, args=(rng.randrange(3), rng.random() < 0.3)) for _ in range(20)]
    t.add("children", len(procs))
    for p in procs[::2]:
        H.finish(p, None)
        t.add(f"exitcode {p.exitcode}")
    # The other half is dropped unjoined: gipc must reap them.


def greenlets_with_children(rng: random.Random, t: Tally) -> None:
    def one(n: int) -> None:
        with gipc.pipe() as (r, w), gipc.pipe() as (r2, w2):
            p = gipc.start_process(H.child_echo_once, args=(r, w2))
            w.put(n)
            assert r2.get(timeout=WAIT) == n
            H.finish(p)

    gevent.joinall([gevent.spawn(one, n) for n in range(10)], raise_error=True, timeout=WAIT)
    t.add("children", 10)
    t.add("messages", 20)


def dropped_pipes(rng: random.Random, t: Tally) -> None:
    for i in range(50):
        r, w = gipc.pipe(duplex=rng.random() < 0.5)
        if i % 3 == 0:
            w.put(b"u" * rng.randrange(1000))
    t.add("pipes dropped", 50)


def signals_transfer(rng: random.Random, t: Tally) -> None:
    data = random.Random(rng.random()).randbytes(8 * MiB)
    counter = [0]

    def handler(signum: int, frame: Any) -> None:
        counter[0] += 1

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with gipc.pipe() as (r, w), gipc.pipe() as (report_r, report_w):
            p = gipc.start_process(H.child_get_under_signals, args=(r, report_w))
            t.add("children")
            assert report_r.get(timeout=WAIT) == "ready"
            signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
            try:
                w.put(data, timeout=WAIT)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            size, digest, child_signals = report_r.get(timeout=WAIT)
            H.finish(p)
    finally:
        signal.signal(signal.SIGALRM, old)
    assert (size, digest) == (len(data), hashlib.sha256(data).hexdigest()), "damaged under signals"
    t.add("signals delivered", counter[0] + child_signals)
    t.add("bytes", len(data))


SCENARIOS = [
    kill_mid_transfer,
    interrupted_traffic,
    interrupted_puts,
    forged_frame,
    dead_reader,
    codec_failures,
    children_burst,
    greenlets_with_children,
    dropped_pipes,
]


def test_soak(request: pytest.FixtureRequest) -> None:
    rng, seed = H.make_rng(request)
    tally = Tally()
    for _ in range(3):
        H.finish(gipc.start_process(H.child_exit))
    base = H.Baseline()
    started = time.monotonic()
    deadline = started + SECONDS

    def run_one(scenario: Any, sub_seed: int) -> None:
        name = scenario.__name__
        try:
            with gevent.Timeout(WAIT * 2, AssertionError(f"{name} hung")):
                scenario(random.Random(sub_seed), tally)
            tally.add(f"round {name}")
        except BaseException as exc:  # noqa: BLE001 - every failure is collected and reported
            tally.failures.append(f"{name} (sub-seed {sub_seed}): {exc!r}\n{traceback.format_exc()}")

    rounds = 0
    while time.monotonic() < deadline and len(tally.failures) < 10:
        # Signals would interrupt the other scenarios' timers too: run them alone.
        if rng.random() < 0.1:
            run_one(signals_transfer, rng.randrange(2**31))
        else:
            batch = [gevent.spawn(run_one, rng.choice(SCENARIOS), rng.randrange(2**31)) for _ in range(3)]
            gevent.joinall(batch)
        rounds += 1
    elapsed = time.monotonic() - started
    try:
        base.assert_back(f"{rounds} soak rounds", rss_slack=64 * MiB)
        accounting = "descriptors and children back to baseline"
    except AssertionError as exc:
        accounting = str(exc)
        tally.failures.append(accounting)
    lines = [
        f"soak summary: seed {seed}, {elapsed:.0f} s, {rounds} rounds, "
        f"start method {multiprocessing.get_start_method()}, loop {type(gevent.get_hub().loop).__module__}",
    ]
    lines += [f"  {key}: {n}" for key, n in sorted(tally.counts.items())]
    lines.append(f"  accounting: {accounting}; RSS {H.rss() >> 20} MiB (baseline {base.rss >> 20} MiB)")
    lines.append(f"  unexpected outcomes: {len(tally.failures)}")
    print("\n".join(lines))
    assert not tally.failures, "\n\n".join(tally.failures[:5])
