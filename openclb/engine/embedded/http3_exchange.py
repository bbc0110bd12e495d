"""One HTTP/3 request stream of a client, carried to a target as one HTTP/1.1 request.

The HTTP/3 counterpart of ``http2_exchange.StreamExchange``; both are
``stream_exchange.TargetExchange``s (the request preparation, connect retries, body and llhttp
response relay they share), this one with HTTP/3's framing and checks. A coroutine per stream
routes the request like an HTTP/1.1 one (``HttpListener.route``: the same
404/405/redirect/403/503 answers and forwarding headers), connects to the rule's chosen target
(another on failure, up to ``connect_attempts``; then 502), sends the head, streams the body,
and relays the response as HEADERS and DATA frames.

- Request: pseudo-headers become the request line and Host (``:authority``); a body without
  Content-Length goes chunked; trailers end the body and are not passed on. A customized
  configuration's ``client_max_body_size`` answers a larger Content-Length with 413.
- A request for a domain that serves no HTTP/3 (Quic off on its rule, or mutual TLS) gets 421
  Misdirected Request: the handshake only ever presents certificates of domains that do.
- Response: parsed with llhttp; hop-by-hop headers are dropped; the rule's persistence cookie
  and the domain's ``Alt-Svc`` are added. The target is read no faster than the client
  acknowledges: past ``SEND_HIGH_WATER`` unacknowledged bytes on the stream the exchange
  waits for the client's next datagrams.
- Request bodies: aioquic opens flow-control windows as data arrives, so a body is queued for
  the target; a stream with more than ``MAX_QUEUED_BODY`` bytes waiting for a slow target is
  reset (H3_EXCESSIVE_LOAD) rather than held in memory. A stream answered before its body ended
  (404, 413, 502...) gets STOP_SENDING from the session.
- Deadlines: a target silent for ``target_response_timeout`` while it owes a response gets 504
  before its head, a reset stream after it. The stream's end (reset by the client, the
  connection lost) cancels the coroutine, which closes the target connection. Each stream has
  a target connection of its own, counted against the engine's descriptor budget.
"""

from __future__ import annotations

import asyncio
import logging

from openclb.engine.embedded.http_access_log import stream_finished
from openclb.engine.embedded.stream_exchange import TargetExchange, TargetFailed, local_answer

log = logging.getLogger("openclb.engine.http3")

RESPONSE_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"))
READ_SIZE = 65536
SEND_HIGH_WATER = 256 * 1024
MAX_QUEUED_BODY = 4 * 1024 * 1024
H3_INTERNAL_ERROR = 0x102
H3_EXCESSIVE_LOAD = 0x107


