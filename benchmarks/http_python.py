"""The Python cost of one proxied HTTP request, without sockets: ``python -m benchmarks.http_python``.

Drives an ``HttpSession`` and an ``Upstream`` of the embedded engine with in-memory
transports: a keep-alive ``GET /`` in, nginx's 41-byte response back, the target connection
pooled and reused, as in the HTTP listener benchmark. What it prints is the part of the
proxy's CPU per request that is Python (parsing callbacks, routing, scheduling, head
rewriting, pooling); the rest of the figure in RESULTS.md is the four syscalls and uvloop.
The minimum of five timed rounds is reported, so other load on the machine counts less.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # ``python benchmarks/http_python.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openclb.protocols import ListenerProtocol
from openclb.engine.spec import ListenerSpec, RuleSpec, TargetSpec  # noqa: E402
from openclb.engine.embedded.http_listener import HttpListener  # noqa: E402
from openclb.engine.embedded.http_proxy import HttpSession  # noqa: E402
from openclb.engine.embedded.http_upstream import Upstream  # noqa: E402
from openclb.engine.embedded.listener import ListenerSettings  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: bench.test\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 41\r\nConnection: keep-alive\r\n\r\n" + b"x" * 41)


class MemoryTransport:
    """Takes writes and flow-control calls, sends nothing."""

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 40000) if name == "peername" else default

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def proxied_session() -> HttpSession:
    """A client connection of a one-rule HTTP listener with two pooled target connections."""
    targets = (TargetSpec("127.0.0.1", 9001), TargetSpec("127.0.0.1", 9002))
    rule = RuleSpec("loc-1", ("bench.test",), "/", targets, default_server=True)
    spec = ListenerSpec("lbl-1", ListenerProtocol.HTTP, 8080, rules=(rule,), keepalive=True)
    listener = HttpListener("lb-1", "127.0.0.9", spec, ListenerSettings(), HttpSession)
    session = HttpSession(listener, 8080)
    session.connection_made(MemoryTransport())
    for target in targets:
        upstream = Upstream(listener, (target.ip, target.port, None))
        upstream.connection_made(MemoryTransport())
        listener.pool.put(upstream.key, upstream, 0.0)
    return session


def seconds_per_request(session: HttpSession, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        session.data_received(REQUEST)
        session.upstream.data_received(RESPONSE)
    return (time.process_time() - started) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_python", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30_000, help="requests per timed round")
    args = parser.parse_args(argv)
    session = proxied_session()
    seconds_per_request(session, 1_000)
    best = min(seconds_per_request(session, args.requests) for _ in range(5))
    print(f"{best * 1e6:.2f} µs of Python per proxied request (min of 5 rounds of {args.requests:,})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
