"""What HTTP/2's and HTTP/3's client streams share on their way to an HTTP/1.1 target.

``TargetExchange`` is the base of ``http2_exchange.StreamExchange`` and
``http3_exchange.H3Exchange``: one coroutine per client stream, carried to a target as one
HTTP/1.1 request. The base holds the logic that is the same for both (pseudo-headers to a
request line and forwarding headers, the rule's redirect or target, the descriptor budget and
target counts, connecting with retries on other targets, streaming the body, relaying the
response parsed by llhttp, filtering its hop-by-hop headers); each subclass says how bytes
reach its client and the target (``send_head``, ``send_data``, ``_end_response``, ``_local``,
``_read_target``, ``_body_taken``/``_body_sent``) and keeps its protocol's own checks.

Invariants: a stream holds at most one descriptor of the engine's budget and counts exactly
one target active at a time (``_admit``/``_let_go``); ``responded`` turns true with the first
head sent to the client, after which failures reset the stream instead of answering.
"""

from __future__ import annotations

import time

from httptools import HttpParserError, HttpResponseParser

from openclb.engine.embedded.http_customized import body_too_large
from openclb.engine.embedded.http_headers import LAST_CHUNK, chunk, cookie_value, forward_request, head_lines
from openclb.engine.embedded.routing import RedirectRequest, redirect_location

IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))

_monotonic = time.monotonic


class TargetFailed(Exception):
    """The target could not be reached or broke off before its head: answered with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class StaleLink(Exception):
    """A pooled target connection closed before answering: the request goes again on a new one."""


class TargetResponse:
    """llhttp's callbacks for one response: head fields, body pieces, completion.

    Interim (1xx) responses are skipped; bytes after the response (``stray``) are never
    forwarded and keep the connection out of any pool."""

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

    def close_delimited(self) -> bool:
        """A head without Content-Length or chunked framing: its body ends when the target closes."""
        names = {name for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names


def local_answer(status: int, extra: list[tuple[bytes, bytes]] = ()) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """(headers, body) of the load balancer's own answer (404, 502, 503, redirects...)."""
    body = b"<html><body><h1>%d</h1></body></html>" % status
    return [(b":status", b"%d" % status), (b"content-type", b"text/html"),
            (b"content-length", b"%d" % len(body)), *extra], body


