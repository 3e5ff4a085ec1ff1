"""The private gevent and standard-library internals gipc_process relies on, in one place.

Each name here stands for something a newer gevent or Python may change:
the unpatched originals behind ``gevent.monkey`` (a child must be forked, and
a pid reaped, by the real primitives), multiprocessing's set of started
children and its launchers, the forkserver client's module globals and its
preload list, threading's table of threads, gevent's per-thread hub
bookkeeping and SIGCHLD note, and the raw C signal module.
When one of them moves, this module is the one to adapt; the oldest gevent
gipc supports (the ``oldest`` test environment) exercises every name.
"""

from __future__ import annotations

import copyreg
import importlib
import importlib._bootstrap
import multiprocessing.process
import sys
import threading
from collections.abc import Callable
from typing import Any, cast

import gevent._hub_local as _hub_local
import gevent.hub
from gevent import monkey

_importlib_bootstrap: Any = importlib._bootstrap

# The real primitives, also when gevent.monkey has patched them: a fork must
# happen in a real OS thread, gevent's fork would watch the child with a
# SIGCHLD handler that reaps every child of the process, and gevent's
# waitpid only knows children gevent forked itself.


def _original(module: str, name: str) -> Any:
    # The unpatched original, or, where the platform lacks it (Windows has
    # neither fork nor poll), a stand-in that says so when called: the
    # package imports everywhere, and only code that needs it fails.
    try:
        return monkey.get_original(module, name)
    except AttributeError:

        def unavailable(*args: Any, **kwargs: Any) -> Any:
            raise OSError(f"{module}.{name}() is not available on this platform")

        return unavailable


os_fork: Callable[[], int] = _original("os", "fork")
os_close: Callable[[int], None] = monkey.get_original("os", "close")
os_waitpid: Callable[[int, int], tuple[int, int]] = monkey.get_original("os", "waitpid")
select_poll: Callable[[], Any] = _original("select", "poll")
start_new_thread: Callable[..., int] = monkey.get_original("_thread", "start_new_thread")
allocate_lock: Callable[[], Any] = monkey.get_original("_thread", "allocate_lock")
rlock: Callable[[], Any] = monkey.get_original("_thread", "RLock")
thread_ident: Callable[[], int] = monkey.get_original("_thread", "get_ident")
thread_native_id: Callable[[], int] = monkey.get_original("_thread", "get_native_id")
sleep: Callable[[float], None] = monkey.get_original("time", "sleep")
socket_class: Any = monkey.get_original("socket", "socket")
signal_signal: Callable[..., Any] = monkey.get_original("signal", "signal")
default_selector: Any = monkey.get_original("selectors", "DefaultSelector")

# The raw signal dispositions, from the C module: gevent's patched functions
# treat SIGCHLD specially and would create a hub to do so, and signal's
# wrappers turn each old handler into an enum member (raising and catching
# ValueError for callables), which in a fresh child touches enough memory to
# triple the cost of a reset.
c_signal: Any = importlib.import_module("_signal")

#: ``object.__reduce_ex__``'s way of rebuilding an instance of a class
#: without calling its ``__init__``: ``reconstruct(cls, object, None)``.
reconstruct: Callable[..., Any] = copyreg._reconstructor  # type: ignore[attr-defined]


def started_children() -> set[Any]:
    """multiprocessing's set of the processes started here and not yet joined.

    Read at each call: a child's bootstrap replaces the set.
    """
    children: set[Any] = multiprocessing.process._children  # type: ignore[attr-defined]
    return children


def launch_as_multiprocessing(ctx: Any, process: Any) -> Any:
    """Start the child of ``process`` with multiprocessing's launcher for ``ctx``; return its ``Popen``."""
    return ctx.Process._Popen(process)


def python_thread_count() -> int:
    """How many threads ``threading`` knows of, counted without its lock.

    The lock may be gevent's, and the caller (gipc's forking thread) has no
    hub to wait with.
    """
    return len(vars(threading).get("_active", ()))


