"""Build every distribution, then prove each wheel installs on its own.

Usage: ``python scripts/build_all.py [--check]`` (or ``hatch run release:build``).

Builds a wheel and an sdist of each package into ``dist/`` and verifies that
none of them contains the benchmark (``benchmarks/``). With ``--check``,
runs every install command that ``docs/installation.rst`` shows, from the
checkout's directories and from the built wheels, each in a fresh virtual
environment of its own, and verifies what that layer promises:
``gipc-transport`` works without anything above it; ``gipc-process`` and
``gipc`` bring exactly the pinned siblings.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
PACKAGES = ("gipc-transport", "gipc-process", "gipc")
BENCHMARKS = ROOT / "benchmarks"
INSTALL_DOC = ROOT / "docs" / "installation.rst"
# A console line of that page that installs from the checkout or from dist/.
_INSTALL = re.compile(r"^\s*\$ python -m pip install (.*(?:\./packages/|dist/).*)$", re.M)

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
    for p in artefacts:
        found = benchmark_members(p)
        if found:
            raise SystemExit(f"{p.name} contains the benchmark, which belongs to no distribution: {found}")
    print(f"ok: none of the {len(artefacts)} distributions contains the benchmark", flush=True)
    return artefacts


def benchmark_members(archive: Path) -> list[str]:
    """The members of a wheel or sdist that are the benchmark (there must be none).

    A member is the benchmark if it lies under a ``benchmarks`` or ``_bench``
    directory, or is a copy of one of the benchmark's modules under any name.
    """
    sources = {
        hashlib.sha256(p.read_bytes()).digest() for p in BENCHMARKS.rglob("*.py") if p.stat().st_size > 200
    }
    members: dict[str, bytes] = {}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            members = {n: z.read(n) for n in z.namelist() if not n.endswith("/")}
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                f = t.extractfile(m) if m.isfile() else None
                if f is not None:
                    members[m.name] = f.read()
    return sorted(
        name
        for name, data in members.items()
        if {"benchmarks", "_bench"} & set(PurePosixPath(name).parts[:-1])
        or hashlib.sha256(data).digest() in sources
    )


def layer(arg: str) -> str | None:
    """The distribution an install argument names: ``./packages/gipc`` or ``dist/gipc_process-*.whl``."""
    if arg.startswith("./packages/"):
        return arg.removeprefix("./packages/")
    if arg.startswith("dist/") and arg.endswith(".whl"):
        return arg.removeprefix("dist/").split("-")[0].replace("_", "-")
    return None


def documented_installs() -> list[tuple[str, list[str]]]:
    """``(layer, pip arguments)`` of each install command the installation page shows.

    Every layer must be shown once from the checkout and once from the wheels,
    so that the page cannot lose one without this check noticing.
    """
    found: list[tuple[str, list[str]]] = []
    for line in _INSTALL.findall(INSTALL_DOC.read_text(encoding="utf-8")):
        args = line.split("#")[0].split()
        named = [n for n in map(layer, args) if n is not None]
        unknown = set(named) - set(PACKAGES)
        if unknown:
            raise SystemExit(f"{INSTALL_DOC.name}: {line!r} names unknown packages {sorted(unknown)}")
        found.append((max(named, key=PACKAGES.index), args))
    for source in ("./packages/", "dist/"):
        shown = sorted(top for top, args in found if any(a.startswith(source) for a in args))
        if shown != sorted(PACKAGES):
            raise SystemExit(f"{INSTALL_DOC.name}: expected one {source} install per layer, found {shown}")
    return found


def check(v: str) -> None:
    for name, args in documented_installs():
        with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
            venv = Path(tmp) / "venv"
            run(sys.executable, "-m", "venv", venv)
            py = venv / "bin" / "python"
            expanded: list[str] = []
            for arg in args:
                matches = sorted(ROOT.glob(arg)) if "*" in arg else [arg]
                if len(matches) != 1:
                    raise SystemExit(f"{arg} matches {[str(m) for m in matches]}, expected one file")
                expanded.extend(map(str, matches))
            # As the page says: from the repository's root.
            run(py, "-m", "pip", "install", "-q", *expanded, cwd=ROOT)
            installed = run(py, "-m", "pip", "list", "--format=freeze")
            gipc_dists = sorted(line for line in installed.splitlines() if line.startswith("gipc"))
            expected = sorted(f"{p}=={v}" for p in PACKAGES[: PACKAGES.index(name) + 1])
            if gipc_dists != expected:
                raise SystemExit(f"pip install {' '.join(args)}: installed {gipc_dists}, expected {expected}")
            run(py, "-c", CHECKS[name].format(version=v), cwd=tmp)
            print(f"ok: pip install {' '.join(args)}: {', '.join(gipc_dists)} work", flush=True)


def main(argv: list[str]) -> int:
    for p in build():
        print(f"built {p.relative_to(ROOT)}")
    if "--check" in argv:
        check(version())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
