"""Repository-wide test hygiene: every test must leave the process as it found it.

A test fails if it leaves behind an open file descriptor, a live gipc handle
or a child process (running or zombie), in the spirit of CPython's
multiprocessing tests and loky's. Long-lived helpers that multiprocessing
starts on first use (the forkserver, the resource tracker) are not leaks. On
gevent's libuv loop a test also fails if it lets a gevent watcher be
garbage-collected unclosed (see ``tests-support/_loop_accounting.py``).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gevent
import pytest
from gipc_transport import lowlevel

# Test directories import shared code from here: the accounting helpers in
# tests-support/ (``_proc_accounting``), and modules by their name from the
# root (``tests-integration._faults_helpers``, ``benchmarks``), also in spawn
# children, which get this sys.path. The ``pytest`` script, unlike
# ``python -m pytest``, does not put the root on sys.path.
_ROOT = Path(__file__).resolve().parent
for _path in (str(_ROOT), str(_ROOT / "tests-support")):
    if _path not in sys.path:
        sys.path.append(_path)

import _loop_accounting  # noqa: E402
from _proc_accounting import children as _children  # noqa: E402
from _proc_accounting import multiprocessing_helpers as _multiprocessing_helpers  # noqa: E402
from _proc_accounting import open_fds as _open_fds  # noqa: E402


def _fd_target(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


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


# Whether dropped gevent watchers are recorded: on libuv's loop only.
_watchers_checked = False


@pytest.fixture(scope="session", autouse=True)
def _hub() -> None:
    # The hub and its loop open descriptors once, on first use, for the whole run.
    gevent.get_hub().loop  # noqa: B018
    global _watchers_checked
    _watchers_checked = _loop_accounting.install()
    # So does ctypes, with a libffi of static trampolines (3.4+, e.g. Debian
    # unstable's Python 3.14): a descriptor of libffi itself, from its import
    # on. gipc_process imports it on first need (the SIGCHLD handler check).
    import ctypes  # noqa: F401


@pytest.fixture(autouse=True)
def no_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    if sys.platform == "win32":
        yield from _no_leaks_windows(request)
        return
    if not sys.platform.startswith("linux"):
        yield
        return
    gc.collect()
    handles_before = {id(h) for h in lowlevel.live_handles()}
    fds_before = _open_fds()
    _loop_accounting.take()
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
    problems.extend(_dropped_watchers())
    if problems:
        pytest.fail(f"{request.node.nodeid} leaked:\n  " + "\n  ".join(problems), pytrace=False)


def _dropped_watchers() -> list[str]:
    if not _watchers_checked:
        return []  # nothing can be recorded: spare the run a collection per test
    gc.collect()  # the watchers that are garbage, dropped
    dropped = _loop_accounting.take()
    if not dropped:
        return []
    return [
        "gevent watchers garbage-collected without close() (gevent's libuv loop then links freed "
        f"memory; see tests-support/_loop_accounting.py): {dropped}"
    ]


def _no_leaks_windows(request: pytest.FixtureRequest) -> Iterator[None]:
    # No /proc: the handles gipc knows of, the sockets behind its channels
    # (every channel end is one; see gipc_transport._windows_pipes), and the
    # processes whose parent is this one. Windows keeps a parent pid after the
    # parent ends, so a process an earlier holder of this pid started would
    # look like a child: only children that were not there before count.
    import _winapi

    from gipc_transport import _windows_pipes

    gc.collect()
    handles_before = {id(h) for h in lowlevel.live_handles()}
    sockets_before = set(_windows_pipes._SOCKETS)
    children_before = set(_children())
    _loop_accounting.take()
    yield

    def leaked_children() -> dict[int, str]:
        return {pid: st for pid, st in _children().items() if pid not in children_before}

    _settle(lambda: (set(_windows_pipes._SOCKETS) - sockets_before) or leaked_children())
    problems = []
    handles = [h for h in lowlevel.live_handles() if id(h) not in handles_before]
    if handles:
        problems.append(f"live gipc handles left open: {handles}")
        for h in handles:
            try:
                h.close()
            except Exception:  # noqa: BLE001 - cleaning up after a failed test
                pass
    sockets = set(_windows_pipes._SOCKETS) - sockets_before
    if sockets:
        problems.append(f"channel sockets left open: {sorted(sockets)}")
    children = leaked_children()
    if children:
        problems.append(f"child processes left behind (pid: state): {children}")
        for pid in children:
            try:
                handle = _winapi.OpenProcess(_winapi.PROCESS_ALL_ACCESS, False, pid)
            except OSError:
                continue
            try:
                _winapi.TerminateProcess(handle, 1)
                _winapi.WaitForSingleObject(handle, 5000)
            except OSError:
                pass
            finally:
                _winapi.CloseHandle(handle)
    problems.extend(_dropped_watchers())
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
