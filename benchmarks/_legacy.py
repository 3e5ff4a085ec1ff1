"""gipc 1.8.0 as a competitor, from its own virtual environment, in the same run.

The venv is created on first use (``python -m venv`` and pip, from the
package index) under the harness's cache directory and reused afterwards.
Where the index cannot be reached, pip is told to give up after one attempt
of at most :data:`INDEX_TIMEOUT` seconds per request, so that the run stops
at its start with a way out, not after pip's retries.
Its interpreter runs :mod:`benchmarks._gipccases` as a script: a worker
that stays up for the whole run and measures one trial per command, so its
repetitions interleave with the other competitors' like everyone else's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import gevent

from ._cbaseline import cache_dir
from ._gipccases import Result
from ._runner import progress

VERSION = "1.8.0"
_WORKER = Path(__file__).with_name("_gipccases.py")
INDEX_TIMEOUT = 15
"""Seconds pip may wait for the package index per request (pip's own default may be minutes)."""

# What pip says when the index cannot give it a release at all (unreachable,
# or gipc not on it), as opposed to a failing build or a version conflict.
_NOT_FETCHED = (
    "No matching distribution found for gipc",
    "Could not find a version that satisfies the requirement gipc",
)


class NotFetched(RuntimeError):
    """gipc 1.8.0 cannot be fetched from the package index (offline, or not on that index)."""


def venv_python() -> Path:
    """Create (if needed) the venv with gipc 1.8.0; return its interpreter.

    gevent is pinned to the version running here, so only gipc differs.

    :raises NotFetched: if pip cannot get gipc 1.8.0 from the package index.
    :raises RuntimeError: with pip's complaint if the venv cannot be built otherwise.
    """
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}-gevent{gevent.__version__}"
    venv = cache_dir() / f"venv-{VERSION}-{tag}"
    python = venv / "bin" / "python"
    if (venv / ".complete").exists() and python.exists():
        return python
    progress(f"creating {venv} with gipc {VERSION} (once; later runs reuse it) ...")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--retries", "0",
         "--timeout", str(INDEX_TIMEOUT), f"gipc=={VERSION}", f"gevent=={gevent.__version__}"],
    ]  # fmt: skip
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            raise RuntimeError(
                f"gipc {VERSION} could not be installed: {' '.join(step[:3])}: {exc}"
            ) from None
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            tail = [ln for ln in said if ln.startswith("ERROR")][-2:] or said[-3:]
            if any(sign in ln for ln in tail for sign in _NOT_FETCHED):
                raise NotFetched(
                    f"gipc {VERSION} cannot be fetched from the package index ({' | '.join(tail)})"
                )
            raise RuntimeError(
                f"gipc {VERSION} could not be installed: {' '.join(step[:4])} failed: {' | '.join(tail)}"
            )
    (venv / ".complete").touch()
    return python


class Legacy:
    """A long-lived worker process measuring another gipc installation."""

    def __init__(self, python: Path | str, isolate: bool = True, reference: bool = False) -> None:
        self._python, self._isolate = python, isolate
        self._twin: Legacy | None = None
        env = dict(os.environ)
        if isolate:
            # The worker must import the venv's gipc, never one on our path.
            env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [str(python), str(_WORKER), *(["--reference"] if reference else [])],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        hello = self.run({"case": "hello"})
        self.version = str(hello["version"])
        self.label = f"gipc {self.version}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def twin(self) -> Legacy:
        """A reference worker of the same interpreter, without gipc, started on first use.

        It measures ``multiprocessing`` in a process like this worker's,
        which cannot: gipc 1.x changes multiprocessing when imported.
        """
        if self._twin is None:
            self._twin = Legacy(self._python, self._isolate, reference=True)
        return self._twin

    def run(self, command: dict[str, Any]) -> Result:
        """Have the worker run one trial; raise ``RuntimeError`` with its error if it fails."""
        stdin: IO[str] | None = self.proc.stdin
        stdout: IO[str] | None = self.proc.stdout
        if stdin is None or stdout is None or self.proc.poll() is not None:
            raise RuntimeError(f"the {VERSION} worker is gone (exit code {self.proc.returncode})")
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {VERSION} worker died (exit code {self.proc.wait(10)})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer["ok"]  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._twin is not None:
            self._twin.close()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start(python: str | None) -> Legacy:
    """Start the worker (building the venv unless ``python`` is given).

    :raises NotFetched: if gipc 1.8.0 cannot be fetched from the package index.
    :raises RuntimeError: saying why there is no worker otherwise.
    """
    try:
        if python:
            return Legacy(python, isolate=False)
        return Legacy(venv_python())
    except (OSError, ValueError) as exc:
        raise RuntimeError(f"the gipc {VERSION} worker cannot start: {exc}") from None
