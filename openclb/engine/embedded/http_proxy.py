"""The layer-7 proxy: one HTTP/1.1 client connection, its requests, and their target connections.

``HttpSession`` is the protocol of one client connection (plain or TLS) of an
``HttpListener``; ``http_upstream.Upstream`` is the protocol of one connection to a target. Both parse
with h11 and are driven by transport callbacks: the only coroutine is the connect to a
target when no pooled connection is idle, so a keep-alive request served from the pool
creates no task at all.

One request at a time (h11 holds pipelined requests until the response is done):
1. The request head is routed (``routing.Router``): no rule → 404; a rewrite rule → its
   redirect; no eligible target → 503. Each is answered by the load balancer itself.
2. Otherwise a target is chosen (the persistence cookie's, else the rule's scheduler), a
   connection taken from the pool or opened (up to ``connect_attempts`` targets; all
   failing → 502), and the head sent with hop-by-hop headers removed (``Connection``, the
   headers it names, ``Keep-Alive``, ``Proxy-Connection``, ``TE``, ``Upgrade`` unless
   upgrading), ``X-Forwarded-For`` appended with the client address, ``X-Real-IP`` and
   ``X-Forwarded-Proto`` set, and ``Connection: close`` unless the listener keeps target
   connections alive. Framing headers stay, so bodies keep their framing; a request with
   both Transfer-Encoding and Content-Length loses the latter (no smuggling through us).
3. Bodies stream both ways event by event, never buffered whole. Back-pressure: when the
   sink transport passes its high-water mark the source transport stops reading and h11
   events stop being pulled, until the sink drains.
4. Informational responses (100 Continue, 103) are passed on; a 101 to an Upgrade request
   turns both connections into a raw byte relay (WebSocket), flushing what h11 had
   buffered beyond the heads.
5. When both messages are complete the target connection goes back to the pool (if it is
   reusable and keep-alive is on) and the client connection starts its next cycle, or
   closes when either side asked to.

Failures: a malformed request gets a raw ``400`` and the connection is closed; nothing is
forwarded. A target that fails before the response head → 502 (a pooled connection that
turned out dead is first retried once on a fresh connection when the request has no body);
after the head → the client connection is aborted so a truncated body never looks
complete. Local responses to a request whose body is still coming close the connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial

import h11

from openclb.engine.embedded.balancer import TargetState
from openclb.engine.embedded.http_headers import cookie_value, forward_request, forward_response
from openclb.engine.embedded.http_listener import HttpListener, RuleState, UpstreamKey
from openclb.engine.embedded.http_upstream import MAX_HEAD, Upstream
from openclb.engine.embedded.routing import RedirectRequest, normalize_host, redirect_location, split_target

log = logging.getLogger("openclb.engine.http")
_monotonic = time.monotonic
_DONE = h11.DONE
_NEED_DATA = h11.NEED_DATA
_PAUSED = h11.PAUSED
_Data = h11.Data
_Request = h11.Request
_EndOfMessage = h11.EndOfMessage


_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 48\r\n"
    b"Connection: close\r\n\r\n<html><body><h1>400 Bad Request</h1></body></html>"
)
_REASONS = {
    301: b"Moved Permanently", 302: b"Found", 307: b"Temporary Redirect", 308: b"Permanent Redirect",
    404: b"Not Found", 405: b"Method Not Allowed", 502: b"Bad Gateway", 503: b"Service Unavailable",
}


def _page(status: int) -> bytes:
    reason = _REASONS.get(status, b"")
    return b"<html><body><h1>%d %s</h1></body></html>" % (status, reason)


class HttpSession(asyncio.Protocol):
    """One client connection of an HTTP/HTTPS listener (a tracked connection, see listener.py)."""

    __slots__ = (
        "listener", "listen_port", "transport", "h11", "client_ip", "target", "busy", "idle_since",
        "bytes_in", "bytes_out", "closed", "reading", "driving", "connecting", "upstream",
        "upstream_full", "client_full", "rule", "request", "host", "body_expected", "responded",
        "set_cookie", "tunnel", "reused", "pending",
    )

    def __init__(self, listener: HttpListener, listen_port: int) -> None:
        self.listener = listener
        self.listen_port = listen_port
        self.transport: asyncio.Transport | None = None
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.client_ip = ""
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
        self.rule: RuleState | None = None
        self.request: h11.Request | None = None
        self.host = ""
        self.body_expected = False
        self.responded = False
        self.set_cookie = False
        self.tunnel = False
        self.reused = False
        self.pending = b""

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
        self.h11.receive_data(data)
        try:
            self._drive()
        except Exception:
            self.fail("request from client")

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
        self.h11.receive_data(b"")
        self._drive()
        # Keep the write side open while a response is still on its way.
        return half_open and not self.closed and self.h11.our_state is not h11.IDLE

    def pause_writing(self) -> None:
        self.client_full = True
        if self.upstream is not None:
            self.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client_full = False
        upstream = self.upstream
        if upstream is not None:
            upstream.transport.resume_reading()
            if not self.tunnel:
                upstream.drive()

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

    def fail(self, where: str) -> None:
        """A bug, not a protocol error (those are answered): log it and reset both sides."""
        log.exception("http proxy: unexpected error handling the %s on listener %s", where, self.listener.listener_id)
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

    def _want_reading(self, wanted: bool) -> None:
        if wanted != self.reading and not self.closed:
            self.reading = wanted
            if wanted:
                self.transport.resume_reading()
            else:
                self.transport.pause_reading()

    def _drive(self) -> None:
        """Pull client events while the request can move on; re-entrant calls return at once."""
        if self.driving:
            return
        self.driving = True
        try:
            h = self.h11
            while not self.closed:
                if self.connecting is not None or self.upstream_full:
                    self._want_reading(False)
                    return
                try:
                    event = h.next_event()
                except h11.RemoteProtocolError:
                    self._bad_request()
                    return
                kind = type(event)
                if kind is _Data:
                    upstream = self.upstream
                    if upstream is not None:
                        upstream.transport.write(upstream.h11.send(event))
                elif kind is _Request:
                    self._on_request(event)
                elif kind is _EndOfMessage:
                    upstream = self.upstream
                    if upstream is not None and upstream.h11.our_state is h11.SEND_BODY:
                        upstream.transport.write(upstream.h11.send(event))
                    if h.our_state is not h11.SEND_RESPONSE and h.our_state is not h11.SEND_BODY:
                        self._next_cycle()
                elif event is _NEED_DATA:
                    self._want_reading(True)
                    return
                elif event is _PAUSED:
                    self._want_reading(False)
                    return
                else:  # ConnectionClosed
                    if self.upstream is None and self.connecting is None:
                        self.transport.close()
                    return
        finally:
            self.driving = False

    def _bad_request(self) -> None:
        if self.h11.our_state in (h11.IDLE, h11.SEND_RESPONSE) and not self.responded:
            self.transport.write(_BAD_REQUEST)
        self.transport.close()
        self.closed = True
        upstream = self._detach()
        if upstream is not None:
            upstream.transport.close()

    def _on_request(self, request: h11.Request) -> None:
        listener = self.listener
        listener.requests += 1
        forwarded = forward_request(request.headers, self.client_ip.encode(), listener.scheme,
                                    listener.vip.encode(), listener.spec.keepalive)
        self.body_expected = forwarded.body_expected
        target_host, path = split_target(request.target.decode("latin-1"))
        host = self.host = target_host or (forwarded.host.decode("latin-1") if forwarded.host is not None else "")
        if request.method == b"CONNECT":
            self._local(405)
            return
        rule = listener.router.route(normalize_host(host), path)
        if rule is None:
            self._local(404)
            return
        rule.requests += 1
        if rule.redirect is not None:
            location = redirect_location(rule.redirect, RedirectRequest(host, path, listener.vip))
            self._local(rule.redirect.code, [(b"location", location.encode("latin-1"))])
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
        self.request = _Request(method=request.method, target=request.target, headers=forwarded.headers,
                                http_version=b"1.1", _parsed=True)
        self._start_exchange(target)
        self._dispatch()

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
        self.connecting = asyncio.get_running_loop().create_task(self._connect(key))
        self._want_reading(False)

    async def _connect(self, key: UpstreamKey) -> None:
        listener = self.listener
        settings = listener.settings
        loop = asyncio.get_running_loop()
        tried: list[TargetState] = []
        while not self.closed:
            target = self.target
            tls = {} if key[2] is None else {"ssl": listener.backend_tls(), "server_hostname": key[2]}
            try:
                async with asyncio.timeout(settings.connect_timeout):
                    _, upstream = await loop.create_connection(
                        partial(Upstream, listener, key), target.ip, target.port, **tls)
            except Exception:  # refused, unreachable, timed out, TLS failed: try another
                tried.append(target)
            else:
                self.connecting = None
                if self.closed:
                    upstream.transport.close()
                    return
                self._attach(upstream)
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
            self._drive()

    def _attach(self, upstream: Upstream) -> None:
        self.upstream = upstream
        upstream.session = self
        if self.client_full:
            upstream.transport.pause_reading()
        try:
            head = upstream.h11.send(self.request)
            if not self.body_expected and self.h11.their_state is not h11.SEND_BODY:
                head += upstream.h11.send(_EndOfMessage())  # a replay: the client's end was taken
        except h11.LocalProtocolError:
            self._detach()
            upstream.transport.close()
            self._local(502)
            return
        upstream.transport.write(head)
        if self.body_expected or not self.reused:
            self.request = None
        self._drive()

    def _detach(self) -> Upstream | None:
        """Let go of the current target connection (the caller closes or pools it)."""
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            upstream.session = None
        self.upstream_full = False
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
        if self.reused and self.request is not None and not upstream.answered:
            self.reused = False
            key = self._key(self.target)
            self.connecting = asyncio.get_running_loop().create_task(self._connect(key))
            self._want_reading(False)
            return
        self._local(502)
        self._drive()

    # -- responses ------------------------------------------------------------------------

    def response_informational(self, event: h11.InformationalResponse) -> None:
        if event.status_code != 101:
            self.transport.write(self.h11.send(h11.InformationalResponse(
                status_code=event.status_code, headers=forward_response(event.headers), reason=event.reason)))
            return
        upstream = self.upstream
        try:
            self.transport.write(self.h11.send(h11.InformationalResponse(
                status_code=101, headers=event.headers, reason=event.reason)))
        except h11.LocalProtocolError:
            self.closed = True
            self.transport.abort()
            return
        self.tunnel = True
        self.responded = True
        self.request = None
        client_rest, _ = self.h11.trailing_data
        target_rest, _ = upstream.h11.trailing_data
        if client_rest:
            upstream.transport.write(client_rest)
        if target_rest:
            self.transport.write(target_rest)
        self.upstream_full = False
        self.reading = True
        self.transport.resume_reading()

    def response_head(self, event: h11.Response) -> None:
        headers = forward_response(event.headers)
        if self.set_cookie and self.target is not None:
            headers.append((b"set-cookie", self.rule.set_cookie(self.target)))
        self.responded = True
        self.request = None
        try:
            # Held back so head and body (often in one read) leave in one write.
            self.pending = self.h11.send(h11.Response(
                status_code=event.status_code, headers=headers, reason=event.reason, _parsed=True))
        except h11.LocalProtocolError:
            self.closed = True
            self.transport.abort()

    def response_body(self, event: h11.Data) -> None:
        if self.closed:
            return
        data = self.h11.send(event)
        if self.pending:
            data, self.pending = self.pending + data, b""
        self.transport.write(data)

    def flush(self) -> None:
        if self.pending:
            data, self.pending = self.pending, b""
            if not self.closed:
                self.transport.write(data)

    def response_end(self, upstream: Upstream) -> None:
        if self.closed:
            return
        data = self.h11.send(_EndOfMessage())
        if self.pending:
            data, self.pending = self.pending + data, b""
        self.transport.write(data)
        self._detach()
        upstream.release()
        self._end_exchange()
        if self.h11.their_state is not h11.SEND_BODY:
            self._next_cycle()
            self._drive()
        elif self.h11.our_state is h11.MUST_CLOSE:
            self.transport.close()

    def _local(self, status: int, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """Answer the current request from the load balancer itself."""
        body = _page(status)
        headers = [(b"content-type", b"text/html"), (b"content-length", b"%d" % len(body))]
        if extra:
            headers.extend(extra)
        close = self.body_expected and self.h11.their_state is not _DONE
        if close:
            headers.append((b"connection", b"close"))
        self._end_exchange()
        self.request = None
        h = self.h11
        try:
            head = h.send(h11.Response(status_code=status, headers=headers, reason=_REASONS.get(status, b"")))
            self.transport.write(head + h.send(_Data(data=body)) + h.send(_EndOfMessage()))
        except h11.LocalProtocolError:
            close = True
        if close:
            self.transport.close()
            self.closed = True

    def _next_cycle(self) -> None:
        """Both messages are done: start over on this connection, or close it."""
        h = self.h11
        self.rule = None
        self.responded = False
        self.set_cookie = False
        self.body_expected = False
        if h.our_state is _DONE and h.their_state is _DONE:
            h.start_next_cycle()
            self._want_reading(True)
        elif h.their_state is not h11.SEND_BODY:
            self.transport.close()
