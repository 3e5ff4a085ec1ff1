"""Fixtures shared by the process-layer tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def run_script(tmp_path: Path) -> Callable[[str], Any]:
    """Return a function that runs a script in a fresh interpreter and returns its report.

    A fresh interpreter has only the threads the script starts (pytest-timeout's
    thread method adds one to this process). The script must exit with 0 and
    print its report as JSON on its last line of output.
    """

    def run(text: str) -> Any:
        script = tmp_path / "script.py"
        script.write_text(text)
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=100)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    return run
