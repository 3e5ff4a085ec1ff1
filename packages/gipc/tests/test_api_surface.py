"""``import gipc`` offers the 1.8.0 names, bound to the layers' objects."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import signal
import subprocess
import sys
import types

import gevent
import gipc
import gipc.gipc
import gipc_process
import gipc_transport
import pytest

PACKAGES = (gipc_transport, gipc_process, gipc)

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

# What the layers export and ``gipc`` deliberately does not: the 1.x API
# plus what ``gipc`` adds is what most programs need; these names are for
# code that works with a layer directly, and live under that layer's name.
NOT_REEXPORTED = {
    # The type of pipe()'s pair of ends; needed only to annotate it.
    "HandlePair": gipc_transport,
    # How a child reaped by someone else reports its exit, and the warning
    # that says so: details of the process layer's bookkeeping.
    "LOST_EXITCODE": gipc_process,
    "StatusLostWarning": gipc_process,
}


def _public_modules() -> list[types.ModuleType]:
    modules = []
    for package in PACKAGES:
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if "._" not in info.name:
                modules.append(importlib.import_module(info.name))
    return modules


@pytest.mark.parametrize("module", _public_modules(), ids=lambda m: m.__name__)
def test_all_is_a_tuple_matching_what_the_module_exports(module: types.ModuleType) -> None:
    # As anyio's test_all_attributes: __all__ names what the module defines
    # (a public object shows the module it is exported from as __module__),
    # every name in it exists, and each is listed once.
    names = module.__dict__.get("__all__")
    assert isinstance(names, tuple), f"{module.__name__}.__all__ must be a tuple"
    assert all(isinstance(n, str) for n in names)
    assert len(set(names)) == len(names), f"{module.__name__}.__all__ lists a name twice"
    assert [n for n in names if not hasattr(module, n)] == []
    defined = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or isinstance(value, types.FunctionType))
        and value.__module__ == module.__name__
    }
    assert defined - set(names) == set(), f"defined in {module.__name__} but not in its __all__"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda m: m.__name__)
def test_a_package_binds_only_what_its_all_lists(package: types.ModuleType) -> None:
    # A package's __init__ only re-exports: any other public name is a leak.
    bound = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert bound == set(package.__all__) - {"__version__"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda m: m.__name__)
def test_public_objects_name_their_public_module(package: types.ModuleType) -> None:
    for name in package.__all__:
        module = getattr(getattr(package, name), "__module__", None)
        if isinstance(module, str) and module.split(".")[0] == package.__name__:
            assert module == package.__name__, f"{package.__name__}.{name}.__module__ is {module}"


def test_gipc_reexports_the_layers_except_a_stated_few() -> None:
    layers = set(gipc_transport.__all__) | set(gipc_process.__all__)
    assert layers - set(gipc.__all__) == set(NOT_REEXPORTED)
    for name, layer in NOT_REEXPORTED.items():
        assert name in layer.__all__ and not hasattr(gipc, name)
    for name in layers & set(gipc.__all__) - {"__version__"}:
        layer = gipc_transport if name in gipc_transport.__all__ else gipc_process
        assert getattr(gipc, name) is getattr(layer, name), f"gipc.{name} is not {layer.__name__}.{name}"


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
    assert signal.SIGTERM in sigs and signal.SIGINT in sigs
    # Windows has none of these four.
    if hasattr(signal, "SIGUSR1"):
        assert signal.SIGUSR1 in sigs
    for kept in ("SIGKILL", "SIGSTOP", "SIGPIPE"):
        if hasattr(signal, kept):
            assert getattr(signal, kept) not in sigs
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
