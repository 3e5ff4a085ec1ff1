"""The read end: :class:`Reader`, its ``get()`` fast path and readiness API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import partial
from pickle import loads as _loads
from time import monotonic as _clock
from typing import Any

import gevent
from gevent import get_hub

from . import _compat, _wire
from ._checks import check_number
from ._codecs import Decoder, decode_pickle5, resolve_decoder
from ._compat import LOOP_CALLBACKS as _LOOP_CALLBACKS
from ._contention import Contention
from ._deadline import start_deadline, wait_watcher
from ._errors import GIPCClosed, GIPCError
from ._framing import FrameReader
from ._handles import FAIR_BYTES as _FAIR_BYTES
from ._handles import FAIR_MIN as _FAIR_MIN
from ._handles import PID as _PID
from ._handles import READ
from ._pipes import readable_now as _readable_now
from ._pipes import readv as _readv

_HEADER_SIZE = _wire.HEADER_SIZE
_SMALL = _wire.SMALL
_unpack_header = _wire.HEADER.unpack_from
_sched_yield = getattr(os, "sched_yield", None)
# Where there is no sched_yield (Windows), a spin that was asked for
# (set_read_spin) gives up the time slice with Sleep(0); the default is no spin.
_yield_cpu = _sched_yield or partial(_compat.original_sleep, 0)

# How long a get() that finds nothing to read polls before it sleeps in the
# hub (seconds; 0: never). See Reader._spin_for_data().
READ_SPIN = [50e-6 if _sched_yield is not None else 0.0]
# A spin that found nothing makes at most this many later waits skip it.
_SPIN_BACKOFF_MAX = 64
# A spin whose yield outlasted the whole spin (other processes had this CPU)
# makes at most this many later waits skip it: on a busy machine each such
# spin costs the round trip a time slice, not microseconds.
_SPIN_BACKOFF_CONTENDED = 1024
# Whether this process waited for a CPU lately (see _contention).
_CONTENTION = Contention()


class Reader(FrameReader):
    """The read end of a pipe: :meth:`get` returns one message at a time.

    Iterating over a reader yields messages until the writer closes its end.
    A reader reads ahead: after a :meth:`get`, further messages may already
    sit in its buffer while the descriptor reports nothing to read.
    :meth:`poll` and :func:`gevent.wait` (which a reader supports) see them.
    Once the program takes the descriptor with :meth:`fileno`, the reader
    stops reading ahead, so that ``select()`` on it works as in gipc 1.x.

    :param fd: the read end of a pipe; the handle owns it from now on.
    :param decoder: turns message bytes into an object: ``'default'``,
        ``None`` or a callable, as for :func:`~gipc_transport.pipe`.
    :param max_message_size: refuse messages longer than this many bytes.
    :raises GIPCError: if ``decoder`` is neither callable, ``None`` nor ``'default'``.

    .. versionchanged:: 2.0
       ``max_message_size``, :meth:`poll`, iteration, ``get(timeout=seconds)``;
       ``decoder`` may be ``'default'`` or ``None``.
    """

    _direction = READ

    def __init__(self, fd: int, decoder: Decoder | str | None, max_message_size: int | None = None) -> None:
        # Resolved before the handle owns fd: a bad decoder leaves it alone.
        decoding = resolve_decoder(decoder)
        super().__init__(fd, max_message_size, data_as_bytes=not decoding.unpickles)
        self._decoding = decoding
        # What get() asks for each message: unpickle in place, or hand
        # bytes to this decoder.
        self._unpickles = decoding.unpickles
        self._decode_bytes = decoding.decode
        # Set by a duplex handle that sent a request: the next get() waits
        # for the reply before trying to read it.
        self._reply_due = False
        # Adaptive polling before a wait (see _spin_for_data).
        self._spin_skip = 0
        self._spin_backoff = 0
        # Watchers of poll() calls under way.
        self._pollers: set[Any] = set()

    def get(self, timeout: Any = None) -> Any:
        """Receive one message, decode it and return it.

        Blocks the calling greenlet only; other greenlets keep running, and
        several greenlets may call ``get()`` at once: each receives whole
        messages.

        ``get()`` waits only when the pipe is empty. So that a greenlet
        getting in a loop behind a faster writer cannot starve the other
        greenlets of its thread, ``get()`` yields to the event loop once
        after about 1 MiB (or 1,024 small messages) received without
        waiting, before it takes a message.

        :param timeout: ``None`` to wait as long as needed; a number of seconds,
            the deadline for receiving the whole message; or (the gipc 1.x form)
            a started :class:`gevent.Timeout`, which is cancelled as soon as the
            first byte of a message is available.
        :returns: the decoded message.
        :raises EOFError: if the writer was closed and no message is pending.
        :raises GIPCTimeout: if ``timeout`` seconds passed; nothing is lost, the
            next ``get()`` continues with the same message.
        :raises GIPCTruncated: if the writer went away in the middle of a message.
        :raises GIPCMessageTooLarge: if a message exceeds ``max_message_size``
            (the reader is broken then).
        :raises GIPCBroken: if an earlier error left the reader unusable.
        :raises GIPCClosed: if this handle is closed.
        """
        if self._credit < 0:
            # Before anything is taken: an exception here loses nothing.
            # The others may close the handle meanwhile: checked after.
            self._credit = _FAIR_BYTES
            gevent.sleep(0)
        if self._closed or self._broken is not None or _PID[0] != self._legit_pid:
            self._validate()
        while timeout is None and self._msg is None and self._body is None and not self._lock.locked():
            # Fast path for small messages. It switches greenlets only in
            # _wait(), under the lock; elsewhere there is nobody to exclude.
            start = self._start
            avail = self._end - start - _HEADER_SIZE
            if avail >= 0:
                # For a DATA frame the header is the length itself.
                (n,) = _unpack_header(self._ring, start)
                if n <= avail and n <= _SMALL and (self._max is None or n <= self._max):
                    begin = start + _HEADER_SIZE
                    self._start = begin + n
                    if self._start == self._end:
                        self._start = self._end = 0
                    self._credit -= n + _FAIR_MIN
                    if self._unpickles:
                        return _loads(self._ring[begin : begin + n])
                    return self._decode_bytes(self._view[begin : begin + n].tobytes())
                break
            if start != self._end or not self._ring or self._exact:
                break
            # Nothing read ahead: read straight into the empty buffer, or
            # first wait for data if the reply to a request is awaited, which
            # is hardly ever there yet (a read would only fail). Waiting
            # starts with a short spin.
            if self._reply_due:
                self._reply_due = False
                if self._spin_for_data():
                    continue
                self._wait_unlocked()
            try:
                got = _readv(self._descriptor, (self._view,))  # type: ignore[arg-type]
            except BlockingIOError:
                if not self._spin_for_data():
                    self._wait_unlocked()
                continue
            except OSError:
                break
            if not got:
                break
            self._start, self._end = 0, got
        deadline, legacy = start_deadline(timeout)
        self._reply_due = False
        if (
            self._ring
            and self._start == self._end
            and self._body is None
            and self._msg is None
            and not self._lock.locked()
        ):
            # Nothing buffered: the spin reads first, then polls briefly.
            self._spin_for_data(deadline)
        self._acquire(deadline, "get()")
        try:
            if legacy is not None:
                if self._start == self._end and self._body is None and self._msg is None:
                    self._wait(None, "get()")
                legacy.cancel()
            kind, body, buffers = self._receive(deadline)
        finally:
            self._lock.release()
        self._credit -= len(body) + sum(map(len, buffers)) + _FAIR_MIN
        return self._decode(kind, body, buffers)

    def _expect_reply(self, due: bool = True) -> None:
        # Called by a duplex handle: whether the next get() awaits the reply
        # to a request just sent, so it waits (spinning first) before reading.
        self._reply_due = due

    def _spin_for_data(self, deadline: float | None = None) -> bool:
        """Try to read for a few microseconds before sleeping; return whether data came.

        Sleeping in the hub costs a wake-up when data arrives: in a virtual
        machine, or with the other process on another CPU, that takes longer
        than a quick reply or the next message of a stream takes to come, and
        the writer pays for it too. So while nothing else is ready to run in
        this thread, try to read, yielding the CPU between tries (a partner on
        the same CPU then runs). A spin that finds nothing makes the next waits
        skip it, exponentially more of them, until one finds data in time; an
        idle or slow writer costs a fraction of a spin per wait.

        On a busy machine a yield hands the CPU to another process for a
        whole time slice, and a spinning process, never asleep, gets no
        wake-up preference from the scheduler: data found after such a yield
        came later than a wake-up would have brought it. So a spin that
        outlasts twice its budget counts as fruitless, whatever its last read
        found, with a longer backoff (up to 1,024 waits); and where the thread
        waited for a CPU for a notable share of the recent time
        (:mod:`._contention`), a wait does not spin at all, with the same
        backoff.

        ``True`` also when the read met EOF or an error: the caller reads
        again at once and sees it.
        """
        if self._spin_skip:
            self._spin_skip -= 1
            return False
        if self._exact:
            # The spin reads ahead.
            return False
        budget = READ_SPIN[0]
        if not budget or getattr(get_hub().loop, _LOOP_CALLBACKS, True):
            return False
        fd, view = self._descriptor, (self._view,)
        start = _clock()
        if _CONTENTION.contended(start):
            self._spin_missed(True)
            return False
        end = start + budget
        if deadline is not None and deadline < end:
            end = deadline
        # Past this, other processes had the CPU during the spin.
        late = start + 2 * budget
        while True:
            try:
                got = _readv(fd, view)  # type: ignore[arg-type]
            except BlockingIOError:
                now = _clock()
                if now >= end:
                    self._spin_missed(now > late)
                    return False
                _yield_cpu()
                continue
            except OSError:
                return True
            if _clock() > late:
                # The data is taken, but it came no sooner than a wake-up
                # would have brought it: the spin did not pay.
                self._spin_missed(True)
            else:
                self._spin_backoff = 0
            if got:
                self._start, self._end = 0, got
            return True

    def _spin_missed(self, contended: bool) -> None:
        # The next waits skip the spin: exponentially more of them, and more
        # again when the CPU was contended.
        cap = _SPIN_BACKOFF_CONTENDED if contended else _SPIN_BACKOFF_MAX
        self._spin_backoff = min(2 * self._spin_backoff or 1, max(cap, self._spin_backoff))
        self._spin_skip = self._spin_backoff

    def _wait_unlocked(self) -> None:
        # Called by the fast path of get(), which holds no lock: take it
        # while waiting, when other greenlets can run.
        self._lock.acquire()
        try:
            self._wait(None, "get()")
        finally:
            self._lock.release()

    def _decode(self, kind: int, body: Any, buffers: list[Any]) -> Any:
        if kind == _wire.DATA:
            if self._unpickles:
                return _loads(body)
            # Other decoders get bytes, as in gipc 1.x: the one copy a large
            # message costs, because bytes cannot be read into in place.
            return self._decode_bytes(body if type(body) is bytes else bytes(body))
        if not self._unpickles:
            raise GIPCError(
                f"{self!r} received a message in gipc's out-of-band pickle format, which only "
                "decoder='default' reads; the message was skipped"
            )
        return decode_pickle5(body, buffers)

    def fileno(self) -> int:
        """Return the file descriptor, for ``select``-like APIs.

        From then on the reader no longer reads ahead: it reads each frame
        exactly, so that the descriptor is readable whenever :meth:`get`
        would not block (messages read ahead before the first call are
        still only seen by :meth:`poll`).

        :raises GIPCClosed: if the handle is closed.

        .. versionchanged:: 2.0
           Switches the reader to exact reads.
        """
        fd = super().fileno()
        self._exact = True
        return fd

    @property
    def _fd(self) -> int | None:
        # gipc 1.x programs passed the private _fd to select(): that switches
        # to exact reads as fileno() does. The reader's own code uses
        # _descriptor, so a program that never looks pays nothing.
        self._exact = True
        return self._descriptor

    def poll(self, timeout: float | None = None) -> bool:
        """Return whether a message (or the end of the stream) is ready to be received.

        ``True`` means that a whole message is buffered or that the pipe has
        data or EOF to read; the rest of a long message may still be on its way.

        :param timeout: seconds to wait at most; ``None`` waits as long as needed.
        :raises GIPCClosed: if this handle is closed.

        .. versionadded:: 2.0
        """
        self._validate()
        if self._frame_buffered():
            return True
        assert self._descriptor is not None
        if _readable_now(self._descriptor):
            # Not left to one turn of the event loop: whether that reports a
            # ready descriptor differs between loop backends.
            return True
        hub = get_hub()
        # Not the handle's own watcher: a watcher serves one waiter, and a
        # get() in another greenlet may wait on that one at any time (taking
        # the handle's lock to exclude it would make get() wait for poll()).
        watcher = hub.loop.io(self._descriptor, READ)
        self._pollers.add(watcher)
        try:
            if timeout is None:
                hub.wait(watcher)
                ready = True
            else:
                ready = wait_watcher(hub, watcher, timeout)
        finally:
            self._pollers.discard(watcher)
            watcher.close()
        if self._closed:
            raise GIPCClosed(f"{self!r} was closed while polling")
        return ready

    def __iter__(self) -> Iterator[Any]:
        """Yield messages until the writer closes its end."""
        while True:
            try:
                yield self.get()
            except EOFError:
                return

    def _ready_now(self) -> bool:
        return self._frame_buffered()

    def _in_use(self) -> bool:
        return bool(self._pollers) or super()._in_use()

    def _release(self, why: str = "") -> None:
        # poll() takes no lock either: its waiters raise GIPCClosed (see
        # Handle._release for rawlink()).
        self._stop_watchers(list(self._pollers))
        super()._release(why)

    def _adopt(self, pid: int) -> None:
        # Watchers of the parent's loop, which a child does not use.
        self._pollers = set()
        super()._adopt(pid)

    def _carry(self) -> tuple[Any, ...]:
        return (self._decoding.spec, self._max, *self._carried_frames())

    @classmethod
    def _rebuilt(cls, fd: int, *carried: Any) -> Reader:
        decoder, max_message_size, ahead, body, msg = carried
        reader = cls(fd, decoder, max_message_size)
        reader._resume(ahead, body, msg)
        return reader


def set_read_spin(seconds: float) -> float:
    """Set how long a ``get()`` that finds nothing to read polls before sleeping; return the old value.

    While no other greenlet of the thread is ready to run, such a ``get()``
    tries to read for up to ``seconds`` (yielding the CPU between tries)
    before it waits in the event loop, because being woken when data arrives
    costs more than a quick reply or the next message of a stream takes to
    come, above all in virtual machines and across CPUs, and the writer pays
    for the wake-up too. The spin adapts: spins that find nothing make later
    waits skip it, up to 64 of them. On a busy machine, where spinning costs
    more than it saves (a spinning process gets no wake-up preference from
    the scheduler), a spin that takes over twice its time, or a wait while
    the thread has lately been waiting for a CPU (Linux), makes up to 1,024
    later waits skip it; a spin that catches data in time brings it back.
    A duplex ``get()`` right after a ``put()`` on the same handle spins
    before its first read (the reply is hardly ever there at once). ``0``
    turns spinning off. The default is 50 microseconds (off where
    ``os.sched_yield`` is missing, as on Windows).
    It applies to every reader of the process.

    :raises TypeError: if ``seconds`` is not a number.
    :raises ValueError: if ``seconds`` is not from 0 to 1.

    .. versionadded:: 2.0
    """
    check_number(seconds, "read spin", low=0, high=1, unit="seconds")
    old = READ_SPIN[0]
    READ_SPIN[0] = float(seconds)
    return old
