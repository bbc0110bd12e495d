"""gRPC towards targets: client streams carried over HTTP/2 connections shared per target.

Rules with ForwardType GRPC (cleartext, prior knowledge) or GRPCS (TLS, ALPN h2) reach their
targets over HTTP/2, since gRPC needs what HTTP/1.1 cannot carry (trailers, ``te: trailers``).
A ``TargetConnection`` (sans-IO ``h2`` client on an asyncio protocol) carries many streams at
once, of any client connection of the listener: ``relay_over_h2`` joins one that has room
under the target's MAX_CONCURRENT_STREAMS and has not been told GOAWAY (one still connecting
included, so a burst of streams shares it), else opens another; they are listed in the
listener's ``shared_targets`` (closed when idle for its idle time, or at once when the
listener's KeepaliveEnable is off; retired, closed after their last stream, when their target
leaves the rules or the listener stops).

Per stream: the request head with the same forwarding headers as every other request;
request DATA within the target's windows, acknowledged to the client only once sent on;
response HEADERS, DATA (acknowledged to the target once the client stream took them, so a
slow client slows its own stream; the connection's own window is opened wide so it never
holds the others back) and trailers, which end the client's stream as they end the target's.
A reset from the target resets the client's stream; a connection lost or a GOAWAY that
leaves a stream out fails it (502 before its head).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from functools import lru_cache

from jh2.config import H2Configuration
from jh2.connection import H2Connection
from jh2.errors import ErrorCodes
from jh2.events import (
    ConnectionTerminated, DataReceived, RemoteSettingsChanged, ResponseReceived, StreamEnded, StreamReset,
    TrailersReceived, WindowUpdated,
)
from jh2.exceptions import ProtocolError

from openclb.engine.embedded.http_listener import SharedConnections, UpstreamKey
from openclb.engine.embedded.tls import backend_context

CONNECTION_WINDOW = 1 << 30
LAST_STREAM_ID = (1 << 31) - 1 - 2 * 1000  # stop opening streams on a connection well before its ids run out
# Connection-specific fields RFC 9113 8.2.2 forbids in HTTP/2 (``te`` is kept as "trailers").
_NOT_IN_H2 = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"))
_CONFIG = H2Configuration(client_side=True, header_encoding=None, validate_outbound_headers=False,
                          normalize_outbound_headers=False)


class TargetBrokeOff(Exception):
    """The target reset the stream, closed, or sent GOAWAY before answering it."""


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


class _Stream:
    """One stream's share of a ``TargetConnection``: its events in order and its send window."""

    __slots__ = ("stream_id", "events", "window", "finished")

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.finished = False  # the target ended or reset it
        self.events: asyncio.Queue = asyncio.Queue()
        self.window = asyncio.Event()


class TargetConnection(asyncio.Protocol):
    """One HTTP/2 connection to a gRPC target, shared by many streams; see the module docstring."""

    def __init__(self, shared: SharedConnections, key: UpstreamKey, keepalive: bool) -> None:
        self.shared = shared
        self.key = key
        self.keepalive = keepalive
        self.conn = H2Connection(config=_CONFIG)
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.streams: dict[int, _Stream] = {}
        self.reserved = 0  # streams waiting for the connection to be made
        self.idle_since = 0.0
        self.closed = False
        self.draining = False
        self.writable: asyncio.Future | None = None

    def has_room(self) -> bool:
        if self.closed or self.draining:
            return False
        limit = self.conn.remote_settings.max_concurrent_streams
        return (len(self.streams) + self.reserved < limit
                and self.conn.highest_outbound_stream_id < LAST_STREAM_ID)

    # -- transport callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        if self.closed:  # retired while connecting
            transport.close()
            return
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(CONNECTION_WINDOW - self.conn.inbound_flow_control_window)
        self.flush()
        if not self.ready.done():
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            self.flush()
            self.close()
            return
        streams = self.streams
        for event in events:
            if isinstance(event, (WindowUpdated, RemoteSettingsChanged)):
                stream_id = getattr(event, "stream_id", 0)
                for stream in (streams.values() if not stream_id else filter(None, (streams.get(stream_id),))):
                    stream.window.set()
            elif isinstance(event, ConnectionTerminated):
                self.draining = True
                last = event.last_stream_id if event.last_stream_id is not None else 0
                for stream in streams.values():
                    if stream.stream_id > last:
                        stream.events.put_nowait(None)
            elif (stream := streams.get(getattr(event, "stream_id", 0))) is not None:
                stream.events.put_nowait(event)
        self.flush()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        writable, self.writable = self.writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.resume_writing()
        if not self.ready.done():
            self.ready.set_exception(ConnectionResetError("the target closed the connection"))
            self.ready.exception()  # retrieved: streams that joined see it, none may have
        for stream in self.streams.values():
            stream.events.put_nowait(None)
            stream.window.set()
        self.shared.remove(self.key, self)

    # -- what streams use -----------------------------------------------------------------

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.closed and self.transport is not None:
            self.transport.write(data)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        else:
            self.shared.remove(self.key, self)

    def retire(self) -> None:
        """No new streams here; closed once the streams it carries have ended."""
        self.draining = True
        if not self.streams and not self.reserved:
            self.close()

    def open(self, headers: list[tuple[bytes, bytes]], end: bool) -> _Stream:
        stream_id = self.conn.get_next_available_stream_id()
        stream = self.streams[stream_id] = _Stream(stream_id)
        self.idle_since = 0.0
        self.conn.send_headers(stream_id, headers, end_stream=end)
        self.flush()
        return stream

    def done(self, stream: _Stream) -> None:
        """The client's side of ``stream`` is over: reset it if the target's is not, forget it."""
        del self.streams[stream.stream_id]
        if not self.closed and not stream.finished:
            try:
                self.conn.reset_stream(stream.stream_id, ErrorCodes.CANCEL)
            except ProtocolError:
                pass
            self.flush()
        if not self.streams:
            self.idle_since = time.monotonic()
            if not self.keepalive or self.draining:
                self.close()


