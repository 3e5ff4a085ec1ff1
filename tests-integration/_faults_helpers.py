"""Shared tools of the fault-injection, hygiene and soak tests.

Child targets live here, at module level, so that ``spawn`` and
``forkserver`` children can import them by name
(``tests-integration._faults_helpers``). The accounting helpers read
``/proc`` directly, through ``tests-support/_proc_accounting.py`` (shared
with the root conftest's leak check): descriptor and process counts must be
exact, so they are taken from the kernel, not from gipc's own bookkeeping.
"""

from __future__ import annotations

import array
import gc
import hashlib
import os
import random
import signal
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import gevent
import gipc
import pytest

# tests-support/ is on sys.path (the root conftest puts it there).
from _proc_accounting import children as child_states
from _proc_accounting import multiprocessing_helpers, open_fds

# Upper bound of every blocking wait in these tests, in seconds. Generous:
# the machine is shared and spawn children take a while to start.
WAIT = 60

HEADER = struct.Struct("<Q")
KIND_SHIFT = 62
DATA, PICKLE5, BUFFER, RESERVED = 0, 1, 2, 3


def frame_header(length: int, kind: int = DATA) -> bytes:
    """Return a frame header as the wire format of ``gipc_transport._wire`` defines it."""
    return HEADER.pack((kind << KIND_SHIFT) | length)


def make_rng(request: pytest.FixtureRequest, salt: str = "") -> tuple[random.Random, int]:
    """Return a seeded random generator and its seed; the seed goes into the test report.

    ``GIPC_FAULTS_SEED`` replays a failing run.
    """
    seed = int(os.environ.get("GIPC_FAULTS_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
    request.node.user_properties.append(("seed", seed))
    print(f"{request.node.nodeid}{salt}: seed {seed} (replay with GIPC_FAULTS_SEED={seed})")
    return random.Random(seed), seed


def payload(index: int, size: int) -> bytes:
    """Deterministic content of message ``index``: any corruption or mix-up shows."""
    head = f"{index:012d}:".encode()
    block = hashlib.sha256(head).digest() * 64
    if size <= len(head):
        return head[-size:] if size else b""
    reps, rest = divmod(size - len(head), len(block))
    return head + block * reps + block[:rest]


def check_payload(index: int, data: bytes, size: int) -> None:
    if len(data) != size or data != payload(index, size):
        raise AssertionError(f"message {index} arrived damaged ({len(data)} bytes, expected {size})")


def pipe_fill(fd: int) -> int:
    """Bytes sitting unread in the pipe behind ``fd`` (``FIONREAD``)."""
    import fcntl
    import termios

    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


def pipe_capacity(fd: int) -> int:
    """The size of the pipe buffer behind ``fd`` (``F_GETPIPE_SZ``)."""
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


# -- accounting -------------------------------------------------------------


def helper_pids() -> set[int]:
    """The forkserver and the resource tracker: multiprocessing keeps them for the whole run."""
    return multiprocessing_helpers()[0]


def children() -> set[int]:
    """Pids of the direct children of this process (running or zombie), helpers excluded."""
    return set(child_states()) - helper_pids()


def descriptors() -> set[int]:
    """The descriptors open in this process; on Windows, the sockets behind gipc's channels.

    Windows has no ``/proc/self/fd``: every channel end there is a socket
    that ``gipc_transport._windows_pipes`` registers while it is open.
    """
    if sys.platform == "win32":
        from gipc_transport import _windows_pipes

        return set(_windows_pipes._SOCKETS)
    return open_fds()


def _malloc_trim() -> Callable[[int], int] | None:
    if sys.platform == "win32":
        return None  # no glibc; rss() reads the working set
    try:
        import ctypes

        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None  # not glibc


_trim = _malloc_trim()


def rss() -> int:
    """Resident set size of this process in bytes, after the allocator gave back what it can.

    glibc keeps freed heap memory resident, and how much depends on the
    order of earlier allocations (several MiB after a run of 4 MiB
    payloads): trimming first makes the figure count live memory, which is
    what a leak check compares.
    """
    if sys.platform == "win32":
        return _windows_memory()[0]
    if _trim is not None:
        _trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _windows_memory() -> tuple[int, int]:
    """This process's working set and its peak, in bytes (``GetProcessMemoryInfo``)."""
    import ctypes
    from ctypes import wintypes

    class PROCESS_MEMORY_COUNTERS(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
            (name, ctypes.c_size_t)
            for name in (
                "PeakWorkingSetSize",
                "WorkingSetSize",
                "QuotaPeakPagedPoolUsage",
                "QuotaPagedPoolUsage",
                "QuotaPeakNonPagedPoolUsage",
                "QuotaNonPagedPoolUsage",
                "PagefileUsage",
                "PeakPagefileUsage",
            )
        ]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    kernel32.K32GetProcessMemoryInfo.argtypes = (
        wintypes.HANDLE,
        ctypes.POINTER(PROCESS_MEMORY_COUNTERS),
        wintypes.DWORD,
    )
    counters = PROCESS_MEMORY_COUNTERS()
    counters.cb = ctypes.sizeof(counters)
    if not kernel32.K32GetProcessMemoryInfo(
        kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb
    ):
        raise ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]
    return int(counters.WorkingSetSize), int(counters.PeakWorkingSetSize)


def peak_rss() -> int:
    """The peak resident set size of this process so far, in bytes."""
    if sys.platform == "win32":
        return _windows_memory()[1]
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def raw_write(fd: int, data: Any) -> int:
    """Write bytes straight to a handle's descriptor, bypassing the handle.

    On POSIX the pipe's descriptor; on Windows the channel's socket (see
    ``gipc_transport._windows_pipes``), which ``os.write`` refuses.
    """
    if sys.platform == "win32":
        from gipc_transport._windows_pipes import socket_of

        n: int = socket_of(fd).send(data)
        return n
    return os.write(fd, data)


def settle(done: Callable[[], bool], seconds: float = WAIT) -> bool:
    """Let the hub reap children and finalizers run until ``done()``; bounded."""
    deadline = time.monotonic() + seconds
    while True:
        gc.collect()
        if done():
            return True
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.02)


