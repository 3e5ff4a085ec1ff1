"""Every loop backend, with and without monkey-patching, in fresh interpreters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="fork, forkserver, pidfds, SIGCHLD reaping per loop backend: POSIX only"
)

SCENARIO = textwrap.dedent(
    """
    import os, sys, json
    PATCH, NO_PIDFD = sys.argv[1] == "patch", sys.argv[2] == "nopidfd"
    if PATCH:
        from gevent import monkey
        monkey.patch_all()
    if NO_PIDFD:
        # As on a platform without pidfds: the sentinel is all there is.
        del os.pidfd_open
    import multiprocessing, subprocess, warnings
    import gevent
    import gipc_process, gipc_transport


    def grandchild(w):
        w.put(os.getpid())

    def child(w, method):
        gevent.sleep(0.01)
        with gipc_transport.pipe() as (r2, w2):
            p = gipc_process.start_process(grandchild, args=(w2,), start_method=method)
            grand = r2.get(timeout=60)
            p.join(timeout=60)
        hub = gevent.get_hub()
        w.put({"grandchild_exitcode": p.exitcode, "grandchild_ok": grand == p.pid,
               "default_loop": bool(hub.loop.default), "loop": type(hub.loop).__module__,
               "subprocess": subprocess.run([sys.executable, "-c", "raise SystemExit(4)"]).returncode})
        sys.exit(11)

    def exit_when_told(fd):
        os.read(fd, 1)
        os._exit(5)

    def lingering(release, w):
        fd = release.fileno()
        if os.fork() == 0:
            os.set_blocking(fd, True)
            os.read(fd, 1)
            os._exit(0)
        w.put("forked")

    def run(method):
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(child, args=(w, method), start_method=method)
            report = r.get(timeout=60)
            # While the child runs: other children keep their statuses.
            report["parallel_subprocess"] = subprocess.run(
                [sys.executable, "-c", "raise SystemExit(3)"]).returncode
            p.join(timeout=60)
        report["exitcode"] = p.exitcode
        return report

    def main():
        results = {m: run(m) for m in multiprocessing.get_all_start_methods()}
        go_r, go_w = os.pipe()
        mp = multiprocessing.get_context("fork").Process(target=exit_when_told, args=(go_r,))
        mp.start()
        os.close(go_r)
        if PATCH:
            # patch_all makes the os.waitpid() in mp.join() gevent's. Under
            # libuv, gevent reaps on SIGCHLD and tells its child watchers a
            # loop iteration or more later; a waitpid() in between starts a
            # watcher that is never told, and hangs (gevent's bug: it happens
            # without gipc, with mp.join(timeout) after the sentinel woke it).
            # So the child exits only once join() is waiting.
            gevent.spawn(os.write, go_w, b"x")
            with gevent.Timeout(60):
                mp.join()
        else:
            os.write(go_w, b"x")
            mp.join(timeout=60)
        os.close(go_w)
        results["mp_exitcode"] = mp.exitcode
        with gipc_transport.pipe() as (rel_r, rel_w), gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(lingering, args=(rel_r, w), start_method="fork")
            r.get(timeout=60)
            p.join(timeout=60)
            results["lingering_alive_after_join"] = p.is_alive()
        results["parent_loop"] = type(gevent.get_hub().loop).__module__
        return results

    if __name__ == "__main__":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", gipc_process.StatusLostWarning)
            # From a greenlet that is not the main one.
            results = gevent.spawn(main).get(timeout=100)
        results["statuses_lost"] = sum(issubclass(w.category, gipc_process.StatusLostWarning) for w in caught)
        print(json.dumps(results))
    """
)

LOOPS = {
    "libev-cext": "gevent.libev.corecext",
    "libev-cffi": "gevent.libev.corecffi",
    "libuv": "gevent.libuv.loop",
}


@pytest.mark.parametrize("patch", ["patch", "nopatch"])
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_children_grandchildren_and_neighbours(tmp_path: Path, loop: str, patch: str) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    env = dict(os.environ, GEVENT_LOOP=loop)
    out = subprocess.run(
        [sys.executable, str(script), patch, "pidfd"], env=env, capture_output=True, text=True, timeout=100
    )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.splitlines()[-1])
    assert results["parent_loop"] == LOOPS[loop]
    # Under patching, gevent's subprocess starts gevent's SIGCHLD handling,
    # which reaps every child; gipc then takes its children's statuses from
    # gevent, so none is lost either way.
    assert results["statuses_lost"] == 0
    assert results["mp_exitcode"] == 5
    assert results["lingering_alive_after_join"] is False
    for method in ("fork", "spawn", "forkserver"):
        report = results[method]
        assert report == {
            "grandchild_exitcode": 0,
            "grandchild_ok": True,
            "default_loop": True,
            "loop": LOOPS[loop],
            "subprocess": 4,
            "parallel_subprocess": 3,
            "exitcode": 11,
        }, method


def test_without_pidfd_the_sentinel_and_a_bounded_fallback_do(tmp_path: Path) -> None:
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    out = subprocess.run(
        [sys.executable, str(script), "nopatch", "nopidfd"], capture_output=True, text=True, timeout=100
    )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.splitlines()[-1])
    assert results["lingering_alive_after_join"] is False, "a sentinel held open cannot hang join()"
    assert [results[m]["exitcode"] for m in ("fork", "spawn", "forkserver")] == [11, 11, 11]


UNTOUCHED = textwrap.dedent(
    """
    import multiprocessing, multiprocessing.context, multiprocessing.process, os, signal, sys
    import multiprocessing.popen_fork

    def snapshot():
        mods = [multiprocessing, multiprocessing.context, multiprocessing.process,
                multiprocessing.popen_fork, os, signal]
        return {m.__name__: {k: id(v) for k, v in vars(m).items()} for m in mods}, {
            s: signal.getsignal(s) for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM)}

    def report(w):
        w.put(MARK)

    MARK = "spawned"
    if __name__ == "__main__":
        before = snapshot()
        import gipc_process, gipc_transport
        assert snapshot() == before, "importing gipc_process changed multiprocessing, os or signal"
        assert multiprocessing.get_start_method(allow_none=True) is None
        multiprocessing.set_start_method(sys.argv[1])
        MARK = "forked"
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(report, args=(w,))
            print(r.get(timeout=60))
            p.join(timeout=60)
        print(p.exitcode)
    """
)


@pytest.mark.parametrize("method, mark", [("spawn", "spawned"), ("fork", "forked")])
def test_import_leaves_multiprocessing_untouched_and_set_start_method_works(
    tmp_path: Path, method: str, mark: str
) -> None:
    script = tmp_path / "untouched.py"
    script.write_text(UNTOUCHED)
    out = subprocess.run([sys.executable, str(script), method], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [mark, "0"]


OVERLAPPING = textwrap.dedent(
    """
    import sys
    import gevent
    import gipc_process, gipc_transport

    def echo_until_told(r, w):
        w.put("ready")
        r.get(timeout=30)

    def square(w, n):
        w.put(n * n)

    def one(n):
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(square, args=(w, n), start_method="fork")
            value = r.get(timeout=30)
            p.join(timeout=30)
        return value, p.exitcode

    if __name__ == "__main__":
        for _ in range(20):
            # A child forked while an earlier one is watched must not make
            # the parent miss the earlier one's exit.
            with gipc_transport.pipe() as (r1, w1), gipc_transport.pipe() as (r2, w2):
                with gipc_transport.pipe() as (r3, w3):
                    first = gipc_process.start_process(echo_until_told, args=(r1, w2), start_method="fork")
                    assert r2.get(timeout=30) == "ready"
                    second = gipc_process.start_process(square, args=(w3, 3), start_method="fork")
                    assert r3.get(timeout=30) == 9
                    second.join(timeout=30)
                w1.put("go")
                first.join(timeout=30)
            assert (first.exitcode, second.exitcode) == (0, 0), (first.exitcode, second.exitcode)
            # Children forked by several greenlets at once.
            jobs = [gevent.spawn(one, n) for n in range(6)]
            gevent.joinall(jobs, timeout=60, raise_error=True)
            assert [j.value for j in jobs] == [(n * n, 0) for n in range(6)], [j.value for j in jobs]
        print("ok")
    """
)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_overlapping_fork_children_on_every_loop(tmp_path: Path, loop: str) -> None:
    # Under libuv, a fork child that freed the inherited loop without
    # uv_loop_fork() first unregistered the parent's descriptors from the
    # epoll instance they share: the parent never saw an exit and hung.
    script = tmp_path / "overlapping.py"
    script.write_text(OVERLAPPING)
    env = dict(os.environ, GEVENT_LOOP=loop)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok"]


SUBPROCESS_AFTER_PARENT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import subprocess, sys
    import gevent
    import gipc_process, gipc_transport

    def child(w):
        code = "hung"
        with gevent.Timeout(20, False):
            code = subprocess.run([sys.executable, "-c", "raise SystemExit(4)"]).returncode
        w.put(code)

    if __name__ == "__main__":
        # The parent's patched subprocess installs libev's SIGCHLD handler
        # (under libuv, gevent's own) before the fork.
        assert subprocess.run([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3
        with gipc_transport.pipe() as (r, w):
            p = gipc_process.start_process(child, args=(w,), start_method="fork")
            print(r.get(timeout=30))
            p.join(timeout=30)
        print(p.exitcode)
    """
)


