"""``import gipc`` offers the 1.8.0 names, bound to the layers' objects."""

from __future__ import annotations

import gipc
import gipc.gipc
import gipc_process
import gipc_transport


def test_errors_are_the_same_objects_across_layers() -> None:
    assert gipc.GIPCError is gipc_transport.GIPCError is gipc.gipc.GIPCError
    assert gipc.GIPCClosed is gipc_transport.GIPCClosed
    assert gipc.GIPCLocked is gipc_transport.GIPCLocked
    assert issubclass(gipc.GIPCClosed, gipc.GIPCError)


def test_legacy_module_names() -> None:
    legacy = gipc.gipc
    assert legacy._GIPCReader is gipc_transport.Reader
    assert legacy._GIPCWriter is gipc_transport.Writer
    assert legacy._GIPCDuplexHandle is gipc_transport.DuplexHandle
    assert legacy._GProcess is gipc_process.Process
    assert legacy.pipe is gipc.pipe is gipc_transport.pipe
    assert legacy.start_process is gipc.start_process is gipc_process.start_process
    assert all(isinstance(s, int) for s in legacy._signals_to_reset)


def test_get_all_handles_lists_open_handles() -> None:
    with gipc.pipe() as (r, w):
        assert set(gipc.gipc._get_all_handles()) == {r, w}
    assert gipc.gipc._get_all_handles() == []
