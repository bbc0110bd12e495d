"""gRPC towards targets: one client stream carried over HTTP/2 to its target, trailers and all.

Rules with ForwardType GRPC (cleartext, prior knowledge) or GRPCS (TLS, ALPN h2) reach their
targets over HTTP/2, since gRPC needs what HTTP/1.1 cannot carry (trailers, ``te: trailers``).
``relay_over_h2`` opens one connection to the target for the stream (sans-IO ``h2`` client on an
asyncio stream), sends the request head with the same forwarding headers as every other
request, and relays both ways: request DATA within the target's windows, acknowledged to the
client only once sent on; response HEADERS, DATA (acknowledged to the target once the client
stream took them, so a slow client slows the target) and trailers, which end the client's
stream as they end the target's. A reset from the target resets the client's stream.
"""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache

from jh2.config import H2Configuration
from jh2.connection import H2Connection
from jh2.errors import ErrorCodes
from jh2.events import (
    ConnectionTerminated, DataReceived, ResponseReceived, StreamEnded, StreamReset, TrailersReceived, WindowUpdated,
)

from openclb.engine.embedded.tls import backend_context

READ_SIZE = 65536
_STREAM = 1
# Connection-specific fields RFC 9113 8.2.2 forbids in HTTP/2 (``te`` is kept as "trailers").
_NOT_IN_H2 = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"))


class TargetBrokeOff(Exception):
    """The target reset the stream or closed before its head."""


@lru_cache(maxsize=1)
def grpcs_context() -> ssl.SSLContext:
    """TLS to GRPCS targets: unverified, as a load balancer talks to its own servers, ALPN h2."""
    context = backend_context()
    context.set_alpn_protocols(["h2"])
    return context


def h2_request_headers(method: bytes, path: bytes, scheme: bytes, forwarded: list[tuple[bytes, bytes]],
                       te_trailers: bool) -> list[tuple[bytes, bytes]]:
    """An HTTP/1.1-style forwarded head as HTTP/2 fields: pseudo-headers first, no hop-by-hop."""
    authority = next((value for name, value in forwarded if name == b"host"), b"")
    headers = [(b":method", method), (b":scheme", scheme), (b":authority", authority), (b":path", path)]
    headers += [(name, value) for name, value in forwarded if name not in _NOT_IN_H2]
    if te_trailers:
        headers.append((b"te", b"trailers"))
    return headers


async def relay_over_h2(exchange, ip: str, port: int, tls: bool, headers: list[tuple[bytes, bytes]],
                        connect_timeout: float) -> None:
    """Carry ``exchange``'s stream (``http2_exchange.StreamExchange``) to ip:port over HTTP/2."""
    extra = {"ssl": grpcs_context()} if tls else {}
    async with asyncio.timeout(connect_timeout):
        reader, writer = await asyncio.open_connection(ip, port, **extra)
    conn = H2Connection(config=H2Configuration(client_side=True, header_encoding=None))
    window = asyncio.Event()
    try:
        conn.initiate_connection()
        conn.send_headers(_STREAM, headers, end_stream=not exchange.has_body)
        writer.write(conn.data_to_send())
        sending = None if not exchange.has_body else asyncio.ensure_future(_send_body(exchange, conn, writer, window))
        try:
            await _relay_response(exchange, conn, reader, writer, window)
        finally:
            if sending is not None:
                sending.cancel()
    finally:
        writer.transport.abort()


async def _send_body(exchange, conn: H2Connection, writer: asyncio.StreamWriter, window: asyncio.Event) -> None:
    session = exchange.session
    while (item := await exchange.body.get()) is not None:
        data, flow_length = item
        view = memoryview(data)
        while view:
            size = min(conn.local_flow_control_window(_STREAM), conn.max_outbound_frame_size, len(view))
            if size <= 0:
                window.clear()
                await window.wait()
                continue
            conn.send_data(_STREAM, view[:size].tobytes())
            view = view[size:]
            writer.write(conn.data_to_send())
            await writer.drain()
        session.acknowledge(exchange.stream_id, flow_length)
    conn.end_stream(_STREAM)
    writer.write(conn.data_to_send())


async def _relay_response(exchange, conn: H2Connection, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter, window: asyncio.Event) -> None:
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            raise TargetBrokeOff("the target closed the connection")
        for event in conn.receive_data(data):
            if isinstance(event, ResponseReceived):
                status = int(dict(event.headers).get(b":status", b"502"))
                fields = [(name, value) for name, value in event.headers if not name.startswith(b":")]
                exchange.send_head(status, fields, end=event.stream_ended is not None)
            elif isinstance(event, DataReceived):
                await exchange.send_data(event.data, end=event.stream_ended is not None)
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, TrailersReceived):
                exchange.send_trailers(event.headers)
            elif isinstance(event, StreamEnded):
                exchange.end_stream()
                return
            elif isinstance(event, StreamReset):
                exchange.reset(event.error_code or ErrorCodes.INTERNAL_ERROR)
                return
            elif isinstance(event, WindowUpdated):
                window.set()
            elif isinstance(event, ConnectionTerminated):
                raise TargetBrokeOff("the target sent GOAWAY")
        outgoing = conn.data_to_send()
        if outgoing:
            writer.write(outgoing)
