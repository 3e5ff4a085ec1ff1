"""Quick start: run a function in a child process and talk to it over a pipe.

Run it: ``python examples/quickstart.py [fork|spawn|forkserver]``.
"""

import multiprocessing
import sys

import gevent
import gipc


def child(reader, writer):
    # The child gets its own ends of the two pipes and its own gevent loop.
    name = reader.get()
    writer.put(f"hello {name}, from a child process")


def ticker():
    # Runs in the parent while it waits: gipc never blocks the event loop.
    for _ in range(3):
        print("parent: still responsive")
        gevent.sleep(0.01)


def main():
    # A pipe is a message channel: put() any picklable object in, get() it out.
    with gipc.pipe() as (to_child_r, to_child_w), gipc.pipe() as (from_child_r, from_child_w):
        # Handles passed to the child belong to it from now on; gipc closes
        # them here, so a finished child shows up as EOF on the other end.
        p = gipc.start_process(child, args=(to_child_r, from_child_w))
        t = gevent.spawn(ticker)
        to_child_w.put("world")
        print("parent got:", from_child_r.get())
        t.join()
        p.join()  # cooperative: other greenlets keep running meanwhile
    print("child exit code:", p.exitcode)


if __name__ == "__main__":
    # The guard matters: spawn and forkserver children import this module.
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    main()
