"""The physical limit: a small C program moving the same bytes through a pipe.

It is compiled on first use with the system's C compiler into a cache
directory and reused while its source is unchanged. Without a compiler the
throughput section goes on without this competitor and says why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from ._gipccases import Result

_SOURCE = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* argv: message size, message count. A forked child writes count messages
   of size bytes after a go byte; the parent reads them into one buffer and
   prints the seconds from go to the last byte. The pipe gets the largest
   buffer Linux allows, as gipc's does. */
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    size_t size = strtoull(argv[1], NULL, 10);
    long count = atol(argv[2]);
    int data[2], go[2];
    if (pipe(data) || pipe(go)) return 3;
#ifdef F_SETPIPE_SZ
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    int max = 0;
    if (f) { if (fscanf(f, "%d", &max) != 1) max = 0; fclose(f); }
    if (max > 0) fcntl(data[1], F_SETPIPE_SZ, max);
#endif
    char *buf = malloc(size);
    if (!buf) return 4;
    memset(buf, 'x', size);
    pid_t pid = fork();
    if (pid < 0) return 5;
    if (pid == 0) {
        char g;
        close(data[0]); close(go[1]);
        if (read(go[0], &g, 1) != 1) _exit(6);
        for (long i = 0; i < count; i++) {
            size_t done = 0;
            while (done < size) {
                ssize_t n = write(data[1], buf + done, size - done);
                if (n <= 0) _exit(7);
                done += (size_t)n;
            }
        }
        _exit(0);
    }
    close(data[1]); close(go[0]);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (write(go[1], "g", 1) != 1) return 8;
    size_t total = size * (size_t)count, got = 0;
    while (got < total) {
        size_t want = size - (got % size);
        ssize_t n = read(data[0], buf + (got % size), want);
        if (n <= 0) return 9;
        got += (size_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int status;
    waitpid(pid, &status, 0);
    printf("%.9f\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return status == 0 ? 0 : 10;
}
"""


def cache_dir() -> Path:
    """Where the harness keeps what it builds: ``$XDG_CACHE_HOME/gipc-bench``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gipc-bench"


class CPipe:
    """The compiled program, or the reason there is none (``path`` is then ``None``)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.reason = ""
        compiler = shutil.which("cc") or shutil.which("gcc")
        if compiler is None:
            self.reason = "no C compiler (cc/gcc) on PATH"
            return
        digest = hashlib.sha256(_SOURCE.encode()).hexdigest()[:12]
        target = cache_dir() / f"cpipe-{digest}"
        if not target.exists():
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                src = target.with_suffix(".c")
                src.write_text(_SOURCE)
                tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
                subprocess.run(
                    [compiler, "-O2", "-o", str(tmp), str(src)], check=True, capture_output=True, timeout=120
                )
                os.replace(tmp, target)
            except (OSError, subprocess.SubprocessError) as exc:
                err = getattr(exc, "stderr", b"") or b""
                self.reason = f"compiling with {compiler} failed: {exc} {err.decode(errors='replace')[:200]}"
                return
        self.path = target

    def stream(self, count: int, size: int, limit: float) -> Result:
        """Run the program once; raise ``RuntimeError`` if it fails."""
        if self.path is None:
            raise RuntimeError(self.reason)
        out = subprocess.run(
            [str(self.path), str(size), str(count)], capture_output=True, text=True, timeout=limit
        )
        if out.returncode != 0:
            raise RuntimeError(f"C pipe program exited with {out.returncode}: {out.stderr.strip()}")
        return {"count": count, "seconds": float(out.stdout)}
