"""Every program in examples/ runs to completion, under every start method, and says what it should."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 60


def run_example(name: str, start_method: str) -> list[str]:
    """Run ``examples/<name>`` with ``start_method``; return its output lines.

    Its own session, so that a hung example is killed with all its children.
    """
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / name), start_method],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        if sys.platform == "win32":
            proc.kill()  # no sessions: the leak check reports a child it left
        else:
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{name} did not finish within {TIMEOUT} s:\n{out}\n{err}")
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{err}"
    assert err == "", f"{name} wrote to stderr:\n{err}"
    return out.splitlines()


def test_quickstart(start_method: str) -> None:
    lines = run_example("quickstart.py", start_method)
    # The ticker interleaves with the exchange; what matters is that it ran.
    assert sorted(lines) == sorted(
        [
            "parent got: hello world, from a child process",
            "parent: still responsive",
            "parent: still responsive",
            "parent: still responsive",
            "child exit code: 0",
        ]
    )
    assert lines[-1] == "child exit code: 0"


def test_server_client(start_method: str) -> None:
    assert run_example("server_client.py", start_method) == [
        "client: ('add', 2, 3) -> 5",
        "client: ('mul', 6, 7) -> 42",
        "client: ('pow', 2, 8) -> ValueError(\"unknown operation 'pow'\")",
        "client: server says bye",
        "server exit code: 0",
    ]


def test_wsgi_children(start_method: str) -> None:
    assert run_example("wsgi_children.py", start_method) == [
        "response: fib(20) = 6765",
        "response: fib(21) = 10946",
        "response: fib(22) = 17711",
        "response: fib(23) = 28657",
    ]


def test_synchronisation(start_method: str) -> None:
    assert run_example("synchronisation.py", start_method) == [
        "consumer received: ['apple', 'banana', 'cherry']",
        "exit codes: 0 0",
    ]


def test_infinite_streaming(start_method: str) -> None:
    assert run_example("infinite_streaming.py", start_method) == [
        "sum of the first 10000 numbers: 49995000",
        "child ended by SIGTERM: True",
    ]


def test_every_example_is_tested() -> None:
    tested = {name.removeprefix("test_") + ".py" for name in globals() if name.startswith("test_")}
    assert {p.name for p in EXAMPLES.glob("*.py")} <= tested
