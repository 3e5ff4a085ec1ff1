"""Pipe sections: 1-byte message rate, throughput by message size, duplex round trips."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _gipccases, _rawpipes
from ._cbaseline import CPipe
from ._legacy import Legacy
from ._runner import Case, Preset, Trial, Watchdog, alternate, progress, stream_count

Trials = dict[str, Trial]

MP_BYTES = "mp.Pipe send_bytes"
MP_PICKLE = "mp.Pipe send/recv"
RAW = "raw os.pipe"
RAW_PICKLE = "raw os.pipe+pickle"
C_PIPE = "C pipe"


def _legacy_trial(legacy: Legacy, command: dict[str, Any], scale: int = 1) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        dog.watch(legacy.pid)
        out = legacy.run(command)
        return {**out, "count": out["count"] * scale}

    return trial


def _streams(size: int, count: int, scale: int, legacy: Legacy | None) -> Trials:
    """Every Python competitor sending ``count`` messages of ``size`` bytes.

    A trial's units are messages times ``scale``: 1 counts messages, ``size`` bytes.
    """

    def gipc(raw: bool) -> Trial:
        def trial(dog: Watchdog) -> dict[str, Any]:
            out = _gipccases.stream(raw, count, size, dog.watch, _rawpipes.METHOD)
            return {**out, "count": count * scale}

        return trial

    def other(fn: Callable[..., dict[str, Any]], pickled: bool) -> Trial:
        def trial(dog: Watchdog) -> dict[str, Any]:
            out = fn(pickled, count, size, dog.watch)
            return {**out, "count": count * scale}

        return trial

    trials: Trials = {
        "gipc": gipc(False),
        "gipc raw": gipc(True),
        MP_PICKLE: other(_rawpipes.mp_stream, True),
        MP_BYTES: other(_rawpipes.mp_stream, False),
        RAW_PICKLE: other(_rawpipes.raw_stream, True),
        RAW: other(_rawpipes.raw_stream, False),
    }
    if legacy is not None:
        for raw, suffix in ((False, ""), (True, " raw")):
            command = {"case": "stream", "raw": raw, "count": count, "size": size}
            trials[legacy.label + suffix] = _legacy_trial(legacy, command, scale)
    return trials


def small_messages(preset: Preset, legacy: Legacy | None) -> list[Case]:
    """1-byte messages child -> parent, pickled and raw, per second."""
    case = Case("messages", "1 B child->parent", "msg/s", refs=(MP_BYTES, MP_PICKLE, RAW))
    case.work = f"{preset.small_count} messages"
    return [alternate(case, _streams(1, preset.small_count, 1, legacy), preset)]


def throughput(preset: Preset, legacy: Legacy | None, cpipe: CPipe | None) -> list[Case]:
    """Bytes per second by message size, up to the C program's physical limit."""
    if cpipe is not None and cpipe.path is None:
        progress(f"  [throughput] C pipe baseline skipped: {cpipe.reason}")
    cases = []
    for size in preset.sizes:
        count = stream_count(preset, size)
        refs = (MP_BYTES, RAW, C_PIPE) + ((legacy.label,) if legacy else ())
        case = Case("throughput", size_name(size), "MiB/s", refs=refs, size=size, work=f"{count} messages")
        trials = _streams(size, count, size, legacy)
        # The pickled 1 B-style competitors add nothing at bulk sizes but time.
        del trials[MP_PICKLE], trials[RAW_PICKLE]
        if cpipe is not None and cpipe.path is not None:
            trials[C_PIPE] = _c_trial(cpipe, count, size, preset.trial_limit)
        cases.append(alternate(case, trials, preset))
    return cases


def _c_trial(cpipe: CPipe, count: int, size: int, limit: float) -> Trial:
    def trial(dog: Watchdog) -> dict[str, Any]:
        out = cpipe.stream(count, size, limit)
        return {**out, "count": count * size}

    return trial


def roundtrips(preset: Preset, legacy: Legacy | None) -> list[Case]:
    """Ping-pong round trips per second over a duplex channel."""
    n = preset.roundtrips
    trials: Trials = {
        "gipc duplex": lambda dog: _gipccases.roundtrip(n, dog.watch, _rawpipes.METHOD),
        # What the read spin (gipc_transport.lowlevel.set_read_spin) adds.
        "gipc duplex, no spin": lambda dog: _gipccases.roundtrip(n, dog.watch, _rawpipes.METHOD, spin=0.0),
        "mp.Pipe duplex": lambda dog: _rawpipes.mp_roundtrip(n, dog.watch),
    }
    if legacy is not None:
        trials[legacy.label + " duplex"] = _legacy_trial(legacy, {"case": "roundtrip", "count": n})
    case = Case("duplex", "1 B round trip", "rt/s", refs=("mp.Pipe duplex",), work=f"{n} round trips")
    return [alternate(case, trials, preset)]


def size_name(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"
