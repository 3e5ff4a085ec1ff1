"""Two children that synchronise with each other over pipes, without the parent.

The parent only creates the pipes and hands the ends out. The children do a
small handshake (SYN, SYNACK) before the payload flows, and the reader learns
that the writer is done from EOF on its pipe.

Run it: ``python examples/synchronisation.py [fork|spawn|forkserver]``.
"""

import multiprocessing
import sys

import gipc


def producer(data_w, sync_r):
    with sync_r:
        # Wait until the consumer is up before sending anything.
        assert sync_r.get() == "SYN"
    with data_w:
        data_w.put("SYNACK")
        for item in ["apple", "banana", "cherry"]:
            data_w.put(item)
    # Leaving the with-block closed the writer: the consumer sees EOF.


def consumer(data_r, sync_w, out_w):
    with sync_w:
        sync_w.put("SYN")
    with data_r, out_w:
        assert data_r.get() == "SYNACK"
        items = []
        while True:
            try:
                items.append(data_r.get())
            except EOFError:
                break
        out_w.put(items)


def main():
    with gipc.pipe() as (sync_r, sync_w), gipc.pipe() as (data_r, data_w), gipc.pipe() as (out_r, out_w):
        # Start the consumer first to show that the order does not matter:
        # the handshake, not the start order, synchronises the two.
        c = gipc.start_process(consumer, args=(data_r, sync_w, out_w))
        p = gipc.start_process(producer, args=(data_w, sync_r))
        print("consumer received:", out_r.get())
        p.join()
        c.join()
    print("exit codes:", p.exitcode, c.exitcode)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    main()