async def _connection(shared: SharedConnections, key: UpstreamKey, tls: bool, keepalive: bool,
                      timeout: float) -> TargetConnection:
    """A connection with room for one more stream: a shared one, else a new one."""
    for connection in shared.of(key):
        if connection.has_room():
            break
    else:
        connection = TargetConnection(shared, key, keepalive)
        shared.add(key, connection)
        loop = asyncio.get_running_loop()
        extra = {"ssl": grpcs_context()} if tls else {}
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: connection, key[0], key[1], **extra)
        except BaseException as error:
            connection.closed = True
            shared.remove(key, connection)
            if not connection.ready.done():
                connection.ready.set_exception(ConnectionRefusedError(str(error)))
                connection.ready.exception()  # retrieved: the streams that joined it see it too
            raise
        return connection
    if not connection.ready.done():
        connection.reserved += 1
        try:
            await asyncio.shield(connection.ready)
        finally:
            connection.reserved -= 1
    return connection


async def relay_over_h2(exchange, shared: SharedConnections, ip: str, port: int, tls: bool, keepalive: bool,
                        headers: list[tuple[bytes, bytes]], connect_timeout: float) -> None:
    """Carry ``exchange``'s stream (``http2_exchange.StreamExchange``) to ip:port over HTTP/2."""
    connection = await _connection(shared, (ip, port, "" if tls else None), tls, keepalive, connect_timeout)
    if connection.closed:
        raise TargetBrokeOff("the target closed the connection")
    stream = connection.open(headers, end=not exchange.has_body)
    sending = asyncio.ensure_future(_send_body(exchange, connection, stream)) if exchange.has_body else None
    try:
        await _relay_response(exchange, connection, stream)
    finally:
        if sending is not None:
            sending.cancel()
        connection.done(stream)


async def _send_body(exchange, connection: TargetConnection, stream: _Stream) -> None:
    session = exchange.session
    conn = connection.conn
    stream_id = stream.stream_id
    while (item := await exchange.body.get()) is not None:
        data, flow_length = item
        view = memoryview(data)
        while view:
            if connection.closed:
                return
            size = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, len(view))
            if size <= 0:
                stream.window.clear()
                await stream.window.wait()
                continue
            conn.send_data(stream_id, view[:size].tobytes())
            view = view[size:]
            connection.flush()
            if connection.writable is not None:
                await connection.writable
        session.acknowledge(exchange.stream_id, flow_length)
    if not connection.closed:
        conn.end_stream(stream_id)
        connection.flush()


async def _relay_response(exchange, connection: TargetConnection, stream: _Stream) -> None:
    while True:
        event = await stream.events.get()
        if event is None:
            raise TargetBrokeOff("the target closed the connection or sent GOAWAY")
        if isinstance(event, ResponseReceived):
            status = int(dict(event.headers).get(b":status", b"502"))
            fields = [(name, value) for name, value in event.headers if not name.startswith(b":")]
            exchange.send_head(status, fields, end=event.stream_ended is not None)
        elif isinstance(event, DataReceived):
            await exchange.send_data(event.data, end=event.stream_ended is not None)
            if not connection.closed:
                connection.conn.acknowledge_received_data(event.flow_controlled_length, stream.stream_id)
                connection.flush()
        elif isinstance(event, TrailersReceived):
            exchange.send_trailers(event.headers)
        elif isinstance(event, StreamEnded):
            stream.finished = True
            exchange.end_stream()
            return
        elif isinstance(event, StreamReset):
            stream.finished = True
            exchange.reset(event.error_code or ErrorCodes.INTERNAL_ERROR)
            return
