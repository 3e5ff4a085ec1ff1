"""All distributions share one version, and each pins its siblings exactly."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

import gipc
import gipc_process
import gipc_transport

ROOT = Path(__file__).resolve().parent.parent
DISTS = ("gipc-transport", "gipc-process", "gipc")


def _project(dist: str, root: Path = ROOT) -> dict:  # type: ignore[type-arg]
    with open(root / "packages" / dist / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]  # type: ignore[no-any-return]


def _pins(project: dict) -> dict[str, str]:  # type: ignore[type-arg]
    pins = {}
    for req in project["dependencies"]:
        m = re.fullmatch(r"(gipc[-\w]*) == (\S+)", req)
        if m:
            pins[m[1]] = m[2]
    return pins


def test_one_version_everywhere() -> None:
    version = _project("gipc")["version"]
    assert {_project(d)["version"] for d in DISTS} == {version}
    assert gipc.__version__ == gipc_process.__version__ == gipc_transport.__version__ == version


def test_siblings_pinned_exactly_to_that_version() -> None:
    version = _project("gipc")["version"]
    assert _pins(_project("gipc-transport")) == {}
    assert _pins(_project("gipc-process")) == {"gipc-transport": version}
    assert _pins(_project("gipc")) == {"gipc-transport": version, "gipc-process": version}


def test_bump_script_moves_every_version_and_pin(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    skip = shutil.ignore_patterns("tests", "*.egg-info")
    shutil.copytree(ROOT / "packages", copy / "packages", ignore=skip)
    shutil.copytree(ROOT / "scripts", copy / "scripts")
    out = subprocess.run(
        [sys.executable, str(copy / "scripts" / "bump_version.py"), "7.8.9"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.count("updated") == 6
    assert {_project(d, copy)["version"] for d in DISTS} == {"7.8.9"}
    assert _pins(_project("gipc", copy)) == {"gipc-transport": "7.8.9", "gipc-process": "7.8.9"}
    for mod in ("gipc_transport", "gipc_process", "gipc"):
        dist = mod.replace("_", "-")
        assert '__version__ = "7.8.9"' in (copy / "packages" / dist / "src" / mod / "_version.py").read_text()


def test_bump_script_rejects_non_versions(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bump_version.py"), "two"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "not a release version" in proc.stderr


def test_the_declared_pythons_are_the_tested_ones() -> None:
    # Each distribution's classifiers name exactly the Pythons of hatch's
    # matrix; the docs state that range.
    with open(ROOT / "hatch.toml", "rb") as f:
        (matrix,) = tomllib.load(f)["envs"]["matrix"]["matrix"]
    tested = matrix["python"]
    for dist in DISTS:
        declared = [
            c.rsplit(" :: ", 1)[1]
            for c in _project(dist)["classifiers"]
            if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
        ]
        assert declared == tested, dist
    platforms = (ROOT / "docs" / "platforms.rst").read_text()
    assert f"gipc supports CPython {tested[0]} to {tested[-1]}" in platforms
