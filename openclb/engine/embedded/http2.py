"""HTTP/2 towards clients: the connection, its streams' limits, and the attacks it refuses.

Which protocol a client connection speaks is settled before any request: ``http_session``
(the stream handler of HTTP/HTTPS listeners) hands connections of a listener that offers no
HTTP/2 straight to ``http_proxy.HttpSession``; otherwise a ``Negotiation`` takes the
connection first. On TLS it reads the ALPN result (``tls.py`` offers ``h2`` only for domains
whose rule has Http2 on); in cleartext (HTTP with H2cSwitch) it looks for the HTTP/2
connection preface (prior knowledge, as gRPC clients send it) or a first request head asking
to upgrade to h2c (``http2_upgrade``: answered 101, the request becomes stream 1). Then it
moves the transport to an ``H2Session`` or an ``HttpSession`` and replays what it read.

``H2Session`` is the framing and state machine of python-hyper's ``h2`` (sans-IO) wired to the
transport: each client stream becomes a ``http2_exchange.StreamExchange``, an HTTP/1.1
request to a target chosen by the same routing, balancing and forwarding headers as HTTP/1.1
clients get. Flow control and back-pressure are per stream: a request body is acknowledged
to the client (WINDOW_UPDATE) only once the target's socket took it, a response is read from
the target only as fast as the client's stream window and the client transport take it, so
one slow stream never holds another back and nothing is buffered whole.

Limits (SETTINGS): ``MAX_CONCURRENT_STREAMS`` streams at a time, header lists up to
``MAX_HEADER_LIST_SIZE`` bytes (h2 refuses more, as it refuses a CONTINUATION flood: more
than its backlog of CONTINUATION frames without END_HEADERS). Floods known from the wild are
counted per connection over ``FLOOD_WINDOW`` seconds: streams the client resets (rapid reset,
CVE-2023-44487), SETTINGS frames and PINGs; past a bound the connection gets GOAWAY
ENHANCE_YOUR_CALM and is closed. Every protocol error ends the connection with h2's GOAWAY.
None of this blocks the event loop beyond one read's worth of frames, so other clients go on.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import time

from jh2.config import H2Configuration
from jh2.connection import H2Connection
from jh2.errors import ErrorCodes
from jh2.events import (
    ConnectionTerminated, DataReceived, PingReceived, RemoteSettingsChanged, RequestReceived, StreamEnded,
    StreamReset, WindowUpdated,
)
from jh2.exceptions import ProtocolError
from jh2.hyperframe.exceptions import HyperframeError
from jh2.settings import SettingCodes, Settings

from openclb.engine.embedded.http_headers import MAX_REQUEST_HEAD
from openclb.engine.embedded.http_listener import HttpListener
from openclb.engine.embedded.http_proxy import HttpSession
from openclb.engine.embedded.http2_exchange import StreamExchange
from openclb.engine.embedded.http2_upgrade import SWITCHING, Upgrade, asks_h2c, h2c_upgrade, without_upgrade

log = logging.getLogger("openclb.engine.http2")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
MAX_CONCURRENT_STREAMS = 100
MAX_HEADER_LIST_SIZE = MAX_REQUEST_HEAD
FLOOD_WINDOW = 10.0
MAX_RESETS = 200
MAX_SETTINGS = 100
MAX_PINGS = 100

# ``jh2`` is python-hyper's h2 with HPACK compiled (the same API; h2 in pure Python spent
# about 40 % more CPU per stream, measured). Outbound fields are not re-validated: the
# response heads sent are lower-cased by llhttp's parse and stripped of hop-by-hop fields
# (``http2_exchange.RESPONSE_HOP``); what clients send is validated in full.
_CONFIG = H2Configuration(client_side=False, header_encoding=None, validate_outbound_headers=False,
                          normalize_outbound_headers=False)
_monotonic = time.monotonic


def http_session(listener: HttpListener, listen_port: int) -> asyncio.Protocol:
    """The protocol of a new client connection: HTTP/1.1 unless the listener offers HTTP/2."""
    if listener.offers_h2:
        return Negotiation(listener, listen_port)
    return HttpSession(listener, listen_port)


class Negotiation(asyncio.Protocol):
    """Holds a new connection until its protocol is known, then hands it over."""

    def __init__(self, listener: HttpListener, listen_port: int) -> None:
        self.listener = listener
        self.listen_port = listen_port
        self.transport: asyncio.Transport | None = None
        self.early = b""
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._hand_over(H2Session if ssl_object.selected_alpn_protocol() == "h2" else HttpSession)
            return
        # Cleartext: a client that says nothing within the head timeout is closed, as HTTP/1.1's would be.
        wait = self.listener.spec.client_head_timeout or 60.0
        self.timer = asyncio.get_running_loop().call_later(wait, transport.close)

    def data_received(self, data: bytes) -> None:
        early = self.early = self.early + data
        if early.startswith(PREFACE):
            self._hand_over(H2Session)
        elif PREFACE.startswith(early):
            return
        elif (end := early.find(b"\r\n\r\n")) >= 0:
            upgrade = h2c_upgrade(early[:end])
            if upgrade is not None and self._upgrade(upgrade, early[end + 4:]):
                return
            if asks_h2c(early[:end]):
                self.early = without_upgrade(early[:end]) + early[end:]
            self._hand_over(HttpSession)
        elif len(early) > MAX_REQUEST_HEAD:
            self._hand_over(HttpSession)  # which answers 431

    def _upgrade(self, upgrade: Upgrade, rest: bytes) -> bool:
        """h2c by Upgrade (``http2_upgrade``): 101, then HTTP/2 with the request as stream 1;
        False when HTTP2-Settings is unusable (the upgrade is then ignored)."""
        session = H2Session(self.listener, self.listen_port)
        try:
            session.conn.initiate_upgrade_connection(upgrade.settings)
        except (ProtocolError, ValueError, binascii.Error, HyperframeError):
            return False
        if self.timer is not None:
            self.timer.cancel()
        self.transport.set_protocol(session)
        session.upgraded(self.transport, upgrade.headers, rest)
        return True

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def _hand_over(self, kind) -> None:
        if self.timer is not None:
            self.timer.cancel()
        session = kind(self.listener, self.listen_port)
        self.transport.set_protocol(session)
        session.connection_made(self.transport)
        if self.early and not session.closed:
            session.data_received(self.early)


class _FloodCounter:
    """How many times something happened in the current window of FLOOD_WINDOW seconds."""

    __slots__ = ("limit", "count", "since")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.since = 0.0

    def over(self, now: float) -> bool:
        if now - self.since > FLOOD_WINDOW:
            self.since, self.count = now, 0
        self.count += 1
        return self.count > self.limit


class H2Session(asyncio.Protocol):
    """One HTTP/2 client connection (a tracked connection, see listener.py)."""

    def __init__(self, listener: HttpListener, listen_port: int) -> None:
        self.listener = listener
        self.listen_port = listen_port
        self.transport: asyncio.Transport | None = None
        self.client_ip = ""
        self.client_ip_bytes = b""
        self.target = None
        self.busy = False
        self.idle_since = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.log_connection = None  # the access log's fields of this connection, once a request is logged
        self.log_requests = 0
        self.closed = False
        self.finishing = False
        self.quiet_close = False
        self.flush_pending = False
        self.conn = H2Connection(config=_CONFIG)
        self.conn.local_settings = Settings(client=False, initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: MAX_CONCURRENT_STREAMS,
            SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
        })
        self.streams: dict[int, StreamExchange] = {}
        self.writable = asyncio.Event()
        self.writable.set()
        self.resets = _FloodCounter(MAX_RESETS)
        self.settings_frames = _FloodCounter(MAX_SETTINGS)
        self.pings = _FloodCounter(MAX_PINGS)

    # -- transport callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        now = self.listener.take_client(self, transport)
        if not now:
            return
        self.idle_since = now
        self.conn.initiate_connection()
        self.flush()

    def upgraded(self, transport: asyncio.Transport, headers: list[tuple[bytes, bytes]], rest: bytes) -> None:
        """Take over a connection upgraded from HTTP/1.1 (``Negotiation._upgrade``, which has
        set up h2's side of it): the 101, the server preface, stream 1, then what followed."""
        self.transport = transport
        now = self.listener.take_client(self, transport)
        if not now:
            return
        self.idle_since = now
        transport.write(SWITCHING)
        self.flush()
        self._open_stream(1, headers, True)
        if rest:
            self.data_received(rest)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.bytes_in += len(data)
        self.busy = True
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            self.flush()  # h2 has queued its GOAWAY
            self.close()
            return
        for event in events:
            self._on_event(event)
            if self.closed:
                return
        self.flush()

    def _on_event(self, event) -> None:
        now = _monotonic()
        if isinstance(event, RequestReceived):
            self._open_stream(event.stream_id, event.headers, event.stream_ended is not None)
        elif isinstance(event, DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.body_received(event.data, event.flow_controlled_length)
            else:
                self.acknowledge(event.stream_id, event.flow_controlled_length)
        elif isinstance(event, StreamEnded):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.request_ended()
        elif isinstance(event, StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.cancel()
            if event.remote_reset and self.resets.over(now):
                self._calm("streams reset")
        elif isinstance(event, WindowUpdated):
            self._wake(event.stream_id)
        elif isinstance(event, RemoteSettingsChanged):
            self._wake(0)
            if self.settings_frames.over(now):
                self._calm("SETTINGS frames")
        elif isinstance(event, PingReceived):
            if self.pings.over(now):
                self._calm("PING frames")
        elif isinstance(event, ConnectionTerminated):
            self.flush()
            self.close()

    def _open_stream(self, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        if self.finishing:
            self.conn.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            return
        self.listener.requests += 1
        self.streams[stream_id] = StreamExchange(self, stream_id, headers, ended)

    def _calm(self, what: str) -> None:
        """A flood: GOAWAY ENHANCE_YOUR_CALM, then the connection closes."""
        log.warning("http2: closing a connection from %s on listener %s: too many %s",
                    self.client_ip, self.listener.listener_id, what)
        self.conn.close_connection(error_code=ErrorCodes.ENHANCE_YOUR_CALM)
        self.flush()
        self.close()

    def _wake(self, stream_id: int) -> None:
        if stream_id:
            stream = self.streams.get(stream_id)
            if stream is not None and stream.window is not None:
                stream.window.set()
        else:
            for stream in self.streams.values():
                if stream.window is not None:
                    stream.window.set()

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        # The client reads slower than we write: stop reading it (and its acks and pings) too.
        self.writable.clear()
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writable.set()
        if not self.closed:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable.set()
        for stream in list(self.streams.values()):
            stream.cancel()
        self.streams.clear()
        self.listener.released(self)

    # -- what streams use -----------------------------------------------------------------

    def flush(self) -> None:
        """Write what h2 has queued now (one TLS record for a read's worth of frames)."""
        self.flush_pending = False
        data = self.conn.data_to_send()
        if data and not self.closed:
            self.bytes_out += len(data)
            self.busy = True
            self.transport.write(data)

    def flush_soon(self) -> None:
        """Write what the streams queue in this turn of the loop at its end, in one write: a
        write per frame would cost a TLS record each (the largest cost per stream, profiled)."""
        if not self.flush_pending:
            self.flush_pending = True
            self.listener.loop.call_soon(self.flush)

    def acknowledge(self, stream_id: int, size: int) -> None:
        """Give ``size`` bytes of window back to the client: the target took them."""
        if self.closed or not size:
            return
        try:
            self.conn.acknowledge_received_data(size, stream_id)
        except ProtocolError:
            return  # the stream is gone; h2 has counted the connection window already
        self.flush_soon()

    def stream_done(self, stream: StreamExchange) -> None:
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
        if self.finishing and not self.streams and not self.closed:
            self.quiet_close = True
            self.transport.close()

    # -- tracked-connection interface -----------------------------------------------------

    def close(self) -> None:
        self.closed = True
        self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()

    def finish(self) -> None:
        """The listener is stopping: GOAWAY, serve the open streams, then close."""
        if self.closed or self.finishing:
            return
        self.finishing = True
        self.conn.close_connection()
        self.flush()
        if not self.streams:
            self.quiet_close = True
            self.transport.close()

    def check_deadlines(self, now: float, head_timeout: float, response_timeout: float) -> None:
        """A stream whose target has been silent for ``response_timeout`` while it owes a
        response is timed out (504 before the head, a reset after; ``StreamExchange.expire``)."""
        if response_timeout > 0:
            for stream in list(self.streams.values()):
                waiting = stream.waiting_since
                if waiting and now - waiting >= response_timeout:
                    stream.expire()
