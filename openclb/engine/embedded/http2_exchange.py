"""One HTTP/2 stream of a client, carried to a target as one HTTP/1.1 request.

A ``StreamExchange`` is a coroutine per stream (HTTP/2 is not the listener's hot path: a
connection's streams share one TLS session and one set of frames): route the request like
an HTTP/1.1 one (``HttpListener.route``, the same 404/405/redirect/503 answers, the same
forwarding headers), connect to the rule's chosen target (another on failure, up to
``connect_attempts``; then 502), send the head and stream the body, and relay the response.
What it shares with HTTP/3's ``H3Exchange`` lives in their base, ``stream_exchange.TargetExchange``.

- Request: pseudo-headers become the request line and Host; split Cookie headers are joined
  (RFC 9113 8.2.3); a body without Content-Length goes chunked. Each DATA frame is written to
  the target and acknowledged to the client only after the target's socket has drained it.
- Response: parsed with llhttp; hop-by-hop headers are dropped (``RESPONSE_HOP``) and the
  rest sent as HEADERS, the body as DATA within the stream's and connection's flow-control
  windows and the client transport's write buffer; the target is read no faster. 1xx heads
  are not passed on; a HEAD request's response ends at its head.
- Deadlines: a target silent for the listener's ``target_response_timeout`` while it owes a
  response gets 504 before its head, a reset stream after it. They are kept by the listener's
  sweep (``H2Session.check_deadlines``), not by a timer per read.
- ForwardType GRPC/GRPCS: the stream goes on over HTTP/2 instead (``http2_upstream``), so
  ``te: trailers``, trailers and gRPC status pass.
- Target connections (``http2_targets.TargetLink``) are kept alive and reused across streams
  when the listener's KeepaliveEnable is on (the listener's ``stream_pool``): one goes back
  after a response that was read whole, with the request sent whole, no ``Connection: close``,
  not close-delimited, not a HEAD's, and no bytes after it. A request on a pooled connection
  that closes before answering goes again on a new one (idempotent methods without a body).
- The stream's end (reset by the client, the connection lost) cancels the coroutine, which
  closes the target connection. Targets are counted (``active``/``total``) as HTTP/1.1's are;
  each stream in flight holds one descriptor of the engine's budget (503 when it is spent).
"""

from __future__ import annotations

import asyncio
import logging
import time

from jh2.errors import ErrorCodes
from jh2.exceptions import ProtocolError

from openclb.engine.embedded.http2_targets import TargetExpired, TargetLink, open_link
from openclb.engine.embedded.http_access_log import stream_finished
from openclb.engine.embedded.http2_upstream import TargetBrokeOff, h2_request_headers, relay_over_h2
from openclb.engine.embedded.stream_exchange import StaleLink, TargetExchange, TargetFailed, local_answer

log = logging.getLogger("openclb.engine.http2")

RESPONSE_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"))
GRPC_FORWARD_TYPES = ("GRPC", "GRPCS")

_monotonic = time.monotonic


