"""A server process answering requests from a client over a duplex pipe.

The server is a child process with a simple request/response loop; the client
is the parent. A duplex pipe gives each side one handle that can both
``put()`` and ``get()``.

Run it: ``python examples/server_client.py [fork|spawn|forkserver]``.
"""

import multiprocessing
import sys

import gipc


def server(channel):
    # Serve until the client says goodbye; the handle closes when we return.
    with channel:
        while True:
            request = channel.get()
            if request == "bye":
                channel.put("bye")
                return
            op, a, b = request
            if op == "add":
                channel.put(a + b)
            elif op == "mul":
                channel.put(a * b)
            else:
                # Errors are data too: send them back rather than dying.
                channel.put(ValueError(f"unknown operation {op!r}"))


def main():
    with gipc.pipe(duplex=True) as (client_end, server_end):
        p = gipc.start_process(server, args=(server_end,))
        for request in [("add", 2, 3), ("mul", 6, 7), ("pow", 2, 8)]:
            client_end.put(request)
            answer = client_end.get()
            print(f"client: {request} -> {answer!r}")
        client_end.put("bye")
        print("client: server says", client_end.get())
        p.join()
    print("server exit code:", p.exitcode)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    main()
