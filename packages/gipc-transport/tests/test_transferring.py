"""``lowlevel.transferring``: handles reserved for a child being started, closed here after it."""

from __future__ import annotations

import multiprocessing

import gevent
import gipc_transport
import pytest
import transport_children as C
from gipc_transport import GIPCClosed, GIPCLocked, lowlevel


def _get_or_closed(r: gipc_transport.Reader, outcome: list[object]) -> None:
    try:
        outcome.append(r.get(timeout=30))
    except GIPCClosed:
        outcome.append("closed")


def test_other_greenlets_wait_during_the_start_then_find_the_handle_closed() -> None:
    r, w = gipc_transport.pipe()
    outcome: list[object] = []
    with lowlevel.transferring([r]):
        reader = gevent.spawn(_get_or_closed, r, outcome)
        gevent.sleep(0.01)
        assert outcome == [], "another greenlet's I/O waits for the start"
        with pytest.raises(GIPCLocked, match="being handed to a child process"):
            r.close()
    reader.join(timeout=30)
    assert outcome == ["closed"]
    assert r.closed
    w.close()


def test_a_failed_start_leaves_the_handles_usable() -> None:
    r, w = gipc_transport.pipe()
    with pytest.raises(RuntimeError, match="start failed"), lowlevel.transferring([r, w]):
        raise RuntimeError("start failed")
    assert not r.closed and not w.closed
    w.put("still works")
    assert r.get(timeout=30) == "still works"
    r.close()
    w.close()


def test_busy_and_closed_handles_are_refused_before_the_block_runs() -> None:
    r, w = gipc_transport.pipe()
    ran: list[bool] = []
    reader = gevent.spawn(r.get)
    gevent.sleep(0.01)
    with pytest.raises(GIPCLocked, match="another greenlet is doing I/O"), lowlevel.transferring([w, r]):
        ran.append(True)
    assert ran == []
    assert not w.closed, "a handle reserved before the refused one is given back"
    w.put("done")
    assert reader.get(timeout=30) == "done"
    w.close()
    with pytest.raises(GIPCClosed), lowlevel.transferring([r, w]):
        ran.append(True)
    assert ran == []
    r.close()


def test_a_handle_being_handed_over_cannot_be_handed_to_a_second_child() -> None:
    r, w = gipc_transport.pipe()
    with lowlevel.transferring([r]):
        with pytest.raises(GIPCLocked, match="another child process"), lowlevel.transferring([r]):
            pass
        assert not r.closed
    assert r.closed
    w.close()


class SwitchesWhenPickled:
    """An argument whose pickling (for ``spawn`` and ``forkserver``) lets other greenlets run."""

    def __reduce__(self) -> tuple[type[SwitchesWhenPickled], tuple[()]]:
        gevent.sleep(0)
        return (SwitchesWhenPickled, ())


@pytest.mark.parametrize("method", [m for m in ("spawn", "forkserver") if m in C.START_METHODS])
def test_greenlet_starting_io_while_the_child_is_created_does_not_share_the_handle(method: str) -> None:
    # The handle is pickled first, then the next argument lets the other
    # greenlet run; it must not read from the pipe the child now reads from.
    r, w = gipc_transport.pipe(encoder=None, decoder=None)
    r_back, w_back = gipc_transport.pipe(encoder=None, decoder=None)
    outcome: list[object] = []
    reader = gevent.spawn(_get_or_closed, r, outcome)
    handles = lowlevel.find_handles(r, w_back)
    with lowlevel.transferring(handles):
        p = multiprocessing.get_context(method).Process(
            target=C.echo_one, args=(r, w_back, SwitchesWhenPickled())
        )
        p.start()
    assert r.closed and w_back.closed
    reader.join(timeout=30)
    assert outcome == ["closed"]
    w.put(b"for the child")
    assert r_back.get(timeout=30) == b"for the child"
    p.join(C.WAIT)
    assert p.exitcode == 0
    p.close()
    w.close()
    r_back.close()


def test_a_descriptor_closed_behind_the_handles_back_still_releases_every_handle() -> None:
    # Closing the first handle's descriptor fails; the second must still be
    # closed and unlocked, or the greenlet waiting for it would wait forever.
    r1, w1 = gipc_transport.pipe()
    r2, w2 = gipc_transport.pipe()
    outcome: list[object] = []
    with pytest.raises(OSError), lowlevel.transferring([r1, r2]):
        reader = gevent.spawn(_get_or_closed, r2, outcome)
        gevent.sleep(0.01)
        C.close_underneath(r1.fileno())
    assert r1.closed and r2.closed
    reader.join(timeout=30)
    assert outcome == ["closed"]
    w1.close()
    w2.close()


def test_a_handle_used_after_its_hand_over_names_the_child() -> None:
    r, w = gipc_transport.pipe()
    with lowlevel.transferring([w]) as transfer:
        transfer.child_pid = 4242
    with pytest.raises(GIPCClosed, match=r"Writer fd=None> is closed: it was handed to child process 4242$"):
        w.put("late")
    with pytest.raises(GIPCClosed, match="handed to child process 4242"):
        w.close()
    with lowlevel.transferring([r]):
        pass
    with pytest.raises(GIPCClosed, match="it was handed to a child process$"):
        r.get()