class Baseline:
    """Descriptors and children of this process now, to compare with later."""

    def __init__(self) -> None:
        gc.collect()
        self.fds = descriptors()
        self.children = children()
        self.rss = rss()

    def assert_back(self, what: str, rss_slack: int | None = None) -> None:
        """Fail unless descriptors and children returned exactly to the baseline."""
        settled = settle(lambda: descriptors() == self.fds and children() == self.children)
        fds, kids = descriptors(), children()
        assert settled, (
            f"after {what}: descriptors {len(self.fds)} -> {len(fds)} "
            f"(extra {sorted(fds - self.fds)}), children {sorted(self.children)} -> {sorted(kids)}"
        )
        if rss_slack is not None:
            grown = rss() - self.rss
            assert grown <= rss_slack, (
                f"after {what}: RSS grew by {grown >> 10} KiB (slack {rss_slack >> 10} KiB)"
            )


def finish(p: gipc.Process, exitcode: int | None = 0) -> None:
    """Join ``p`` within ``WAIT`` seconds and check its exit code; never leave it running."""
    p.join(WAIT)
    if p.is_alive():
        p.kill()
        p.join(WAIT)
        pytest.fail(f"{p!r} did not exit within {WAIT} s")
    if exitcode is not None:
        assert p.exitcode == exitcode, f"{p!r} exit code {p.exitcode}, expected {exitcode}"


def kill_and_reap(p: gipc.Process) -> None:
    p.kill()
    p.join(WAIT)
    assert not p.is_alive(), f"{p!r} survived SIGKILL for {WAIT} s"


