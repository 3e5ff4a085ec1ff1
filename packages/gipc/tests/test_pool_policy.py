"""The pool's decisions (``gipc._pool_core``), checked without a process in sight."""

from __future__ import annotations

import pytest
from gipc._pool_core import (
    DEEP,
    DEEP_FROM,
    SHALLOW,
    TINY,
    ExitVerdict,
    Pace,
    batch_size,
    judge_exit,
    keeps_workers,
)


def test_pace_starts_shallow_and_deepens_for_tiny_calls() -> None:
    pace = Pace()
    assert pace.mean is None and pace.depth == SHALLOW
    pace.record(TINY / 10)
    assert pace.mean == TINY / 10
    assert pace.depth == DEEP


def test_pace_is_a_moving_mean() -> None:
    pace = Pace()
    pace.record(1.0)
    pace.record(0.0)
    assert pace.mean == pytest.approx(0.8)
    pace.record(0.0)
    assert pace.mean == pytest.approx(0.64)
    assert pace.depth == SHALLOW


def test_one_slow_call_among_tiny_ones_makes_the_queues_shallow_until_it_is_forgotten() -> None:
    pace = Pace()
    for _ in range(10):
        pace.record(TINY / 100)
    assert pace.depth == DEEP
    pace.record(1.0)
    assert pace.depth == SHALLOW
    recorded = 0
    while pace.depth == SHALLOW:
        pace.record(TINY / 100)
        recorded += 1
    # 0.2 * 0.8**n of the slow call is left after n tiny ones: forgotten after about 25.
    assert 20 < recorded < 40


def batch(
    *,
    depth: int = SHALLOW,
    held: int = 0,
    limit: int | None = None,
    queued: int = 0,
    held_by_all: int = 0,
    workers: int = 1,
) -> int:
    return batch_size(
        depth=depth, held=held, limit=limit, queued=queued, held_by_all=held_by_all, workers=workers
    )


def test_an_idle_worker_takes_one_call_even_beyond_its_share() -> None:
    # Four idle workers, one queued call: whoever asks first takes it.
    assert batch(queued=1, workers=4) == 1


def test_a_worker_takes_its_even_share_and_no_more() -> None:
    # 40 calls, 2 idle workers, deep queues: 20 each.
    assert batch(depth=DEEP, queued=40, workers=2) == 20
    # The other worker holds 20 already: this one takes the 20 left.
    assert batch(depth=DEEP, queued=20, held_by_all=20, workers=2) == 20


def test_few_outstanding_calls_are_not_batched_deep() -> None:
    # Tiny calls so far (deep queues), then a burst of 8 calls over 2 idle
    # workers: each takes SHALLOW, not 4, and the rest go to whichever worker
    # is free first, in case the burst's calls are long (issue 21).
    assert batch(depth=DEEP, queued=8, workers=2) == SHALLOW
    assert batch(depth=DEEP, queued=6, held_by_all=2, workers=2) == SHALLOW
    assert batch(depth=DEEP, held=1, queued=4, held_by_all=3, workers=2) == 1
    # From DEEP_FROM outstanding calls per worker on, deep batches again.
    assert batch(depth=DEEP, queued=DEEP_FROM * 2, workers=2) == DEEP_FROM
    assert batch(depth=DEEP, queued=DEEP_FROM * 2 - 1, workers=2) == SHALLOW


def test_a_busy_worker_takes_no_call_an_idle_one_could_run() -> None:
    # This worker holds 1, the other holds none, 1 queued: the share is 1 each.
    assert batch(held=1, queued=1, held_by_all=1, workers=2) == 0


