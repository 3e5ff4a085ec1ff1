"""Set one version on every distribution, its sibling pins and ``__version__``.

Usage: ``python scripts/bump_version.py 2.0.0`` (or ``hatch run release:bump 2.0.0``).
All gipc distributions share one version; this is the only place that writes it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"gipc-transport": "gipc_transport", "gipc-process": "gipc_process", "gipc": "gipc"}
_VERSION = re.compile(r"^\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")


def version_files() -> list[Path]:
    files = []
    for dist, mod in PACKAGES.items():
        files.append(ROOT / "packages" / dist / "pyproject.toml")
        files.append(ROOT / "packages" / dist / "src" / mod / "_version.py")
    return files


def bump(version: str) -> list[Path]:
    if not _VERSION.match(version):
        raise SystemExit(f"not a release version: {version!r} (expected e.g. 2.0.1 or 2.1.0.dev0)")
    changed = []
    sibling = "|".join(re.escape(d) for d in PACKAGES)
    for path in version_files():
        text = path.read_text()
        if path.name == "pyproject.toml":
            new = re.sub(r'(?m)^version = "[^"]*"$', f'version = "{version}"', text)
            new = re.sub(rf'"({sibling}) == [^"]*"', rf'"\1 == {version}"', new)
        else:
            new = re.sub(r'__version__ = "[^"]*"', f'__version__ = "{version}"', text)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    for p in bump(sys.argv[1]):
        print(f"updated {p.relative_to(ROOT)}")
