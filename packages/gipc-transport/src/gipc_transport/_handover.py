"""Handing handles over to a child process: finding, reserving, releasing, adopting.

What the process layer does with handles around a child's start, through
:mod:`gipc_transport.lowlevel`. The handle does the work on itself (its
lock and flags are its own); these functions apply it to the handles of one
start.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from ._duplex import DuplexHandle
from ._errors import GIPCClosed
from ._handles import Handle, live_handles


def find_handles(*objs: Any) -> list[Handle]:
    """Return every handle found in ``objs``, looking into lists, tuples, dicts and sets.

    A :class:`~gipc_transport.DuplexHandle` contributes its reader and writer.
    """
    found: list[Handle] = []
    seen: set[int] = set()
    stack = list(objs)
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, Handle):
            found.append(o)
        elif isinstance(o, DuplexHandle):
            found.extend(o.handles())
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
    return found


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

    Each handle is checked, then locked until the block ends: starting a
    child may switch greenlets (a monkey-patched socket, an argument's
    ``__reduce__``), and a greenlet that began I/O on a handle already given
    to the child would read or write beside it, and would make closing the
    handle fail after the child exists. Meanwhile other greenlets' I/O on
    the handles waits, and fails with :class:`~gipc_transport.GIPCClosed`
    once the block has closed them; their :meth:`~gipc_transport.Handle.close`
    raises :class:`~gipc_transport.GIPCLocked`. The handles still pickle (for
    ``spawn`` and ``forkserver``) inside the block. A child forked inside the
    block inherits them locked: it calls :func:`adopt_in_child` first thing.

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
            h._reserve()
            reserved.append(h)
        transfer = Transfer()
        yield transfer
    except BaseException:
        for h in reserved:
            h._unreserve(None)
        raise
    error: BaseException | None = None
    pid = transfer.child_pid
    why = f": it was handed to {'a child process' if pid is None else f'child process {pid}'}"
    for h in reserved:
        try:
            h._unreserve(why)
        except BaseException as exc:  # noqa: BLE001 - raised once all are released
            error = error or exc
    if error is not None:
        raise error


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
    handle._forget()
