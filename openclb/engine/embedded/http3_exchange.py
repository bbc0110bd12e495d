"""One HTTP/3 request stream of a client, carried to a target as one HTTP/1.1 request.

The HTTP/3 counterpart of ``http2_exchange.StreamExchange``, kept apart so each follows its own
framing: a coroutine per stream routes the request like an HTTP/1.1 one (``HttpListener.route``:
the same 404/405/redirect/403/503 answers and forwarding headers), connects to the rule's chosen
target (another on failure, up to ``connect_attempts``; then 502), sends the head, streams the
body, and relays the response as HEADERS and DATA frames.

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
import time

from httptools import HttpParserError, HttpResponseParser

from openclb.engine.embedded.http_customized import body_too_large
from openclb.engine.embedded.http_headers import LAST_CHUNK, chunk, cookie_value, forward_request, head_lines
from openclb.engine.embedded.routing import RedirectRequest, redirect_location

log = logging.getLogger("openclb.engine.http3")

RESPONSE_HOP = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"))
READ_SIZE = 65536
SEND_HIGH_WATER = 256 * 1024
MAX_QUEUED_BODY = 4 * 1024 * 1024
H3_INTERNAL_ERROR = 0x102
H3_EXCESSIVE_LOAD = 0x107

_monotonic = time.monotonic


class _TargetFailed(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Response:
    """llhttp's callbacks for one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
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


class H3Exchange:
    """A client request stream and its target request; see the module docstring."""

    def __init__(self, session, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        self.session = session
        self.stream_id = stream_id
        self.request_headers = headers
        self.has_body = not ended
        self.request_complete = ended
        self.body: asyncio.Queue = asyncio.Queue()
        self.queued = 0
        self.responded = False
        self.rule_cookie = b""
        self.alt_svc: tuple[tuple[bytes, bytes], ...] = ()
        self.target = None
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
        listener = session.listener
        writer = None
        budget = None
        try:
            prepared = self._prepare()
            if prepared is None:
                return
            rule, target, head, chunked, method = prepared
            if not listener.budget.admits(1):
                self._local(503)
                return
            budget = listener.budget
            budget.used += 1
            self.target = target
            target.active += 1
            target.total += 1
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
                self.reset(H3_INTERNAL_ERROR)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError):
            self.reset(H3_INTERNAL_ERROR)
        except Exception:
            log.exception("http3: unexpected error on a stream of listener %s", listener.listener_id)
            self.reset(H3_INTERNAL_ERROR)
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
        for name, value in self.request_headers:
            if name.startswith(b":"):
                pseudo[name] = value
            elif name != b"host" or b":authority" not in pseudo:
                received.append((name, value))
        method, path = pseudo.get(b":method"), pseudo.get(b":path")
        if method is None or (path is None and method != b"CONNECT"):
            return self._local(400)
        if b":authority" in pseudo:
            received.insert(0, (b"host", pseudo[b":authority"]))
        chunked = self.has_body and not any(name == b"content-length" for name, _ in received)
        if chunked:
            received.append((b"transfer-encoding", b"chunked"))
        forwarded = forward_request(received, session.client_ip_bytes, listener.stamps, listener.vip_bytes, False)
        if method == b"CONNECT":
            return self._local(405)
        rule, host, route_path = listener.route(forwarded.host, path)
        if rule is None:
            return self._local(404)
        if not rule.alt_svc:
            return self._local(421)  # Misdirected: this domain serves no HTTP/3 (Quic off, or mutual TLS)
        self.alt_svc = rule.alt_svc
        rule.requests += 1
        admission = listener.admission
        if admission is not None and admission.request_refused(forwarded.headers, session.client_ip):
            return self._local(403)
        limit = rule.spec.max_body_size or listener.spec.max_body_size
        if limit and self.has_body and body_too_large(forwarded.headers, limit):
            return self._local(413)
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
        while (data := await self.body.get()) is not None:
            self.queued -= len(data)
            writer.write(chunk(data) if chunked else data)
            await writer.drain()
        if chunked:
            writer.write(LAST_CHUNK)
            await writer.drain()

    async def _relay_response(self, reader: asyncio.StreamReader, method: bytes) -> None:
        timeout = self.session.listener.spec.target_response_timeout or None
        response = _Response()
        parser = HttpResponseParser(response)
        while True:
            try:
                async with asyncio.timeout(timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                raise _TargetFailed(504) from None
            if not data:
                if response.head_done and not response.complete and not response.pieces:
                    names = {name for name, _ in response.headers}
                    response.complete = b"content-length" not in names and b"transfer-encoding" not in names
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
                self._send_head(status, response.headers, end=no_body or (response.complete and not response.pieces))
                if no_body:
                    return
            pieces, response.pieces = response.pieces, []
            for index, piece in enumerate(pieces):
                await self._send_data(piece, end=response.complete and index == len(pieces) - 1)
            if response.complete:
                if not pieces and self.responded:
                    await self._send_data(b"", end=True)
                return

    # -- towards the client ---------------------------------------------------------------

    def _send_head(self, status: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        named = set()
        for name, value in headers:
            if name == b"connection":
                named.update(token.strip().lower() for token in value.split(b","))
        kept = [(name, value) for name, value in headers
                if name not in RESPONSE_HOP and name not in named and name != b"alt-svc"]
        if self.rule_cookie:
            kept.append((b"set-cookie", self.rule_cookie))
        kept.extend(self.alt_svc)
        self.responded = True
        self.session.h3.send_headers(self.stream_id, [(b":status", b"%d" % status), *kept], end_stream=end)
        self.session.transmit_soon()

    async def _send_data(self, data: bytes, end: bool) -> None:
        session = self.session
        if session.closed:
            raise asyncio.CancelledError
        session.h3.send_data(self.stream_id, data, end_stream=end)
        session.transmit_soon()
        while session.unsent(self.stream_id) > SEND_HIGH_WATER and not session.closed:
            session.acked.clear()
            await session.acked.wait()

    def _local(self, status: int, extra: list[tuple[bytes, bytes]] = ()) -> None:
        """The load balancer's own answer (400, 403, 404, 405, 413, 421, 502, 503, 504, redirects)."""
        session = self.session
        if session.closed:
            return None
        body = b"<html><body><h1>%d</h1></body></html>" % status
        headers = [(b":status", b"%d" % status), (b"content-type", b"text/html"),
                   (b"content-length", b"%d" % len(body)), *extra]
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
