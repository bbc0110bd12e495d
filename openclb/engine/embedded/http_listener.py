"""HTTP and HTTPS listeners: forwarding rules at run time and the idle pool of target connections.

An ``HttpListener`` is a ``StreamListener`` whose connections are ``http_proxy.HttpSession``
objects. Its spec's rules become ``RuleState`` objects (targets with their counters, a
balancer with the rule's scheduler, cookie tokens) routed by a ``routing.Router``. Updating
the spec rebuilds the router; a rule that stays keeps its targets' counters, so in-flight
requests finish against the state they started with.

Session persistence on a rule (SessionExpireTime > 0) is cookie insertion: every response
carries ``Set-Cookie: <name>=<token>; Max-Age=<SessionExpireTime>; Path=/; HttpOnly`` where
the name is the rule's CookieName or ``openclb_srv`` and the token an opaque digest of the
rule and target (no address leaks). A request presenting a token of an eligible target goes
there; one whose target is gone, drained (weight 0) or unhealthy is scheduled afresh and
gets a new cookie. Re-sending the cookie on each response makes it lapse only after
SessionExpireTime without requests, as the CLB's persistence does.

Target connections are pooled per (ip, port, TLS server name) only when the listener's
KeepaliveEnable is on (HTTP/1.1 clients' in ``pool``, HTTP/2 streams' in ``stream_pool``,
see ``http2_targets``); a pool keeps at most ``max_idle_per_target`` idle connections each,
closes those idle longer than ``idle_seconds`` on the listener's sweep, and those of
targets no rule uses any more at once. HTTP/2 connections to gRPC targets carry many streams
at once (``shared_targets``, see ``http2_upstream``); without KeepaliveEnable they close as
soon as they carry none.

Deadlines are kept by the listener's sweep, never by a timer per request: a client's request
head must arrive within the spec's ``client_head_timeout`` (408), a target must not stay
silent longer than ``target_response_timeout`` while it owes a response (504); see
``HttpSession.check_deadlines``. They fire within one sweep interval (a quarter of the
timeout, at most a second) after they pass.

A stopping listener (``closing``) pools nothing and closes its idle pool; its drain closes
every client connection that is between requests at once and every other one after the
response in flight (see ``HttpSession.finish``).
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Sequence

from openclb.engine.spec import ListenerSpec, RuleSpec
from openclb.engine.embedded.http_customized import added_header_lines
from openclb.engine.embedded.balancer import Balancer, TargetState
from openclb.engine.embedded.descriptors import DescriptorBudget
from openclb.engine.embedded.http_headers import forwarding_stamps, stamp_lines
from openclb.engine.embedded.http3_rules import alt_svc_header, quic_rules
from openclb.engine.embedded.listener import MIN_SWEEP_INTERVAL, ListenerSettings
from openclb.engine.embedded.routing import Router, normalize_host, split_target
from openclb.engine.embedded.tcp import StreamHandler, StreamListener
from openclb.engine.embedded.tls import backend_context

DEFAULT_COOKIE_NAME = "openclb_srv"
_ROUTE_CACHE_SIZE = 1024

UpstreamKey = tuple[str, int, str | None]
Route = tuple["RuleState | None", str, str]


class RuleState:
    """One forwarding rule at run time."""

    __slots__ = (
        "spec", "location_id", "targets", "balancer", "cookie_name", "cookie_max_age",
        "by_token", "token_of", "upstream_tls", "redirect", "requests", "_health_view", "added_headers",
        "body_limit", "response_lines", "alt_svc",
    )

    def __init__(self, spec: RuleSpec, settings: ListenerSettings, previous: RuleState | None) -> None:
        self.location_id = spec.location_id
        self._health_view = settings.health_view
        self.balancer = previous.balancer if previous is not None else Balancer(spec.scheduler, self._is_healthy)
        self.requests = previous.requests if previous is not None else 0
        self.targets: dict[tuple[str, int], TargetState] = {}
        self.by_token: dict[bytes, TargetState] = {}
        self.token_of: dict[tuple[str, int], bytes] = {}
        self.update(spec, previous)

    def update(self, spec: RuleSpec, previous: RuleState | None) -> None:
        self.spec = spec
        self.added_headers = added_header_lines(spec)
        # Set with the listener's own settings by HttpListener._configure.
        self.body_limit = spec.max_body_size
        self.response_lines = self.added_headers
        self.alt_svc: tuple[tuple[bytes, bytes], ...] = ()  # set by the listener (HTTP/3, see http3.py)
        self.redirect = spec.redirect
        self.upstream_tls = spec.forward_type.upper() in ("HTTPS", "GRPCS")
        self.balancer.scheduler = spec.scheduler
        self.cookie_name = (spec.cookie_name or DEFAULT_COOKIE_NAME).encode() if spec.session_expire_time > 0 else b""
        self.cookie_max_age = spec.session_expire_time
        old = previous.targets if previous is not None else {}
        wanted: dict[tuple[str, int], TargetState] = {}
        for target in spec.targets:
            key = (target.ip, target.port)
            state = wanted.get(key) or old.get(key) or TargetState(target.ip, target.port, target.weight)
            state.weight = target.weight
            wanted[key] = state
        for key, state in old.items():
            if key not in wanted:
                state.removed = True
        self.targets = wanted
        self.balancer.set_targets(wanted.values())
        self.token_of = {key: self._token(key) for key in wanted}
        self.by_token = {token: wanted[key] for key, token in self.token_of.items()}

    def _token(self, key: tuple[str, int]) -> bytes:
        text = f"{self.location_id}|{key[0]}:{key[1]}".encode()
        return hashlib.blake2b(text, digest_size=8).hexdigest().encode()

    def _is_healthy(self, target: TargetState) -> bool:
        return self._health_view(self.location_id, target.ip, target.port)

    def pinned(self, token: bytes | None) -> TargetState | None:
        """The target a persistence cookie names, if it may still take requests."""
        if token is None:
            return None
        target = self.by_token.get(token)
        if target is None or target.weight <= 0:
            return None
        if not self._is_healthy(target) and any(self._is_healthy(t) for t in self.targets.values() if t.weight > 0):
            return None
        return target

    def pick(self, client_ip: str, now: float, exclude=()) -> TargetState | None:
        return self.balancer.pick(client_ip, now, exclude)

    def set_cookie(self, target: TargetState) -> bytes:
        token = self.token_of.get(target.key, b"")
        return b"%s=%s; Max-Age=%d; Path=/; HttpOnly" % (self.cookie_name, token, self.cookie_max_age)

    def stats(self) -> dict:
        return {
            "location_id": self.location_id, "requests": self.requests,
            "targets": [
                {"ip": t.ip, "port": t.port, "weight": t.weight, "active": t.active, "total": t.total}
                for t in self.targets.values()
            ],
        }


class UpstreamPool:
    """Idle keep-alive connections to targets, most recently used first.

    Each idle connection holds one descriptor of the engine's budget from ``put`` until it
    leaves the pool (taken, discarded, pruned or closed); while a session uses it, the
    session's own share covers it.
    """

    def __init__(self, max_idle_per_target: int = 32, idle_seconds: float = 60.0,
                 budget: DescriptorBudget | None = None) -> None:
        self.max_idle_per_target = max_idle_per_target
        self.idle_seconds = idle_seconds
        self.budget = budget or DescriptorBudget()
        self._idle: dict[UpstreamKey, list] = {}

    def __len__(self) -> int:
        return sum(len(connections) for connections in self._idle.values())

    def take(self, key: UpstreamKey):
        connections = self._idle.get(key)
        while connections:
            connection = connections.pop()
            self.budget.used -= 1
            if not connection.closed:
                return connection
        return None

    def put(self, key: UpstreamKey, connection, now: float) -> bool:
        """Keep ``connection`` for reuse; False when the target's pool is full."""
        connections = self._idle.setdefault(key, [])
        if len(connections) >= self.max_idle_per_target:
            return False
        connection.idle_since = now
        connections.append(connection)
        self.budget.used += 1
        return True

    def discard(self, key: UpstreamKey, connection) -> None:
        connections = self._idle.get(key)
        if connections and connection in connections:
            connections.remove(connection)
            self.budget.release(1)

    def prune(self, now: float) -> None:
        """Close the connections idle for ``idle_seconds`` or more."""
        for key in list(self._idle):
            connections = self._idle[key]
            stale = [c for c in connections if now - c.idle_since >= self.idle_seconds]
            for connection in stale:
                connections.remove(connection)
                self.budget.release(1)
                connection.transport.close()
            if not connections:
                del self._idle[key]

    def retain(self, targets: set[tuple[str, int]]) -> None:
        """Close the idle connections of every target not in ``targets``."""
        for key in [k for k in self._idle if (k[0], k[1]) not in targets]:
            for connection in self._idle.pop(key):
                self.budget.release(1)
                connection.transport.close()

    def close(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                self.budget.release(1)
                connection.transport.close()


class SharedConnections:
    """HTTP/2 connections to targets, each carrying many streams at once (``http2_upstream``).

    A connection (duck-typed: ``idle_since``, 0.0 while it carries streams, ``close()`` and
    ``retire()``: no new streams, closed once those it carries end) stays listed from its
    connect until it closes; one idle for ``idle_seconds`` is closed on the listener's sweep;
    those of targets no rule uses any more, and all when the listener stops, are retired.
    """

    def __init__(self, idle_seconds: float = 60.0) -> None:
        self.idle_seconds = idle_seconds
        self._connections: dict[UpstreamKey, list] = {}

    def __len__(self) -> int:
        return sum(len(connections) for connections in self._connections.values())

    def of(self, key: UpstreamKey) -> list:
        return self._connections.get(key, [])

    def add(self, key: UpstreamKey, connection) -> None:
        self._connections.setdefault(key, []).append(connection)

    def remove(self, key: UpstreamKey, connection) -> None:
        connections = self._connections.get(key)
        if connections and connection in connections:
            connections.remove(connection)
            if not connections:
                del self._connections[key]

    def prune(self, now: float) -> None:
        for connections in list(self._connections.values()):
            for connection in [c for c in connections if c.idle_since and now - c.idle_since >= self.idle_seconds]:
                connection.close()

    def retain(self, targets: set[tuple[str, int]]) -> None:
        for key in [k for k in self._connections if (k[0], k[1]) not in targets]:
            for connection in list(self._connections[key]):
                connection.retire()

    def close(self) -> None:
        for connections in list(self._connections.values()):
            for connection in list(connections):
                connection.retire()


class HttpListener(StreamListener):
    """An HTTP/HTTPS listener: rules, router and the target connection pool."""

    kind = "HTTP"

    def __init__(
        self,
        load_balancer_id: str,
        vip: str,
        spec: ListenerSpec,
        settings: ListenerSettings,
        handler: StreamHandler,
        *,
        pool: UpstreamPool | None = None,
    ) -> None:
        self.rules: dict[str, RuleState] = {}
        self.router: Router[RuleState] = Router(())
        self._routes: dict[tuple[bytes | None, bytes], Route] = {}
        self.pool = pool or UpstreamPool(budget=settings.descriptors)
        # HTTP/2 streams' target connections (``http2_targets.TargetLink``), kept the same way.
        self.stream_pool = UpstreamPool(budget=settings.descriptors)
        self.shared_targets = SharedConnections()
        self.requests = 0
        self.closing = False
        self._backend_tls: ssl.SSLContext | None = None
        self.http3 = None  # the UDP side (http3.Http3Endpoint) while a domain has Quic on
        self.vip_bytes = vip.encode()
        super().__init__(load_balancer_id, vip, spec, settings, handler)

    def _configure(self, spec: ListenerSpec) -> None:
        super()._configure(spec)
        self.added_headers = added_header_lines(spec)
        self._set_rules(spec.rules)
        # What every request needs of the settings, decided here once rather than per request.
        self.keepalive = spec.keepalive
        self.stamps = forwarding_stamps(b"https" if self.tls is not None else b"http", spec.port)
        self.stamp_lines = stamp_lines(self.stamps, spec.keepalive)
        for state in self.rules.values():
            state.body_limit = state.spec.max_body_size or spec.max_body_size
            state.response_lines = state.added_headers or self.added_headers
        # Whether a client may speak HTTP/2 here (h2c, or ALPN h2 on some domain): see http2.py.
        self.offers_h2 = spec.h2c or (self.tls is not None and any(rule.http2 for rule in spec.rules))

    def _set_rules(self, rules: Sequence[RuleSpec]) -> None:
        previous = self.rules
        states: dict[str, RuleState] = {}
        for rule in rules:
            old = previous.get(rule.location_id)
            if old is not None:
                old.update(rule, old)
                states[rule.location_id] = old
            else:
                states[rule.location_id] = RuleState(rule, self.settings, None)
        self.rules = states
        self._advertise_http3(rules)
        self.router = Router([(rule, states[rule.location_id]) for rule in rules])
        self._routes = {}
        targets = {key for state in states.values() for key in state.targets}
        for pool in (self.pool, self.stream_pool):
            if self.spec.keepalive:
                pool.retain(targets)
            else:
                pool.close()
        self.shared_targets.retain(targets)

    def _advertise_http3(self, rules: Sequence[RuleSpec]) -> None:
        """Responses of domains that serve HTTP/3 carry ``Alt-Svc`` (HTTP/1.1 through the rule's
        added header lines, HTTP/2 through ``RuleState.alt_svc``)."""
        for rule in quic_rules(self.spec) if rules else ():
            state = self.rules[rule.location_id]
            name, value = alt_svc_header(self.spec.port)
            state.alt_svc = ((name, value),)
            state.added_headers = (state.added_headers or self.added_headers) + b"%s: %s\r\n" % (name, value)

    def take_client(self, session, transport) -> float:
        """Admit a new client connection (HTTP/1.1 or HTTP/2 session) and count it; the time
        it was taken, or 0.0 when refused (over the listener's limits, or, on SNI listeners
        with mutual TLS, without the certificate its domain requires): it is then aborted."""
        now = time.monotonic()
        tls = self.tls
        if (self.screening and not self.screen(transport)) or not self.admit(now) or (
                tls is not None and tls.client_cert_missing(transport.get_extra_info("ssl_object"))):
            session.closed = True
            transport.abort()
            return 0.0
        peer = transport.get_extra_info("peername")
        session.client_ip = peer[0] if peer else ""
        session.client_ip_bytes = session.client_ip.encode()
        self.accepted(session)
        return now

    def route(self, host_header: bytes | None, target: bytes) -> Route:
        """(rule or None, host, path) for a request; remembered per (Host, target) until the rules change.

        Clients repeat the same few Host/target pairs, and decoding, splitting, normalising
        and matching them again cost about a microsecond per request.
        """
        key = (host_header, target)
        found = self._routes.get(key)
        if found is None:
            target_host, path = split_target(target.decode("latin-1"))
            host = target_host or (host_header.decode("latin-1") if host_header is not None else "")
            found = (self.router.route(normalize_host(host), path), host, path)
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[key] = found
        return found

    def sweep_interval(self) -> float:
        interval = super().sweep_interval()
        for timeout in (self.spec.client_head_timeout, self.spec.target_response_timeout):
            if timeout > 0:
                interval = min(interval, max(MIN_SWEEP_INTERVAL, timeout / 4))
        return interval

    def sweep(self, now: float) -> None:
        super().sweep(now)
        spec = self.spec
        head_timeout, response_timeout = spec.client_head_timeout, spec.target_response_timeout
        if head_timeout > 0 or response_timeout > 0:
            for session in list(self.connections):
                session.check_deadlines(now, head_timeout, response_timeout)
        self.pool.prune(now)
        self.stream_pool.prune(now)
        self.shared_targets.prune(now)

    def backend_tls(self) -> ssl.SSLContext:
        """The client context for rules forwarding over HTTPS, made once per listener."""
        if self._backend_tls is None:
            self._backend_tls = backend_context()
        return self._backend_tls

    async def stop_accepting(self) -> None:
        self.closing = True
        self.pool.close()
        self.stream_pool.close()
        self.shared_targets.close()
        if self.http3 is not None:
            self.http3.close()
            self.http3 = None
        await super().stop_accepting()

    def finish_connections(self) -> None:
        for session in list(self.connections):
            session.finish()

    def drained(self) -> bool:
        # A session closed between requests with nothing left to send owes its client nothing:
        # an idle HTTPS client may never answer our TLS close_notify, and is not waited for.
        return all(session.quiet_close for session in self.connections)

    def stats(self) -> dict:
        stats = super().stats()
        stats["requests"] = self.requests
        stats["idle_upstreams"] = len(self.pool) + len(self.stream_pool)
        if self.http3 is not None:
            stats["http3_connections"] = self.http3.connections_open
            stats["http3_total"] = self.http3.connections_total
        stats["rules"] = [state.stats() for state in self.rules.values()]
        return stats