class TargetExchange:
    """A client stream and its target request; see the module docstring.

    ``RESPONSE_DROPPED``: the target's response headers never passed to the client."""

    RESPONSE_DROPPED: frozenset[bytes] = frozenset()

    def __init__(self, session, stream_id: int, headers: list[tuple[bytes, bytes]], ended: bool) -> None:
        self.session = session
        self.stream_id = stream_id
        self.request_headers = headers
        self.has_body = not ended  # fixed at the head; the body's own end comes through ``body``
        self.responded = False
        self.rule_cookie = b""
        self.alt_svc: tuple[tuple[bytes, bytes], ...] = ()
        self.target = None  # the target counted active for this stream (changes on a connect retry)
        self.budget = None  # the engine's descriptor budget, once this stream holds one of it
        # What the access log needs at the stream's end (``http_access_log.stream_finished``).
        self.log_started = _monotonic()
        self.log_rule = None
        self.log_status = self.log_upstream = self.log_in = self.log_out = 0

    # -- the request ----------------------------------------------------------------------

    def _request(self, join_cookies: bool, keepalive: bool):
        """(method, path, forwarded, chunked?) of the client's head, or None when answered locally
        (400 without :method or :path, 405 for CONNECT)."""
        session = self.session
        listener = session.listener
        pseudo: dict[bytes, bytes] = {}
        received: list[tuple[bytes, bytes]] = []
        cookies: list[bytes] = []
        for name, value in self.request_headers:
            if name.startswith(b":"):
                pseudo[name] = value
            elif join_cookies and name == b"cookie":
                cookies.append(value)
            elif name != b"host" or b":authority" not in pseudo:
                received.append((name, value))
        method, path = pseudo.get(b":method"), pseudo.get(b":path")
        if method is None or (path is None and method != b"CONNECT"):
            return self._local(400)
        if method == b"CONNECT":
            return self._local(405)
        if b":authority" in pseudo:
            received.insert(0, (b"host", pseudo[b":authority"]))
        if cookies:
            received.append((b"cookie", b"; ".join(cookies)))
        chunked = self.has_body and not any(name == b"content-length" for name, _ in received)
        if chunked:
            received.append((b"transfer-encoding", b"chunked"))
        forwarded = forward_request(received, session.client_ip_bytes, listener.stamps, listener.vip_bytes, keepalive)
        return method, path, forwarded, chunked

    def _refusal(self, rule, forwarded) -> int:
        """403 for a blocked client (by its address or the ClientIPField header), 413 for a
        declared body over the rule's limit, as HTTP/1.1 answers them; 0 to go on."""
        listener = self.session.listener
        admission = listener.admission
        if admission is not None and admission.request_refused(forwarded.headers, self.session.client_ip):
            return 403
        limit = rule.spec.max_body_size or listener.spec.max_body_size
        if limit and self.has_body and body_too_large(forwarded.headers, limit):
            return 413
        return 0

    def _choose_target(self, rule, forwarded, host: str, route_path: str, method: bytes, path: bytes, chunked: bool):
        """(rule, target, head bytes, chunked?, method) for a routed request, or None when answered
        locally (the rule's redirect, 503 without a target)."""
        session = self.session
        if rule.redirect is not None:
            location = redirect_location(rule.redirect, RedirectRequest(host, route_path, session.listener.vip))
            return self._local(rule.redirect.code, [(b"location", location.encode("latin-1"))])
        target = rule.pinned(cookie_value(forwarded.cookie, rule.cookie_name)) if rule.cookie_name else None
        target = target or rule.pick(session.client_ip, _monotonic())
        if target is None:
            return self._local(503)
        self.rule_cookie = rule.set_cookie(target) if rule.cookie_name else b""
        self.log_rule = rule
        head = b"%s %s HTTP/1.1\r\n%s" % (method, path, head_lines(forwarded.headers))
        return rule, target, head, chunked, method

    def _admit(self, target) -> bool:
        """Take one descriptor of the engine's budget and count ``target`` active; False (503
        answered) when the budget is spent."""
        budget = self.session.listener.budget
        if not budget.admits(1):
            self._local(503)
            return False
        budget.used += 1
        self.budget = budget
        self.target = target
        target.active += 1
        target.total += 1
        return True

    def _let_go(self) -> None:
        if self.budget is not None:
            self.budget.release(1)
        if self.target is not None:
            self.target.active -= 1

    # -- the target -----------------------------------------------------------------------

    async def _connect_any(self, rule, connect_one):
        """``await connect_one(target)`` for ``self.target``; when it fails (OSError, timeout),
        again to another target of the rule, up to ``connect_attempts``; then 502."""
        settings = self.session.listener.settings
        tried = []
        while True:
            target = self.target
            try:
                return await connect_one(target)
            except (OSError, TimeoutError):
                tried.append(target)
            retry = None
            if len(tried) < settings.connect_attempts:
                retry = rule.pick(self.session.client_ip, _monotonic(), exclude=tried)
            if retry is None:
                raise TargetFailed(502)
            target.active -= 1
            retry.active += 1
            retry.total += 1
            self.target = retry

    async def _send_body(self, writer, chunked: bool) -> None:
        while (item := await self.body.get()) is not None:
            data = self._body_taken(item)
            self.log_in += len(data)
            if data:
                writer.write(chunk(data) if chunked else data)
                await writer.drain()
            self._body_sent(item)
        if chunked:
            writer.write(LAST_CHUNK)
            await writer.drain()

    async def _relay_response(self, source, method: bytes, retry: bool = False) -> bool:
        """Relay the target's response; whether its connection may carry another request after it.
        ``retry``: the connection came from a pool and the request can go again (``StaleLink``)."""
        response = TargetResponse()
        parser = response.parser
        retry = retry and method in IDEMPOTENT
        while True:
            data = await self._read_target(source)
            if not data:
                if retry:
                    raise StaleLink
                if response.head_done and not response.complete and not response.pieces:
                    response.complete = response.close_delimited()
                    response.stray = True  # the connection is gone with it
                if not response.complete:
                    raise TargetFailed(502)
            else:
                retry = False
                try:
                    parser.feed_data(data)
                except HttpParserError:
                    raise TargetFailed(502) from None
            if response.head_done and not self.responded:
                no_body = method == b"HEAD" or response.status in (204, 304)
                self.log_upstream = response.status
                self.send_head(response.status, response.headers,
                               end=no_body or (response.complete and not response.pieces))
                if no_body:
                    return method != b"HEAD" and response.complete and response.keep_alive and not response.stray
            pieces, response.pieces = response.pieces, []
            for index, piece in enumerate(pieces):
                await self.send_data(piece, end=response.complete and index == len(pieces) - 1)
            if response.complete:
                if not pieces and self.responded:
                    await self._end_response()
                return response.keep_alive and not response.stray

    # -- towards the client ---------------------------------------------------------------

    def _client_headers(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """The target's response headers less hop-by-hop ones (``RESPONSE_DROPPED`` and those
        its Connection names), plus the rule's persistence cookie and Alt-Svc."""
        named = set()
        for name, value in headers:
            if name == b"connection":
                named.update(token.strip().lower() for token in value.split(b","))
        dropped = self.RESPONSE_DROPPED
        kept = [(name, value) for name, value in headers if name not in dropped and name not in named]
        if self.rule_cookie:
            kept.append((b"set-cookie", self.rule_cookie))
        kept.extend(self.alt_svc)
        return kept
