"""The layer-7 proxy: one HTTP/1.1 client connection, its requests, and their target connections.

``HttpSession`` is the protocol of one client connection (plain or TLS) of an
``HttpListener``; ``http_upstream.Upstream`` is the protocol of one connection to a target.
Both parse with llhttp (httptools), whose C parser calls back per head, body piece and end;
heads are rebuilt from the parsed headers with only the hop-by-hop edits below, and bodies
pass through as they arrive. The only coroutine is the connect to a target when no pooled
connection is idle, so a keep-alive request served from the pool creates no task at all.

The client parser turns bytes into events (head, body piece, end, EOF, malformed) on a queue,
and the session takes them in order, one request at a time: a pipelined request waits on the
queue until the response before it is done, and the client stops being read while anything
waits there (back-pressure, as for a full target transport).
1. The request head is routed (``routing.Router``): no rule → 404; a rewrite rule → its
   redirect; no eligible target → 503. Each is answered by the load balancer itself.
2. Otherwise a target is chosen (the persistence cookie's, else the rule's scheduler), a
   connection taken from the pool or opened (up to ``connect_attempts`` targets; all
   failing → 502), and the head sent with hop-by-hop headers removed (``Connection``, the
   headers it names, ``Keep-Alive``, ``Proxy-Connection``, ``TE``, ``Upgrade`` unless
   upgrading), ``X-Forwarded-For`` appended with the client address, ``X-Real-IP`` and
   ``X-Forwarded-Proto`` set, and ``Connection: close`` unless the listener keeps target
   connections alive (``http_headers``).
3. Bodies stream both ways piece by piece, never buffered whole; a chunked body is re-framed
   chunk by chunk (trailers are dropped). A chunked response to an HTTP/1.0 client, and a
   response delimited by the target closing, reach the client close-delimited.
4. Informational responses (100 Continue, 103) are passed on; a 101 to an Upgrade request
   turns both connections into a raw byte relay (WebSocket), passing on the bytes that
   followed either head.
5. When both messages are complete the target connection goes back to the pool (if it is
   reusable and keep-alive is on) and the client connection takes its next request, or
   closes when the client asked to (``Connection: close``, HTTP/1.0, an Upgrade refused).

Failures: a malformed request, or a head over ``MAX_HEAD``, gets a raw ``400`` in its turn
and the connection is closed; nothing of it is forwarded. A target that fails before the
response head → 502 (a pooled connection that turned out dead is first retried once on a
fresh connection when the request has no body); after the head → the client connection is
aborted so a truncated body never looks complete. Local responses to a request whose body is
still coming close the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from functools import partial

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from openclb.engine.embedded.balancer import TargetState
from openclb.engine.embedded.http_headers import (
    BAD_REQUEST,
    LAST_CHUNK,
    RequestHead,
    chunk,
    cookie_value,
    forward_request,
    forward_response_head,
    head_lines,
    local_response,
)
from openclb.engine.embedded.http_listener import HttpListener, RuleState, UpstreamKey
from openclb.engine.embedded.http_upstream import MAX_HEAD, Upstream
from openclb.engine.embedded.routing import RedirectRequest, normalize_host, redirect_location
from openclb.engine.embedded.upstream_connect import connect_within

log = logging.getLogger("openclb.engine.http")
_monotonic = time.monotonic

_HEAD, _BODY, _END, _EOF, _MALFORMED = range(5)


class HttpSession(asyncio.Protocol):
    """One client connection of an HTTP/HTTPS listener (a tracked connection, see listener.py)."""

    __slots__ = (
        "listener", "listen_port", "transport", "parser", "client_ip", "client_ip_bytes", "target", "busy", "idle_since",
        "bytes_in", "bytes_out", "closed", "reading", "driving", "connecting", "upstream", "upstream_full",
        "client_full", "rule", "host", "method", "events", "url", "headers", "head_size", "in_head",
        "unparsable", "upgraded", "early", "request_open", "response_open", "keep_client", "body_expected",
        "chunked_request", "head", "responded", "set_cookie", "tunnel", "reused", "rechunk", "out", "to_target",
        "upgrade_requested",
    )

    def __init__(self, listener: HttpListener, listen_port: int) -> None:
        self.listener = listener
        self.listen_port = listen_port
        self.transport: asyncio.Transport | None = None
        self.parser = HttpRequestParser(self)
        self.client_ip = ""
        self.client_ip_bytes = b""
        self.target: TargetState | None = None
        self.busy = False
        self.idle_since = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False
        self.reading = True
        self.driving = False
        self.connecting: asyncio.Task | None = None
        self.upstream: Upstream | None = None
        self.upstream_full = False
        self.client_full = False
        self.events: deque = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_size = 0
        self.in_head = True
        self.unparsable = False
        self.upgraded = False
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

    # -- llhttp callbacks (client request parser) -----------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.in_head = False
        self.head_size = 0
        keep_alive = parser.get_http_version() == "1.1" and parser.should_keep_alive()
        self._event(_HEAD, RequestHead(parser.get_method(), self.url, self.headers, keep_alive,
                                       parser.should_upgrade()))

    def on_body(self, data: bytes) -> None:
        self._event(_BODY, data)

    def on_message_complete(self) -> None:
        self.in_head = True
        self._event(_END, None)

    # -- client transport callbacks -----------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        listener = self.listener
        now = _monotonic()
        tls = listener.tls
        if not listener.admit(now) or (
                tls is not None and tls.client_cert_missing(transport.get_extra_info("ssl_object"))):
            self.closed = True
            transport.abort()
            return
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if peer else ""
        self.client_ip_bytes = self.client_ip.encode()
        self.idle_since = now
        listener.accepted(self)

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
            self.upgraded = True
            rest = data[upgrade.args[0]:]
            if rest:
                self.early.append(rest)
        except HttpParserError as error:
            if isinstance(error.__context__, Exception):
                self.fail("request from client", error.__context__)
                return
            self._unparsable()
        else:
            if self.in_head and self.head_size > MAX_HEAD:
                self._unparsable()
        self.drive()

    def _unparsable(self) -> None:
        self.unparsable = True
        self._event(_MALFORMED, None)

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
        self.want_reading(not self.events and self.connecting is None and not self.upstream_full
                          and not self.upgraded and not self.unparsable)

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
                self.transport.write(BAD_REQUEST)
            self._close()

    def _on_request(self, request: RequestHead) -> None:
        listener = self.listener
        listener.requests += 1
        self.request_open = self.response_open = True
        self.method = request.method
        self.keep_client = request.keep_alive and not request.upgrade
        self.upgrade_requested = request.upgrade
        forwarded = forward_request(request.headers, self.client_ip_bytes, listener.scheme,
                                    listener.vip_bytes, listener.spec.keepalive)
        self.body_expected = forwarded.body_expected
        self.chunked_request = forwarded.chunked
        rule, host, path = listener.route(forwarded.host, request.target)
        self.host = host
        if request.method == b"CONNECT":
            self._local(405)
            return
        if rule is None:
            self._local(404)
            return
        rule.requests += 1
        if rule.redirect is not None:
            location = redirect_location(rule.redirect, RedirectRequest(host, path, listener.vip))
            self._local(rule.redirect.code, b"location: %s\r\n" % location.encode("latin-1"))
            return
        target = None
        if rule.cookie_name:
            target = rule.pinned(cookie_value(forwarded.cookie, rule.cookie_name))
            self.set_cookie = True
        if target is None:
            target = rule.pick(self.client_ip, _monotonic())
            if target is None:
                self._local(503)
                return
        self.rule = rule
        self.head = b"%s %s HTTP/1.1\r\n%s" % (request.method, request.target, head_lines(forwarded.headers))
        self._start_exchange(target)
        self._dispatch()

    def _on_request_end(self) -> None:
        self.request_open = False
        if self.upstream is not None and self.chunked_request:
            self.to_target.append(LAST_CHUNK)
        if not self.response_open:
            self._next_cycle()

    # -- exchanges with targets -----------------------------------------------------------

    def _start_exchange(self, target: TargetState) -> None:
        self.target = target
        target.active += 1
        target.total += 1

    def _end_exchange(self) -> None:
        target = self.target
        if target is not None:
            self.target = None
            target.active -= 1

    def _key(self, target: TargetState) -> UpstreamKey:
        if not self.rule.upstream_tls:
            return (target.ip, target.port, None)
        name = normalize_host(self.host)
        return (target.ip, target.port, name if name and not name[0].isdigit() and ":" not in name else "")

    def _dispatch(self) -> None:
        key = self._key(self.target)
        upstream = self.listener.pool.take(key) if self.listener.spec.keepalive else None
        if upstream is not None:
            self.reused = True
            self._attach(upstream)
            return
        self.reused = False
        self._connect_later(key)

    def _connect_later(self, key: UpstreamKey) -> None:
        self.connecting = self.listener.loop.create_task(self._connect(key))
        self.want_reading(False)

    async def _connect(self, key: UpstreamKey) -> None:
        listener = self.listener
        settings = listener.settings
        loop = listener.loop
        task = self.connecting
        tried: list[TargetState] = []
        while not self.closed:
            target = self.target
            tls = {} if key[2] is None else {"ssl": listener.backend_tls(), "server_hostname": key[2]}
            try:
                _, upstream = await connect_within(loop, task, settings.connect_timeout,
                                                   partial(Upstream, listener, key), target.ip, target.port, **tls)
            except Exception:  # refused, unreachable, timed out, TLS failed: try another
                tried.append(target)
            else:
                self.connecting = None
                if self.closed:
                    upstream.transport.close()
                    return
                self._attach(upstream)
                self.drive()
                return
            retry = None
            if not self.closed and len(tried) < settings.connect_attempts:
                retry = self.rule.pick(self.client_ip, _monotonic(), exclude=tried)
            if retry is None:
                break
            self._end_exchange()
            self._start_exchange(retry)
            key = self._key(retry)
        self.connecting = None
        if not self.closed:
            self._local(502)
            self.drive()

    def _attach(self, upstream: Upstream) -> None:
        self.upstream = upstream
        upstream.session = self
        if self.client_full:
            upstream.transport.pause_reading()
        self.to_target.append(self.head)
        if self.body_expected or not self.reused:
            self.head = b""

    def _detach(self) -> Upstream | None:
        """Let go of the current target connection (the caller closes or pools it)."""
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            upstream.session = None
        self.upstream_full = False
        self.to_target.clear()
        return upstream

    def upstream_lost(self, upstream: Upstream) -> None:
        """The target connection ended (or broke the protocol) before the response did."""
        if upstream is not self.upstream:
            return
        self._detach()
        if self.tunnel:
            self.transport.close()
            return
        if self.responded:
            self.closed = True
            self.transport.abort()
            return
        if self.reused and self.head and not upstream.answered:
            self.reused = False
            self._connect_later(self._key(self.target))
            return
        self._local(502)
        self.drive()

    # -- responses (called by the Upstream while it parses) ----------------------------------

    def response_informational(self, upstream: Upstream) -> None:
        forwarded = forward_response_head(upstream.head)
        self.out.append(b"%s\r\n%s\r\n" % (forwarded.status_line, forwarded.lines))

    def response_switching(self, upstream: Upstream) -> None:
        head = upstream.head
        self.out.append(head if head.startswith(b"HTTP/1.1 ") else b"HTTP/1.1" + head[8:])

    def start_tunnel(self, upstream: Upstream, rest: bytes) -> None:
        """A 101 arrived: from here on both connections relay raw bytes."""
        if not self.upgrade_requested:
            self.out.clear()
            upstream.transport.close()
            self.upstream_lost(upstream)
            return
        self.tunnel = True
        self.responded = True
        self.response_open = self.request_open = False
        self.head = b""
        self.flush()
        if rest:
            self.transport.write(rest)
        early, self.early = self.early, []
        upstream.transport.write(b"".join(self.to_target) + b"".join(early))
        self.to_target.clear()
        self.upstream_full = False
        self.reading = True
        self.transport.resume_reading()

    def response_head(self, upstream: Upstream) -> bool:
        """Queue the response head for the client; True when the body ends at the target's EOF."""
        forwarded = forward_response_head(upstream.head)
        lines = forwarded.lines
        status = upstream.status
        until_close = False
        if self.method != b"HEAD" and status != 204 and status != 304 and not forwarded.has_length:
            if not forwarded.chunked:
                until_close = True
                self.keep_client = False
            elif self.keep_client:
                self.rechunk = True
            else:
                lines = forwarded.without(b"transfer-encoding")
        if not self.keep_client:
            lines += b"connection: close\r\n"
        if self.set_cookie and self.target is not None:
            lines += b"set-cookie: %s\r\n" % self.rule.set_cookie(self.target)
        self.responded = True
        self.head = b""
        self.out.append(b"%s\r\n%s\r\n" % (forwarded.status_line, lines))
        return until_close

    def response_body(self, data: bytes) -> None:
        if data:
            self.out.append(chunk(data) if self.rechunk else data)

    def flush(self) -> None:
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            out.clear()
            if not self.closed:
                self.transport.write(data)

    def response_end(self, upstream: Upstream) -> None:
        if self.rechunk:
            self.out.append(LAST_CHUNK)
        self.flush()
        if self.closed:
            return
        self.response_open = False
        self._detach()
        upstream.release(whole_request_sent=not self.request_open)
        self._end_exchange()
        if not self.keep_client:
            self._close()
            return
        if not self.request_open:
            self._next_cycle()
        self.drive()

    def _local(self, status: int, extra_lines: bytes = b"") -> None:
        """Answer the current request from the load balancer itself."""
        close = not self.keep_client or (self.request_open and self.body_expected)
        self._end_exchange()
        self.head = b""
        self.response_open = False
        self.responded = True
        self.transport.write(local_response(status, extra_lines, close))
        if close:
            self._close()

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
