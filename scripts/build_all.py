"""Build every distribution, then prove each wheel installs on its own.

Usage: ``python scripts/build_all.py [--check]`` (or ``hatch run release:build``).

Builds a wheel and an sdist of each package into ``dist/``. With ``--check``,
installs each wheel into a fresh virtual environment of its own and verifies
what that layer promises: ``gipc-transport`` works without anything above it;
``gipc-process`` and ``gipc`` pull exactly the pinned sibling wheels.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
PACKAGES = ("gipc-transport", "gipc-process", "gipc")

# What must import, and what must not, after installing one distribution alone.
CHECKS = {
    "gipc-transport": (
        "import gipc_transport, gevent, importlib.util as u\n"
        "assert u.find_spec('gipc_process') is None and u.find_spec('gipc') is None\n"
        "r, w = gipc_transport.pipe(); w.put('ok'); assert r.get() == 'ok'; r.close(); w.close()\n"
    ),
    "gipc-process": (
        "import gipc_process, gipc_transport, importlib.util as u\n"
        "assert u.find_spec('gipc') is None\n"
        "p = gipc_process.start_process(abs, args=(-1,)); p.join(60); assert p.exitcode == 0\n"
    ),
    "gipc": (
        "import gipc, gipc.gipc\n"
        "assert gipc.__version__ == '{version}'\n"
        "r, w = gipc.pipe(); w.put('ok'); assert r.get() == 'ok'; r.close(); w.close()\n"
    ),
}


def version() -> str:
    text = (ROOT / "packages" / "gipc" / "pyproject.toml").read_text()
    match = re.search(r'(?m)^version = "([^"]+)"$', text)
    assert match, "packages/gipc/pyproject.toml has no static version"
    return match[1]


def run(*cmd: str | Path, **kw: object) -> str:
    print("+", " ".join(map(str, cmd)), flush=True)
    out = subprocess.run(list(map(str, cmd)), check=True, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    return out.stdout  # type: ignore[no-any-return]


def build() -> list[Path]:
    shutil.rmtree(DIST, ignore_errors=True)
    for name in PACKAGES:
        run(sys.executable, "-m", "build", "--outdir", DIST, ROOT / "packages" / name)
    artefacts = sorted(DIST.iterdir())
    wheels = [p for p in artefacts if p.suffix == ".whl"]
    sdists = [p for p in artefacts if p.name.endswith(".tar.gz")]
    if len(wheels) != 3 or len(sdists) != 3:
        raise SystemExit(f"expected 3 wheels and 3 sdists, got: {[p.name for p in artefacts]}")
    return artefacts


def check(v: str) -> None:
    for name in PACKAGES:
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
            venv = Path(tmp) / "venv"
            run(sys.executable, "-m", "venv", venv)
            py = venv / "bin" / "python"
            run(py, "-m", "pip", "install", "-q", "--find-links", DIST, f"{name}=={v}")
            installed = run(py, "-m", "pip", "list", "--format=freeze")
            gipc_dists = sorted(line for line in installed.splitlines() if line.startswith("gipc"))
            expected = {
                "gipc-transport": [f"gipc-transport=={v}"],
                "gipc-process": [f"gipc-process=={v}", f"gipc-transport=={v}"],
                "gipc": [f"gipc=={v}", f"gipc-process=={v}", f"gipc-transport=={v}"],
            }[name]
            if gipc_dists != sorted(expected):
                raise SystemExit(f"{name}: installed {gipc_dists}, expected {sorted(expected)}")
            run(py, "-c", CHECKS[name].format(version=v), cwd=tmp)
            print(f"ok: {name} {v} installs alone and works ({', '.join(gipc_dists)})", flush=True)


def main(argv: list[str]) -> int:
    for p in build():
        print(f"built {p.relative_to(ROOT)}")
    if "--check" in argv:
        check(version())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
