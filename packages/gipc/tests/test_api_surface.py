"""``import gipc`` offers the 1.8.0 names, bound to the layers' objects."""

from __future__ import annotations

import signal
import subprocess
import sys

import gevent
import gipc
import gipc.gipc
import gipc_process
import gipc_transport
import pytest

# What gipc 1.8.0's __init__ exported, and the names 1.8.0 code imports from gipc.gipc.
V18_TOP_LEVEL = ("pipe", "start_process", "GIPCError", "GIPCClosed", "GIPCLocked", "__version__")
V18_LEGACY = (
    "_GIPCHandle",
    "_GIPCReader",
    "_GIPCWriter",
    "_GIPCDuplexHandle",
    "_GProcess",
    "_get_all_handles",
    "_set_all_handles",
    "_signals_to_reset",
    "GIPCError",
    "GIPCClosed",
    "GIPCLocked",
    "pipe",
    "start_process",
)


def test_import_gipc_alone_gives_the_whole_1_8_surface() -> None:
    # A fresh interpreter: here, the test module's own imports would hide a gap.
    code = (
        "import gipc\n"
        f"missing = [n for n in {V18_TOP_LEVEL!r} if not hasattr(gipc, n)]\n"
        f"missing += ['gipc.' + n for n in {V18_LEGACY!r} if not hasattr(gipc.gipc, n)]\n"
        "assert not missing, missing\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_legacy_module_exports_exactly_the_1_8_names() -> None:
    assert set(gipc.gipc.__all__) == set(V18_LEGACY)


def test_errors_are_the_same_objects_across_layers() -> None:
    assert gipc.GIPCError is gipc_transport.GIPCError is gipc_process.GIPCError is gipc.gipc.GIPCError
    assert gipc.GIPCClosed is gipc_transport.GIPCClosed is gipc.gipc.GIPCClosed
    assert gipc.GIPCLocked is gipc_transport.GIPCLocked is gipc.gipc.GIPCLocked
    for name in gipc_transport.__all__:
        obj = getattr(gipc_transport, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, gipc.GIPCError)
            assert getattr(gipc, name) is obj, f"gipc.{name} must be gipc_transport.{name}"


def test_except_gipc_error_catches_what_the_transport_raises() -> None:
    r, w = gipc.pipe()
    r.close()
    w.close()
    with pytest.raises(gipc.GIPCError):
        r.get()
    try:
        w.put(1)
    except gipc.gipc.GIPCError as exc:
        assert isinstance(exc, gipc_transport.GIPCClosed)
    else:
        pytest.fail("put() on a closed writer did not raise")


def test_legacy_names_are_the_new_classes() -> None:
    legacy = gipc.gipc
    assert legacy._GIPCHandle is gipc_transport.Handle
    assert legacy._GIPCReader is gipc_transport.Reader
    assert legacy._GIPCWriter is gipc_transport.Writer
    assert legacy._GIPCDuplexHandle is gipc_transport.DuplexHandle
    assert legacy._GProcess is gipc_process.Process
    assert legacy.pipe is gipc.pipe is gipc_transport.pipe
    assert legacy.start_process is gipc.start_process is gipc_process.start_process
    assert issubclass(legacy._GIPCReader, legacy._GIPCHandle)
    assert issubclass(legacy._GIPCWriter, legacy._GIPCHandle)


def test_version_is_a_gipc_2_version() -> None:
    assert gipc.__version__.startswith("2.")
    assert gipc.__version__ == gipc_transport.__version__ == gipc_process.__version__


def test_signals_to_reset_is_1_8_definition() -> None:
    sigs = gipc.gipc._signals_to_reset
    assert signal.SIGTERM in sigs and signal.SIGINT in sigs and signal.SIGUSR1 in sigs
    for kept in (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE):
        assert kept not in sigs
    assert len(set(sigs)) == len(sigs)
    assert all(isinstance(s, int) and s > 0 for s in sigs)


def test_get_all_handles_lists_open_handles() -> None:
    assert gipc.gipc._get_all_handles() == []
    with gipc.pipe() as (r, w):
        handles = gipc.gipc._get_all_handles()
        assert handles == [r, w]
        handles.clear()
        assert gipc.gipc._get_all_handles() == [r, w], "a copy, as in 1.8.0"
        with gipc.pipe(duplex=True) as (a, b):
            assert len(gipc.gipc._get_all_handles()) == 6
    assert gipc.gipc._get_all_handles() == []


def test_set_all_handles_forgets_without_closing() -> None:
    with gipc.pipe() as (r, w):
        gipc.gipc._set_all_handles([w])
        assert gipc.gipc._get_all_handles() == [w]
        # Forgotten, not closed: the reader still works.
        g = gevent.spawn(w.put, "still open")
        assert r.get() == "still open"
        g.get()
        gipc.gipc._set_all_handles([])
        assert gipc.gipc._get_all_handles() == []
    assert r.closed and w.closed