def _run_reporting(report: gipc.Writer, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
    try:
        fn(*args)
    except BaseException:  # noqa: BLE001 - the parent reports it as the test's failure
        report.put(traceback.format_exc())
    else:
        report.put(None)


def run_isolated(fn: Callable[..., None], *args: Any, bound: float = WAIT) -> None:
    """Run ``fn(*args)`` in a child process; fail with its traceback, or if it hangs.

    A scenario that could leave the event loop unable to wake greenlets up
    (so that even ``gevent.Timeout`` never fires) runs here: the parent's
    loop is unaffected and bounds it to ``bound`` seconds.
    """
    with gipc.pipe() as (r, w):
        p = gipc.start_process(_run_reporting, args=(w, fn, args))
        try:
            outcome = r.get(timeout=bound)
        except (gipc.GIPCTimeout, EOFError) as exc:
            kill_and_reap(p)
            pytest.fail(f"{fn.__name__}{args} did not finish within {bound} s in a child: {exc!r}")
        finish(p)
    if outcome is not None:
        pytest.fail(f"{fn.__name__}{args} failed in a child:\n{outcome}", pytrace=False)


# -- child targets ----------------------------------------------------------


def child_exit(code: int = 0, hard: bool = False) -> None:
    """Exit with ``code``: normally (``sys.exit``) or at once (``os._exit``), skipping gipc's epilogue."""
    if hard:
        os._exit(code)
    sys.exit(code)


def child_echo_once(r: gipc.Reader, w: gipc.Writer) -> None:
    w.put(r.get())


def child_put_then_hang(w: gipc.Writer, messages: list[Any]) -> None:
    """Put ``messages`` one by one, then wait to be killed (the last put may never finish)."""
    for m in messages:
        w.put(m)
    time.sleep(WAIT)


def child_ready_then_put(w: gipc.Writer, messages: list[Any]) -> None:
    w.put("ready")
    for m in messages:
        w.put(m)
    time.sleep(WAIT)


def child_hold_reader(r: gipc.Reader, w: gipc.Writer) -> None:
    """Keep the reader open without reading; say so; wait to be killed."""
    w.put("holding")
    time.sleep(WAIT)


def child_put_numbered(w: gipc.Writer, count: int, sizes: list[int]) -> None:
    for i in range(count):
        w.put((i, payload(i, sizes[i % len(sizes)])))


def child_check_numbered(r: gipc.Reader, report: gipc.Writer, sizes: list[int]) -> None:
    """Receive numbered messages until EOF, check each, report the indices seen."""
    seen = []
    for i, data in r:
        check_payload(i, data, sizes[i % len(sizes)])
        seen.append(i)
    report.put(seen)


def _count_signal(counter: list[int]) -> Callable[[int, Any], None]:
    def handler(signum: int, frame: Any) -> None:
        counter[0] += 1

    return handler


def child_put_under_signals(w: gipc.Writer, size: int, seed: int) -> None:
    """Put one large message while SIGALRM (timer) and SIGUSR1 (parent) keep interrupting."""
    counter = [0]
    signal.signal(signal.SIGALRM, _count_signal(counter))
    signal.signal(signal.SIGUSR1, _count_signal(counter))
    data = random.Random(seed).randbytes(size)
    w.put("ready")
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    try:
        w.put(data)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # The parent may still be signalling: the interpreter's shutdown
        # restores the default action of handled signals, which for SIGUSR1
        # is to die.
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    w.put(counter[0])


def child_get_under_signals(r: gipc.Reader, w: gipc.Writer) -> None:
    """Receive one large message while SIGALRM keeps interrupting; report its digest."""
    counter = [0]
    signal.signal(signal.SIGALRM, _count_signal(counter))
    signal.signal(signal.SIGUSR1, _count_signal(counter))
    w.put("ready")
    signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
    try:
        data = r.get()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    w.put((len(data), hashlib.sha256(data).hexdigest(), counter[0]))


def child_forged_length_peak_rss(report: gipc.Writer, declared: int, sent: int) -> None:
    """In a fresh interpreter: receive a frame announcing ``declared`` bytes of which ``sent`` arrive.

    Reports the error the reader raised and how far the peak RSS rose.
    """
    before = peak_rss()
    r, w = gipc.pipe(encoder=None, decoder=None)
    outcome = "no error"

    def write() -> None:
        fd = w.fileno()
        data = frame_header(declared) + bytes(sent)
        view = memoryview(data)
        while view:
            try:
                n = raw_write(fd, view)
            except BlockingIOError:
                gevent.sleep(0.001)
                continue
            view = view[n:]
        w.close()

    writer = gevent.spawn(write)
    try:
        with gevent.Timeout(WAIT):
            r.get()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which judges it
        outcome = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
    writer.join(WAIT)
    r.close()
    after = peak_rss()
    report.put((outcome, after - before))


def child_relay_pipe(r: gipc.Reader, w: gipc.Writer) -> None:
    """A child that starts its own child and relays one message through it."""
    with gipc.pipe() as (r2, w2):
        p = gipc.start_process(child_echo_once, args=(r, w2))
        w.put(r2.get())
        p.join(WAIT)