class StreamExchange(TargetExchange):
    """A client stream and its target request; see the module docstring."""

    RESPONSE_DROPPED = RESPONSE_HOP

    def __init__(self, session, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        super().__init__(session, stream_id, headers, ended)
        self.body: asyncio.Queue | None = asyncio.Queue() if self.has_body else None
        self.window: asyncio.Event | None = None  # made when the stream first waits for window
        self.response_ended = False
        self.forwarded: list[tuple[bytes, bytes]] = []
        self.link: TargetLink | None = None
        self.waiting_since = 0.0  # while the target owes bytes of the response (the session's sweep)
        self.task = session.listener.loop.create_task(self._run())

    # -- called by the session ------------------------------------------------------------

    def body_received(self, data: bytes, flow_length: int) -> None:
        self.body.put_nowait((data, flow_length))

    def request_ended(self) -> None:
        if self.body is not None:
            self.body.put_nowait(None)

    def cancel(self) -> None:
        self.task.cancel()

    def expire(self) -> None:
        """The target has been silent too long (``H2Session.check_deadlines``)."""
        self.waiting_since = 0.0
        if self.link is not None:
            self.link.expire()

    # -- the exchange ---------------------------------------------------------------------

    async def _run(self) -> None:
        session = self.session
        link = None
        reusable = False
        try:
            prepared = self._prepare()
            if prepared is None:
                return
            rule, target, head, chunked, method = prepared
            if not self._admit(target):
                return
            if rule.spec.forward_type.upper() in GRPC_FORWARD_TYPES:
                await self._relay_grpc(rule, target, method)
                return
            link, reused = await self._connect(rule)
            while True:
                self.link = link
                link.write(head)
                sending = None if not self.has_body else asyncio.ensure_future(self._send_body(link, chunked))
                try:
                    reusable = await self._relay_response(link, method, retry=reused and sending is None)
                except StaleLink:
                    link.release(False, 0.0)
                    link, reused = await self._connect(rule, pooled=False)
                    continue
                finally:
                    if sending is not None:
                        reusable = reusable and sending.done() and not sending.cancelled() and not sending.exception()
                        sending.cancel()
                break
        except TargetFailed as failed:
            if not self.responded:
                self._local(failed.status)
            else:
                self.reset(ErrorCodes.INTERNAL_ERROR)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError, ProtocolError, TargetBrokeOff):
            self.reset(ErrorCodes.INTERNAL_ERROR)
        except Exception:
            log.exception("http2: unexpected error on a stream of listener %s", session.listener.listener_id)
            self.reset(ErrorCodes.INTERNAL_ERROR)
        finally:
            if session.listener.access_log is not None:
                stream_finished(self, "2.0")
            self._let_go()
            if link is not None:
                link.release(reusable and session.listener.spec.keepalive and not session.listener.closing,
                             _monotonic())
            session.stream_done(self)

    def _prepare(self):
        """(rule, target, head bytes, chunked?, method), or None when answered locally."""
        listener = self.session.listener
        request = self._request(join_cookies=True, keepalive=listener.spec.keepalive)
        if request is None:
            return None
        method, path, forwarded, chunked = request
        self.forwarded = forwarded.headers
        rule, host, route_path = listener.route(forwarded.host, path)
        if rule is None:
            return self._local(404)
        rule.requests += 1
        self.alt_svc = rule.alt_svc
        refusal = self._refusal(rule, forwarded)
        if refusal:
            return self._local(refusal)
        return self._choose_target(rule, forwarded, host, route_path, method, path, chunked)

    async def _relay_grpc(self, rule, target, method: bytes) -> None:
        """ForwardType GRPC/GRPCS: the stream goes on over HTTP/2 (``http2_upstream``)."""
        grpcs = rule.spec.forward_type.upper() == "GRPCS"
        path = next((value for name, value in self.request_headers if name == b":path"), b"/")
        te_trailers = any(name == b"te" and b"trailers" in value.lower() for name, value in self.request_headers)
        headers = h2_request_headers(method, path, b"https" if grpcs else b"http", self.forwarded, te_trailers)
        listener = self.session.listener
        try:
            await relay_over_h2(self, listener.shared_targets, target.ip, target.port, grpcs, listener.spec.keepalive,
                                headers, listener.settings.connect_timeout)
        except (OSError, asyncio.TimeoutError, TargetBrokeOff):
            raise TargetFailed(502) from None

    async def _connect(self, rule, pooled: bool = True) -> tuple[TargetLink, bool]:
        """(a link to ``self.target``, reused?): an idle one from the pool, else a new one, to
        another target of the rule when connecting fails."""
        listener = self.session.listener
        pool = listener.stream_pool

        async def connect_one(target) -> tuple[TargetLink, bool]:
            key = (target.ip, target.port, "" if rule.upstream_tls else None)
            link = pool.take(key) if pooled and listener.spec.keepalive else None
            if link is not None:
                link.in_use = True
                return link, True
            tls = listener.backend_tls() if rule.upstream_tls else None
            return await open_link(pool, key, target.ip, target.port, tls, listener.settings.connect_timeout), False

        return await self._connect_any(rule, connect_one)

    def _body_taken(self, item: tuple[bytes, int]) -> bytes:
        return item[0]

    def _body_sent(self, item: tuple[bytes, int]) -> None:
        """Acknowledged to the client only once the target's socket has drained it."""
        self.session.acknowledge(self.stream_id, item[1])

    async def _read_target(self, link: TargetLink) -> bytes:
        self.waiting_since = _monotonic()
        try:
            return await link.read()
        except TargetExpired:
            raise TargetFailed(504) from None
        finally:
            self.waiting_since = 0.0

    # -- towards the client ---------------------------------------------------------------

    def send_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        kept = self._client_headers(headers)
        self.responded = True
        self.log_status = status
        self.response_ended = end
        session = self.session
        session.conn.send_headers(self.stream_id, [(b":status", b"%d" % status), *kept], end_stream=end)
        session.flush_soon()

    def send_trailers(self, trailers: list[tuple[bytes, bytes]]) -> None:
        """The target's trailers (gRPC's status among them) end the client's stream."""
        if self.response_ended:
            return
        self.response_ended = True
        self.session.conn.send_headers(self.stream_id, trailers, end_stream=True)
        self.session.flush_soon()

    def end_stream(self) -> None:
        if self.response_ended:
            return
        self.response_ended = True
        self.session.conn.end_stream(self.stream_id)
        self.session.flush_soon()

    async def send_data(self, data: bytes, end: bool) -> None:
        """DATA within the windows; ``end`` rides on the last frame (no empty DATA frame to end)."""
        session = self.session
        conn = session.conn
        stream_id = self.stream_id
        self.log_out += len(data)
        if len(data) <= conn.local_flow_control_window(stream_id) and len(data) <= conn.max_outbound_frame_size:
            if session.closed:
                raise asyncio.CancelledError
            conn.send_data(stream_id, data, end_stream=end and not self.response_ended)
            self.response_ended = self.response_ended or end
            session.flush_soon()
            if not session.writable.is_set():
                await session.writable.wait()
            return
        view = memoryview(data)
        while view:
            if session.closed:
                raise asyncio.CancelledError
            size = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size, len(view))
            if size <= 0:
                if self.window is None:
                    self.window = asyncio.Event()
                self.window.clear()
                await self.window.wait()
                continue
            last = size == len(view) and end and not self.response_ended
            conn.send_data(stream_id, view[:size].tobytes(), end_stream=last)
            self.response_ended = self.response_ended or last
            view = view[size:]
            session.flush_soon()
            if not session.writable.is_set():
                await session.writable.wait()
        if end:
            self.end_stream()

    async def _end_response(self) -> None:
        self.end_stream()

    def _local(self, status: int, extra: list[tuple[bytes, bytes]] = ()) -> None:
        """The load balancer's own answer (404, 405, 502, 503, 504, redirects)."""
        session = self.session
        if session.closed:
            return None
        headers, body = local_answer(status, extra)
        self.log_status, self.log_out = status, len(body)
        try:
            session.conn.send_headers(self.stream_id, headers)
            session.conn.send_data(self.stream_id, body, end_stream=True)
        except ProtocolError:
            return None
        self.responded = self.response_ended = True
        session.flush_soon()
        return None

    def reset(self, code: ErrorCodes) -> None:
        session = self.session
        if session.closed:
            return
        try:
            session.conn.reset_stream(self.stream_id, code)
        except ProtocolError:
            return
        session.flush_soon()

