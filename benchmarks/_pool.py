"""Pool sections: tiny-task rate and the CPU-bound speed-up curve.

``gipc.ProcessPool`` is compared with :class:`concurrent.futures.ProcessPoolExecutor`
at the same worker count, both through the plain ``Executor`` interface. Pool
start-up and a warm-up round are outside the timed part.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import gevent
import gipc

from ._runner import Case, Preset, Trial, TrialFailed, Watchdog, alternate, human, progress, run_bounded

PPE = "ProcessPoolExecutor"
GIPC_POOL = "gipc.ProcessPool"


def _tiny(x: int) -> int:
    return x


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def pool_class() -> Any:
    """``gipc.ProcessPool`` if this gipc has it, else ``None``."""
    return getattr(gipc, "ProcessPool", None)


def _make(kind: str, workers: int) -> concurrent.futures.Executor:
    if kind == PPE:
        return concurrent.futures.ProcessPoolExecutor(max_workers=workers)
    pool: concurrent.futures.Executor = pool_class()(max_workers=workers)
    return pool


def _run(kind: str, workers: int, fn: Callable[[int], int], args: list[int], dog: Watchdog) -> dict[str, Any]:
    pool = _make(kind, workers)
    try:
        for f in [pool.submit(os.getpid) for _ in range(2 * workers)]:
            dog.watch(f.result())
        t0 = time.perf_counter()
        futures = [pool.submit(fn, a) for a in args]
        for f in futures:
            f.result()
        seconds = time.perf_counter() - t0
    finally:
        pool.shutdown(wait=True)
    return {"count": len(args), "seconds": seconds}


def _trial(kind: str, workers: int, fn: Callable[[int], int], args: list[int]) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        return _run(kind, workers, fn, args, dog)

    return trial


def available(section: str) -> bool:
    """Whether the pool sections can run; say why not on stderr."""
    if pool_class() is None:
        progress(f"  [{section}] skipped: this gipc ({gipc.__version__}) has no gipc.ProcessPool yet")
        return False
    return True


def tiny_tasks(preset: Preset) -> list[Case]:
    """Trivial tasks per second through ``submit`` + ``result``, one pool per trial."""
    workers = os.cpu_count() or 1
    return [alternate(tiny_tasks_case(preset, workers), tiny_tasks_trials(preset, workers), preset)]


def tiny_tasks_case(preset: Preset, workers: int) -> Case:
    """The tiny-task case, not yet measured."""
    work = f"{preset.pool_tasks} tasks"
    return Case("pool", f"tiny tasks, {workers} workers", "task/s", refs=(PPE,), work=work)


def tiny_tasks_trials(preset: Preset, workers: int) -> dict[str, Trial]:
    """Each pool's tiny-task trial."""
    args = list(range(preset.pool_tasks))
    return {kind: _trial(kind, workers, _tiny, args) for kind in (GIPC_POOL, PPE)}


def speedup(preset: Preset) -> list[Case]:
    """CPU-bound tasks per second for 1..cpu_count workers, and the speed-up over 1 worker.

    The same batch of tasks runs at every worker count, so the rates compare directly.
    """
    cores = os.cpu_count() or 1
    args = [preset.cpu_loops] * (preset.cpu_tasks_per_worker * cores)
    cases = []
    for workers in range(1, cores + 1):
        trials = {kind: _trial(kind, workers, _spin, args) for kind in (GIPC_POOL, PPE)}
        case = Case("cpu-bound", f"{workers} worker{'s' if workers > 1 else ''}", "task/s", refs=(PPE,))
        case.work = f"{len(args)} tasks of {preset.cpu_loops} loop iterations"
        cases.append(alternate(case, trials, preset))
    return cases + _speedup_cases(cases)


