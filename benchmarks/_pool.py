"""Pool sections: tiny-task rate and the CPU-bound speed-up curve.

``gipc.ProcessPool`` is compared with :class:`concurrent.futures.ProcessPoolExecutor`
at the same worker count, both through the plain ``Executor`` interface. Pool
start-up and a warm-up round are outside the timed part.
"""

from __future__ import annotations

import concurrent.futures
import os
import time
from collections.abc import Callable
from typing import Any

import gipc

from ._runner import Case, Preset, Trial, Watchdog, alternate, progress

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
