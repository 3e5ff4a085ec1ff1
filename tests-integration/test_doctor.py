"""``python -m gipc doctor`` reports the environment and gives an honest verdict."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys

import pytest

TIMEOUT = 120  # the doctor bounds each child at 30 s; this bounds the doctor
# The first start method of the platform: fork on Linux, spawn on Windows.
FIRST = multiprocessing.get_all_start_methods()[0]


def doctor(*args: str, env: dict[str, str] | None = None, code: str | None = None) -> tuple[int, list[str]]:
    """Run the doctor in a fresh interpreter; return its exit code and output lines."""
    entry = ["-c", code] if code else ["-m", "gipc"]
    cmd = [sys.executable, *entry, "doctor", *args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        if sys.platform == "win32":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the doctor did not finish within {TIMEOUT} s")
    assert "Traceback" not in err, err
    return proc.returncode, out.splitlines()


def gipc_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gipc ARGS`` for options that return at once (no child is started)."""
    cmd = [sys.executable, "-m", "gipc", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT)


def field(lines: list[str], name: str) -> str:
    """The value printed after the label ``name``."""
    found = [line.strip()[len(name) :].strip() for line in lines if line.strip().startswith(name + " ")]
    assert len(found) == 1, f"expected one {name!r} line in:\n" + "\n".join(lines)
    return found[0]


def test_reports_the_environment_and_passes_every_start_method() -> None:
    import gevent
    import gipc
    import greenlet

    code, lines = doctor()
    assert code == 0, "\n".join(lines)
    assert field(lines, "gipc") == gipc.__version__
    assert field(lines, "Python").startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert field(lines, "gevent") == gevent.__version__
    assert field(lines, "greenlet") == greenlet.__version__
    # The child runs with this process's environment, GEVENT_LOOP included.
    loop_module = type(gevent.get_hub().loop).__module__
    assert field(lines, "loop backend").endswith(f"({loop_module})")
    methods = multiprocessing.get_all_start_methods()
    assert field(lines, "start method").endswith(f"(available: {', '.join(methods)})")
    assert field(lines, "monkey-patch") == "os=no threading=no socket=no subprocess=no signal=no"
    capacity = field(lines, "pipe capacity")
    if sys.platform.startswith("linux"):
        with open("/proc/sys/fs/pipe-max-size") as f:
            assert f"fs.pipe-max-size {int(f.read())}" in capacity
        assert capacity.split()[0].isdigit()
    for method in methods:
        assert field(lines, method).startswith("ok: child "), "\n".join(lines)
    if len(methods) > 1:
        assert lines[-1] == f"verdict: OK, all {len(methods)} start methods work"
    else:  # Windows: spawn only
        assert lines[-1] == f"verdict: OK, start method {methods[0]} works"


@pytest.mark.parametrize(
    ("loop", "backend"),
    [
        ("libuv", "libuv-cffi (gevent.libuv.loop)"),
        pytest.param(
            "libev-cffi",
            "libev-cffi (gevent.libev.corecffi)",
            marks=pytest.mark.skipif(
                sys.platform == "win32", reason="gevent's Windows wheels have no libev-cffi"
            ),
        ),
    ],
)
def test_other_loop_backends(loop: str, backend: str) -> None:
    code, lines = doctor(env={"GEVENT_LOOP": loop})
    assert code == 0, "\n".join(lines)
    assert field(lines, "loop backend") == backend
    for method in multiprocessing.get_all_start_methods():
        # The child runs the same backend: the choice travels in the environment.
        assert field(lines, method).endswith(f"loop {backend}")


def test_reports_monkey_patching_and_still_passes() -> None:
    code, lines = doctor(
        code="from gevent import monkey; monkey.patch_all()\n"
        "import sys; from gipc.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    assert code == 0, "\n".join(lines)
    if sys.platform == "win32":
        # gevent patches neither os (fork, waitpid) nor signal (SIGCHLD) on Windows.
        assert field(lines, "monkey-patch") == "os=no threading=yes socket=yes subprocess=yes signal=no"
    else:
        assert field(lines, "monkey-patch") == "os=yes threading=yes socket=yes subprocess=yes signal=yes"


def test_a_child_that_does_not_answer_in_time_fails_and_is_killed() -> None:
    # No interpreter starts within a millisecond: the spawn child cannot make it.
    code, lines = doctor("--start-method", "spawn", "--timeout", "0.001")
    assert code == 1
    assert field(lines, "spawn") == "FAILED: no answer within 0.001 s (child killed)"
    assert lines[-1] == "verdict: FAILED, start method spawn does not work"


def test_one_start_method_passing_reads_right() -> None:
    code, lines = doctor("--start-method", FIRST)
    assert code == 0, "\n".join(lines)
    assert lines[-1] == f"verdict: OK, start method {FIRST} works"


def test_an_unknown_start_method_is_a_usage_error_listing_the_choices() -> None:
    # Refused before any child starts, as argparse refuses any bad option.
    proc = gipc_cli("doctor", "--start-method", FIRST, "--start-method", "teleport")
    assert proc.returncode == 2
    assert proc.stdout == ""
    methods = multiprocessing.get_all_start_methods()
    # argparse lists the choices with repr(), from CPython 3.12.8 and 3.13.1
    # on with str() (gh-117766).
    listed = {", ".join(repr(m) for m in methods), ", ".join(methods)}
    assert any(
        f"argument --start-method: invalid choice: 'teleport' (choose from {choices})" in proc.stderr
        for choices in listed
    ), proc.stderr


def test_a_loop_backend_gevent_cannot_load_fails_the_verdict() -> None:
    code, lines = doctor(env={"GEVENT_LOOP": "no-such-loop"})
    assert code == 1
    assert field(lines, "loop backend").startswith("FAILED: ImportError")
    assert lines[-1].startswith("verdict: FAILED, gevent cannot create its event loop")


def test_version() -> None:
    import gipc

    proc = gipc_cli("--version")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"gipc {gipc.__version__}\n", "")


def test_help_is_plain_text() -> None:
    for args in (["--help"], ["doctor", "--help"]):
        proc = gipc_cli(*args)
        assert proc.returncode == 0 and proc.stderr == ""
        assert proc.stdout.startswith("usage: python -m gipc")
        # reST markup belongs to the docs, not to a terminal.
        for markup in ("``", ":func:", ":class:", ":doc:", ":ref:"):
            assert markup not in proc.stdout, (args, proc.stdout)
    assert "doctor" in gipc_cli("--help").stdout
    words = " ".join(gipc_cli("doctor", "--help").stdout.split())  # argparse wraps lines
    assert ", ".join(multiprocessing.get_all_start_methods()) in words


def test_bench_is_not_a_command_of_the_package() -> None:
    # The benchmark lives in the repository's benchmarks/ (hatch run bench),
    # outside every wheel.
    assert "bench" not in gipc_cli("--help").stdout
    proc = gipc_cli("bench", "--quick")
    assert proc.returncode == 2 and proc.stdout == ""
    assert "invalid choice: 'bench'" in proc.stderr


def test_no_command_prints_the_help() -> None:
    proc = gipc_cli()
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == gipc_cli("--help").stdout