class H3Exchange(TargetExchange):
    """A client request stream and its target request; see the module docstring."""

    RESPONSE_DROPPED = RESPONSE_HOP | {b"alt-svc"}

    def __init__(self, session, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        super().__init__(session, stream_id, headers, ended)
        self.request_complete = ended
        self.body: asyncio.Queue = asyncio.Queue()
        self.queued = 0
        self.task = session.loop.create_task(self._run())

    # -- called by the session ------------------------------------------------------------

    def body_received(self, data: bytes, ended: bool) -> None:
        if data:
            self.queued += len(data)
            if self.queued > MAX_QUEUED_BODY:
                self.reset(H3_EXCESSIVE_LOAD)
                self.cancel()
                return
            self.body.put_nowait(data)
        if ended:
            self.request_ended()

    def request_ended(self) -> None:
        self.request_complete = True
        self.body.put_nowait(None)

    def cancel(self) -> None:
        self.task.cancel()

    # -- the exchange ---------------------------------------------------------------------

    async def _run(self) -> None:
        session = self.session
        writer = None
        try:
            prepared = self._prepare()
            if prepared is None:
                return
            rule, target, head, chunked, method = prepared
            if not self._admit(target):
                return
            reader, writer = await self._connect(rule)
            writer.write(head)
            sending = None if not self.has_body else asyncio.ensure_future(self._send_body(writer, chunked))
            try:
                await self._relay_response(reader, method)
            finally:
                if sending is not None:
                    sending.cancel()
        except TargetFailed as failed:
            if not self.responded:
                self._local(failed.status)
            else:
                self.reset(H3_INTERNAL_ERROR)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError):
            self.reset(H3_INTERNAL_ERROR)
        except Exception:
            log.exception("http3: unexpected error on a stream of listener %s", session.listener.listener_id)
            self.reset(H3_INTERNAL_ERROR)
        finally:
            if session.listener.access_log is not None:
                stream_finished(self, "3.0")
            self._let_go()
            if writer is not None:
                writer.transport.abort()
            session.stream_done(self)

    def _prepare(self):
        """(rule, target, head bytes, chunked?, method), or None when answered locally."""
        session = self.session
        listener = session.listener
        request = self._request(join_cookies=True, keepalive=False)
        if request is None:
            return None
        method, path, forwarded, chunked = request
        rule, host, route_path = listener.route(forwarded.host, path)
        if rule is None:
            return self._local(404)
        if not rule.alt_svc:
            return self._local(421)  # Misdirected: this domain serves no HTTP/3 (Quic off, or mutual TLS)
        self.alt_svc = rule.alt_svc
        rule.requests += 1
        refusal = self._refusal(rule, forwarded)
        if refusal:
            return self._local(refusal)
        return self._choose_target(rule, forwarded, host, route_path, method, path, chunked)

    async def _connect(self, rule) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to ``self.target``, or to another target of the rule when it fails."""
        listener = self.session.listener

        async def connect_one(target) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            tls = {"ssl": listener.backend_tls()} if rule.upstream_tls else {}
            async with asyncio.timeout(listener.settings.connect_timeout):
                return await asyncio.open_connection(target.ip, target.port, **tls)

        return await self._connect_any(rule, connect_one)

    def _body_taken(self, data: bytes) -> bytes:
        self.queued -= len(data)
        return data

    def _body_sent(self, data: bytes) -> None:
        pass

    async def _read_target(self, reader: asyncio.StreamReader) -> bytes:
        """The target's next bytes; 504 when it stays silent for ``target_response_timeout``."""
        try:
            async with asyncio.timeout(self.session.listener.spec.target_response_timeout or None):
                return await reader.read(READ_SIZE)
        except TimeoutError:
            raise TargetFailed(504) from None

    # -- towards the client ---------------------------------------------------------------

    def send_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        kept = self._client_headers(headers)
        self.responded = True
        self.log_status = status
        self.session.h3.send_headers(self.stream_id, [(b":status", b"%d" % status), *kept], end_stream=end)
        self.session.transmit_soon()

    async def send_data(self, data: bytes, end: bool) -> None:
        session = self.session
        if session.closed:
            raise asyncio.CancelledError
        self.log_out += len(data)
        session.h3.send_data(self.stream_id, data, end_stream=end)
        session.transmit_soon()
        while session.unsent(self.stream_id) > SEND_HIGH_WATER and not session.closed:
            session.acked.clear()
            await session.acked.wait()

    async def _end_response(self) -> None:
        await self.send_data(b"", end=True)

    def _local(self, status: int, extra: list[tuple[bytes, bytes]] = ()) -> None:
        """The load balancer's own answer (400, 403, 404, 405, 413, 421, 502, 503, 504, redirects)."""
        session = self.session
        if session.closed:
            return None
        headers, body = local_answer(status, extra)
        self.log_status, self.log_out = status, len(body)
        session.h3.send_headers(self.stream_id, headers)
        session.h3.send_data(self.stream_id, body, end_stream=True)
        self.responded = True
        session.transmit_soon()
        return None

    def reset(self, code: int) -> None:
        session = self.session
        if session.closed:
            return
        try:
            session.quic.reset_stream(self.stream_id, code)
        except (ValueError, AssertionError):
            return
        session.transmit_soon()
