"""Presets, alternating repetitions, bounded trials and summary statistics."""

from __future__ import annotations

import dataclasses
import os
import signal
import statistics
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar


@dataclasses.dataclass(frozen=True)
class Preset:
    """How much work each case does; ``full`` is what the docs' figures come from."""

    name: str
    reps: int
    small_count: int
    sizes: tuple[int, ...]
    stream_bytes: int
    roundtrips: int
    start_counts: dict[str, int]
    pool_tasks: int
    cpu_tasks_per_worker: int
    cpu_loops: int
    side_seconds: float = 10.0
    """The window of the side-by-side CPU-bound case."""
    trial_limit: float = 120.0
    warmup: bool = True


KIB = 1024
MIB = 1024 * KIB

PRESETS = {
    "full": Preset(
        name="full",
        reps=5,
        small_count=100_000,
        sizes=(1 * KIB, 64 * KIB, 1 * MIB, 16 * MIB),
        stream_bytes=256 * MIB,
        roundtrips=20_000,
        start_counts={"fork": 40, "forkserver": 8, "spawn": 4},
        pool_tasks=4_000,
        cpu_tasks_per_worker=4,
        cpu_loops=2_000_000,
    ),
    "quick": Preset(
        name="quick",
        reps=3,
        small_count=20_000,
        sizes=(64 * KIB, 16 * MIB),
        stream_bytes=32 * MIB,
        roundtrips=3_000,
        start_counts={"fork": 8, "forkserver": 4, "spawn": 2},
        pool_tasks=500,
        cpu_tasks_per_worker=2,
        cpu_loops=150_000,
        side_seconds=2.0,
    ),
    # Only proves every code path runs: the smoke test's configuration.
    "smoke": Preset(
        name="smoke",
        reps=2,
        small_count=300,
        sizes=(64 * KIB, 1 * MIB),
        stream_bytes=1 * MIB,
        roundtrips=100,
        start_counts={"fork": 2, "forkserver": 1, "spawn": 1},
        pool_tasks=20,
        cpu_tasks_per_worker=1,
        cpu_loops=2_000,
        side_seconds=1.0,
        trial_limit=60.0,
        warmup=False,
    ),
}


def stream_count(preset: Preset, size: int) -> int:
    """Messages of ``size`` bytes per throughput trial: enough bytes, bounded count."""
    return max(4, min(preset.small_count, preset.stream_bytes // size))


@dataclasses.dataclass
class Case:
    """One measured quantity, every competitor's repetitions of it, and its references."""

    section: str
    name: str
    unit: str
    refs: tuple[str, ...] = ()
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    memory: dict[str, dict[str, list[int]]] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    size: int | None = None
    work: str = ""
    """What one trial does, e.g. ``16 messages``."""
    paired: bool = False
    """The competitors ran at the same time, repetition by repetition: ratios are taken per repetition."""

    def median(self, competitor: str) -> float | None:
        vals = self.values.get(competitor)
        return statistics.median(vals) if vals else None


def progress(text: str) -> None:
    """Show what is running, on stderr so stdout stays the report."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class Watchdog:
    """Kill the processes of a trial that overruns its limit, so nothing hangs.

    A blocked ``recv()`` or ``read()`` cannot be interrupted from the outside,
    but it returns (with EOF) once the writing child is dead: killing the
    trial's children is what turns a hang into a failed trial.
    """

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.fired = False

    def watch(self, pid: int | None) -> None:
        if pid is not None:
            self.pids.append(pid)

    def fire(self) -> None:
        self.fired = True
        me = os.getpid()
        for pid in self.pids:
            # A reaped child's pid may belong to someone else by now: only
            # kill what is still ours (a forkserver child is a grandchild).
            parent = _ppid(pid)
            if parent == me or _ppid(parent) == me:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def _ppid(pid: int) -> int:
    if pid <= 0:
        return -1
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


T = TypeVar("T")

Trial = Callable[[Watchdog], dict[str, Any]]
"""One timed run, told about its children; returns ``count`` (units of work) and ``seconds``."""


@contextmanager
def bounded(limit: float) -> Iterator[Watchdog]:
    """Give a trial a :class:`Watchdog` that fires after ``limit`` seconds.

    The alarm is a signal, not a timer thread: children forked while another
    thread exists risk deadlocks (and Python 3.12+ warns about it). The
    handler only kills; the interrupted system call is retried and then sees
    EOF. Off the main thread, or without ``SIGALRM``, trials run unbounded.
    """
    dog = Watchdog()
    try:
        previous = signal.signal(signal.SIGALRM, lambda signum, frame: dog.fire())
    except (ValueError, AttributeError):
        yield dog
        return
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield dog
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class TrialFailed(Exception):
    """A trial raised or overran its limit; the message is what the report says of it."""


def run_bounded(run: Callable[[Watchdog], T], limit: float) -> T:
    """Run one trial under a :class:`Watchdog` of ``limit`` seconds; return its result.

    :raises TrialFailed: if it raised, or returned after the watchdog fired
        (its children were killed then, so its figures mean nothing).
    """
    dog = Watchdog()
    try:
        with bounded(limit) as dog:
            out = run(dog)
        if dog.fired:
            raise TimeoutError("its result came too late")
    except Exception as exc:  # noqa: BLE001 - reported as the trial's failure
        why = f"{type(exc).__name__}: {exc}"
        raise TrialFailed(f"overran {limit:g} s, killed ({why})" if dog.fired else why) from exc
    return out


def alternate(case: Case, trials: dict[str, Trial], preset: Preset) -> Case:
    """Measure every competitor of ``case``, interleaved repetition by repetition.

    One unrecorded warm-up round comes first; then each repetition runs every
    competitor once, so drifting machine load hits all of them alike, and the
    order rotates (A B C, B C A, C A B, ...) so that no competitor always runs
    right after the same one. A competitor that fails or overruns is dropped
    from the rest of the case with its error recorded.
    """
    live = dict(trials)
    for rep in range(0 if preset.warmup else 1, preset.reps + 1):
        names = list(live)
        shift = rep % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            label = "warm-up" if rep == 0 else f"rep {rep}/{preset.reps}"
            try:
                out = run_bounded(live[name], preset.trial_limit)
            except TrialFailed as exc:  # a broken competitor must not stop the run
                case.errors[name] = str(exc)
                progress(f"  [{case.section}] {case.name:<22} {name:<26} FAILED {case.errors[name]}")
                del live[name]
                continue
            rate = out["count"] / out["seconds"] if out["seconds"] > 0 else float("inf")
            progress(f"  [{case.section}] {case.name:<22} {label:<9} {name:<26} {human(rate, case.unit)}")
            if rep == 0:
                continue
            case.values.setdefault(name, []).append(rate)
            for side in ("mem_parent_kib", "mem_child_kib"):
                if out.get(side) is not None:
                    case.memory.setdefault(name, {}).setdefault(side, []).append(int(out[side]))
    # Report in the order the competitors were given, whatever order ran first.
    case.values = {n: case.values[n] for n in trials if n in case.values}
    case.memory = {n: case.memory[n] for n in trials if n in case.memory}
    return case


def human(value: float, unit: str, bare: bool = False) -> str:
    """Format a rate compactly: ``512.3k msg/s``, ``1843 MiB/s`` (without the unit if ``bare``)."""
    tail = "" if bare else " " + unit
    if unit == "MiB/s":
        return f"{value / MIB:.0f}{tail}"
    if unit == "x":
        return f"{value:.2f}" + ("" if bare else "x")
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if value >= div:
            return f"{value / div:.1f}{suffix}{tail}"
    return f"{value:.1f}{tail}"