class ThreadRecord:
    """threading's record of the calling thread, which it did not start, listed only while that thread forks.

    Forked from a thread missing from ``threading``'s table of threads, a
    child's first act (threading's own ``os.register_at_fork`` hook) is to
    build a new main thread object, whose locks, event and registrations
    are written, and so copied, in the child: about 0.2 ms. With the
    forking thread's record in the table, the child adopts that record
    instead, as it does after a fork from any thread ``threading`` knows.
    The record is ``threading``'s own dummy thread, made here once per
    thread; it is taken out of the table right away and put back only
    around ``os.fork()``, so the rest of the program never sees an extra
    thread. Python 3.13+ turns an adopted dummy record into the main thread
    in the child; :meth:`promote` does the same on older versions.

    Under gevent's monkey-patched threading, gevent's own fork hooks make
    the forking thread's record (a dummy of gevent's) at its first fork and
    the child's main thread: the record is then taken over from the table
    once that fork returned, and listed around the later forks only, which
    also find it there, as gevent's hooks expect. Without that the parent's
    ``threading.enumerate()`` listed a ``Dummy-1`` for as long as the thread
    lived.

    :raises ValueError: if threading's record of this thread is not its
        dummy thread.
    """

    def __init__(self) -> None:
        # Keyed as threading keys it (under monkey-patching, by gevent's
        # ident of the thread's main greenlet).
        self.key: Any = threading.get_ident()
        self.thread: Any = None
        #: Whether gevent's hooks make the record and the child's main thread.
        self.patched = threading._DummyThread is not _stdlib_dummy_thread()
        if not self.patched:
            thread = threading.current_thread()
            if type(thread) is not _stdlib_dummy_thread():
                raise ValueError(f"not the standard library's dummy thread: {type(thread)!r}")
            self.thread = thread
            self.unlist()

    def list(self) -> None:
        """Put the record in threading's table, for the next fork."""
        if self.thread is not None:
            threading._active[self.key] = self.thread  # type: ignore[attr-defined]

    def unlist(self) -> None:
        """Take it out again (in the parent, once the fork returned)."""
        active = threading._active  # type: ignore[attr-defined]
        found = active.get(self.key)
        if self.thread is None and isinstance(found, threading._DummyThread):
            # Monkey-patched: the dummy gevent's fork hook made.
            self.thread = found
        if found is not None and found is self.thread:
            active.pop(self.key, None)

    def promote(self) -> None:
        """In the child: make the adopted record the main thread, as Python 3.13+ does itself.

        The child's only thread is its main thread: named so, not a daemon,
        alive until the child exits (multiprocessing's bootstrap ends with
        ``threading._shutdown()``, which needs its lock). Under
        monkey-patching gevent's hook has made the main thread already.
        """
        if self.patched or sys.version_info >= (3, 13) or threading.main_thread() is not self.thread:
            return
        main = cast(Any, self.thread)
        main.__class__ = threading._MainThread  # type: ignore[attr-defined]
        main._name = "MainThread"
        main._daemonic = False
        main._set_tstate_lock()


def _stdlib_dummy_thread() -> Any:
    return monkey.get_original("threading", "_DummyThread")


def accept_descriptor(sock: Any) -> tuple[int, Any]:
    """Accept a connection on ``sock``; return the new descriptor and the address, no socket object.

    ``socket.socket.accept()`` wraps the descriptor in the socket module's
    global ``socket`` class, which gevent patches.
    """
    fd, address = sock._accept()
    return fd, address


def forkserver() -> Any:
    """:mod:`multiprocessing.forkserver`, imported at first use.

    Importing gipc_process leaves multiprocessing's modules as they are.
    """
    from multiprocessing import forkserver as module

    return module


def forkserver_global(name: str) -> Any:
    """A module global of :mod:`multiprocessing.forkserver` (``socket``, ``read_signed``, ``os``...)."""
    return getattr(forkserver(), name)


def set_forkserver_global(name: str, value: Any) -> None:
    """Replace a module global of :mod:`multiprocessing.forkserver`; its functions look it up at each call."""
    setattr(forkserver(), name, value)


def forkserver_preload() -> Any:
    """The forkserver's preload modules (``set_forkserver_preload()``'s list; empty: none)."""
    return forkserver()._forkserver._preload_modules


def set_forkserver_preload(modules: Any) -> None:
    """Set the forkserver's preload modules, as ``set_forkserver_preload()`` does, without its checks."""
    forkserver()._forkserver._preload_modules = modules


def forkserver_authenticates() -> bool:
    """Whether the running forkserver sends each client a challenge first (Python 3.14+)."""
    return bool(getattr(forkserver()._forkserver, "_forkserver_authkey", None))


def adopt_module_locks(owner: int) -> None:
    """In a forked child: make the current thread own the import locks ``owner`` held.

    A module being imported is guarded by a per-module lock of importlib's,
    owned by the importing thread; a fork from another thread leaves it held
    by a thread that does not exist in the child, so the child's own import
    of that module would wait forever. CPython hands the global import lock
    to the forking thread itself; these locks are importlib's.
    """
    me = thread_ident()
    # importlib's bootstrap module, bound once at import: no import statement
    # runs in the child for it.
    for ref in list(getattr(_importlib_bootstrap, "_module_locks", {}).values()):
        lock = ref()
        if lock is not None and getattr(lock, "owner", None) == owner:
            lock.owner = me


def hub_if_exists() -> Any:
    """This thread's hub, or ``None``: never makes one."""
    return _hub_local.get_hub_if_exists()


def hub_class() -> Any:
    """The class gevent makes a thread's first hub from."""
    return _hub_local.get_hub_class()


def set_hub_class(make_hub: Any) -> None:
    """Make a thread's first hub from ``make_hub`` from now on."""
    _hub_local.set_default_hub_class(make_hub)


def set_main_thread(ident: int | None) -> None:
    """Tell gevent which thread is the main one (it records that once, at import)."""
    gevent.hub.MAIN_THREAD_IDENT = ident


def is_libuv_loop(loop: Any) -> bool:
    """Whether ``loop`` is one of gevent's libuv loops."""
    return type(loop).__module__.startswith("gevent.libuv")


