"""Exact accounting of this process's descriptors and children, read from the OS.

On Linux everything is read from ``/proc``. Windows has no ``/proc``:
``children()`` there lists the system's processes (a Toolhelp snapshot) and
keeps those whose parent is this process, and ``process_gone()`` asks the
process's own handle.

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
import sys


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
    """Direct children of this process and their states (``Z`` is a zombie).

    On Windows the states are ``running`` and ``exited`` (an exited process
    whose handle someone still holds). Windows does not forget a parent pid
    when the parent ends: a process started by an earlier holder of this
    pid is listed too, so compare with a listing taken before.
    """
    if sys.platform == "win32":
        return _windows_children()
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


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (on Linux, a zombie has exited too)."""
    if sys.platform == "win32":
        import _winapi

        try:
            handle = _winapi.OpenProcess(_SYNCHRONIZE, False, pid)
        except OSError:
            return True  # no such process any more
        try:
            # The handle of a process is signalled once it has exited.
            return _winapi.WaitForSingleObject(handle, 0) == _winapi.WAIT_OBJECT_0
        finally:
            _winapi.CloseHandle(handle)
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return True
    return stat[stat.rfind(")") + 2] == "Z"


_SYNCHRONIZE = 0x00100000
_TH32CS_SNAPPROCESS = 0x00000002


def _windows_children() -> dict[int, str]:
    import ctypes
    from ctypes import wintypes

    class PROCESSENTRY32W(ctypes.Structure):
        _fields_ = (
            ("dwSize", wintypes.DWORD),
            ("cntUsage", wintypes.DWORD),
            ("th32ProcessID", wintypes.DWORD),
            ("th32DefaultHeapID", ctypes.c_size_t),
            ("th32ModuleID", wintypes.DWORD),
            ("cntThreads", wintypes.DWORD),
            ("th32ParentProcessID", wintypes.DWORD),
            ("pcPriClassBase", wintypes.LONG),
            ("dwFlags", wintypes.DWORD),
            ("szExeFile", wintypes.WCHAR * 260),
        )

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.CreateToolhelp32Snapshot.restype = wintypes.HANDLE
    kernel32.CreateToolhelp32Snapshot.argtypes = (wintypes.DWORD, wintypes.DWORD)
    kernel32.Process32FirstW.argtypes = (wintypes.HANDLE, ctypes.POINTER(PROCESSENTRY32W))
    kernel32.Process32NextW.argtypes = (wintypes.HANDLE, ctypes.POINTER(PROCESSENTRY32W))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    snapshot = kernel32.CreateToolhelp32Snapshot(_TH32CS_SNAPPROCESS, 0)
    if snapshot in (None, wintypes.HANDLE(-1).value):
        raise ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]
    me = os.getpid()
    pids = []
    try:
        entry = PROCESSENTRY32W()
        entry.dwSize = ctypes.sizeof(entry)
        more = kernel32.Process32FirstW(snapshot, ctypes.byref(entry))
        while more:
            if entry.th32ParentProcessID == me and entry.th32ProcessID != me:
                pids.append(entry.th32ProcessID)
            more = kernel32.Process32NextW(snapshot, ctypes.byref(entry))
    finally:
        kernel32.CloseHandle(snapshot)
    return {pid: "exited" if process_gone(pid) else "running" for pid in pids}
