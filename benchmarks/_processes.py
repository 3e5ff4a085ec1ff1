"""Child start+join rate: ``gipc.start_process`` against ``multiprocessing.Process``."""

from __future__ import annotations

import multiprocessing
from typing import Any

from . import _gipccases
from ._legacy import Legacy
from ._runner import Case, Preset, Trial, Watchdog, alternate, progress

MP_PROCESS = "mp.Process"


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
        refs: tuple[str, ...] = (MP_PROCESS,)
        # gipc 1.8.0 has no start method choice: it only ever uses the default.
        if legacy is not None and method == default:
            # Its worker process is smaller than this one, and a smaller
            # process forks and exits faster: compare it with
            # multiprocessing measured in a process of the same kind.
            trials[legacy.label] = _legacy_trial(legacy, "start_join", n)
            try:
                twin = legacy.twin()
            except (OSError, RuntimeError) as exc:
                progress(f"no {MP_PROCESS} reference beside {legacy.label}: {exc}")
            else:
                beside = f"{MP_PROCESS} beside {legacy.label}"
                trials[beside] = _legacy_trial(twin, "mp_start_join", n)
                refs += (beside,)
        label = f"{method} (default)" if method == default else method
        case = Case("start+join", label, "child/s", refs=refs, work=f"{n} children in sequence")
        cases.append(alternate(case, trials, preset))
    return cases


def _gipc_trial(n: int, method: str) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        return _gipccases.start_join(n, method, dog.watch)

    return trial


def _mp_trial(n: int, method: str) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        return _gipccases.mp_start_join(n, method, dog.watch)

    return trial


def _legacy_trial(legacy: Legacy, case: str, n: int) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        dog.watch(legacy.pid)
        return legacy.run({"case": case, "count": n, "method": None})

    return trial
