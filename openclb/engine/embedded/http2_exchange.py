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
  response gets 504 before its head, a reset stream after it.
- ForwardType GRPC/GRPCS: the stream goes on over HTTP/2 instead (``http2_upstream``), so
  ``te: trailers``, trailers and gRPC status pass.
- The stream's end (reset by the client, the connection lost) cancels the coroutine, which
  closes the target connection. Targets are counted (``active``/``total``) as HTTP/1.1's are;
  each stream has a target connection of its own (no pooling: HTTP/2 is not the hot path),
  counted against the engine's descriptor budget (503 when it is spent).
"""

from __future__ import annotations

import asyncio
import logging
import time

from h2.errors import ErrorCodes
from h2.exceptions import ProtocolError
from httptools import HttpParserError, HttpResponseParser

from openclb.engine.embedded.http_headers import LAST_CHUNK, chunk, cookie_value, forward_request, head_lines
from openclb.engine.embedded.http2_upstream import TargetBrokeOff, h2_request_headers, relay_over_h2
from openclb.engine.embedded.routing import RedirectRequest, redirect_location

log = logging.getLogger("openclb.engine.http2")

RESPONSE_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"))
READ_SIZE = 65536
GRPC_FORWARD_TYPES = ("GRPC", "GRPCS")

_monotonic = time.monotonic


class _TargetFailed(Exception):
    """The target could not be reached or broke off before its head: answered with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Response:
    """llhttp's callbacks for one response: head fields, body pieces, completion."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.head_done = False
        self.pieces: list[bytes] = []
        self.complete = False

    def on_message_begin(self) -> None:
        self.headers = []
        self.head_done = self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, data: bytes) -> None:
        self.pieces.append(data)

    def on_message_complete(self) -> None:
        self.complete = True


class StreamExchange:
    """A client stream and its target request; see the module docstring."""

    def __init__(self, session, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        self.session = session
        self.stream_id = stream_id
        self.request_headers = headers
        self.has_body = not ended  # fixed at the head; the body's own end comes through ``body``
        self.body: asyncio.Queue = asyncio.Queue()
        self.window = asyncio.Event()
        self.responded = False
        self.response_ended = False
        self.rule_cookie = b""
        self.forwarded: list[tuple[bytes, bytes]] = []
        self.te_trailers = False
        self.alt_svc: tuple[tuple[bytes, bytes], ...] = ()
        self.target = None  # the target counted active for this stream (changes on a connect retry)
        self.task = session.listener.loop.create_task(self._run())

    # -- called by the session ------------------------------------------------------------

    def body_received(self, data: bytes, flow_length: int) -> None:
        self.body.put_nowait((data, flow_length))

    def request_ended(self) -> None:
        self.body.put_nowait(None)

    def cancel(self) -> None:
        self.task.cancel()

    # -- the exchange ---------------------------------------------------------------------

    async def _run(self) -> None:
        session = self.session
        writer = None
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
            reader, writer = await self._connect(rule)
            writer.write(head)
            sending = None if not self.has_body else asyncio.ensure_future(self._send_body(writer, chunked))
            try:
                await self._relay_response(reader, method)
            finally:
                if sending is not None:
                    sending.cancel()
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
            if writer is not None:
                writer.transport.abort()
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
        forwarded = forward_request(received, session.client_ip_bytes, listener.stamps, listener.vip_bytes, False)
        self.forwarded = forwarded.headers
        self.te_trailers = any(name == b"te" and b"trailers" in value.lower() for name, value in received)
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
        headers = h2_request_headers(method, path, b"https" if grpcs else b"http", self.forwarded, self.te_trailers)
        timeout = self.session.listener.settings.connect_timeout
        try:
            await relay_over_h2(self, target.ip, target.port, grpcs, headers, timeout)
        except (OSError, asyncio.TimeoutError, TargetBrokeOff):
            raise _TargetFailed(502) from None

    async def _connect(self, rule):
        """A connection to ``self.target``, or to another target of the rule when it fails."""
        listener = self.session.listener
        settings = listener.settings
        tried = []
        while True:
            target = self.target
            tls = {"ssl": listener.backend_tls()} if rule.upstream_tls else {}
            try:
                async with asyncio.timeout(settings.connect_timeout):
                    return await asyncio.open_connection(target.ip, target.port, **tls)
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

    async def _send_body(self, writer: asyncio.StreamWriter, chunked: bool) -> None:
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

    async def _relay_response(self, reader: asyncio.StreamReader, method: bytes) -> None:
        session = self.session
        timeout = session.listener.spec.target_response_timeout or None
        response = _Response()
        parser = HttpResponseParser(response)
        while True:
            try:
                async with asyncio.timeout(timeout):  # one timer, no task per read (wait_for makes one)
                    data = await reader.read(READ_SIZE)
            except asyncio.TimeoutError:
                raise _TargetFailed(504) from None
            if not data:
                if response.head_done and not response.complete and not response.pieces:
                    response.complete = _close_delimited(response)
                if not response.complete:
                    raise _TargetFailed(502)
            else:
                try:
                    parser.feed_data(data)
                except HttpParserError:
                    raise _TargetFailed(502) from None
            if response.head_done and not self.responded:
                status = parser.get_status_code()
                if status < 200:
                    response.head_done = response.complete = False
                    continue
                no_body = method == b"HEAD" or status in (204, 304)
                self.send_head(status, response.headers, end=no_body or (response.complete and not response.pieces))
                if no_body:
                    return
            pieces, response.pieces = response.pieces, []
            for index, piece in enumerate(pieces):
                await self.send_data(piece, end=response.complete and index == len(pieces) - 1)
            if response.complete:
                if not pieces and self.responded:
                    self.end_stream()
                return

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
        session = self.session
        conn = session.conn
        view = memoryview(data)
        while view:
            if session.closed:
                raise asyncio.CancelledError
            size = min(conn.local_flow_control_window(self.stream_id), conn.max_outbound_frame_size, len(view))
            if size <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            conn.send_data(self.stream_id, view[:size].tobytes())
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
