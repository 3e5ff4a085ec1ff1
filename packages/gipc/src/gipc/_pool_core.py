"""The decisions of :class:`gipc.ProcessPool`, as pure functions of its state.

How many calls a worker may hold, how many it takes from the queue, what
happens to the calls of a worker that exited and when that breaks the pool:
decided here from plain numbers and flags, with no process, pipe or greenlet
in sight, so that each rule can be tested on its own. :mod:`gipc._pool` asks
and carries the decisions out.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

# Calls a worker may hold at once: two while calls look long (one running, one
# waiting, so the worker never idles for a round trip), many while they look
# tiny (batches amortise system calls).
SHALLOW = 2
DEEP = 64
TINY = 0.001
# Deep batches only while at least this many calls per worker are
# outstanding. A deep batch binds calls to one worker before their length is
# known; when tiny calls are followed by long ones, the pace still says tiny,
# and the calls behind a long one wait while another worker idles: a burst
# of 8 CPU-bound calls after tiny ones was split 4 and 4 up front, where a
# shared queue gives each call to whichever worker is free (issue 21). With
# few calls outstanding, batching saves little anyway.
DEEP_FROM = 8


class Pace:
    """How long calls take, smoothed, and the queue depth that follows from it.

    The pool records each call's duration; workers read :attr:`depth`.
    """

    __slots__ = ("depth", "mean")

    def __init__(self) -> None:
        self.mean: float | None = None
        self.depth = SHALLOW

    def record(self, took: float) -> None:
        """A call took ``took`` seconds, from the moment it was at the head of its worker."""
        mean = took if self.mean is None else 0.8 * self.mean + 0.2 * took
        self.mean = mean
        self.depth = DEEP if mean < TINY else SHALLOW


def batch_size(
    *, depth: int, held: int, limit: int | None, queued: int, held_by_all: int, workers: int
) -> int:
    """Return how many queued calls a worker takes now.

    :param depth: calls a worker may hold (:attr:`Pace.depth`); a deep one only
        while at least ``DEEP_FROM`` calls per worker are outstanding.
    :param held: calls this worker holds.
    :param limit: calls this worker may still be sent in its life, ``None`` for no limit.
    :param queued: calls in the pool's queue.
    :param held_by_all: calls held by every worker that takes calls, this one included.
    :param workers: workers that take calls, this one included.
    """
    outstanding = queued + held_by_all
    workers = max(1, workers)
    if depth > SHALLOW and outstanding < DEEP_FROM * workers:
        depth = SHALLOW
    room = depth - held
    if limit is not None:
        room = min(room, limit)
    # An even share of the outstanding calls, so that one worker does not
    # queue calls that an idle one could run; an idle worker takes one anyway.
    # A busy worker rounds its share down: a call left over when the calls do
    # not divide evenly goes to whichever worker is free first, as in a shared
    # queue. Taken early, it waited behind a running call while another worker
    # fell idle: the last tasks of a CPU-bound batch ran one after the other
    # (issue 21).
    share = outstanding // workers if held else -(-outstanding // workers)
    return max(0, min(room, max(1 if not held else 0, share - held)))


def keeps_workers(*, shutdown: bool, queued: int) -> bool:
    """Whether a worker that retired or died gets a replacement."""
    return not shutdown or queued > 0


class ExitVerdict(NamedTuple):
    """What a worker's exit means for the pool and for the calls the worker held."""

    #: Why the pool breaks now, if it does: its initializer raised, or a worker
    #: died before it was ready.
    breaks: Literal["initializer", "start"] | None
    #: What the call the worker was running fails with.
    head: Literal["broken", "killed", "timeout", "died"]
    #: Whether the calls queued behind it fail too; if not, they go back to the queue.
    fails_all: bool


def judge_exit(
    *,
    broken: bool,
    killed: bool,
    shutdown: bool,
    ready: bool,
    init_failed: bool,
    stopping: bool,
    head_timed_out: bool,
) -> ExitVerdict:
    """Judge a worker's exit.

    :param broken: the pool was broken before.
    :param killed: the pool killed its workers (an interrupted shutdown, exit).
    :param shutdown: the pool is shut down.
    :param ready: the worker had reported ready (its initializer ran).
    :param init_failed: the worker reported that the initializer raised.
    :param stopping: the worker had been told to exit.
    :param head_timed_out: the call it was running outlived ``task_timeout``.
    """
    breaks: Literal["initializer", "start"] | None = None
    if not broken and not ready:
        # A worker that cannot start would fail again if replaced.
        if init_failed:
            breaks = "initializer"
        elif not (killed or (shutdown and stopping)):
            breaks = "start"
    if broken or breaks is not None:
        return ExitVerdict(breaks, "broken", True)
    if killed:
        return ExitVerdict(None, "killed", True)
    return ExitVerdict(None, "timeout" if head_timed_out else "died", False)
