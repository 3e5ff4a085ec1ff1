"""A child that streams messages forever, stopped by the parent with terminate().

Run it: ``python examples/infinite_streaming.py [fork|spawn|forkserver]``.
"""

import multiprocessing
import signal
import sys

import gipc


def stream(writer):
    # Never returns: only a signal ends this child. put() waits cooperatively
    # whenever the pipe is full, so the child runs at the reader's pace.
    n = 0
    while True:
        writer.put(n)
        n += 1


def main():
    with gipc.pipe() as (reader, writer):
        p = gipc.start_process(stream, args=(writer,))
        total = sum(reader.get() for _ in range(10_000))
        print("sum of the first 10000 numbers:", total)
        p.terminate()  # SIGTERM; a child's signal handlers start at the default
        p.join()
    print("child ended by SIGTERM:", p.exitcode == -signal.SIGTERM)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    main()
