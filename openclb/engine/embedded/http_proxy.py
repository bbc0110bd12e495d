"""The layer-7 proxy: one HTTP/1.1 client connection, its requests, and their target connections.

``HttpSession`` is the protocol of one client connection (plain or TLS) of an
``HttpListener``; ``http_upstream.Upstream`` is the protocol of one connection to a target.
Both parse with llhttp (httptools), whose C parser calls back per head, body piece and end;
heads are rebuilt from the parsed headers with only the hop-by-hop edits below, and bodies
pass through as they arrive. This module is the client half of a session; choosing and
talking to a target is its base class ``http_exchange.TargetExchange``.

The client parser turns bytes into events (head, body piece, end, EOF, malformed) on a queue,
and the session takes them in order, one request at a time: a pipelined request waits on the
queue until the response before it is done, and the client stops being read while anything
waits there (back-pressure, as for a full target transport).
1. The request head is routed (``routing.Router``): no rule → 404; a rewrite rule → its
   redirect; no eligible target → 503. Each is answered by the load balancer itself.
2. Otherwise a target is chosen (the persistence cookie's, else the rule's scheduler), a
   connection taken from the pool or opened (``http_exchange``), and the head sent with
   hop-by-hop headers removed (``Connection``, the headers it names, ``Keep-Alive``,
   ``Proxy-Connection``, ``TE``, ``Upgrade`` unless upgrading; an ``h2c`` upgrade is ignored,
   ``http_ignored_upgrade``), ``X-Forwarded-For``
   appended with the client address, ``X-Real-IP`` and ``X-Forwarded-Proto`` set, and
   ``Connection: close`` unless the listener keeps target connections alive (``http_headers``).
3. Bodies stream both ways piece by piece, never buffered whole; a chunked body is re-framed
   chunk by chunk (trailers are dropped). A chunked response to an HTTP/1.0 client, and a
   response delimited by the target closing, reach the client close-delimited.
4. Informational responses (100 Continue, 103) are passed on; a 101 to an Upgrade request
   turns both connections into a raw byte relay (WebSocket), passing on the bytes that
   followed either head.
5. When both messages are complete the target connection goes back to the pool (if it is
   reusable and keep-alive is on) and the client connection takes its next request, or
   closes when the client asked to (``Connection: close``, HTTP/1.0, an Upgrade refused) or
   the listener is stopping.

Failures: a malformed request, or one that is not HTTP/1.0 or 1.1 (an HTTP/0.9 ``GET /``
included), gets ``400`` in its turn and the connection is closed; a head over
``MAX_REQUEST_HEAD`` bytes or ``MAX_REQUEST_HEADERS`` header lines gets ``431`` the same way;
nothing of either is forwarded. Local responses to a request whose body is still coming close
the connection. Target failures: see ``http_exchange``.

The head limits hold whatever the read boundaries: the header count is checked as each line
is parsed; the size as parsed (``http_headers.parsed_head_size``) when the head ends, unless
its bytes on the wire are known to be few enough (it began at a read boundary and those reads
hold at most ``SURELY_WITHIN_HEAD`` bytes); and a head still incomplete once the reads since
it began hold more than ``MAX_REQUEST_HEAD`` bytes is refused there, so a head never holds
more than that and one read. Whitespace the parser skips counts only on the wire.

Deadlines (the listener's sweep calls ``check_deadlines``): a head that takes longer than the
listener's ``client_head_timeout`` gets ``408`` (a connection that sent nothing is closed
silently); for the target's, see ``http_exchange``.

Stopping (``finish``, the listener's drain): a connection between requests is closed at
once (after what is still buffered for it); one with a request or response under way, or a
partial head, serves that request and closes after its response (``Connection: close``
when its head is not sent yet).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from openclb.engine.embedded.balancer import TargetState
from openclb.engine.embedded.http_access_log import request_finished, request_started
from openclb.engine.embedded.http_customized import body_too_large
from openclb.engine.embedded.http_exchange import TargetExchange
from openclb.engine.embedded.http_headers import (
    BAD_REQUEST,
    HEAD_TOO_LARGE,
    LAST_CHUNK,
    MAX_REQUEST_HEAD,
    MAX_REQUEST_HEADERS,
    SURELY_WITHIN_HEAD,
    RequestHead,
    chunk,
    client_lines,
    cookie_value,
    forward_request,
    head_lines,
    local_response,
    parsed_head_size,
    plain_request_head,
)
from openclb.engine.embedded.http_ignored_upgrade import UpgradeHandling
from openclb.engine.embedded.http_lifecycle import SessionLifecycle
from openclb.engine.embedded.http_listener import HttpListener, RuleState
from openclb.engine.embedded.http_upstream import Upstream
from openclb.engine.embedded.routing import RedirectRequest, redirect_location

log = logging.getLogger("openclb.engine.http")
_monotonic = time.monotonic

_HEAD, _BODY, _END, _EOF, _MALFORMED = range(5)

class _Refused(Exception):
    """Raised from a parser callback: the request is answered with ``response``, unforwarded."""

    def __init__(self, response: bytes) -> None:
        super().__init__()
        self.response = response


class HttpSession(TargetExchange, SessionLifecycle, UpgradeHandling, asyncio.Protocol):
    """One client connection of an HTTP/HTTPS listener (a tracked connection, see listener.py)."""

    __slots__ = (
        "listener", "listen_port", "transport", "parser", "client_ip", "client_ip_bytes", "target", "busy", "idle_since",
        "bytes_in", "bytes_out", "closed", "reading", "driving", "connecting", "upstream", "upstream_full",
        "client_full", "rule", "host", "method", "events", "url", "headers", "head_size", "head_unbounded", "in_head",
        "head_since", "unparsable", "upgraded", "early", "request_open", "response_open", "keep_client",
        "body_expected", "chunked_request", "head", "responded", "set_cookie", "tunnel", "reused", "rechunk", "out",
        "to_target", "upgrade_requested", "quiet_close", "quiet_since", "quiet_bytes", "log_head", "log_started",
        "log_version", "log_bytes_in", "log_bytes_out", "log_requests", "log_connection", "forward_lines",
        "resume_head",
    )

    def __init__(self, listener: HttpListener, listen_port: int) -> None:
        self.listener = listener
        self.listen_port = listen_port
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.client_ip = ""
        self.client_ip_bytes = b""
        self.forward_lines = b""
        self.target: TargetState | None = None
        self.busy = False
        self.idle_since = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False
        self.quiet_close = False
        self.reading = True
        self.driving = False
        self.connecting: asyncio.Task | None = None
        self.upstream: Upstream | None = None
        self.upstream_full = False
        self.client_full = False
        self.events: deque = deque()
        self.url: bytes | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_size = 0
        self.head_unbounded = False
        self.head_since = 0.0
        self.quiet_since = 0.0
        self.quiet_bytes = 0
        self.in_head = True
        self.unparsable = False
        self.upgraded = False
        self.resume_head: bytes | None = None
        self.early: list[bytes] = []
        self.request_open = False
        self.response_open = False
        self.out: list[bytes] = []
        self.to_target: list[bytes] = []
        # Per request; what _on_request does not set is reset by _next_cycle.
        self.rule: RuleState | None = None
        self.host = ""
        self.method = b""
        self.keep_client = True
        self.body_expected = False
        self.chunked_request = False
        self.head = b""
        self.responded = False
        self.set_cookie = False
        self.tunnel = False
        self.reused = False
        self.rechunk = False
        self.upgrade_requested = False
        # The access log's account of the request under way (its head, start and HTTP version; no
        # head: none), and the connection's counters at the end of its last record.
        self.log_head: RequestHead | None = None
        self.log_started = 0.0
        self.log_version = "1.1"
        self.log_bytes_in = self.log_bytes_out = self.log_requests = 0
        self.log_connection: tuple | None = None

    # -- llhttp callbacks (client request parser) -----------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        if not self.head_size:
            self.head_unbounded = True

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self.headers
        if len(headers) >= MAX_REQUEST_HEADERS:
            raise _Refused(HEAD_TOO_LARGE)
        headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        url = self.url
        headers = self.headers
        self.in_head = False
        self.url = None
        self.head_since = 0.0
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _Refused(BAD_REQUEST)
        method = parser.get_method()
        if self.head_size > SURELY_WITHIN_HEAD or self.head_unbounded:
            self.head_unbounded = False
            if parsed_head_size(method, url, headers) > MAX_REQUEST_HEAD:
                raise _Refused(HEAD_TOO_LARGE)
        self.head_size = 0
        keep_alive = version == "1.1" and parser.should_keep_alive()
        request = RequestHead(method, url, headers, keep_alive, parser.should_upgrade())
        # What _event decides, without its calls: the next request waits while one is under way.
        if ((request.upgrade and self.ignores_upgrade(request))
                or self.events or self.request_open or self.response_open):
            self.events.append((_HEAD, request))
        elif not self.closed:
            self._on_request(request)

    def on_body(self, data: bytes) -> None:
        self._event(_BODY, data)

    def on_message_complete(self) -> None:
        self.in_head = True
        if self.events or self.connecting is not None:
            self.events.append((_END, None))
        elif not self.closed:
            self._on_request_end()

    # -- client transport callbacks -----------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        now = self.listener.take_client(self, transport)
        if now:
            self.idle_since = self.head_since = now
            self.forward_lines = client_lines(self.client_ip_bytes)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        self.bytes_in += len(data)
        self.busy = True
        if self.tunnel:
            self.upstream.transport.write(data)
            return
        if self.upgraded:
            self.early.append(data)
            self.want_reading(False)
            return
        if self.unparsable:
            return
        if self.in_head:
            self.head_size += len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as upgrade:
            self.upgrade_stopped(data[upgrade.args[0]:])
        except HttpParserError as error:
            self.parse_failed(error)
        else:
            if self.in_head and self.head_size > MAX_REQUEST_HEAD:
                self._unparsable(HEAD_TOO_LARGE)
        self.drive()

    def parse_failed(self, error: HttpParserError) -> None:
        """A callback's refusal is answered in its turn; its bug resets the connection."""
        cause = error.__context__
        if isinstance(cause, _Refused):
            self._unparsable(cause.response)
        elif isinstance(cause, Exception):
            self.fail("request from client", cause)
        else:
            self._unparsable(BAD_REQUEST)

    def _unparsable(self, response: bytes) -> None:
        """The request cannot be taken: ``response`` answers it in its turn, then the connection closes."""
        self.unparsable = True
        self._event(_MALFORMED, response)

    def eof_received(self) -> bool:
        if self.closed:
            return False
        # TLS transports close on EOF whatever we answer; plain TCP may stay half-open.
        half_open = self.listener.tls is None
        if self.tunnel:
            upstream = self.upstream
            if upstream is not None and half_open and upstream.transport.can_write_eof():
                upstream.transport.write_eof()
                return True
            return False
        self._event(_EOF, None)
        self.drive()
        # Keep the write side open while a response is still on its way.
        return half_open and not self.closed and self.response_open

    def pause_writing(self) -> None:
        self.client_full = True
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client_full = False
        upstream = self.upstream
        if upstream is not None:
            upstream.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.connecting is not None:
            self.connecting.cancel()
            self.connecting = None
        upstream = self._detach()
        if upstream is not None:
            upstream.transport.close()
        self._end_exchange()
        self.listener.released(self)

    def fail(self, where: str, error: BaseException | None = None) -> None:
        """A bug, not a protocol error (those are answered): log it and reset both sides."""
        log.error("http proxy: unexpected error handling the %s on listener %s", where, self.listener.listener_id,
                  exc_info=error or True)
        self.closed = True
        self.driving = False
        self.abort()

    # -- tracked-connection interface ---------------------------------------------------

    def close(self) -> None:
        self.transport.close()
        if self.upstream is not None:
            self.upstream.transport.close()

    def abort(self) -> None:
        self.transport.abort()
        if self.upstream is not None:
            self.upstream.transport.abort()

    # -- the client's messages ----------------------------------------------------------

    def want_reading(self, wanted: bool) -> None:
        if wanted != self.reading and not self.closed:
            self.reading = wanted
            if wanted:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def drive(self) -> None:
        """Take queued client events while the current request can move on."""
        if self.driving or self.closed:
            return
        if self.events:
            self.driving = True
            try:
                self._take_events()
            except Exception as error:
                self.fail("request from client", error)
                return
            finally:
                self.driving = False
        to_target = self.to_target
        if to_target and self.upstream is not None:
            self.upstream.transport.write(to_target[0] if len(to_target) == 1 else b"".join(to_target))
            to_target.clear()
        wanted = (not self.events and self.connecting is None and not self.upstream_full
                  and not self.upgraded and not self.unparsable)
        if wanted != self.reading:
            self.want_reading(wanted)

    def _event(self, kind: int, value) -> None:
        """A parsed event: taken at once when nothing is queued before it and it need not wait."""
        if self.events or self._waits(kind):
            self.events.append((kind, value))
        elif not self.closed:
            self._take(kind, value)

    def _take_events(self) -> None:
        events = self.events
        while events and not self.closed:
            kind, value = events[0]
            if self._waits(kind):
                return
            events.popleft()
            self._take(kind, value)

    def _waits(self, kind: int) -> bool:
        """Whether an event of ``kind`` must wait for the exchange in progress."""
        if kind is _BODY:
            return self.connecting is not None or self.upstream_full
        if kind is _HEAD:
            return self.request_open or self.response_open
        if kind is _END:
            return self.connecting is not None
        # EOF or a broken request: a truncated request ends the connection at once; after a
        # whole one, its response is let through first.
        return self.response_open and not self.request_open

    def _take(self, kind: int, value) -> None:
        if kind is _BODY:
            if self.upstream is not None:
                self.to_target.append(chunk(value) if self.chunked_request else value)
        elif kind is _HEAD:
            self._on_request(value)
        elif kind is _END:
            self._on_request_end()
        else:
            if kind is _MALFORMED and not self.responded:
                self.transport.write(value)
            self._close()

    def _on_request(self, request: RequestHead) -> None:
        listener = self.listener
        listener.requests += 1
        self.request_open = self.response_open = True
        self.method = request.method
        self.keep_client = request.keep_alive and not request.upgrade and not listener.closing
        self.upgrade_requested = request.upgrade
        if listener.access_log is not None:
            request_started(self, request)
        method = request.method
        plain = plain_request_head(method, request.target, request.headers, self.forward_lines, listener.stamp_lines,
                                   listener.vip_bytes)
        if plain is None:
            forwarded = forward_request(request.headers, self.client_ip_bytes, listener.stamps,
                                        listener.vip_bytes, listener.keepalive)
            host_header, cookie = forwarded.host, forwarded.cookie
            self.body_expected = body_expected = forwarded.body_expected
            self.chunked_request = forwarded.chunked
            head = b"%s %s HTTP/1.1\r\n%s" % (method, request.target, head_lines(forwarded.headers))
        else:
            head, host_header, cookie, body_expected, self.chunked_request = plain
            self.body_expected = body_expected
        rule, host, path = listener.route(host_header, request.target)
        self.host = host
        admission = listener.admission
        refusal = 403 if admission is not None and admission.request_refused(request.headers, self.client_ip) else (
            405 if method == b"CONNECT" else 404 if rule is None else 0)
        if refusal:
            self._local(refusal)
            return
        rule.requests += 1
        limit = rule.body_limit
        if limit and body_expected and body_too_large(request.headers, limit):
            self._local(413)
            return
        if rule.redirect is not None:
            location = redirect_location(rule.redirect, RedirectRequest(host, path, listener.vip))
            self._local(rule.redirect.code, b"location: %s\r\n" % location.encode("latin-1"))
            return
        target = None
        if rule.cookie_name:
            target = rule.pinned(cookie_value(cookie, rule.cookie_name))
            self.set_cookie = True
        if target is None:
            target = rule.balancer.pick(self.client_ip, _monotonic())
            if target is None:
                self._local(503)
                return
        self.rule = rule
        self.head = head
        self._start_exchange(target)
        self._dispatch()

    def _on_request_end(self) -> None:
        self.request_open = False
        if self.upstream is not None and self.chunked_request:
            self.to_target.append(LAST_CHUNK)
        if not self.response_open:
            self._next_cycle()

    def _local(self, status: int, extra_lines: bytes = b"") -> None:
        """Answer the current request from the load balancer itself."""
        close = not self.keep_client or (self.request_open and self.body_expected)
        response = local_response(status, extra_lines, close)
        if self.log_head is not None:
            request_finished(self, status, 0, len(response))
        self._end_exchange()
        self.head = b""
        self.response_open = False
        self.responded = True
        self.transport.write(response)
        if close:
            self._close()
        elif not self.request_open:
            self._next_cycle()

    def _close(self) -> None:
        """Close the client connection after what was written to it."""
        self.transport.close()
        self.closed = True

    def _next_cycle(self) -> None:
        """Both messages are done: take the next request on this connection, or close it."""
        if not self.keep_client:
            self._close()
            return
        self.responded = self.set_cookie = self.rechunk = False