def side_by_side(preset: Preset) -> list[Case]:
    """Both pools at once, ``n`` workers each for n = 1..cpu_count: CPU-bound tasks each finished.

    Separate trials compare the host as much as the pools where the host's
    speed changes within seconds (a virtual machine's one thread here ran
    1.7 times as fast in some seconds as in others, idle, with no steal time
    reported). Run at the same time, in one window, both pools see the same
    host: each pool's i-th worker is pinned to the same core (where the OS
    allows it), the pairs change cores from window to window, and the ratio
    is taken window by window. Each pool is kept full for
    ``preset.side_seconds``: gipc's by ``n`` greenlets,
    ``ProcessPoolExecutor``'s by a thread; a task counts if its result came
    within the window. Which pool is given work first alternates.
    """
    cores = os.cpu_count() or 1
    cases = []
    for workers in range(1, cores + 1):
        each = f"{workers} worker{'s' if workers > 1 else ''} each"
        case = Case("cpu-bound", f"side by side, {each}", "task/s", refs=(PPE,), paired=True)
        case.work = (
            f"tasks of {preset.cpu_loops} loop iterations for {preset.side_seconds:g} s, "
            "each pool's i-th worker on the same core; vs: median of the windows' ratios"
        )
        for rep in range(0 if preset.warmup else 1, preset.reps + 1):
            label = "warm-up" if rep == 0 else f"rep {rep}/{preset.reps}"
            once = functools.partial(_side_by_side_once, workers, preset, gipc_first=rep % 2 == 0)
            try:
                rates = run_bounded(once, preset.trial_limit)
            except TrialFailed as exc:  # a broken case must not stop the run
                case.errors[GIPC_POOL] = str(exc)
                progress(f"  [{case.section}] {case.name:<22} FAILED {case.errors[GIPC_POOL]}")
                break
            for kind, rate in rates.items():
                progress(f"  [{case.section}] {case.name:<22} {label:<9} {kind:<26} {human(rate, case.unit)}")
                if rep:
                    case.values.setdefault(kind, []).append(rate)
        cases.append(case)
    return cases


def _pid_held(seconds: float) -> int:
    # Held a moment, so that n of them at once occupy n different workers.
    time.sleep(seconds)
    return os.getpid()


def _workers_of(executor: concurrent.futures.Executor, workers: int, dog: Watchdog) -> list[int]:
    pids = [f.result() for f in [executor.submit(_pid_held, 0.2) for _ in range(workers)]]
    for pid in pids:
        dog.watch(pid)
    return pids


def _pin(pairs: list[tuple[int, int]], shift: int) -> None:
    """Put the i-th worker of each pool on the same core, so that each pair shares one core's phases."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if not cores:
        return  # not on this platform: the pools' workers go where the scheduler puts them
    for i, pair in enumerate(pairs):
        core = cores[(i + shift) % len(cores)]
        for pid in pair:
            try:
                os.sched_setaffinity(pid, {core})
            except OSError:
                pass


def _side_by_side_once(workers: int, preset: Preset, dog: Watchdog, gipc_first: bool) -> dict[str, float]:
    # gipc's workers are started first: its forks then happen before the
    # executor's threads exist.
    pool = _make(GIPC_POOL, workers)
    executor = _make(PPE, workers)
    done = {GIPC_POOL: 0, PPE: 0}
    try:
        pairs = list(zip(_workers_of(pool, workers, dog), _workers_of(executor, workers, dog), strict=True))
        _pin(pairs, shift=0 if gipc_first else 1)
        loops = preset.cpu_loops
        deadline = 0.0

        def feed_executor() -> None:
            running = {executor.submit(_spin, loops) for _ in range(workers)}
            while running:
                finished, running = concurrent.futures.wait(
                    running, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for f in finished:
                    f.result()
                    if time.perf_counter() <= deadline:
                        done[PPE] += 1
                        running.add(executor.submit(_spin, loops))

        def feed_pool() -> None:
            while True:
                pool.submit(_spin, loops).result()
                if time.perf_counter() > deadline:
                    return
                done[GIPC_POOL] += 1

        deadline = time.perf_counter() + preset.side_seconds
        feeder = threading.Thread(target=feed_executor, daemon=True)
        if not gipc_first:
            feeder.start()
        feeders = [gevent.spawn(feed_pool) for _ in range(workers)]
        if gipc_first:
            feeder.start()
        gevent.joinall(feeders, raise_error=True)
        while feeder.is_alive():  # the executor's last tasks; without blocking the hub
            gevent.sleep(0.01)
    finally:
        pool.shutdown(wait=True)
        executor.shutdown(wait=True)
    return {kind: count / preset.side_seconds for kind, count in done.items()}


def _speedup_cases(rate_cases: list[Case]) -> list[Case]:
    out = []
    for case in rate_cases:
        derived = Case("cpu-bound", f"speed-up, {case.name}", "x", work="task rate over the 1-worker median")
        for kind, values in case.values.items():
            one = rate_cases[0].median(kind)
            if one:
                derived.values[kind] = [v / one for v in values]
        out.append(derived)
    return out
