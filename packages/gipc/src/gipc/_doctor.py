"""``python -m gipc doctor``: what gipc sees here, and whether children work.

The report is meant to be pasted into a bug report: versions, the gevent loop
backend, start methods, monkey-patching, pipe capacity, then one smoke test
per start method with a verdict. Every smoke test is bounded: a child that
does not answer in time is a failure (and is killed), never a hang.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Sequence

import gevent
import gevent.monkey
import greenlet

import gipc

# gevent's loop implementations, by the module that defines them.
_BACKENDS = {
    "gevent.libev.corecext": "libev-cext",
    "gevent.libev.corecffi": "libev-cffi",
    "gevent.libuv.loop": "libuv-cffi",
}
_PATCHABLE = ("os", "threading", "socket", "subprocess", "signal")
DEFAULT_TIMEOUT = 30.0


def loop_backend() -> str:
    """Name the loop backend of this thread's hub, e.g. ``libev-cext (gevent.libev.corecext)``."""
    module = type(gevent.get_hub().loop).__module__
    return f"{_BACKENDS.get(module, 'unknown')} ({module})"


def monkey_state() -> str:
    """Say, for each module gevent can patch, whether it is patched."""
    return " ".join(
        f"{name}={'yes' if gevent.monkey.is_module_patched(name) else 'no'}" for name in _PATCHABLE
    )


def pipe_capacity() -> str:
    """Describe the default capacity of a new pipe and how far it can be raised."""
    try:
        import fcntl

        getsz = fcntl.F_GETPIPE_SZ  # type: ignore[attr-defined,unused-ignore]
        setsz = fcntl.F_SETPIPE_SZ  # type: ignore[attr-defined,unused-ignore]
    except (ImportError, AttributeError):
        return "unknown (F_GETPIPE_SZ is Linux only)"
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            max_size = int(f.read())
    except (OSError, ValueError):
        max_size = 0
    r, w = os.pipe()
    try:
        default = fcntl.fcntl(w, getsz)
        text = f"{default} bytes"
        if max_size <= default:
            return f"{text}; fs.pipe-max-size {max_size or 'unknown'}: cannot be raised"
        try:
            fcntl.fcntl(w, setsz, max_size)
            raised = fcntl.fcntl(w, getsz)
        except OSError as exc:
            return f"{text}; F_SETPIPE_SZ to fs.pipe-max-size {max_size} refused: {exc.strerror}"
        return f"{text}; F_SETPIPE_SZ raises it to {raised} bytes (fs.pipe-max-size {max_size})"
    finally:
        os.close(r)
        os.close(w)


def _answer(writer: gipc.Writer) -> None:
    # Prove that the child has a working hub of its own before answering.
    gevent.sleep(0)
    writer.put(("pong", os.getpid(), loop_backend()))


def smoke_test(method: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Start a child with ``method`` and wait for its answer; return a summary.

    :param method: a multiprocessing start method.
    :param timeout: seconds the child has to answer and to exit.
    :returns: what the child said, for the report.
    :raises GIPCError: if the child answers wrongly or exits with an error.
    :raises gevent.Timeout: if it does not answer or exit within ``timeout``;
        the child is killed first.
    """
    started = time.monotonic()
    p: gipc.Process | None = None
    with gipc.pipe() as (reader, writer):
        try:
            with gevent.Timeout(timeout):
                name = f"gipc-doctor-{method}"
                p = gipc.start_process(_answer, args=(writer,), start_method=method, name=name)
                answer, pid, backend = reader.get()
                p.join()
        finally:
            if p is not None and p.is_alive():
                p.kill()
                p.join(5)
    if answer != "pong" or pid != p.pid or p.exitcode != 0:
        raise gipc.GIPCError(f"child {p.pid} answered {answer!r} from {pid}, exit code {p.exitcode}")
    return f"child {pid} answered in {time.monotonic() - started:.2f} s, loop {backend}"


def run(methods: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Print the report; return 0 if every start method passed its smoke test, else 1."""
    available = multiprocessing.get_all_start_methods()
    print(f"gipc          {gipc.__version__}")
    print(f"Python        {platform.python_version()} ({platform.python_implementation()}, {sys.platform})")
    print(f"executable    {sys.executable}")
    print(f"gevent        {gevent.__version__}")
    print(f"greenlet      {greenlet.__version__}")
    try:
        backend = loop_backend()
    except Exception as exc:  # noqa: BLE001 - a broken gevent install is a finding, not a crash
        print(f"loop backend  FAILED: {type(exc).__name__}: {exc}")
        print("verdict: FAILED, gevent cannot create its event loop (check GEVENT_LOOP and gevent's install)")
        return 1
    print(f"loop backend  {backend}")
    print(f"start method  {multiprocessing.get_start_method()} (available: {', '.join(available)})")
    print(f"monkey-patch  {monkey_state()}")
    print(f"pipe capacity {pipe_capacity()}")
    print(f"smoke tests   one child per start method, {timeout:g} s each")
    failed = []
    for method in methods or available:
        try:
            verdict = "ok: " + smoke_test(method, timeout)
        except gevent.Timeout:
            verdict = f"FAILED: no answer within {timeout:g} s (child killed)"
            failed.append(method)
        except Exception as exc:  # noqa: BLE001 - the doctor reports every failure
            verdict = f"FAILED: {type(exc).__name__}: {exc}"
            failed.append(method)
        print(f"  {method:<11} {verdict}")
    print(summary(list(methods or available), failed))
    return 1 if failed else 0


def summary(tested: Sequence[str], failed: Sequence[str]) -> str:
    """The report's last line, in words that fit the numbers."""
    if len(tested) == 1:
        works = "does not work" if failed else "works"
        return f"verdict: {'FAILED' if failed else 'OK'}, start method {tested[0]} {works}"
    if not failed:
        return f"verdict: OK, all {len(tested)} start methods work"
    verb = "does" if len(failed) == 1 else "do"
    names = ", ".join(failed)
    return f"verdict: FAILED, {len(failed)} of {len(tested)} start methods {verb} not work: {names}"