def test_a_busy_worker_leaves_a_leftover_call_to_whoever_is_free_first() -> None:
    # Two workers each running a call, one queued: neither takes it ahead of
    # time, so it does not wait behind one running call while the other worker
    # falls idle (the tail of a CPU-bound batch, issue 21).
    assert batch(held=1, queued=1, held_by_all=2, workers=2) == 0
    # Two queued: one waits behind each running call.
    assert batch(held=1, queued=2, held_by_all=2, workers=2) == 1
    assert batch(held=1, queued=1, held_by_all=3, workers=2) == 1
    # An idle worker still rounds up: it runs what it takes at once.
    assert batch(depth=DEEP, queued=41, workers=2) == 21
    # One worker: everything is its share.
    assert batch(held=1, queued=1, held_by_all=1, workers=1) == 1


def test_depth_bounds_a_batch() -> None:
    assert batch(depth=SHALLOW, queued=100, workers=1) == SHALLOW
    assert batch(depth=SHALLOW, held=1, queued=100, held_by_all=1, workers=1) == 1
    assert batch(depth=SHALLOW, held=2, queued=100, held_by_all=2, workers=1) == 0
    assert batch(depth=DEEP, queued=1000, workers=1) == DEEP


def test_the_task_limit_bounds_a_batch() -> None:
    assert batch(depth=DEEP, limit=3, queued=100, workers=1) == 3
    assert batch(depth=DEEP, limit=0, queued=100, workers=1) == 0


def test_a_busy_worker_with_nothing_queued_takes_nothing() -> None:
    assert batch(held=1, queued=0, held_by_all=1) == 0


def test_a_batch_is_never_negative() -> None:
    assert batch(depth=SHALLOW, held=10, queued=5, held_by_all=10, workers=1) == 0


@pytest.mark.parametrize(
    ("shutdown", "queued", "keeps"), [(False, 0, True), (True, 3, True), (True, 0, False)]
)
def test_replacements_while_the_pool_is_open_or_has_work(shutdown: bool, queued: int, keeps: bool) -> None:
    assert keeps_workers(shutdown=shutdown, queued=queued) is keeps


def judge(
    *,
    broken: bool = False,
    killed: bool = False,
    shutdown: bool = False,
    ready: bool = True,
    init_failed: bool = False,
    stopping: bool = False,
    head_timed_out: bool = False,
) -> ExitVerdict:
    return judge_exit(
        broken=broken,
        killed=killed,
        shutdown=shutdown,
        ready=ready,
        init_failed=init_failed,
        stopping=stopping,
        head_timed_out=head_timed_out,
    )


def test_a_crash_fails_the_running_call_and_requeues_the_rest() -> None:
    assert judge() == ExitVerdict(None, "died", False)


def test_a_timeout_fails_the_running_call_as_a_timeout() -> None:
    assert judge(head_timed_out=True) == ExitVerdict(None, "timeout", False)


def test_a_failed_initializer_breaks_the_pool() -> None:
    assert judge(ready=False, init_failed=True) == ExitVerdict("initializer", "broken", True)
    # Even during shutdown: the initializer is the pool's, not the worker's.
    assert judge(ready=False, init_failed=True, shutdown=True, stopping=True).breaks == "initializer"


def test_a_worker_that_dies_before_it_is_ready_breaks_the_pool() -> None:
    assert judge(ready=False) == ExitVerdict("start", "broken", True)


def test_a_worker_told_to_stop_during_shutdown_may_exit_before_it_is_ready() -> None:
    assert judge(ready=False, shutdown=True, stopping=True) == ExitVerdict(None, "died", False)
    # Not told to stop: something is wrong with starting workers.
    assert judge(ready=False, shutdown=True).breaks == "start"


def test_killed_workers_fail_every_call_they_held_and_break_nothing() -> None:
    assert judge(killed=True) == ExitVerdict(None, "killed", True)
    assert judge(killed=True, ready=False) == ExitVerdict(None, "killed", True)


def test_a_broken_pool_fails_every_call_and_breaks_only_once() -> None:
    assert judge(broken=True) == ExitVerdict(None, "broken", True)
    assert judge(broken=True, ready=False, init_failed=True) == ExitVerdict(None, "broken", True)
    assert judge(broken=True, head_timed_out=True) == ExitVerdict(None, "broken", True)
