"""Memory a ``fork`` child shares with its parent: the child's garbage collector leaves it alone.

After ``fork()`` every page either process writes is copied. A collection in
the child writes to the header of every object it examines, so gipc freezes
the inherited objects in the child (``gc.freeze()``, as the Python docs advise
for fork servers): its collections see only the objects it made itself.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import gipc_process
import gipc_transport
import pytest

# Counts page faults of fork children (the resource module is POSIX-only).
resource = pytest.importorskip("resource", reason="fork children and getrusage(): POSIX only")

WAIT = 30.0


def _collect_and_count_faults(w: gipc_transport.Writer, unfreeze: bool) -> None:
    if unfreeze:
        gc.unfreeze()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    gc.collect()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    w.put((gc.isenabled(), faults))


def _child_collects(unfreeze: bool) -> tuple[bool, int]:
    with gipc_transport.pipe() as (r, w):
        p = gipc_process.start_process(_collect_and_count_faults, args=(w, unfreeze), start_method="fork")
        result: tuple[bool, int] = r.get(timeout=WAIT)
        p.join(WAIT)
    assert p.exitcode == 0
    return result


@pytest.fixture
def ballast() -> Iterator[list[list[int]]]:
    # ~200k tracked objects, ~14 MiB: a collection examining them touches
    # thousands of pages.
    objs = [[i] for i in range(200_000)]
    yield objs
    del objs


def test_a_collection_in_the_child_does_not_touch_inherited_objects(ballast: list[list[int]]) -> None:
    enabled, faults_frozen = _child_collects(unfreeze=False)
    assert enabled
    # The control: the same collection over the inherited objects.
    _, faults_unfrozen = _child_collects(unfreeze=True)
    assert faults_unfrozen > 2000, faults_unfrozen
    assert faults_frozen < faults_unfrozen / 10, (faults_frozen, faults_unfrozen)


def test_the_child_collects_garbage_if_the_parent_does() -> None:
    assert gc.isenabled()
    # Not 0 everywhere: Python 3.12 starts with objects frozen.
    frozen = gc.get_freeze_count()
    gc.disable()
    try:
        enabled, _ = _child_collects(unfreeze=False)
        assert not enabled
        assert not gc.isenabled()  # the parent's setting survives the start
    finally:
        gc.enable()
    enabled, _ = _child_collects(unfreeze=False)
    assert enabled
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # the parent froze nothing
