"""``python -m gipc doctor``: what gipc sees, and whether children work."""

from __future__ import annotations

import multiprocessing
import platform
import sys

import gevent
import greenlet

import gipc


def _ping(writer: gipc.Writer) -> None:
    writer.put("pong")


def smoke_test(method: str) -> str:
    with gipc.pipe() as (reader, writer):
        p = gipc.start_process(_ping, args=(writer,), start_method=method)
        answer = reader.get(timeout=30)
        p.join(30)
    if answer != "pong" or p.exitcode != 0:
        raise gipc.GIPCError(f"child answered {answer!r}, exit code {p.exitcode}")
    return "ok"


def run() -> int:
    print(f"gipc        {gipc.__version__}")
    print(f"Python      {sys.version.split()[0]} ({platform.python_implementation()}, {sys.platform})")
    print(f"gevent      {gevent.__version__}")
    print(f"greenlet    {greenlet.__version__}")
    print(f"loop        {type(gevent.get_hub().loop).__module__}")
    print(f"start method {multiprocessing.get_start_method()}")
    failed = 0
    for method in multiprocessing.get_all_start_methods():
        try:
            verdict = smoke_test(method)
        except Exception as exc:  # noqa: BLE001 - the doctor reports every failure
            verdict = f"FAILED: {type(exc).__name__}: {exc}"
            failed += 1
        print(f"  {method:<11} {verdict}")
    print("verdict: " + ("all start methods work" if not failed else f"{failed} start method(s) failed"))
    return 1 if failed else 0
