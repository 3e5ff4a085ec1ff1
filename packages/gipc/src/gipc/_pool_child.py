"""The loop a pool worker runs in its child process.

Wire format on the worker's duplex pipe (raw bytes, no codec):

- parent to worker: a batch of calls, each a length-prefixed pickle of
  ``(fn, args, kwargs)``; an empty message asks the worker to exit.
- worker to parent: first a readiness outcome (the initializer's), then one
  outcome per call, in the order the calls arrived (see :mod:`._result`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from gipc_transport import DuplexHandle

from ._result import encode_failure, run_call, run_pickled_call

LENGTH = struct.Struct("<I")


def pack_batch(payloads: list[bytes]) -> bytes:
    """Frame pickled calls into one message."""
    parts: list[bytes] = []
    for p in payloads:
        parts.append(LENGTH.pack(len(p)))
        parts.append(p)
    return b"".join(parts)


def _unpack_batch(message: bytes) -> list[memoryview]:
    view = memoryview(message)
    calls = []
    offset = 0
    while offset < len(view):
        (n,) = LENGTH.unpack_from(view, offset)
        offset += LENGTH.size
        calls.append(view[offset : offset + n])
        offset += n
    return calls


def worker_main(
    conn: DuplexHandle,
    initializer: Callable[..., Any] | None,
    initargs: tuple[Any, ...],
) -> None:
    """Run the initializer, report readiness, then run calls until told to stop.

    The worker also stops when the parent goes away (end of file on the pipe).
    """
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException as exc:  # noqa: BLE001 - the parent decides what a failed start means
            conn.put(encode_failure(exc))
            return
    conn.put(run_call(_ready, (), {}))
    while True:
        try:
            message = conn.get()
        except EOFError:
            return
        if not message:
            return
        for payload in _unpack_batch(message):
            outcome = run_pickled_call(payload)
            try:
                conn.put(outcome)
            except Exception:  # noqa: BLE001 - the parent is gone: nobody wants the rest
                return


def _ready() -> None:
    return None


def run_chunk(fn: Callable[..., Any], chunk: list[tuple[Any, ...]]) -> list[Any]:
    """Run ``fn`` over a chunk of argument tuples: what ``map(chunksize=n)`` sends."""
    return [fn(*args) for args in chunk]
