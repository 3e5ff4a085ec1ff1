"""Pipe throughput on Windows CPython, in one run: gipc, ``multiprocessing.Pipe``, gipc 1.8.0.

Run by ``scripts/windows_bench.sh`` (under wine here; on a Windows machine
``python benchmarks/windows.py [--legacy DIR]`` from the repository root).
A ``spawn`` child reports that it is ready (started up, pipe ends rebuilt)
and sends ``count`` messages of ``size`` bytes after a go signal; the
parent receives them; the figure is messages (or bytes) per second from go
to the last message. Competitors take turns, repetition by
repetition, and the medians and their ratios are printed. gipc and gipc
1.8.0 move raw bytes (``encoder=None``), as ``send_bytes``/``recv_bytes``
do. gipc 1.8.0 runs in a subprocess of the same interpreter (its module is
named ``gipc`` too), from the source folder given with ``--legacy``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import subprocess
import sys
import time
from typing import Any

CASES = ((1, 20_000), (16 * 1024 * 1024, 8))


def _sender(ready: Any, go: Any, w: Any, count: int, size: int) -> None:
    """The child of gipc and of gipc 1.8.0, which share this API."""
    ready.put(True)
    go.get()
    payload = b"x" * size
    for _ in range(count):
        w.put(payload)
    w.close()


def _mp_sender(ready: Any, go: Any, conn: Any, count: int, size: int) -> None:
    ready.send_bytes(b"r")
    go.recv_bytes()
    payload = b"x" * size
    for _ in range(count):
        conn.send_bytes(payload)
    conn.close()


def _timed(count: int, size: int, ready: Any, go: Any, receive: Any) -> float:
    """Wait for the child to be ready, give the go signal and receive ``count`` messages; return the seconds.

    The clock starts once the child has started up (imported what it
    needs, rebuilt its pipe ends): a spawn child under wine takes about a
    second for that, more with gevent than without, which is no part of a
    pipe's throughput.
    """
    ready()
    t0 = time.perf_counter()
    go()
    total = sum(len(receive()) for _ in range(count))
    dt = time.perf_counter() - t0
    assert total == count * size, (total, count, size)
    return dt


def gipc_stream(count: int, size: int) -> float:
    import gipc_transport
    from gipc_transport import lowlevel

    ctx = multiprocessing.get_context("spawn")
    ready_r, ready_w = gipc_transport.pipe()
    go_r, go_w = gipc_transport.pipe()
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    with r, go_w, ready_r:
        p = ctx.Process(target=_sender, args=(ready_w, go_r, w, count, size))
        with lowlevel.transferring([ready_w, go_r, w]):
            p.start()
        dt = _timed(count, size, ready_r.get, lambda: go_w.put(True), r.get)
    p.join()
    assert p.exitcode == 0
    return dt


def mp_stream(count: int, size: int) -> float:
    ctx = multiprocessing.get_context("spawn")
    ready_r, ready_w = ctx.Pipe(duplex=False)
    go_r, go_w = ctx.Pipe(duplex=False)
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_mp_sender, args=(ready_w, go_r, w, count, size))
    p.start()
    for conn in (ready_w, go_r, w):
        conn.close()
    dt = _timed(count, size, ready_r.recv_bytes, lambda: go_w.send_bytes(b"g"), r.recv_bytes)
    p.join()
    for conn in (ready_r, go_w, r):
        conn.close()
    assert p.exitcode == 0
    return dt


def legacy_stream(count: int, size: int) -> float:
    import gipc  # gipc 1.8.0: its folder is first on sys.path

    assert gipc.__version__ == "1.8.0", gipc.__version__
    ready_r, ready_w = gipc.pipe()
    go_r, go_w = gipc.pipe()
    r, w = gipc.pipe(encoder=None, decoder=None)
    p = gipc.start_process(_sender, args=(ready_w, go_r, w, count, size))
    dt = _timed(count, size, ready_r.get, lambda: go_w.put(True), r.get)
    p.join()
    for h in (ready_r, go_w, r):
        h.close()
    assert p.exitcode == 0
    return dt


def _legacy_in_subprocess(folder: str, count: int, size: int) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--legacy-worker", folder, str(count), str(size)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--legacy", help="folder holding gipc 1.8.0's gipc/ package")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--case", choices=("all", "1B", "16MiB"), default="all", help="which message size")
    ap.add_argument("--legacy-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.legacy_worker:
        folder, count, size = args.legacy_worker
        sys.path.insert(0, folder)
        print(json.dumps(legacy_stream(int(count), int(size))))
        return 0
    competitors: dict[str, Any] = {"gipc": gipc_stream, "mp.Pipe send_bytes": mp_stream}
    if args.legacy:
        competitors["gipc 1.8.0"] = lambda count, size: _legacy_in_subprocess(args.legacy, count, size)
    print(f"Python {sys.version.split()[0]} on {sys.platform}; {args.reps} repetitions, medians")
    cases = [c for c in CASES if args.case == "all" or (args.case == "1B") == (c[0] == 1)]
    for size, count in cases:
        times: dict[str, list[float]] = {name: [] for name in competitors}
        for _ in range(args.reps):
            for name, run in competitors.items():
                times[name].append(run(count, size))
        rates = {name: count / statistics.median(ts) for name, ts in times.items()}
        unit = "msg/s" if size == 1 else "MiB/s"
        scale = 1 if size == 1 else size / (1024 * 1024)
        label = "1 B" if size == 1 else f"{size // (1024 * 1024)} MiB"
        print(f"\n{count} messages of {label}:")
        for name, rate in rates.items():
            print(
                f"  {name:20s} {rate * scale:10.1f} {unit}   "
                f"gipc/this {rates['gipc'] / rate:5.2f}x   "
                f"runs {', '.join(f'{t:.2f}s' for t in times[name])}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