# Inherited libuv loops cut off in this (child) process: their handles'
# memory stays valid, because no code may ever free or walk it again.
_cut_off_loops: list[Any] = []


def cut_off_libuv_loop(loop: Any) -> None:
    """In a fork child: make an inherited libuv loop inert without running or closing it.

    The loop was copied while its hub greenlet was suspended inside one of
    the loop's callbacks (gevent runs its callbacks and switches greenlets
    from libuv's prepare and check callbacks). libuv runs those from a list
    whose head lives on that C stack, which greenlet has since handed to
    another greenlet: closing the loop's handles would unlink handles from
    that stale head and write into the child's live stack, and running the
    loop to let them close could spin forever. So the loop is neither run
    nor closed: ``uv_loop_fork()`` gives it descriptors of its own (its
    epoll instance, wake-up descriptor and signal pipe were the parent's),
    and its signal handles leave libuv's process-wide table of signal
    handles, so the child's own loop can take the signals over. gevent then
    sees the loop as destroyed.
    """
    from gevent.libuv import _corecffi  # type: ignore[import-not-found,unused-ignore]

    ffi, lib = _corecffi.ffi, _corecffi.lib
    ptr = loop._ptr
    if not ptr:
        return
    _cut_off_loops.append(loop)
    lib.uv_loop_fork(ptr)
    signal_handles: list[Any] = []

    def collect(handle: Any, _arg: Any) -> None:
        if handle.type == lib.UV_SIGNAL and not lib.uv_is_closing(handle):
            signal_handles.append(handle)

    # uv_walk only relinks the loop's list of all handles, which no suspended
    # callback holds.
    callback = ffi.callback("void(*)(uv_handle_t*,void*)", collect)
    lib.uv_walk(ptr, callback, ffi.NULL)
    for handle in signal_handles:
        lib.uv_signal_stop(ffi.cast("uv_signal_t*", handle))
    loop._ptr = None  # gevent's destroy() and ``default`` see a destroyed loop


def fresh_default_libuv_loop(like: Any) -> Any:
    """A new libuv loop of the class of ``like`` that gevent treats as the default loop.

    libuv's own default loop is the inherited one (it is never closed, see
    :func:`cut_off_libuv_loop`); gevent needs the main thread's loop to be
    the default one for child watchers and SIGCHLD.
    """
    loop = type(like)(default=False)
    loop._default = True
    return loop


def gevent_sigchld_installed(loop: Any) -> bool:
    """Whether gevent's SIGCHLD handling (which reaps every child) is installed for ``loop``.

    gevent installs it with the first child watcher, on the default loop only.
    Asked at every start, so it stays cheap: the raw C signal module, no
    enum conversion, one ``sigaction()`` call into a preallocated type.
    """
    # libuv: gevent's own signal watcher.
    watcher = getattr(loop, "_sigchld_watcher", _NO_WATCHER)
    if watcher is not _NO_WATCHER:
        return bool(watcher)
    # libev keeps the state in C. Its handler is native: Python's signal
    # module still reports the default disposition while it is installed.
    if c_signal.getsignal(_SIGCHLD) not in (c_signal.SIG_DFL, None):
        return False
    return _native_handler(_SIGCHLD)


def forget_gevent_sigchld(loop: Any) -> None:
    """Tell ``loop`` that gevent's SIGCHLD handling is no longer installed (the disposition was reset).

    What gevent's own ``signal.signal(SIGCHLD, SIG_DFL)`` does after resetting
    the disposition; libev keeps the note process-wide, so a forked child
    inherits it.
    """
    loop.reset_sigchld()


_NO_WATCHER = object()
_SIGCHLD: int = getattr(c_signal, "SIGCHLD", 17)
_sigaction: Any = None
_SigactionBuffer: Any = None


def _native_handler(signum: int) -> bool:
    global _sigaction, _SigactionBuffer
    try:
        import ctypes

        if _sigaction is None:
            _sigaction = ctypes.CDLL(None, use_errno=True).sigaction
            # struct sigaction starts with the handler on Linux, the BSDs and
            # macOS; the buffer is larger than the struct on each of them.
            _SigactionBuffer = ctypes.c_void_p * 64
        buf = _SigactionBuffer()
        if _sigaction(signum, None, buf) != 0:
            return False
        handler = buf[0] or 0
    except (ImportError, OSError, AttributeError):
        return False
    return handler not in (0, 1)  # SIG_DFL, SIG_IGN


def win_create_event() -> int:
    """A new auto-reset Windows event object, not signalled (Windows only).

    From asyncio's ``_overlapped`` module, which has it on every supported
    Python (``_winapi.CreateEventW`` arrived only in 3.12).
    """
    import _overlapped  # type: ignore[import-not-found,unused-ignore]

    handle: int = _overlapped.CreateEvent(None, False, False, None)
    return handle


def win_set_event(handle: int) -> None:
    """Signal a Windows event object made by :func:`win_create_event` (Windows only)."""
    import _overlapped  # type: ignore[import-not-found,unused-ignore]

    _overlapped.SetEvent(handle)
