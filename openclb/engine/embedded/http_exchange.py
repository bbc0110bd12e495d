"""The target half of an ``HttpSession``: choosing a target connection, and relaying its answer.

``TargetExchange`` is a base class of ``http_proxy.HttpSession`` and has no state of its own
(its attributes are the session's slots); it is split out of the session because the two
halves change for different reasons: the client half follows HTTP's client-side framing
and event order, this half the life of one exchange with a target. The split costs nothing
per request or per chunk: the session *is* a ``TargetExchange``, each call is the method
call it always was.

An exchange: the target chosen for a request (``_start_exchange``) gets its connection from
the listener's pool when KeepaliveEnable is on and one is idle (no coroutine at all), else
from ``_connect``, the only coroutine of a request, which tries up to ``connect_attempts``
targets and answers 502 when all fail. The ``http_upstream.Upstream`` then calls back with
the response as it parses it (``response_head``, ``response_body``, ``response_end``; 1xx
and 101 are passed on), the session's output is written once per read from the target, and
at the end the target connection goes back to the pool or is closed (``Upstream.release``).

Failures of the target: a connect that fails (refused, unreachable, over ``connect_timeout``)
is tried at once on another eligible target of the rule, whatever the method, since nothing
was sent; after ``connect_attempts`` targets → 502. Before the response head → 502, except
that a pooled connection that turned out dead is first retried once on a fresh connection
when the request is idempotent (``IDEMPOTENT``) and has no body; after the head → the client
connection is aborted, so a truncated body never looks complete. A target silent for the
listener's ``target_response_timeout`` while it owes a response is dropped (``check_target``):
504 before the head, an aborted client connection after it. A 101 turns both connections into
a raw byte relay (``start_tunnel``).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial

from openclb.engine.embedded.balancer import TargetState
from openclb.engine.embedded.http_access_log import request_finished
from openclb.engine.embedded.http_headers import LAST_CHUNK, chunk, forward_response_head
from openclb.engine.embedded.http_listener import UpstreamKey
from openclb.engine.embedded.http_upstream import Upstream
from openclb.engine.embedded.routing import normalize_host
from openclb.engine.embedded.upstream_connect import connect_within

_monotonic = time.monotonic

# RFC 9110 9.2.2: requests a client may repeat; only these are sent again after a target
# connection died with the request possibly delivered.
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))


class TargetExchange:
    """The target side of one client connection; see the module docstring."""

    __slots__ = ()

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
        target = self.target
        key = (target.ip, target.port, None) if not self.rule.upstream_tls else self._key(target)
        listener = self.listener
        faults = listener.faults
        delay = faults.delay() if faults is not None else 0.0
        upstream = listener.pool.take(key) if listener.keepalive and not delay else None
        if upstream is not None:
            self.reused = True
            self._attach(upstream)
            return
        self.reused = False
        self._connect_later(key, delay)

    def _connect_later(self, key: UpstreamKey, delay: float = 0.0) -> None:
        self.connecting = self.listener.loop.create_task(self._connect(key, delay))
        self.want_reading(False)

    async def _connect(self, key: UpstreamKey, delay: float = 0.0) -> None:
        """Connect to the target (after ``delay`` seconds of injected latency)."""
        if delay:
            await asyncio.sleep(delay)
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
                                                   partial(Upstream, listener, key), target.ip, target.port, **tls,
                                                   **listener.upstream_source(self.client_ip))
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
        self.quiet_since = 0.0
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
        if self.reused and self.head and not upstream.answered and self.method in IDEMPOTENT:
            self.reused = False
            self._connect_later(self._key(self.target))
            return
        self._local(502)
        self.drive()

    def check_target(self, now: float, timeout: float) -> None:
        """The sweep, while a response is owed: a target that moved no byte either way for
        ``timeout`` seconds is dropped; the client gets 504, or is reset if the response
        head is already on its way. The clock stands still while it is the client's turn: while
        it does not read (the target is held back) or still sends the request body (unless the
        target stopped reading it).
        """
        upstream = self.upstream
        if upstream is None or self.client_full or (self.request_open and not self.upstream_full):
            self.quiet_since = 0.0
            return
        moved = self.bytes_in + self.bytes_out
        if not self.quiet_since or moved != self.quiet_bytes:
            self.quiet_since = now
            self.quiet_bytes = moved
        elif now - self.quiet_since >= timeout:
            self._detach()
            upstream.transport.abort()
            if self.responded:
                self.closed = True
                self.transport.abort()
                return
            self._local(504)
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
        rule = self.rule
        if forwarded.has_length and self.keep_client and not self.set_cookie and not rule.response_lines:
            self.responded = True
            self.head = b""
            self.out.append(forwarded.plain)
            return False
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
        added = rule.response_lines
        if added:
            lines += added
        if self.set_cookie and self.target is not None:
            lines += b"set-cookie: %s\r\n" % rule.set_cookie(self.target)
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
        if self.out:
            self.flush()
        if self.closed:
            return
        self.response_open = False
        if self.log_head is not None:
            request_finished(self, upstream.status, upstream.status)
        self._detach()
        upstream.release(whole_request_sent=not self.request_open)
        self._end_exchange()
        if not self.keep_client:
            self._close()
            return
        if not self.request_open:
            self._next_cycle()
        self.drive()
