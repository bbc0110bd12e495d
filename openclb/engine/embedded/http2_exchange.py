"""One HTTP/2 stream of a client, carried to a target as one HTTP/1.1 request.

A ``StreamExchange`` is a coroutine per stream (HTTP/2 is not the listener's hot path: a
connection's streams share one TLS session and one set of frames): route the request like
an HTTP/1.1 one (``HttpListener.route``, the same 404/405/redirect/503 answers, the same
forwarding headers), connect to the rule's chosen target (another on failure, up to
``connect_attempts``; then 502), send the head and stream the body, and relay the response.

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
from httptools import HttpParserError, HttpResponseParser

from openclb.engine.embedded.http_headers import LAST_CHUNK, chunk, cookie_value, forward_request, head_lines
from openclb.engine.embedded.http2_targets import TargetExpired, TargetLink, open_link
from openclb.engine.embedded.http2_upstream import TargetBrokeOff, h2_request_headers, relay_over_h2
from openclb.engine.embedded.routing import RedirectRequest, redirect_location

log = logging.getLogger("openclb.engine.http2")

RESPONSE_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"))
_IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))
GRPC_FORWARD_TYPES = ("GRPC", "GRPCS")

_monotonic = time.monotonic


class _TargetFailed(Exception):
    """The target could not be reached or broke off before its head: answered with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _StaleLink(Exception):
    """A pooled target connection closed before answering: the request goes again on a new one."""


class _Response:
    """llhttp's callbacks for one response: head fields, body pieces, completion.

    Interim (1xx) responses are skipped; bytes after the response (``stray``) are never
    forwarded and keep the connection out of the pool."""

    def __init__(self) -> None:
        self.parser = HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.head_done = False
        self.pieces: list[bytes] = []
        self.complete = False
        self.stray = False
        self.keep_alive = False  # llhttp forgets it once the message is complete

    def on_message_begin(self) -> None:
        if self.complete:
            self.stray = True
        else:
            self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.stray:
            self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status >= 200 and not self.stray:
            self.status = status
            self.head_done = True

    def on_body(self, data: bytes) -> None:
        if not self.stray:
            self.pieces.append(data)

    def on_message_complete(self) -> None:
        if self.head_done and not self.complete:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()


