"""A gevent WSGI server that computes each response in a fresh child process.

CPU-heavy work in a request handler would block every other request served
by the same gevent loop; doing it in a child keeps the server responsive.
The server listens on the loopback interface only, and this program sends it
a fixed number of requests itself, then stops it.

Run it: ``python examples/wsgi_children.py [fork|spawn|forkserver]``.
"""

import multiprocessing
import sys

import gevent
import gevent.socket
import gipc
from gevent.pywsgi import WSGIServer

REQUESTS = 4


def fib(n):
    # Deliberately slow: this is the work we keep off the event loop.
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def compute(writer, n):
    writer.put(fib(n))


def app(environ, start_response):
    n = int(environ["PATH_INFO"].strip("/") or 20)
    with gipc.pipe() as (reader, writer):
        p = gipc.start_process(compute, args=(writer, n))
        result = reader.get()  # only this greenlet waits; others are served
        p.join()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"fib({n}) = {result}\n".encode()]


def fetch(port, path):
    # A minimal HTTP/1.0 client on gevent sockets, so that it shares the loop
    # with the server in this very process without blocking it.
    with gevent.socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data.partition(b"\r\n\r\n")[2].decode().strip()


def main():
    server = WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    try:
        port = server.address[1]
        # Concurrent requests: each one gets its own child process.
        jobs = [gevent.spawn(fetch, port, f"/{20 + i}") for i in range(REQUESTS)]
        gevent.joinall(jobs, raise_error=True, timeout=60)
        for job in jobs:
            print("response:", job.value)
    finally:
        server.stop(timeout=10)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        multiprocessing.set_start_method(sys.argv[1])
    main()
