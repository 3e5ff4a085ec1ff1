"""Child start+join rate: ``gipc.start_process`` against ``multiprocessing.Process``."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

from . import _gipccases
from ._legacy import Legacy
from ._runner import Case, Preset, Trial, Watchdog, alternate

MP_PROCESS = "mp.Process"


def _noop() -> None:
    pass


def mp_start_join(count: int, method: str, watch: _gipccases.Watch) -> dict[str, Any]:
    """Time ``count`` sequential start+join cycles of a trivial ``multiprocessing.Process``."""
    ctx: Any = multiprocessing.get_context(method)
    t0 = time.perf_counter()
    for _ in range(count):
        p = ctx.Process(target=_noop)
        p.start()
        watch(p.pid)
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"trivial child exited with {p.exitcode}")
    return {"count": count, "seconds": time.perf_counter() - t0}


def methods(preset: Preset) -> list[str]:
    """The start methods to measure: fork and the default, plus the rest in a full run."""
    available = multiprocessing.get_all_start_methods()
    default = multiprocessing.get_start_method()
    chosen = [m for m in ("fork", default) if m in available]
    if preset.name == "full":
        chosen += available
    return list(dict.fromkeys(chosen))


def start_join(preset: Preset, legacy: Legacy | None) -> list[Case]:
    """Children started and joined per second, per start method."""
    default = multiprocessing.get_start_method()
    cases = []
    for method in methods(preset):
        n = preset.start_counts.get(method, 2)
        trials = {
            "gipc": _gipc_trial(n, method),
            MP_PROCESS: _mp_trial(n, method),
        }
        # gipc 1.8.0 has no start method choice: it only ever uses the default.
        if legacy is not None and method == default:
            trials[legacy.label] = _legacy_trial(legacy, n)
        label = f"{method} (default)" if method == default else method
        case = Case("start+join", label, "child/s", refs=(MP_PROCESS,), work=f"{n} children in sequence")
        cases.append(alternate(case, trials, preset))
    return cases


def _gipc_trial(n: int, method: str) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        return _gipccases.start_join(n, method, dog.watch)

    return trial


def _mp_trial(n: int, method: str) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        return mp_start_join(n, method, dog.watch)

    return trial


def _legacy_trial(legacy: Legacy, n: int) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        dog.watch(legacy.pid)
        return legacy.run({"case": "start_join", "count": n, "method": None})

    return trial