class StreamExchange:
    """A client stream and its target request; see the module docstring."""

    def __init__(self, session, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        self.session = session
        self.stream_id = stream_id
        self.request_headers = headers
        self.has_body = not ended  # fixed at the head; the body's own end comes through ``body``
        self.body: asyncio.Queue | None = asyncio.Queue() if self.has_body else None
        self.window: asyncio.Event | None = None  # made when the stream first waits for window
        self.responded = False
        self.response_ended = False
        self.rule_cookie = b""
        self.forwarded: list[tuple[bytes, bytes]] = []
        self.alt_svc: tuple[tuple[bytes, bytes], ...] = ()
        self.target = None  # the target counted active for this stream (changes on a connect retry)
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
        budget = None
        try:
            prepared = self._prepare()
            if prepared is None:
                return
            rule, target, head, chunked, method = prepared
            if not session.listener.budget.admits(1):
                self._local(503)
                return
            budget = session.listener.budget
            budget.used += 1
            self.target = target
            target.active += 1
            target.total += 1
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
                except _StaleLink:
                    link.release(False, 0.0)
                    link, reused = await self._connect(rule, pooled=False)
                    continue
                finally:
                    if sending is not None:
                        reusable = reusable and sending.done() and not sending.cancelled() and not sending.exception()
                        sending.cancel()
                break
        except _TargetFailed as failed:
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
            if budget is not None:
                budget.release(1)
            if self.target is not None:
                self.target.active -= 1
            if link is not None:
                link.release(reusable and session.listener.spec.keepalive and not session.listener.closing,
                             _monotonic())
            session.stream_done(self)

    def _prepare(self):
        """(rule, target, head bytes, chunked?, method), or None when answered locally."""
        session = self.session
        listener = session.listener
        pseudo: dict[bytes, bytes] = {}
        received: list[tuple[bytes, bytes]] = []
        cookies: list[bytes] = []
        for name, value in self.request_headers:
            if name.startswith(b":"):
                pseudo[name] = value
            elif name == b"cookie":
                cookies.append(value)
            elif name != b"host" or b":authority" not in pseudo:
                received.append((name, value))
        method, path = pseudo.get(b":method", b"GET"), pseudo.get(b":path", b"/")
        if b":authority" in pseudo:
            received.insert(0, (b"host", pseudo[b":authority"]))
        if cookies:
            received.append((b"cookie", b"; ".join(cookies)))
        chunked = self.has_body and not any(name == b"content-length" for name, _ in received)
        if chunked:
            received.append((b"transfer-encoding", b"chunked"))
        forwarded = forward_request(received, session.client_ip_bytes, listener.stamps, listener.vip_bytes,
                                    listener.spec.keepalive)
        self.forwarded = forwarded.headers
        rule, host, route_path = listener.route(forwarded.host, path)
        if method == b"CONNECT":
            return self._local(405)
        if rule is None:
            return self._local(404)
        rule.requests += 1
        self.alt_svc = rule.alt_svc
        if rule.redirect is not None:
            location = redirect_location(rule.redirect, RedirectRequest(host, route_path, listener.vip))
            return self._local(rule.redirect.code, [(b"location", location.encode("latin-1"))])
        target = rule.pinned(cookie_value(forwarded.cookie, rule.cookie_name)) if rule.cookie_name else None
        target = target or rule.pick(session.client_ip, _monotonic())
        if target is None:
            return self._local(503)
        self.rule_cookie = rule.set_cookie(target) if rule.cookie_name else b""
        head = b"%s %s HTTP/1.1\r\n%s" % (method, path, head_lines(forwarded.headers))
        return rule, target, head, chunked, method

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
            raise _TargetFailed(502) from None

    async def _connect(self, rule, pooled: bool = True) -> tuple[TargetLink, bool]:
        """(a link to ``self.target``, reused?): an idle one from the pool, else a new one, to
        another target of the rule when connecting fails."""
        listener = self.session.listener
        settings = listener.settings
        pool = listener.stream_pool
        tried = []
        while True:
            target = self.target
            key = (target.ip, target.port, "" if rule.upstream_tls else None)
            link = pool.take(key) if pooled and listener.spec.keepalive else None
            if link is not None:
                link.in_use = True
                return link, True
            tls = listener.backend_tls() if rule.upstream_tls else None
            try:
                return await open_link(pool, key, target.ip, target.port, tls, settings.connect_timeout), False
            except (OSError, TimeoutError):
                tried.append(target)
            retry = None
            if len(tried) < settings.connect_attempts:
                retry = rule.pick(self.session.client_ip, _monotonic(), exclude=tried)
            if retry is None:
                raise _TargetFailed(502)
            target.active -= 1
            retry.active += 1
            retry.total += 1
            self.target = retry

    async def _send_body(self, writer: TargetLink, chunked: bool) -> None:
        session = self.session
        while (item := await self.body.get()) is not None:
            data, flow_length = item
            if data:
                writer.write(chunk(data) if chunked else data)
                await writer.drain()
            session.acknowledge(self.stream_id, flow_length)
        if chunked:
            writer.write(LAST_CHUNK)
            await writer.drain()

    async def _relay_response(self, link: TargetLink, method: bytes, retry: bool) -> bool:
        """Relay the target's response; whether the link may carry another request after it.
        ``retry``: the link came from the pool and the request can go again (``_StaleLink``)."""
        response = _Response()
        parser = response.parser
        retry = retry and method in _IDEMPOTENT
        while True:
            self.waiting_since = _monotonic()
            try:
                data = await link.read()
            except TargetExpired:
                raise _TargetFailed(504) from None
            finally:
                self.waiting_since = 0.0
            if not data:
                if retry:
                    raise _StaleLink
                if response.head_done and not response.complete and not response.pieces:
                    response.complete = _close_delimited(response)
                    response.stray = True  # the connection is gone with it
                if not response.complete:
                    raise _TargetFailed(502)
            else:
                retry = False
                try:
                    parser.feed_data(data)
                except HttpParserError:
                    raise _TargetFailed(502) from None
            if response.head_done and not self.responded:
                no_body = method == b"HEAD" or response.status in (204, 304)
                self.send_head(response.status, response.headers,
                               end=no_body or (response.complete and not response.pieces))
                if no_body:
                    return method != b"HEAD" and response.complete and response.keep_alive and not response.stray
            pieces, response.pieces = response.pieces, []
            for index, piece in enumerate(pieces):
                await self.send_data(piece, end=response.complete and index == len(pieces) - 1)
            if response.complete:
                if not pieces and self.responded:
                    self.end_stream()
                return response.keep_alive and not response.stray

    # -- towards the client ---------------------------------------------------------------

    def send_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        named = set()
        for name, value in headers:
            if name == b"connection":
                named.update(token.strip().lower() for token in value.split(b","))
        kept = [(name, value) for name, value in headers if name not in RESPONSE_HOP and name not in named]
        if self.rule_cookie:
            kept.append((b"set-cookie", self.rule_cookie))
        kept.extend(self.alt_svc)
        self.responded = True
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

    def _local(self, status: int, extra: list[tuple[bytes, bytes]] = ()) -> None:
        """The load balancer's own answer (404, 405, 502, 503, 504, redirects)."""
        body = b"<html><body><h1>%d</h1></body></html>" % status
        session = self.session
        if session.closed:
            return None
        headers = [(b":status", b"%d" % status), (b"content-type", b"text/html"),
                   (b"content-length", b"%d" % len(body)), *extra]
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


def _close_delimited(response: _Response) -> bool:
    """A head without Content-Length or chunked framing: its body ends when the target closes."""
    names = {name for name, _ in response.headers}
    return b"content-length" not in names and b"transfer-encoding" not in names