@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_fork_child_waits_for_its_subprocess_after_the_parent_did(tmp_path: Path, loop: str) -> None:
    # The child gives SIGCHLD its default disposition back; gevent's note that
    # libev's handler was installed (inherited from the parent) must go too,
    # or the child's first child watcher waits for a signal that never comes.
    script = tmp_path / "subprocess_after_parent.py"
    script.write_text(SUBPROCESS_AFTER_PARENT)
    env = dict(os.environ, GEVENT_LOOP=loop)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["4", "0"]


PATCHED_THREADS = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import json, threading
    import gipc_process, gipc_transport

    def names():
        # Each thread once: on Python 3.13+ gevent's own after-fork hook
        # lists a patched child's main thread under two keys (a plain
        # os.fork() shows it too).
        return [t.name for t in {id(t): t for t in threading.enumerate()}.values()]

    def child(w, depth):
        t = threading.current_thread()
        report = {"main": t is threading.main_thread(), "name": t.name}
        if depth:
            report["grandchildren"] = forks(depth - 1)
        w.put(report)

    def forks(depth):
        # Several children from the same forker thread: its record is
        # listed around each fork, and the parent never sees it.
        out = []
        for _ in range(3):
            with gipc_transport.pipe() as (r, w):
                p = gipc_process.start_process(child, args=(w, depth), start_method="fork")
                report = r.get(timeout=60)
                p.join(timeout=60)
            out.append([report, p.exitcode, names()])
        return out

    if __name__ == "__main__":
        before = names()
        print(json.dumps({"before": before, "children": forks(1)}))
    """
)


def test_under_monkey_patching_the_forking_thread_is_never_listed_in_the_parent(tmp_path: Path) -> None:
    # gevent's fork hook records the forking thread as a dummy thread (at
    # its first fork); gipc's forker thread lives on between children, and
    # its record used to stay listed: threading.enumerate() showed a
    # Dummy-1 thread that gipc 1.8.0, forking in the calling thread, never
    # showed.
    script = tmp_path / "patched_threads.py"
    script.write_text(PATCHED_THREADS)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.splitlines()[-1])
    assert results["before"] == ["MainThread"]
    grandchild = [{"main": True, "name": "MainThread"}, 0, ["MainThread"]]
    child = {"main": True, "name": "MainThread", "grandchildren": [grandchild] * 3}
    assert results["children"] == [[child, 0, ["MainThread"]]] * 3
