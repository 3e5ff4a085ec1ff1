"""Cases measured through gipc's 1.x public API, shared by gipc 2 and gipc 1.8.0.

This module imports nothing but the standard library and ``gipc``'s public
names (``pipe``, ``get``, ``put``, ``start_process``, ``join``), so the same
code measures whichever gipc is importable: gipc 2 in the harness's own
process, and gipc 1.8.0 when another virtual environment's interpreter runs
this file as a script (see :mod:`benchmarks._legacy`). As a script it serves
one JSON command per stdin line and answers one JSON result per stdout line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

# Run as ``_gipccases.py --reference``, the worker measures multiprocessing
# only, in a process of the same kind as gipc 1.x's worker: gipc 1.x
# replaces multiprocessing's Popen.poll() when imported, after which a plain
# multiprocessing child can no longer be joined. gevent is imported instead,
# so that the process weighs about the same (a fork costs what the forking
# process maps).
REFERENCE = __name__ == "__main__" and sys.argv[1:] == ["--reference"]
if REFERENCE:
    import gevent as gipc  # noqa: F401 - only for its weight and its version
else:
    import gipc

Result = dict[str, Any]
Watch = Callable[[int], None]

_HWM_RESETTABLE = os.access("/proc/self/clear_refs", os.W_OK)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _trim_heap() -> None:
    # glibc keeps freed memory of earlier messages mapped (its mmap threshold
    # grows after each large free), which would hide the next transfer's peak
    # inside an inflated baseline: hand it back before taking the baseline.
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _max_rss_kib() -> int:
    try:
        import resource
    except ImportError:  # Windows: no resource accounting to report
        return 0
    peak = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return peak // 1024 if sys.platform == "darwin" else peak  # bytes there, KiB elsewhere


def mem_baseline() -> int:
    """Reset this process's peak memory mark; return the resident size in KiB.

    Linux lets a process reset its own high-water mark (``clear_refs`` 5), so
    a long-lived process measures each transfer on its own. Elsewhere the
    lifetime peak (``ru_maxrss``) is the best available, reported against it.
    """
    _trim_heap()
    if _HWM_RESETTABLE:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kib("VmRSS")
    return _max_rss_kib()


def mem_peak_extra(baseline: int) -> int:
    """Return the peak resident size above ``baseline`` (KiB) since it was taken."""
    peak = _status_kib("VmHWM") if _HWM_RESETTABLE else _max_rss_kib()
    return max(0, peak - baseline)


def _pipe(raw: bool, duplex: bool = False) -> Any:
    if raw:
        return gipc.pipe(duplex=duplex, encoder=None, decoder=None)
    return gipc.pipe(duplex=duplex)


def _start(target: Any, args: tuple[Any, ...], method: str | None = None) -> Any:
    if method is None:
        # gipc 1.8.0 has no start_method parameter.
        return gipc.start_process(target, args=args)
    return gipc.start_process(target, args=args, start_method=method)


def _sender(go: Any, writer: Any, count: int, size: int) -> None:
    payload = b"x" * size
    base = mem_baseline()
    go.get()
    for _ in range(count):
        writer.put(payload)
    writer.put(mem_peak_extra(base).to_bytes(8, "little"))
    writer.close()
    go.close()


def _ignore(pid: int) -> None:
    pass


def stream(raw: bool, count: int, size: int, watch: Watch = _ignore, method: str | None = None) -> Result:
    """Time ``count`` messages of ``size`` bytes sent by a child to this process.

    ``watch`` is told each child's pid, so the harness can kill a stuck trial;
    ``method`` is the child's start method (``None``: the default).
    """
    with _pipe(raw) as (reader, writer), gipc.pipe() as (go_r, go_w):
        p = _start(_sender, (go_r, writer, count, size), method)
        watch(p.pid)
        base = mem_baseline()
        go_w.put(True)
        t0 = time.perf_counter()
        # Each message is dropped as soon as it arrives, so the peak is what
        # receiving one message costs, as on the sending side.
        for _ in range(count):
            reader.get()
        seconds = time.perf_counter() - t0
        mem_parent = mem_peak_extra(base)
        mem_child = int.from_bytes(reader.get(), "little")
        p.join(60)
    return {"count": count, "seconds": seconds, "mem_parent_kib": mem_parent, "mem_child_kib": mem_child}


def _read_spin(seconds: float | None) -> float | None:
    """Set gipc 2's read spin if ``seconds`` is given; return the old value."""
    if seconds is None:
        return None
    from gipc_transport import lowlevel

    return lowlevel.set_read_spin(seconds)


def _echo(end: Any, spin: float | None = None) -> None:
    _read_spin(spin)
    while True:
        msg = end.get()
        if msg is None:
            break
        end.put(msg)
    end.close()


def roundtrip(
    count: int, watch: Watch = _ignore, method: str | None = None, spin: float | None = None
) -> Result:
    """Time ``count`` ping-pong round trips of a 1-byte message over a duplex pipe.

    ``spin``: gipc 2's read spin in both processes (``None``: the default).
    """
    old = _read_spin(spin)
    try:
        with gipc.pipe(duplex=True) as (mine, theirs):
            p = _start(_echo, (theirs, spin), method)
            watch(p.pid)
            mine.put(b"w")
            mine.get()
            t0 = time.perf_counter()
            for _ in range(count):
                mine.put(b"x")
                mine.get()
            seconds = time.perf_counter() - t0
            mine.put(None)
            p.join(60)
    finally:
        _read_spin(old)
    return {"count": count, "seconds": seconds}


def _noop() -> None:
    pass


def start_join(count: int, method: str | None, watch: Watch = _ignore) -> Result:
    """Time ``count`` sequential start+join cycles of a trivial child."""
    t0 = time.perf_counter()
    for _ in range(count):
        p = _start(_noop, (), method)
        watch(p.pid)
        p.join(60)
        if p.exitcode != 0:
            raise RuntimeError(f"trivial child exited with {p.exitcode}")
    return {"count": count, "seconds": time.perf_counter() - t0}


def mp_start_join(count: int, method: str | None, watch: Watch = _ignore) -> Result:
    """Time ``count`` sequential start+join cycles of a trivial ``multiprocessing.Process``.

    The reference for :func:`start_join`, measured in the same process: how
    long a fork takes depends on the size of the process that forks.
    """
    import multiprocessing

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


def run(command: dict[str, Any]) -> Result:
    """Run one case described by a JSON-able ``command``."""
    case = command["case"]
    if case == "hello":
        return {"version": str(getattr(gipc, "__version__", "?")), "python": sys.version.split()[0]}
    if case == "mp_start_join":
        return mp_start_join(int(command["count"]), command.get("method"))
    if REFERENCE:
        raise ValueError(f"the reference worker only measures multiprocessing, not {case!r}")
    if case == "stream":
        return stream(bool(command["raw"]), int(command["count"]), int(command["size"]))
    if case == "roundtrip":
        return roundtrip(int(command["count"]))
    if case == "start_join":
        return start_join(int(command["count"]), command.get("method"))
    raise ValueError(f"unknown case {case!r}")


def serve() -> None:
    """Answer commands from stdin until it closes (the legacy worker's main loop)."""
    for line in sys.stdin:
        try:
            answer: Result = {"ok": run(json.loads(line))}
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the harness
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
