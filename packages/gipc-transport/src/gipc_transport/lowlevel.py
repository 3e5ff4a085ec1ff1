"""What the layers above need from the transport's insides.

Like ``trio.lowlevel``: small, documented, stable within a major version.
A process layer uses it to hand handles over to a child process.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from ._duplex import iter_handles
from ._errors import GIPCClosed, GIPCError, GIPCLocked
from ._handles import Handle
from ._reader import READ_SPIN
from ._registry import live_handles, unregister

__all__ = (
    "Transfer",
    "live_handles",
    "find_handles",
    "check_transferable",
    "transferring",
    "release_transferred",
    "adopt_in_child",
    "forget",
    "set_read_spin",
)


def find_handles(*objs: Any) -> list[Handle]:
    """Return every handle found in ``objs``, looking into lists, tuples, dicts and sets.

    A :class:`~gipc_transport.DuplexHandle` contributes its reader and writer.
    """
    return iter_handles(objs)


def check_transferable(handles: Iterable[Handle]) -> None:
    """Refuse handles that cannot be given to a child right now.

    :raises GIPCClosed: if one is closed.
    :raises GIPCLocked: if a greenlet is doing I/O on one.
    """
    for h in handles:
        h._validate()
        if h._lock.locked():
            raise GIPCLocked(f"can't transfer {h!r}: another greenlet is doing I/O on it")


class Transfer:
    """What :func:`transferring` yields: set :attr:`child_pid` once the child exists.

    .. versionadded:: 2.0
    """

    #: The pid of the child that received the handles; named by the
    #: :class:`~gipc_transport.GIPCClosed` error of a later use here.
    child_pid: int | None = None


@contextlib.contextmanager
def transferring(handles: Iterable[Handle]) -> Iterator[Transfer]:
    """Reserve ``handles`` for a child being started in the ``with`` block; close them here after it.

    Each handle is checked as by :func:`check_transferable`, then locked
    until the block ends: starting a child may switch greenlets (a
    monkey-patched socket, an argument's ``__reduce__``), and a greenlet
    that began I/O on a handle already given to the child would read or
    write beside it, and would make closing the handle fail after the child
    exists. Meanwhile other greenlets' I/O on the handles waits, and fails
    with :class:`~gipc_transport.GIPCClosed` once the block has closed them;
    their :meth:`~gipc_transport.Handle.close` raises
    :class:`~gipc_transport.GIPCLocked`. The handles still pickle (for
    ``spawn`` and ``forkserver``) inside the block.

    If the block raises, the handles are left open and usable, as they were.
    The block sets the :attr:`Transfer.child_pid` of the object it is given,
    so that using a handle here afterwards says which child has it.

    :raises GIPCClosed: if one is closed, before the block runs.
    :raises GIPCLocked: if a greenlet is doing I/O on one, before the block runs.
    :raises OSError: if closing a descriptor fails after the block (it was
        closed behind the handle's back); every handle is closed regardless.

    .. versionadded:: 2.0
    """
    reserved: list[Handle] = []
    try:
        for h in handles:
            h._validate()
            if not h._lock.acquire(blocking=False):
                if h._transferring:
                    raise GIPCLocked(f"can't transfer {h!r}: it is being handed to another child process")
                raise GIPCLocked(f"can't transfer {h!r}: another greenlet is doing I/O on it")
            h._transferring = True
            reserved.append(h)
        transfer = Transfer()
        yield transfer
    except BaseException:
        for h in reserved:
            h._transferring = False
            h._lock.release()
        raise
    # Every handle is closed and unlocked, whatever closing one raises: a
    # handle left locked would keep other greenlets' I/O waiting forever.
    error: BaseException | None = None
    pid = transfer.child_pid
    why = f": it was handed to {'a child process' if pid is None else f'child process {pid}'}"
    for h in reserved:
        h._transferring = False
        try:
            if not h._closed:
                h._release(why)
        except BaseException as exc:  # noqa: BLE001 - raised once all are released
            error = error or exc
        finally:
            h._lock.release()
    if error is not None:
        raise error


def release_transferred(handles: Iterable[Handle]) -> None:
    """Close, in the parent, the handles that now belong to a child."""
    for h in handles:
        if not h.closed:
            h.close()


def adopt_in_child(keep: Iterable[Handle]) -> None:
    """In a freshly forked child: own ``keep``, close every other inherited handle.

    Call it after the child replaced the hub it inherited: locks and loop
    watchers of the parent's hub are dropped and recreated on demand, and
    read-ahead bytes or the remainder of an interrupted message stay with
    the handle, so a kept handle continues exactly where the parent left it.
    """
    handles = live_handles()
    if not handles:
        return
    keep_ids = {id(h) for h in keep}
    pid = os.getpid()
    for h in handles:
        h._adopt(pid)
        if id(h) not in keep_ids:
            try:
                h._release()
            except (OSError, GIPCClosed):
                pass


def forget(handle: Handle) -> None:
    """Stop listing ``handle`` among the live handles of this process.

    The handle stays open and usable, and its finalizer still closes it when
    it is dropped; it is only left out of :func:`live_handles`, so a forked
    child no longer closes its inherited copy. Forgetting twice is harmless.

    .. versionadded:: 2.0
    """
    unregister(handle._key)


def set_read_spin(seconds: float) -> float:
    """Set how long a ``get()`` that finds nothing to read polls before sleeping; return the old value.

    While no other greenlet of the thread is ready to run, such a ``get()``
    tries to read for up to ``seconds`` (yielding the CPU between tries)
    before it waits in the event loop, because being woken when data arrives
    costs more than a quick reply or the next message of a stream takes to
    come, above all in virtual machines and across CPUs, and the writer pays
    for the wake-up too. The spin adapts: spins that find nothing make later
    waits skip it, up to 64 of them. A duplex ``get()`` right after a
    ``put()`` on the same handle spins before its first read (the reply is
    hardly ever there at once). ``0`` turns spinning off. The default is 50
    microseconds (off where ``os.sched_yield`` is missing, as on Windows).
    It applies to every reader of the process.

    :raises GIPCError: if ``seconds`` is not a number from 0 to 1.

    .. versionadded:: 2.0
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 1:
        raise GIPCError(f"read spin must be a number of seconds from 0 to 1, not {seconds!r}")
    old = READ_SPIN[0]
    READ_SPIN[0] = float(seconds)
    return old
