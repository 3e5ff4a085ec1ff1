#!/usr/bin/env bash
# Pipe throughput on Windows CPython 3.13 under wine, in one run: gipc,
# multiprocessing.Pipe and gipc 1.8.0 (benchmarks/windows.py). gipc 1.8.0's
# sdist comes from the package index once, cached beside the interpreter
# that scripts/windows_python.sh sets up. Extra arguments go to the script
# (--reps N).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
legacy=${XDG_CACHE_HOME:-$HOME/.cache}/gipc-ci/windows-legacy
if [ ! -e "$legacy/gipc/gipc.py" ]; then
    rm -rf "$legacy"
    mkdir -p "$legacy/dl"
    python3 -m pip download -q --no-deps --no-binary=:all: -d "$legacy/dl" gipc==1.8.0
    python3 - "$legacy" <<'PY'
import pathlib, sys, tarfile
legacy = pathlib.Path(sys.argv[1])
with tarfile.open(next((legacy / "dl").glob("gipc-1.8.0.tar.gz"))) as sdist:
    for member in sdist.getmembers():
        parts = pathlib.PurePosixPath(member.name).parts
        if len(parts) == 3 and parts[1] == "gipc" and parts[2].endswith(".py"):
            (legacy / "gipc").mkdir(exist_ok=True)
            (legacy / "gipc" / parts[2]).write_bytes(sdist.extractfile(member).read())
PY
fi
winpath() { printf 'Z:%s' "${1//\//\\}"; }
exec "$repo/scripts/windows_python.sh" benchmarks/windows.py --legacy "$(winpath "$legacy")" "$@"
