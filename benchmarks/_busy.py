"""The busy section: round trips and tiny pool tasks while CPU-bound processes run beside them.

``--busy N`` starts N processes that do nothing but count loop iterations in
shared memory. While they run, the section measures duplex 1 B round trips
(gipc with and without its read spin, ``mp.Pipe``) and tiny pool tasks
(``gipc.ProcessPool``, ``ProcessPoolExecutor``). Each trial also records how
fast the busy processes counted while it ran: if gipc's polling took CPU they
needed, their progress during gipc's trials falls below their progress during
the competitors' trials.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import _gipccases, _pool, _rawpipes
from ._runner import Case, Preset, Trial, Watchdog, alternate

#: Loop iterations between two updates of a busy process's counter.
CHUNK = 10_000
MP_DUPLEX = "mp.Pipe duplex"


def _burn(counts: Any, index: int) -> None:
    n = 0
    while True:
        for _ in range(CHUNK):
            pass
        n += 1
        counts[index] = n


class Burners:
    """N CPU-bound processes and their progress, in loop iterations."""

    def __init__(self, count: int) -> None:
        ctx: Any = multiprocessing.get_context(_rawpipes.METHOD)
        self._shared: mmap.mmap | None = None
        if _rawpipes.METHOD == "fork":
            # Anonymous shared memory, inherited by the forked children: no
            # descriptor or file outlives the section, unlike RawArray's arena.
            self._shared = mmap.mmap(-1, 8 * count)
            self.counts: Any = memoryview(self._shared).cast("Q")
        else:
            self.counts = ctx.RawArray("Q", count)
        self.procs = [ctx.Process(target=_burn, args=(self.counts, i), daemon=True) for i in range(count)]

    def start(self) -> None:
        for p in self.procs:
            p.start()

    def stop(self) -> None:
        for p in self.procs:
            if p.pid is not None:
                p.kill()
                p.join(10)
        if self._shared is not None:
            self.counts.release()
            self._shared.close()

    def loops(self) -> int:
        """Iterations counted so far, by all of them."""
        return int(sum(self.counts)) * CHUNK


@contextmanager
def running(count: int) -> Iterator[Burners]:
    """Run ``count`` busy processes for the duration of the block."""
    burners = Burners(count)
    try:
        burners.start()
        # Let them reach full speed and the scheduler settle before anything is timed.
        time.sleep(0.2)
        yield burners
    finally:
        burners.stop()


def _metered(trial: Trial, burners: Burners, progress: dict[str, list[float]], name: str) -> Trial:
    def run(dog: Watchdog) -> dict[str, Any]:
        t0, n0 = time.perf_counter(), burners.loops()
        out = trial(dog)
        seconds = time.perf_counter() - t0
        progress.setdefault(name, []).append((burners.loops() - n0) / seconds)
        return out

    return run


def _measure(case: Case, trials: dict[str, Trial], preset: Preset, burners: Burners) -> list[Case]:
    """``case`` under load, and a case for the busy processes' progress during each competitor."""
    seen: dict[str, list[float]] = {}
    metered = {name: _metered(t, burners, seen, name) for name, t in trials.items()}
    alternate(case, metered, preset)
    side = Case("busy", f"busy loops beside: {case.name}", "loop/s", refs=case.refs)
    side.work = f"{len(burners.procs)} CPU-bound processes counting, during each competitor's trials"
    for name in case.values:
        # The warm-up round is not recorded: drop its figure too.
        side.values[name] = seen[name][-len(case.values[name]) :]
    return [case, side]


def loaded(preset: Preset, busy: int) -> list[Case]:
    """Round trips and tiny pool tasks with ``busy`` CPU-bound processes running beside them."""
    n = preset.roundtrips
    rt: dict[str, Trial] = {
        "gipc duplex": lambda dog: _gipccases.roundtrip(n, dog.watch, _rawpipes.METHOD),
        "gipc duplex, no spin": lambda dog: _gipccases.roundtrip(n, dog.watch, _rawpipes.METHOD, spin=0.0),
        MP_DUPLEX: lambda dog: _rawpipes.mp_roundtrip(n, dog.watch),
    }
    rt_case = Case("busy", f"1 B round trip, {busy} busy", "rt/s", refs=(MP_DUPLEX,), work=f"{n} round trips")
    workers = os.cpu_count() or 1
    pool_case = _pool.tiny_tasks_case(preset, workers)
    pool_case.section, pool_case.name = "busy", f"tiny tasks, {workers} workers, {busy} busy"
    with running(busy) as burners:
        cases = _measure(rt_case, rt, preset, burners)
        if _pool.pool_class() is not None:
            cases += _measure(pool_case, _pool.tiny_tasks_trials(preset, workers), preset, burners)
    return cases
