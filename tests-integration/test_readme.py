"""The README's code sample runs as shown, under every start method."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_sample_runs(start_method: str, tmp_path: Path) -> None:
    (sample,) = python_blocks()
    script = tmp_path / "readme_sample.py"
    script.write_text(
        f"import multiprocessing\nmultiprocessing.set_start_method({start_method!r}, force=True)\n" + sample
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from the child\n"
