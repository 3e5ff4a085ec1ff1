"""Exact accounting of this process's descriptors and children, read from ``/proc``.

The leak check of the root ``conftest.py``, the fault-injection helpers of
``tests-integration`` and the process layer's tests count from the kernel,
not from gipc's own bookkeeping, and must agree on how. The root conftest
puts this directory on sys.path, so every test directory imports it as
``_proc_accounting``. Standard library only: it is imported whichever gipc
distributions are installed (the transport-alone environment too), and in
``spawn`` children of the tests.
"""

from __future__ import annotations

import importlib
import os


def open_fds() -> set[int]:
    """The descriptors open in this process."""
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


def thread_children() -> set[int]:
    """Pids of the processes this process's threads started (``/proc/self/task/*/children``).

    A thread that ends between the listing and the read takes its file with
    it, and its children move to another thread, perhaps one already read:
    list again until one pass reads every thread.
    """
    while True:
        found: set[int] = set()
        try:
            for tid in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{tid}/children") as f:
                    found.update(int(pid) for pid in f.read().split())
        except FileNotFoundError:
            continue
        return found


def children() -> dict[int, str]:
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


def multiprocessing_helpers() -> tuple[set[int], set[int]]:
    """Pids and fds of the forkserver and resource tracker, which outlive tests."""
    pids: set[int] = set()
    fds: set[int] = set()
    helpers = (
        ("forkserver", "_forkserver", "_forkserver_pid", "_forkserver_alive_fd"),
        ("resource_tracker", "_resource_tracker", "_pid", "_fd"),
    )
    for module, instance, pid_attr, fd_attr in helpers:
        try:
            helper = getattr(importlib.import_module(f"multiprocessing.{module}"), instance)
        except ImportError:
            continue
        if getattr(helper, pid_attr, None):
            pids.add(getattr(helper, pid_attr))
        if getattr(helper, fd_attr, None) is not None:
            fds.add(getattr(helper, fd_attr))
    return pids, fds
