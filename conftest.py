"""Repository-wide test hygiene: every test must leave the process as it found it.

A test fails if it leaves behind an open file descriptor, a live gipc handle
or a child process (running or zombie), in the spirit of CPython's
multiprocessing tests and loky's. Long-lived helpers that multiprocessing
starts on first use (the forkserver, the resource tracker) are not leaks.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator

import gevent
import pytest
from gipc_transport import lowlevel


def _open_fds() -> set[int]:
    # listdir() lists the descriptor it reads the directory through, which is
    # closed by the time it returns: keep only what is still open.
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            os.fstat(int(name))
        except OSError:
            continue
        fds.add(int(name))
    return fds


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


def _multiprocessing_helpers() -> tuple[set[int], set[int]]:
    """Pids and fds of the forkserver and resource tracker, which outlive tests."""
    pids: set[int] = set()
    fds: set[int] = set()
    try:
        from multiprocessing import forkserver

        fs = forkserver._forkserver
        if getattr(fs, "_forkserver_pid", None):
            pids.add(fs._forkserver_pid)
        if getattr(fs, "_forkserver_alive_fd", None) is not None:
            fds.add(fs._forkserver_alive_fd)
    except ImportError:
        pass
    try:
        from multiprocessing import resource_tracker

        rt = resource_tracker._resource_tracker
        if getattr(rt, "_pid", None):
            pids.add(rt._pid)
        if getattr(rt, "_fd", None) is not None:
            fds.add(rt._fd)
    except ImportError:
        pass
    return pids, fds


def _children() -> dict[int, str]:
    """Direct children of this process and their states (``Z`` is a zombie)."""
    me = os.getpid()
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == me:
            found[int(entry)] = fields[0]
    return found


def _settle(check: object, seconds: float = 5.0) -> None:
    """Give the hub a chance to reap children and run finalizers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        gc.collect()
        gevent.sleep(0.01)
        if not check():  # type: ignore[operator]
            return


def pytest_configure(config: pytest.Config) -> None:
    # GIPC_TEST_START_METHOD runs the whole suite under one start method (CI
    # runs it under each), so code that uses the default is covered by all.
    method = os.environ.get("GIPC_TEST_START_METHOD")
    if method:
        multiprocessing.set_start_method(method, force=True)


def pytest_report_header(config: pytest.Config) -> str:
    loop = type(gevent.get_hub().loop)
    return (
        f"gipc: default start method {multiprocessing.get_start_method()}, "
        f"gevent {gevent.__version__} loop {loop.__module__}"
    )


@pytest.fixture(scope="session", autouse=True)
def _hub() -> None:
    # The hub and its loop open descriptors once, on first use, for the whole run.
    gevent.get_hub().loop  # noqa: B018


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    if not sys.platform.startswith("linux"):
        yield
        return
    gc.collect()
    handles_before = {id(h) for h in lowlevel.live_handles()}
    fds_before = _open_fds()
    yield
    helper_pids, helper_fds = _multiprocessing_helpers()

    def leaked_children() -> dict[int, str]:
        return {pid: st for pid, st in _children().items() if pid not in helper_pids}

    def leaked_fds() -> set[int]:
        return _open_fds() - fds_before - helper_fds

    handles = [h for h in lowlevel.live_handles() if id(h) not in handles_before]
    _settle(lambda: leaked_children() or leaked_fds())
    children = leaked_children()
    fds = leaked_fds()
    problems = []
    if handles:
        problems.append(f"live gipc handles left open: {handles}")
        for h in handles:
            try:
                h.close()
            except Exception:  # noqa: BLE001 - cleaning up after a failed test
                pass
    if children:
        problems.append(f"child processes left behind (pid: state): {children}")
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
    fds = leaked_fds()
    if fds:
        problems.append(
            "file descriptors left open: " + ", ".join(f"{fd} -> {_fd_target(fd)}" for fd in sorted(fds))
        )
    if problems:
        pytest.fail(f"{request.node.nodeid} leaked:\n  " + "\n  ".join(problems), pytrace=False)


def _start_methods() -> list[str]:
    # A run pinned to one start method (GIPC_TEST_START_METHOD) tests only that
    # one here too, rather than repeating what the other runs test.
    pinned = os.environ.get("GIPC_TEST_START_METHOD")
    return [pinned] if pinned else multiprocessing.get_all_start_methods()


@pytest.fixture(params=_start_methods())
def start_method(request: pytest.FixtureRequest) -> str:
    """Each start method this platform has (fork, spawn, forkserver on Linux), or the pinned one."""
    method: str = request.param
    return method
