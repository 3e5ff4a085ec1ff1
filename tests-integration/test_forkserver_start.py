"""``start_method="forkserver"``, also in a program that calls ``monkey.patch_all()`` at import.

The forkserver imports such a program's ``__main__`` and so is patched too;
on Python 3.14+ both its client and the server then failed with
``BlockingIOError``. Fresh interpreters, every loop backend; the script
patches at module level, as programs do. Either way the first start, which
waits for the new forkserver, must not stall the event loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="forkserver: POSIX only, Windows starts spawn children"
)

SCRIPT = textwrap.dedent(
    """
    import sys
    if sys.argv[1] == "patch":
        from gevent import monkey
        monkey.patch_all()

    import json, os, socket
    from multiprocessing import forkserver
    import gevent
    import gipc


    def square(x):
        return x * x

    def answer(w, value):
        w.put((os.getpid(), value))
        sys.exit(7)

    def started(value):
        with gipc.pipe() as (r, w):
            p = gipc.start_process(answer, args=(w, value), start_method="forkserver")
            pid, got = r.get(timeout=60)
            p.join(timeout=60)
        return pid == p.pid, got, p.exitcode

    def main():
        ticks = [0]
        def ticker():
            while True:
                ticks[0] += 1
                gevent.sleep(0.005)
        t = gevent.spawn(ticker)
        gevent.sleep(0.02)
        # The first start also starts the forkserver, which answers once it
        # has imported this module (gevent, gipc): the loop runs meanwhile.
        before = ticks[0]
        with gipc.pipe() as (r, w):
            p = gipc.start_process(answer, args=(w, "first"), start_method="forkserver")
            out = {"loop_ran_during_first_start": ticks[0] > before}
            r.get(timeout=60)
            p.join(timeout=60)
        out["start_process"] = started("one")
        # Several greenlets start forkserver children at once.
        jobs = [gevent.spawn(started, n) for n in range(4)]
        gevent.joinall(jobs, timeout=60, raise_error=True)
        out["concurrent"] = [j.value for j in jobs]
        out["call_in_process"] = gipc.call_in_process(square, 9, start_method="forkserver", timeout=60)
        with gipc.ProcessPool(2, start_method="forkserver", task_timeout=60) as pool:
            out["pool"] = list(pool.map(square, range(10)))
        t.kill()
        out["loop_ran"] = ticks[0] > 0
        # What gipc changed for the starts, it put back.
        out["module_restored"] = (forkserver.socket is socket
                                  and forkserver._forkserver._preload_modules == ["__main__"])
        return out

    if __name__ == "__main__":
        print(json.dumps(gevent.spawn(main).get(timeout=100)))
    """
)


@pytest.mark.parametrize("patch", ["patch", "nopatch"])
@pytest.mark.parametrize("loop", ["libev-cext", "libev-cffi", "libuv"])
def test_every_api_works_with_and_without_patch_all(tmp_path: Path, loop: str, patch: str) -> None:
    script = tmp_path / "forkserver_script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, GEVENT_LOOP=loop)
    out = subprocess.run(
        [sys.executable, str(script), patch],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert out.returncode == 0, out.stderr
    results = json.loads(out.stdout.splitlines()[-1])
    assert results == {
        "loop_ran_during_first_start": True,
        "start_process": [True, "one", 7],
        "concurrent": [[True, n, 7] for n in range(4)],
        "call_in_process": 81,
        "pool": [n * n for n in range(10)],
        "loop_ran": True,
        "module_restored": True,
    }


FORKED_MEANWHILE = textwrap.dedent(
    """
    import json, os, socket
    from multiprocessing import forkserver
    import gevent
    import gipc

    def answer(w):
        w.put(os.getpid())

    def child_state(w):
        # Forked while another greenlet of the parent was starting a
        # forkserver child: none of that start is left over here.
        w.put(forkserver.socket is socket)

    def forkserver_child():
        with gipc.pipe() as (r, w):
            p = gipc.start_process(answer, args=(w,), start_method="forkserver")
            r.get(timeout=60)
            p.join(timeout=60)
        return p.exitcode

    if __name__ == "__main__":
        starting = gevent.spawn(forkserver_child)
        gevent.sleep(0.001)
        mid_start = forkserver.socket is not socket
        with gipc.pipe() as (r, w):
            p = gipc.start_process(child_state, args=(w,), start_method="fork")
            restored_in_child = r.get(timeout=60)
            p.join(timeout=60)
        code = starting.get(timeout=60)
        print(json.dumps([mid_start, restored_in_child, p.exitcode, code, forkserver.socket is socket]))
    """
)


def test_a_fork_during_a_forkserver_start_leaves_the_child_clean(tmp_path: Path) -> None:
    script = tmp_path / "forked_meanwhile.py"
    script.write_text(FORKED_MEANWHILE)
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=110
    )
    assert out.returncode == 0, out.stderr
    # The parent was mid-start when it forked (the first start waits for the
    # new forkserver in the event loop); the fork child got the real module.
    assert json.loads(out.stdout.splitlines()[-1]) == [True, True, 0, 0, True]
